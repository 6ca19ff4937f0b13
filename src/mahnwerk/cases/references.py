"""The reference a buyer quotes with a bank transfer (issue 11), and reading it back.

    payment_reference   what a letter asks the buyer to quote and puts into its GiroCode:
                        ``MW <order id> / <invoice number>`` (without an invoice number,
                        ``MW <order id>``), at most 140 characters (the SEPA remittance
                        information and the EPC QR code's text), short enough to type into a
                        banking app
    parse_reference     the order id and invoice number in a remittance text as a bank
                        statement brings it back: upper or lower case, a colon after "MW",
                        spaces around the slash, other words before and after
    compact             a text reduced to its capital letters and digits, for a tolerant
                        comparison (banks break long remittance lines with spaces, drop
                        characters outside the SEPA character set, change case)

"MW" marks the reference, so that it is found among other words a buyer writes ("Rechnung",
a customer number ...); the order id is the case's key, the invoice number what the buyer
finds on the invoice. The bank statement import (issue 11, point 3) reads it with
``parse_reference`` and ``compact``; the letters write it with ``payment_reference``.

Finding a reference in free text (the bank statement import):

A buyer types the reference printed on the letter ("O42-000116 RE-2026-0042") into a banking
app, or something near it: spaces in other places, lower case, dashes left out, a digit typed
twice or left out, two digits swapped. This module only reads text: it turns remittance text
into candidate keys and looks them up among known references; what a match means for a case is
decided by the caller (``mahnwerk.banking.matching``).

- A key is a reference in one spelling: upper case, letters and digits only ("O42000116").
- The candidates of a text are its runs of letters and digits and every join of up to four
  neighbouring runs, so "O42 000 116", "o42-000116" and "O42000116" all give "O42000116".
- ``ReferenceIndex.exact`` finds the known keys among the candidates; ``ReferenceIndex.near``
  the known keys one typo away (one character added, left out, changed, or two neighbours
  swapped: a restricted Damerau-Levenshtein distance of 1), found with the symmetric-delete
  method (a key and the text meet where one character less of each is equal) over a sorted
  array of hashes, so 200,000 known keys take some 35 MB rather than a dict of strings' 300 MB.

Written here rather than taken from a library: rapidfuzz compares one string with many, which
would be 100,000 × 100,000 comparisons for a statement against the open cases; the
symmetric-delete lookup is a few bisections per candidate.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from mahnwerk.cases.models import DebtCase

MARK = "MW"
#: The SEPA remittance information (unstructured) and the EPC QR code's text: 140 characters.
REFERENCE_MAX = 140

_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9])MW\s*[:.]?\s*(?P<order>[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:\s*/\s*(?P<invoice>[^\s/]+))?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reference:
    order_id: str
    invoice: str  # "" when the text named none


def reference_for(*, order_id: str, invoice: str = "") -> str:
    """The reference of an order id and invoice number (``payment_reference`` of a case)."""
    text = f"{MARK} {order_id}"
    if invoice and len(f"{text} / {invoice}") <= REFERENCE_MAX:
        text = f"{text} / {invoice}"
    return text[:REFERENCE_MAX]


def payment_reference(case: DebtCase) -> str:
    """What the buyer quotes with a transfer for this case: ``MW 10023 / RE-2026-1001``."""
    invoice = case.first_invoice_number or case.order.first_invoice_number
    return reference_for(order_id=case.order_id, invoice=invoice)


def parse_reference(text: str) -> Reference | None:
    """The first reference in a remittance text, or None when it names none."""
    match = _REFERENCE.search(text or "")
    if match is None:
        return None
    return Reference(order_id=match["order"].rstrip("._-"), invoice=match["invoice"] or "")


def compact(text: str) -> str:
    """Capital letters and digits only: ``"mw 10023 / re-2026-1001"`` → ``"MW10023RE20261001"``
    (the same spelling the transfer matcher compares: ``key``)."""
    return key(text or "")


_RUN = re.compile(r"[A-Za-z0-9]+")
#: Keys shorter than this, or without a digit, are never looked up: "RE", "2026" or a name
#: would match by accident.
MIN_KEY = 5
#: Keys shorter than this are matched exactly only: one typo in a short number is another one.
MIN_NEAR = 7
#: How many neighbouring runs are joined into one candidate ("RE 2026 0042" is three).
MAX_RUNS = 4
_INDEX_BITS = 23  # up to 8 million keys; the rest of a 64-bit slot is the variant's hash
_HASH_MASK = (1 << (63 - _INDEX_BITS)) - 1


def key(reference: str) -> str:
    """The one spelling of a reference that lookups compare."""
    return "".join(_RUN.findall(reference)).upper()


@lru_cache(maxsize=16)  # one text is looked up in the order ids and the invoice numbers
def candidates(text: str) -> tuple[str, ...]:
    """Every key the text may hold: its runs of letters and digits, alone and joined with up
    to three neighbours, upper case, of a useful length and with a digit in them."""
    runs = [run.upper() for run in _RUN.findall(text or "")]
    found: dict[str, None] = {}
    for start in range(len(runs)):
        joined = ""
        for run in runs[start:start + MAX_RUNS]:
            joined += run
            if len(joined) > 40:
                break
            if len(joined) >= MIN_KEY and not joined.isalpha():
                found[joined] = None
    return tuple(found)


def within_one_edit(a: str, b: str) -> bool:
    """True if ``b`` is ``a`` with at most one character added, left out, changed, or two
    neighbouring characters swapped."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la < lb:
        return a[i:] == b[i + 1:]
    if a[i + 1:] == b[i + 1:]:
        return True
    return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class ReferenceIndex:
    """Known references (``key -> values``: the cases that carry them) and their lookups."""

    def __init__(self, known: Mapping[str, Iterable[Hashable]] | None = None) -> None:
        #: key -> the values carrying it; a tuple (48 bytes for one value, a set 216)
        self._exact: dict[str, tuple[Hashable, ...]] = {}
        self._near: array | None = None
        self._near_keys: list[str] = []
        for reference, values in (known or {}).items():
            for value in values:
                self.add(reference, value)

    def add(self, reference: str, value: Hashable) -> None:
        normal = key(reference)
        if len(normal) >= MIN_KEY:
            known = self._exact.get(normal, ())
            if value not in known:
                self._exact[normal] = (*known, value)
            self._near = None  # built again when next needed

    def __len__(self) -> int:
        return len(self._exact)

    def exact(self, text: str) -> dict[str, set[Hashable]]:
        """The known keys found in the text as they are (apart from case, spaces, dashes)."""
        return {k: set(self._exact[k]) for k in candidates(text) if k in self._exact}

    def near(self, text: str) -> dict[str, set[Hashable]]:
        """The known keys one typo away from a candidate of the text (the keys themselves too,
        if present)."""
        found: dict[str, set[Hashable]] = {}
        for word in candidates(text):
            if len(word) < MIN_NEAR - 1:
                continue
            for known in self._close_to(word):
                found[known] = set(self._exact[known])
        return found

    # -- the symmetric-delete lookup --------------------------------------------------------

    def _slot(self, variant: str) -> int:
        return (hash(variant) & _HASH_MASK) << _INDEX_BITS

    def _build(self) -> array:
        keys = [k for k in self._exact if len(k) >= MIN_NEAR]
        if len(keys) >= 1 << _INDEX_BITS:  # pragma: no cover - far beyond any statement
            raise ValueError("too many references for the typo index")
        slots: list[int] = []
        for index, known in enumerate(keys):
            for variant in _deletions(known) | {known}:
                slots.append(self._slot(variant) | index)
        slots.sort()
        self._near_keys = keys
        return array("q", slots)

    def _lookup(self, variant: str) -> Iterator[str]:
        near = self._near
        assert near is not None
        low = self._slot(variant)
        at = bisect_left(near, low)
        high = low | ((1 << _INDEX_BITS) - 1)
        while at < len(near) and near[at] <= high:
            yield self._near_keys[near[at] & ((1 << _INDEX_BITS) - 1)]
            at += 1

    def _close_to(self, word: str) -> set[str]:
        if self._near is None:
            self._near = self._build()
        close: set[str] = set()
        for variant in _deletions(word) | {word}:
            for known in self._lookup(variant):
                if known not in close and within_one_edit(word, known):
                    close.add(known)
        return close


def find_order_ids(text: str, *, known: ReferenceIndex, typos: bool = True) -> set[Hashable]:
    """The values (order ids, or whatever ``known`` maps its keys to) whose reference is in
    the text: as written if any is, else one typo away (with ``typos``)."""
    found = known.exact(text)
    if not found and typos:
        found = known.near(text)
    return set().union(*found.values()) if found else set()
