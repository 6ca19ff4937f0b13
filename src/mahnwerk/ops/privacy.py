"""Data protection: how long a buyer's personal data is kept, and a buyer's rights to see it
(Art. 15 GDPR) and to have it erased (Art. 17 GDPR).

What counts as personal data here: the buyer's name, e-mail and address (on the buyer and on
each order), the text of the letters sent (it carries name and address), the address an e-mail
went to, free text people wrote (notes, block reasons, the reasons of corrections), the facts
of case events that quote such text or an address, and the remitter's name, IBAN and
remittance text of a bank transfer booked to a case. Anonymising replaces exactly these and keeps
what the bookkeeping needs: amounts, currencies, dates, states, order ids, invoice numbers, the
country (docs/operations.md, "Data protection").

Two rules decide what stays longer (docs/process-reading.md):

- A debt still claimed keeps everything needed to claim it (Art. 17 (3) (e) GDPR): only closed
  cases (paid, cancelled, reordered) are anonymised.
- A copy of a letter sent is a commercial letter (§ 257 (1) no. 3 HGB), kept for
  ``MAHNWERK_LETTER_COPY_YEARS`` (6) years from the end of the year it was written
  (§ 257 (4), (5) HGB); until then only its case around it is anonymised, and a later run
  (``mahnwerk anonymise``, daily in the schedule) removes it when its time has come.

Right of every domain app (``ops``), so it may read and write all of them; case changes still go
through ``cases.services.change_cases``, which checks each case is still closed when it writes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from mahnwerk import bulk
from mahnwerk.banking.models import StatementLine
from mahnwerk.cases import access_log, search
from mahnwerk.cases import reasons as case_reasons
from mahnwerk.cases.models import (
    AccessKind,
    AccessRecord,
    CaseEvent,
    CaseNote,
    DebtCase,
    LinkCode,
    NoteVisibility,
)
from mahnwerk.cases.services import CaseChange, CaseChangedMeanwhile, change_cases
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.handover_format import HEADER, ground_text, write_csv
from mahnwerk.collection.models import Handover, HandoverItem, ReportRow
from mahnwerk.dunning.models import Letter, OutboxMessage, RunDecision
from mahnwerk.intake.models import Buyer, Incident, Order, Payment
from mahnwerk.ops import reasons as why
from mahnwerk.reasons import ANONYMISED, Reason

# The marker's words live in this app's catalogue (mahnwerk.reasons belongs to no app).
gettext_noop("[anonymised]")

#: Closed: the debt is settled or not claimed any more.
CLOSED_STATES = (CaseState.PAID, CaseState.CANCELED, CaseState.REOPENED)

ORDER_FIELDS = ("buyer_email", "buyer_email_normalized", "buyer_first_name", "buyer_last_name",
                "street", "house_number", "postcode", "city")
BUYER_FIELDS = ("email", "email_normalized", "first_name", "last_name", "street",
                "house_number", "postcode", "city")
#: Facts of case events and run decisions that may carry personal data: a person's text, an
#: address, an e-mail address, a mail server's error (it quotes the address).
PERSONAL_PARAMS = frozenset({"text", "address", "reason", "note", "email", "to", "error"})
#: Fields of a case whose old and new values an event records and that are free text.
PERSONAL_CHANGES = frozenset({"block_reason"})
#: Facts of a statement line's reason that carry a person's name or words (the buyer's name of
#: a suggested case, support's note).
PERSONAL_LINE_PARAMS = frozenset({"name", "note"})
#: Columns of an agency report row that are free text.
PERSONAL_REPORT_VALUES = frozenset({"comment"})

BATCH = 500


class PrivacyError(Exception):
    """A request that cannot be answered as asked; the message says why and what to do."""


# -- Letter copies --------------------------------------------------------------------------


def letter_copy_kept_until(letter_date: date) -> date | None:
    """The last day the copy of a letter written on ``letter_date`` must be kept
    (§ 257 (4), (5) HGB: from the end of its year); None when copies are not kept."""
    years = settings.MAHNWERK_LETTER_COPY_YEARS
    if years <= 0:
        return None
    return date(letter_date.year + years, 12, 31)


def _copy_due(letter_date: date, today: date) -> bool:
    until = letter_copy_kept_until(letter_date)
    return until is None or until < today


# -- Replacing the personal data ------------------------------------------------------------


def _clean_params(params: Any) -> Any:
    if not isinstance(params, dict):
        return params
    return {key: (ANONYMISED if key in PERSONAL_PARAMS and value not in ("", None) else value)
            for key, value in params.items()}


def _clean_changes(changes: Any) -> Any:
    if not isinstance(changes, dict):
        return changes
    return {key: ([ANONYMISED if v else v for v in value]
                  if key in PERSONAL_CHANGES and isinstance(value, list) else value)
            for key, value in changes.items()}


def _anonymise_orders(order_ids: Sequence[str], *, now: datetime) -> int:
    """Blank the buyer's data on these orders; the country, amounts and dates stay. The
    cases' search column follows: it keeps the order id and invoice number only."""
    done = Order.objects.filter(pk__in=order_ids).update(
        **{name: "" for name in ORDER_FIELDS}, anonymised_at=now)
    search.refresh(order_ids=order_ids)
    return done


