"""Opaque link codes (issue 9, "Opaque link tokens"; issue 11, short links): a link a buyer or
vendor gets carries a random code, not the case's id; the database maps it to its case, purpose
and expiry.

A code is 16 characters of Crockford's base 32 in lower case (``0-9`` and the letters without
``i``, ``l``, ``o`` and ``u``): 32^16 = 2^80, so it cannot be guessed, and none of its characters
can be mistaken for another one of it. It is shown in groups of four (``k7m2-9xq4-0c3h-zt8v``)
and read as a person types it: upper or lower case, with or without dashes and spaces, an O for
a 0, an I or l for a 1 (``normalise``). Codes made before issue 11 (17 upper-case characters
without 0/O, 1/I/L) are still read.

How long a link is valid: its ``expires_at`` when it was given one (an offer link: the policy's
offer days), else the reader's rule (the approval days), counted from the day it was made.

``secrets`` makes the codes; no library does this small job better than the standard library.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from mahnwerk.cases.models import DebtCase, LinkCode

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
LENGTH = 16
GROUP = 4
#: What a person may type for a character of the code (Crockford: O is 0, I and L are 1; a U
#: is most likely a V).
_TYPED = str.maketrans({"o": "0", "i": "1", "l": "1", "u": "v"})
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015._/]+")
#: Codes made before issue 11: 17 characters, upper case, without 0/O, 1/I/L.
OLD_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
OLD_LENGTH = 17


class LinkCodeError(Exception):
    """A code that is unknown (``kind`` "unknown"), expired ("expired") or of another purpose."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """The code as stored, from what a person typed: upper or lower case, dashes and spaces
    anywhere, an O for a 0, an I or l for a 1 are forgiven."""
    text = _SEPARATORS.sub("", code or "")
    if len(text) == OLD_LENGTH:
        return text.upper()
    return text.lower().translate(_TYPED)


def grouped(code: str) -> str:
    """The code as it is printed: lower case in groups of four (``k7m2-9xq4-0c3h-zt8v``)."""
    text = normalise(code).lower()
    return "-".join(text[i:i + GROUP] for i in range(0, len(text), GROUP))


def prepare(*, case: DebtCase, purpose: str, valid_days: int | None = None) -> LinkCode:
    """A code for a case, not yet saved (a run saves a batch of them in one statement); valid
    for ``valid_days`` (None: as long as the reader's rule says)."""
    now = timezone.now()
    expires = now + timedelta(days=valid_days) if valid_days is not None else None
    return LinkCode(code=new_code(), case=case, purpose=purpose, created_at=now,
                    expires_at=expires)


def issue(*, case: DebtCase, purpose: str, valid_days: int | None = None) -> str:
    link = prepare(case=case, purpose=purpose, valid_days=valid_days)
    link.save()
    return link.code


def save_all(links: Iterable[LinkCode]) -> None:
    LinkCode.objects.bulk_create(list(links))


def looks_like_code(token: str) -> bool:
    text = normalise(token)
    if len(text) == OLD_LENGTH:
        return all(char in OLD_ALPHABET for char in text)
    return len(text) == LENGTH and all(char in ALPHABET for char in text)


def expired(link: LinkCode, *, valid_days: int | None, now: datetime | None = None) -> bool:
    """Whether the link is past its own expiry or older than ``valid_days``."""
    now = now or timezone.now()
    if link.expires_at is not None and now > link.expires_at:
        return True
    return valid_days is not None and now > link.created_at + timedelta(days=valid_days)


def read(*, code: str, purposes: Iterable[str], valid_days: int | None) -> LinkCode:
    """The link code ``code`` stands for, if it is of one of ``purposes`` and not older than
    ``valid_days`` (None: any age) nor past its own expiry; raises LinkCodeError."""
    link = (LinkCode.objects.select_related("case", "case__order", "case__order__product",
                                            "case__vendor")
            .filter(code=normalise(code), purpose__in=list(purposes)).first())
    if link is None:
        raise LinkCodeError("unknown")
    if expired(link, valid_days=valid_days):
        raise LinkCodeError("expired")
    return link
