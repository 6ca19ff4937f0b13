"""Matching a statement's credits to cases: pure functions over what was read of the cases.

In this order (issue 11, point 3):

1. the reference: the order id and/or the invoice number in the remittance text, as printed or
   spelt otherwise (spaces, case, dashes: ``cases.references``). An order id and an invoice
   number of the same case match it; of two different cases, or two order ids, the line is left
   for support with both named;
2. one typo away (a character added, left out, changed, two swapped), by the same rules;
   A case named by one reference alone (the order id without the invoice number, or the
   other way round) is booked only when the amount is what it owes or the remitter bears the
   buyer's last name; otherwise it is suggested to support (a digit typed wrong in a densely
   numbered order id is another buyer's real order);
3. no reference at all: an open case with exactly the amount whose buyer's last name is in the
   remitter's name is *suggested*; support confirms it (nothing is applied on a suggestion).

Nothing here writes: ``banking.services`` books what this decides.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mahnwerk.banking import reasons as why
from mahnwerk.banking.camt import Entry
from mahnwerk.banking.models import LineState, MatchMethod
from mahnwerk.cases.references import ReferenceIndex, candidates, key, within_one_edit
from mahnwerk.cases.states import ACTIVE_STATES

_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class CaseRow:
    """What the matcher knows of a case."""

    pk: int
    order_id: str
    invoice: str
    open_amount: Decimal  # all the case owes: principal, costs and interest
    currency: str
    state: str
    last_name: str
    first_name: str


@dataclass
class Decision:
    state: str
    method: str = ""
    case: CaseRow | None = None
    suggested: CaseRow | None = None
    candidates: list[str] = field(default_factory=list)
    reason_code: str = ""
    reason_params: dict[str, Any] = field(default_factory=dict)


def _words(name: str) -> set[str]:
    return {w for w in _WORD.findall(name.casefold()) if len(w) > 1}


class Matcher:
    def __init__(self, cases: Iterable[CaseRow]) -> None:
        self.cases: dict[int, CaseRow] = {}
        self.orders = ReferenceIndex()
        self.invoices = ReferenceIndex()
        #: (currency, open amount, a word of the buyer's last name) -> cases
        self.by_amount: dict[tuple[str, Decimal, str], list[int]] = defaultdict(list)
        self.currencies: set[str] = set()
        for case in cases:
            self.cases[case.pk] = case
            self.orders.add(case.order_id, case.pk)
            if case.invoice:
                self.invoices.add(case.invoice, case.pk)
            self.currencies.add(case.currency)
            if case.state in ACTIVE_STATES and case.open_amount > 0:
                for word in _words(case.last_name):
                    self.by_amount[(case.currency, case.open_amount, word)].append(case.pk)

    def decide(self, entry: Entry) -> Decision:
        if not entry.credit:
            return Decision(LineState.IGNORED, reason_code=why.DEBIT)
        if not entry.booked:
            return Decision(LineState.IGNORED, reason_code=why.NOT_BOOKED,
                            reason_params={"status": "PDNG"})
        found = self._by_reference(entry, typos=False) or \
            self._by_reference(entry, typos=True)
        if found is not None:
            if found.case is not None and found.case.currency != entry.currency:
                return Decision(LineState.UNMATCHED, candidates=[found.case.order_id],
                                reason_code=why.OTHER_CURRENCY, reason_params={
                                    "currency": entry.currency, "order": found.case.order_id,
                                    "expected": found.case.currency})
            return found
        if self.currencies and entry.currency not in self.currencies:
            return Decision(LineState.UNMATCHED, reason_code=why.FOREIGN_CREDIT, reason_params={
                "currency": entry.currency, "expected": ", ".join(sorted(self.currencies))})
        suggested = self._suggest(entry)
        if suggested is not None:
            return Decision(LineState.UNMATCHED, suggested=suggested,
                            reason_code=why.SUGGESTION, reason_params={
                                "order": suggested.order_id,
                                "name": f"{suggested.first_name} {suggested.last_name}".strip()})
        return Decision(LineState.UNMATCHED, reason_code=why.NO_REFERENCE)

    def _by_reference(self, entry: Entry, *, typos: bool) -> Decision | None:
        text = entry.text
        lookup = "near" if typos else "exact"
        by_order = set().union(*getattr(self.orders, lookup)(text).values())
        by_invoice = set().union(*getattr(self.invoices, lookup)(text).values())
        if not by_order and not by_invoice:
            return None
        both = by_order & by_invoice
        if len(both) == 1:
            chosen, method = both, None
        elif len(by_order) == 1 and not by_invoice:
            chosen, method = by_order, None
        elif len(by_invoice) == 1 and not by_order:
            chosen, method = by_invoice, MatchMethod.INVOICE
        elif not typos and not both and (settled := self._settle_conflict(
                text, by_order, by_invoice)) is not None:
            return Decision(LineState.MATCHED, method=MatchMethod.TYPO,
                            case=self.cases[settled])
        else:
            named = sorted(self.cases[pk].order_id for pk in (both or by_order | by_invoice))
            return Decision(LineState.UNMATCHED, candidates=named,
                            reason_code=why.AMBIGUOUS, reason_params={"orders": ", ".join(named)})
        case = self.cases[next(iter(chosen))]
        if len(both) != 1 and not self._fits(entry, case):
            # One reference alone, and neither the amount nor the remitter fit its case: with
            # densely numbered orders a digit typed wrong is another buyer's real order, so
            # nothing is booked to it before support has looked.
            return Decision(LineState.UNMATCHED, suggested=case, reason_code=why.UNCONFIRMED,
                            reason_params={"order": case.order_id})
        if method is None:
            method = MatchMethod.EXACT if case.order_id in text else MatchMethod.TOLERANT
        if typos:
            method = MatchMethod.TYPO
        return Decision(LineState.MATCHED, method=method, case=case)

    @staticmethod
    def _fits(entry: Entry, case: CaseRow) -> bool:
        """The credit is the case's whole open amount, or the remitter bears the buyer's
        last name."""
        return entry.amount == case.open_amount or bool(
            _words(entry.remitter_name) & _words(case.last_name))

    def _settle_conflict(self, text: str, by_order: set[int], by_invoice: set[int]
                         ) -> int | None:
        """Order id and invoice number name two cases: where order ids are numbered densely,
        a typo in one of them is another real one. If exactly one side's case has its other
        reference one typo away in the text, that is the case meant."""
        if not by_order or not by_invoice:
            return None
        words = candidates(text)

        def near(reference: str) -> bool:
            wanted = key(reference)
            return any(within_one_edit(word, wanted) for word in words)

        fitting = {pk for pk in by_invoice if near(self.cases[pk].order_id)} | \
            {pk for pk in by_order if self.cases[pk].invoice and near(self.cases[pk].invoice)}
        return next(iter(fitting)) if len(fitting) == 1 else None

    def _suggest(self, entry: Entry) -> CaseRow | None:
        """The one open case with this amount whose buyer's last name is in the remitter's."""
        names = _words(entry.remitter_name)
        if not names:
            return None
        fitting = {pk for word in names
                   for pk in self.by_amount.get((entry.currency, entry.amount, word), ())}
        return self.cases[fitting.pop()] if len(fitting) == 1 else None