def _anonymise_letters(letter_ids: Sequence[int], *, now: datetime) -> int:
    Letter.objects.filter(pk__in=letter_ids).update(body_html="", body_text="",
                                                    anonymised_at=now)
    OutboxMessage.objects.filter(letter_id__in=letter_ids).update(to_address="",
                                                                  last_error="")
    return len(letter_ids)


def _anonymise_statement_lines(case_ids: Sequence[int]) -> int:
    """Bank transfers booked to these cases lose the remitter's name and IBAN, the remittance
    text and support's note; amount, dates, state, what was applied or refunded and the case
    stay. A credit only suggested for one of them loses the buyer's name in its reason (its
    remitter is not known to be the buyer: support still decides it). Returns the lines
    booked to the cases."""
    done = StatementLine.objects.filter(case_id__in=case_ids).update(
        remitter_name="", remitter_iban="", remittance_text="", note="")
    rows = []
    for pk, old in StatementLine.objects.filter(
            Q(case_id__in=case_ids) | Q(suggested_case_id__in=case_ids)) \
            .values_list("pk", "reason_params"):
        params = ({key: (ANONYMISED if key in PERSONAL_LINE_PARAMS and value not in ("", None)
                         else value) for key, value in old.items()}
                  if isinstance(old, dict) else old)
        if params != old:
            rows.append({"id": pk, "reason_params": params})
    bulk.update_rows(StatementLine, rows, ["reason_params"])
    return done


def _anonymise_case_data(cases: Sequence[DebtCase], *, now: datetime, today: date,
                         keep_letter_copies: bool = True) -> int:
    """Everything personal around these cases except the case rows (``change_cases`` wrote
    those): orders, notes, event facts, letters whose copy is no longer kept, outbox
    addresses, report comments, link codes, stored handover files. Returns the letters
    anonymised."""
    ids = [c.pk for c in cases]
    _anonymise_orders([c.order_id for c in cases], now=now)
    CaseNote.objects.filter(case_id__in=ids).update(text="")
    events = []
    for pk, old_params, old_changes in CaseEvent.objects.filter(case_id__in=ids) \
            .values_list("pk", "params", "changes"):
        params, changes = _clean_params(old_params), _clean_changes(old_changes)
        if params != old_params or changes != old_changes:
            events.append({"id": pk, "params": params, "changes": changes})
    bulk.update_rows(CaseEvent, events, ["params", "changes"])
    decisions = []
    for pk, old_params, old_outcome in RunDecision.objects.filter(case_id__in=ids) \
            .values_list("pk", "params", "outcome_params"):
        params, outcome = _clean_params(old_params), _clean_params(old_outcome)
        if params != old_params or outcome != old_outcome:
            decisions.append({"id": pk, "params": params, "outcome_params": outcome})
    bulk.update_rows(RunDecision, decisions, ["params", "outcome_params"])
    for row in ReportRow.objects.filter(order_id__in=[c.order_id for c in cases]):
        values = {k: ("" if k in PERSONAL_REPORT_VALUES else v) for k, v in row.values.items()}
        if values != row.values:
            ReportRow.objects.filter(pk=row.pk).update(values=values)
    _anonymise_statement_lines(ids)
    LinkCode.objects.filter(case_id__in=ids).delete()  # the offer link of a closed case is dead
    _redact_handovers(ids, now=now)
    letters = [pk for pk, letter_date in Letter.objects.filter(
        case_id__in=ids, anonymised_at__isnull=True).values_list("pk", "letter_date")
        if not keep_letter_copies or _copy_due(letter_date, today)]
    return _anonymise_letters(letters, now=now)


