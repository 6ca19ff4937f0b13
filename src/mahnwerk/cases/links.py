"""Opaque link codes (issue 9, "Opaque link tokens"): a link a buyer or vendor gets carries a
random code, not the case's id. The code is 17 characters from 31 that cannot be mistaken for
one another (no 0/O, 1/I/L): 31^17, about 2^84, so it cannot be guessed; the database maps it to
its case and purpose. How long a link is valid is the reader's rule (a policy's offer days, the
approval days), counted from the day the code was made.

``secrets`` makes the codes; no library does this small job better than the standard library.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from mahnwerk.cases.models import DebtCase, LinkCode

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 17


class LinkCodeError(Exception):
    """A code that is unknown (``kind`` "unknown"), expired ("expired") or of another purpose."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """What a person may type: lower case, spaces and dashes, O for 0 … are forgiven."""
    text = (code or "").strip().upper().replace("-", "").replace(" ", "")
    return text.translate(str.maketrans({"0": "O", "1": "I"}))


def prepare(*, case: DebtCase, purpose: str) -> LinkCode:
    """A code for a case, not yet saved (a run saves a batch of them in one statement)."""
    return LinkCode(code=new_code(), case=case, purpose=purpose, created_at=timezone.now())


def issue(*, case: DebtCase, purpose: str) -> str:
    link = prepare(case=case, purpose=purpose)
    link.save()
    return link.code


def save_all(links: Iterable[LinkCode]) -> None:
    LinkCode.objects.bulk_create(list(links))


def looks_like_code(token: str) -> bool:
    text = normalise(token)
    return len(text) == LENGTH and all(char in ALPHABET for char in text)


def read(*, code: str, purposes: Iterable[str], valid_days: int | None) -> LinkCode:
    """The link code ``code`` stands for, if it is of one of ``purposes`` and not older than
    ``valid_days`` (None: any age); raises LinkCodeError."""
    link = (LinkCode.objects.select_related("case", "case__order", "case__order__product",
                                            "case__vendor")
            .filter(code=normalise(code), purpose__in=list(purposes)).first())
    if link is None:
        raise LinkCodeError("unknown")
    if valid_days is not None and timezone.now() > link.created_at + timedelta(days=valid_days):
        raise LinkCodeError("expired")
    return link