def _redact_handovers(case_ids: Sequence[int], *, now: datetime) -> None:
    """Take the free text (``support_comment``) of these cases out of the stored handover
    files; the ``sha256`` stays that of the file as it was sent."""
    by_handover: dict[int, set[str]] = {}
    for handover_id, order_id in HandoverItem.objects.filter(case_id__in=case_ids) \
            .values_list("handover_id", "case__order_id"):
        by_handover.setdefault(handover_id, set()).add(order_id)
    comment, order = HEADER.index("support_comment"), HEADER.index("order_id")
    for handover in Handover.objects.filter(pk__in=list(by_handover)):
        rows = list(csv.reader(io.StringIO(bytes(handover.content).decode("utf-8"))))[1:]
        changed = False
        for row in rows:
            if len(row) > comment and row[order] in by_handover[handover.pk] and row[comment]:
                row[comment] = ""
                changed = True
        if changed:
            Handover.objects.filter(pk=handover.pk).update(content=write_csv(rows),
                                                           redacted_at=now)


def _closed_since():
    """When each case entered the closed state it is in (its newest event into that state;
    the case's last update for cases from before events)."""
    entered = CaseEvent.objects.filter(case=OuterRef("pk"), to_state=OuterRef("state")) \
        .exclude(from_state=F("to_state")).order_by("-at").values("at")[:1]
    return Coalesce(Subquery(entered), F("updated_at"))


@dataclass
class AnonymiseResult:
    cases: list[str] = field(default_factory=list)  # order ids
    buyers: int = 0
    letters: int = 0
    skipped: list[str] = field(default_factory=list)  # changed meanwhile: not closed any more
    dry_run: bool = False


def anonymise_closed_cases(*, older_than_days: int, actor: str, dry_run: bool = False,
                           now: datetime | None = None,
                           progress: Callable[[int, int], None] | None = None
                           ) -> AnonymiseResult:
    """Anonymise the personal data of every case closed longer than ``older_than_days`` ago
    (0: every closed case), of the buyers left with nothing else to keep, and of the letter
    copies whose keeping time (§ 257 HGB) is over. Each batch of cases is one transaction; a
    case that was reopened meanwhile is skipped and named."""
    if older_than_days < 0:
        raise PrivacyError(_("--older-than must be 0 or more days, not %(days)s.")
                           % {"days": older_than_days})
    now = now or timezone.now()
    today = timezone.localdate(now)
    cutoff = now - timedelta(days=older_than_days)
    due = DebtCase.objects.filter(state__in=CLOSED_STATES, anonymised_at__isnull=True) \
        .annotate(closed_since=_closed_since()).filter(closed_since__lte=cutoff) \
        .order_by("pk")
    ids = list(due.values_list("pk", flat=True))
    result = AnonymiseResult(dry_run=dry_run)
    if dry_run:
        result.cases = list(DebtCase.objects.filter(pk__in=ids[:100_000]).order_by("order_id")
                            .values_list("order_id", flat=True))
        return result
    reason = Reason(why.RETENTION, {"days": older_than_days})
    buyers: set[str] = set()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with transaction.atomic():
            cases = list(DebtCase.objects.filter(pk__in=chunk).select_related("order"))
            done = _mark_anonymised(cases, reason=reason, actor=actor, now=now,
                                    closed_only=True, skipped=result.skipped)
            result.letters += _anonymise_case_data(done, now=now, today=today)
            result.cases.extend(c.order_id for c in done)
            buyers.update(c.order.buyer_id for c in done)
        if progress:
            progress(min(start + BATCH, len(ids)), len(ids))
    # The buyers once all their cases are done (a buyer's cases may span batches).
    result.buyers = _anonymise_buyers(buyers, cutoff=cutoff, now=now)
    # Letter copies of cases anonymised earlier whose keeping time is over now.
    waiting = Letter.objects.filter(case__anonymised_at__isnull=False,
                                    anonymised_at__isnull=True)
    due_letters = [pk for pk, letter_date in waiting.values_list("pk", "letter_date")
                   if _copy_due(letter_date, today)]
    with transaction.atomic():
        result.letters += _anonymise_letters(due_letters, now=now)
    return result


def _mark_anonymised(cases: list[DebtCase], *, reason: Reason, actor: str, now: datetime,
                     closed_only: bool, skipped: list[str],
                     user: Any = None) -> list[DebtCase]:
    """Set ``anonymised_at`` and clear the block reason through ``change_cases`` (one event
    each, conditional on the state read): all at once, and case by case if one changed
    meanwhile, so that the others are still done."""
    cases = [c for c in cases if not closed_only or c.state in CLOSED_STATES]

    def item(case: DebtCase) -> CaseChange:
        return CaseChange(case=case, reason=reason, changes={"anonymised_at": now})

    try:
        change_cases(items=[item(c) for c in cases], actor=actor, user=user, at=now)
        done = cases
    except CaseChangedMeanwhile:
        done = []
        for case in cases:
            fresh = DebtCase.objects.select_related("order").get(pk=case.pk)
            if closed_only and fresh.state not in CLOSED_STATES:
                skipped.append(case.order_id)
                continue
            change_cases(items=[item(fresh)], actor=actor, user=user, at=now)
            done.append(fresh)
    # The block reason is free text; cleared without an event, so that no event repeats it.
    DebtCase.objects.filter(pk__in=[c.pk for c in done]).exclude(block_reason="") \
        .update(block_reason="")
    return done


def _anonymise_buyers(buyer_ids: Iterable[str], *, cutoff: datetime | None,
                      now: datetime) -> int:
    """Anonymise each buyer (and their orders without a debt) who has no case left that is
    not anonymised and, with ``cutoff``, no order newer than it. Three queries and two updates
    per 500 buyers, one transaction each."""
    ids = sorted(set(buyer_ids))
    count = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with transaction.atomic():
            keep = set(DebtCase.objects.filter(order__buyer_id__in=chunk,
                                               anonymised_at__isnull=True)
                       .values_list("order__buyer_id", flat=True))
            if cutoff is not None:
                keep.update(Order.objects.filter(buyer_id__in=chunk, created_at__gt=cutoff)
                            .values_list("buyer_id", flat=True))
            done = list(Buyer.objects.filter(pk__in=[b for b in chunk if b not in keep],
                                             anonymised_at__isnull=True)
                        .values_list("pk", flat=True))
            Order.objects.filter(buyer_id__in=done, anonymised_at__isnull=True).update(
                **{name: "" for name in ORDER_FIELDS}, anonymised_at=now)
            count += Buyer.objects.filter(pk__in=done).update(
                **{name: "" for name in BUYER_FIELDS}, anonymised_at=now)
    return count


# -- Erasure at the buyer's request (Art. 17 GDPR) --------------------------------------------


GROUNDS = {
    "claim": gettext_noop("the debt is still claimed (Art. 17 (3) (e) GDPR: establishing and "
                          "exercising legal claims); ask again once it is closed"),
    "bookkeeping": gettext_noop("bookkeeping records (§ 147 AO, § 257 HGB): amounts, dates, "
                                "states, order ids and invoice numbers, without name, e-mail "
                                "or address"),
    "letter_copy": gettext_noop("copies of commercial letters sent (§ 257 (1) no. 3, (4) HGB) "
                                "until %(until)s; removed automatically then"),
    "agency": gettext_noop("handed over to %(partner)s on %(date)s: the agency holds its own "
                           "copy; tell it of the erasure (Art. 19 GDPR)"),
}


@dataclass
class ErasureResult:
    buyer_id: str
    anonymised_cases: list[str] = field(default_factory=list)
    anonymised_orders: int = 0
    anonymised_letters: int = 0
    buyer_anonymised: bool = False
    kept: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def kept_lines(self) -> list[str]:
        """What was kept and why, in the reader's language."""
        lines = []
        for what, ground, params in self.kept:
            text = translation.gettext(GROUNDS[ground]) % params
            lines.append(f"{what}: {text}")
        return lines


def erase_buyer(*, buyer_id: str, reason: str, actor: str, user: Any = None,
                now: datetime | None = None) -> ErasureResult:
    """Anonymise what no legal duty requires to keep of this buyer; say what was kept and
    why. All or nothing: one transaction."""
    reason = (reason or "").strip()
    if not reason:
        raise PrivacyError(_("Say why (--reason), e.g. the date and channel of the buyer's "
                             "request: it is written on every case anonymised."))
    buyer = Buyer.objects.filter(pk=buyer_id).first()
    if buyer is None:
        raise PrivacyError(_("No buyer %(id)r: check the buyer id (the platform's, as in the "
                             "orders file's buyer_id column), or give --order.")
                           % {"id": buyer_id})
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = ErasureResult(buyer_id=buyer_id)
    with transaction.atomic():
        cases = list(DebtCase.objects.filter(order__buyer_id=buyer_id).select_related("order")
                     .order_by("order_id"))
        open_cases = [c for c in cases if c.state not in CLOSED_STATES]
        closed = [c for c in cases if c.state in CLOSED_STATES and c.anonymised_at is None]
        for case in open_cases:
            result.kept.append((f"{case.order_id} ({case.get_state_display()})", "claim", {}))
        done = _mark_anonymised(closed, reason=Reason(why.ERASURE, {"request": reason}),
                                actor=actor, user=user, now=now, closed_only=True,
                                skipped=[])
        result.anonymised_letters = _anonymise_case_data(done, now=now, today=today)
        result.anonymised_cases = [c.order_id for c in done]
        if done:
            result.kept.append((", ".join(result.anonymised_cases), "bookkeeping", {}))
        for letter in Letter.objects.filter(case__in=done, anonymised_at__isnull=True) \
                .order_by("letter_date"):
            until = letter_copy_kept_until(letter.letter_date)
            result.kept.append((f"{letter.case.order_id}: {letter.subject}", "letter_copy",
                                {"until": until.strftime("%d.%m.%Y") if until else ""}))
        for item in HandoverItem.objects.filter(case__in=cases, handed_over=True) \
                .select_related("handover__partner", "case"):
            partner = item.handover.partner.name if item.handover.partner else "?"
            result.kept.append((item.case.order_id, "agency", {
                "partner": partner,
                "date": timezone.localtime(item.handover.created_at).strftime("%d.%m.%Y")}))
        if not open_cases:
            orders = list(Order.objects.filter(buyer_id=buyer_id, anonymised_at__isnull=True)
                          .values_list("pk", flat=True))
            result.anonymised_orders = _anonymise_orders(orders, now=now) + len(done)
            Buyer.objects.filter(pk=buyer_id).update(**{name: "" for name in BUYER_FIELDS},
                                                     anonymised_at=now)
            result.buyer_anonymised = True
        else:
            result.anonymised_orders = len(done)
        access_log.record(kind=AccessKind.BUYER, target=buyer_id, user=user, actor=actor,
                          order_ids=[c.order_id for c in cases], via="buyer-erase")
    return result


# -- Access at the buyer's request (Art. 15 GDPR) ---------------------------------------------


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currency": currency}


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def buyer_data(*, buyer_id: str, actor: str, user: Any = None) -> dict[str, Any]:
    """Everything held about a buyer, as plain data (for JSON): the buyer, orders with their
    incidents and payments, cases with their timeline, letters and shared notes, who received
    the data (vendors, agencies) and every export that carried it. Logged as an access."""
    buyer = Buyer.objects.filter(pk=buyer_id).first()
    if buyer is None:
        raise PrivacyError(_("No buyer %(id)r: check the buyer id (the platform's, as in the "
                             "orders file's buyer_id column), or give --order.")
                           % {"id": buyer_id})
    orders = list(Order.objects.filter(buyer_id=buyer_id).select_related("vendor", "product")
                  .order_by("created_at", "order_id"))
    order_ids = [o.order_id for o in orders]
    cases = {c.order_id: c for c in DebtCase.objects.filter(order_id__in=order_ids)}
    incidents: dict[str, list[Incident]] = {}
    for incident in Incident.objects.filter(order_id__in=order_ids).order_by("occurred_at"):
        incidents.setdefault(incident.order_id, []).append(incident)
    payments: dict[str, list[Payment]] = {}
    for payment in Payment.objects.filter(order_id__in=order_ids).order_by("paid_at"):
        payments.setdefault(payment.order_id, []).append(payment)
    recipients: dict[str, str] = {}
    data: dict[str, Any] = {
        "buyer_id": buyer.buyer_id,
        "exported_at": timezone.now().isoformat(),
        "controller": settings.MAHNWERK_CREDITOR["name"],
        "buyer": {**{name: getattr(buyer, name) for name in BUYER_FIELDS},
                  "country": buyer.country, "last_order_at": _when(buyer.last_order_at),
                  "anonymised_at": _when(buyer.anonymised_at)},
        "orders": [],
    }
    for order in orders:
        recipients[f"vendor:{order.vendor_id}"] = order.vendor.name
        entry: dict[str, Any] = {
            "order_id": order.order_id, "ordered_at": _when(order.created_at),
            "vendor": order.vendor.name, "product": order.product.name,
            "amount_total": _money(order.amount_total, order.currency),
            "payment_type": order.payment_type,
            "first_invoice_number": order.first_invoice_number,
            **{name: getattr(order, name) for name in ORDER_FIELDS
               if name != "buyer_email_normalized"},
            "country": order.country, "anonymised_at": _when(order.anonymised_at),
            "incidents": [{"incident_id": i.incident_id, "kind": i.kind,
                           "occurred_at": _when(i.occurred_at),
                           "open_amount": _money(i.open_amount, i.currency)}
                          for i in incidents.get(order.order_id, [])],
            "payments": [{"payment_id": p.payment_id, "paid_at": _when(p.paid_at),
                          "amount": _money(p.amount, p.currency), "channel": p.channel}
                         for p in payments.get(order.order_id, [])],
        }
        case = cases.get(order.order_id)
        if case is not None:
            entry["case"] = _case_data(case, recipients)
        data["orders"].append(entry)
    data["recipients"] = [{"who": name, "as": key.split(":", 1)[0]}
                          for key, name in sorted(recipients.items())]
    wanted = set(order_ids)
    data["exports"] = [
        {"at": _when(r.at), "by": r.actor, "what": r.get_kind_display(), "target": r.target,
         "via": r.via, "orders": sorted(wanted.intersection(r.order_ids))}
        for r in AccessRecord.objects.filter(kind=AccessKind.EXPORT).order_by("at").iterator()
        if wanted.intersection(r.order_ids or [])]
    access_log.record(kind=AccessKind.BUYER, target=buyer_id, user=user, actor=actor,
                      order_ids=order_ids, via="buyer-export")
    return data


def _case_data(case: DebtCase, recipients: dict[str, str]) -> dict[str, Any]:
    letters = list(Letter.objects.filter(case=case).select_related("outbox")
                   .order_by("cycle", "level", "pk"))
    handovers = list(HandoverItem.objects.filter(case=case).select_related(
        "handover__partner").order_by("handover__created_at"))
    for item in handovers:
        if item.handed_over and item.handover.partner is not None:
            recipients[f"agency:{item.handover.partner.name}"] = item.handover.partner.name
    return {
        "state": case.state, "state_label": str(CaseState(case.state).label),
        "cycle": case.cycle, "trigger": case.trigger,
        "open_amount": _money(case.open_amount, case.currency),
        "opened_at": _when(case.opened_at), "anonymised_at": _when(case.anonymised_at),
        "first_dunning_letter": _when(case.first_dunning_letter),
        "second_dunning_letter": _when(case.second_dunning_letter),
        "incasso_date": _when(case.incasso_date),
        # Internal notes stay inside (like every export); their line on the timeline too.
        "timeline": [{"at": _when(e.at), "kind": e.kind, "what": e.reason}
                     for e in CaseEvent.objects.filter(case=case).exclude(
                         code=case_reasons.NOTE_INTERNAL).order_by("at", "pk")],
        "notes_shared": [{"at": _when(n.created_at), "text": n.text}
                         for n in CaseNote.objects.filter(
                             case=case, visibility=NoteVisibility.SHARED).order_by("created_at")],
        "letters": [_letter_data(letter) for letter in letters],
        "bank_transfers": [_transfer_data(line) for line in StatementLine.objects.filter(
            case=case).select_related("statement").order_by("booking_date", "pk")],
        "handovers": [{"file": i.handover.file_name, "at": _when(i.handover.created_at),
                       "partner": i.handover.partner.name if i.handover.partner else None,
                       "handed_over": i.handed_over,
                       "fields": [{"column": column, "ground": ground_text(ground)}
                                  for column, ground in i.handover.fields]}
                      for i in handovers],
    }


def _letter_data(letter: Letter) -> dict[str, Any]:
    outbox = getattr(letter, "outbox", None)
    return {
        "cycle": letter.cycle, "level": letter.level, "letter_date": _when(letter.letter_date),
        "pay_by": _when(letter.deadline), "left_on": _when(letter.dispatched_on),
        "principal": _money(letter.principal, letter.currency),
        "fees": _money(letter.fees, letter.currency),
        "interest": _money(letter.interest, letter.currency),
        "subject": letter.subject, "text": letter.body_text,
        "channel": outbox.channel if outbox else None,
        "to": outbox.to_address if outbox else None,
        "status": outbox.status if outbox else None,
        "anonymised_at": _when(letter.anonymised_at),
    }


def _transfer_data(line: StatementLine) -> dict[str, Any]:
    return {
        "statement": line.statement.statement_id, "booking": line.entry_key,
        "booking_date": _when(line.booking_date), "value_date": _when(line.value_date),
        "amount": _money(line.amount, line.currency),
        "applied": _money(line.applied, line.currency),
        "to_refund": _money(line.surplus, line.currency),
        "refunded_at": _when(line.refunded_at), "state": line.state,
        "remitter": line.remitter_name, "remitter_iban": line.remitter_iban,
        "text": line.remittance_text,
    }


def buyer_export_json(*, buyer_id: str, actor: str, user: Any = None) -> str:
    return json.dumps(buyer_data(buyer_id=buyer_id, actor=actor, user=user),
                      ensure_ascii=False, indent=2)


def buyer_of(*, order_id: str) -> str:
    """The buyer id of an order (support often knows the order, the law asks about the buyer)."""
    buyer = Order.objects.filter(pk=order_id).values_list("buyer_id", flat=True).first()
    if buyer is None:
        raise PrivacyError(_("No order %(id)r.") % {"id": order_id})
    return buyer


def anonymise_unplaced_statement_lines(*, older_than_days: int, today: date | None = None
                                       ) -> int:
    """Bank credits that never found a case (unmatched, ignored, not for us) and were booked
    more than ``older_than_days`` ago lose the remitter's name and IBAN, the remittance text
    and support's note; amount, dates and state stay for the books. (A line booked to a case
    goes with its case: ``_anonymise_statement_lines``.) Returns the lines cleared."""
    today = today or timezone.localdate()
    return StatementLine.objects.filter(
        case__isnull=True, booking_date__lt=today - timedelta(days=older_than_days),
    ).exclude(remitter_name="", remitter_iban="", remittance_text="", note="").update(
        remitter_name="", remitter_iban="", remittance_text="", note="")


def prune_access_log(*, older_than_days: int, now: datetime | None = None) -> int:
    """Delete access records older than that (the access log's own retention)."""
    now = now or timezone.now()
    deleted, _ = AccessRecord.objects.filter(
        at__lt=now - timedelta(days=older_than_days)).delete()
    return deleted


__all__ = ["CLOSED_STATES", "AnonymiseResult", "ErasureResult", "PrivacyError",
           "anonymise_closed_cases", "anonymise_unplaced_statement_lines", "buyer_data",
           "buyer_export_json", "buyer_of",
           "erase_buyer", "letter_copy_kept_until", "prune_access_log"]
