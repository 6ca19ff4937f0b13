"""The agency's monthly report (agency-report.md), read through the partner's column mapping.

Each row sets the case's incasso_date from the takeover date, books money recovered since the
last report as a payment on the order (through the intake, so the case follows: its open amount
drops and a fully paid case moves to paid), books the same amount as an invoice record for the
vendor, and keeps the agency's comment as an internal note. Rows that cannot be applied are kept
for support and change nothing. The same file twice changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mahnwerk import bulk
from mahnwerk.cases import reasons as case_reasons
from mahnwerk.cases.models import CaseNote, DebtCase, EventKind, NoteVisibility
from mahnwerk.cases.services import CaseChange, add_note, change_cases
from mahnwerk.collection import reasons as why
from mahnwerk.collection.models import (
    AgencyReport,
    CollectionPartner,
    HandoverItem,
    ReportRow,
    VendorInvoice,
)
from mahnwerk.formats import format_day
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import Payment, PaymentChannel
from mahnwerk.intake.services import apply_records
from mahnwerk.money import format_money
from mahnwerk.reasons import Reason, date_param

COLUMNS = ("order_id", "agency_reference", "takeover_date", "status", "collected_amount",
           "collected_at", "comment")
REQUIRED = ("order_id", "takeover_date", "status", "collected_amount")
STATUSES = ("open", "paid", "partially_paid", "uncollectible", "withdrawn", "disputed")
#: The agency's status in words, for the note its comment becomes.
STATUS_LABELS = {
    "open": gettext_lazy("open"), "paid": gettext_lazy("paid"),
    "partially_paid": gettext_lazy("partially paid"),
    "uncollectible": gettext_lazy("uncollectible"),
    "withdrawn": gettext_lazy("withdrawn"), "disputed": gettext_lazy("disputed"),
}


class ReportError(Exception):
    """A report that cannot be read at all; nothing was applied."""


@dataclass
class ReportResult:
    report: AgencyReport
    already_imported: bool = False
    applied: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # line, order, reason
    rejected: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)

    def reject(self, line: int, values: dict[str, Any], problem: str) -> None:
        self.problems.append((line, values.get("order_id", ""), problem))
        self.rejected.append((line, values.get("order_id", ""), problem, values))


def _date(value: str, fmt: str) -> date:
    value = value.strip()
    if fmt:
        return datetime.strptime(value, fmt).date()
    return date.fromisoformat(value[:10])


def _amount(value: str) -> Decimal:
    raw = value.strip()
    if re.fullmatch(r"-?\d+,\d{1,2}", raw):
        raise ValueError(_("decimal comma; write %(fixed)s") % {"fixed": raw.replace(",", ".")})
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ValueError(_("not an amount")) from None
    if amount < 0:
        raise ValueError(_("negative amount"))
    return amount


def import_report(*, path: Path, partner: CollectionPartner, actor: str) -> ReportResult:
    """Apply the agency's report file (``mahnwerk import-agency-report``)."""
    return import_report_data(data=path.read_bytes(), name=path.name, partner=partner,
                              actor=actor)


def import_report_data(*, data: bytes, name: str, partner: CollectionPartner,
                       actor: str) -> ReportResult:
    """Apply a report's bytes (an upload in the workspace, or a file): the same file twice
    changes nothing; rows that cannot be applied change nothing and are listed."""
    digest = hashlib.sha256(data).hexdigest()
    earlier = AgencyReport.objects.filter(partner=partner, sha256=digest).first()
    if earlier is not None:
        return ReportResult(report=earlier, already_imported=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ReportError(_("%(file)s:%(line)d: the report is not UTF-8; ask %(partner)s for "
                            "UTF-8 or save it as UTF-8. Nothing was applied.")
                          % {"file": name, "line": line, "partner": partner.name}) from None
    mapping = {canonical: partner.report_mapping.get(canonical, canonical)
               for canonical in COLUMNS}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [mapping[c] for c in REQUIRED if mapping[c] not in (reader.fieldnames or [])]
    if missing:
        raise ReportError(_("%(file)s:1: columns missing: %(cols)s (mapping of %(partner)s). "
                            "Nothing was applied.")
                          % {"file": name, "cols": ", ".join(missing),
                             "partner": partner.name})
    with transaction.atomic():
        report = AgencyReport.objects.create(partner=partner, file_name=name,
                                             sha256=digest, created_by=actor)
        result = ReportResult(report=report)
        seen: dict[str, int] = {}
        batch: list[tuple[int, dict[str, Any]]] = []
        for raw in reader:
            report.rows += 1
            values = {c: (raw.get(mapping[c]) or "").strip() for c in COLUMNS}
            if any("\x00" in value for value in values.values()):
                # Kept for support with the character made visible; PostgreSQL stores no NUL.
                result.reject(reader.line_num,
                              {c: v.replace("\x00", "\ufffd") for c, v in values.items()},
                              _("a cell contains a NUL character (\\x00); ask the agency for "
                                "a clean file"))
                continue
            batch.append((reader.line_num, values))
            if len(batch) >= 900:
                _apply_batch(batch, partner=partner, report=report, actor=actor, seen=seen,
                             result=result)
                batch = []
        _apply_batch(batch, partner=partner, report=report, actor=actor, seen=seen,
                     result=result)
        ReportRow.objects.bulk_create([
            ReportRow(report=report, line=line, order_id=order_id[:64], values=values,
                      problem=problem[:500])
            for line, order_id, problem, values in result.rejected])
        report.applied = result.applied
        report.save(update_fields=["rows", "applied"])
    return result


@dataclass
class _Row:
    line: int
    values: dict[str, Any]
    taken: date
    collected: Decimal
    collected_on: date | None


def _read_row(line: int, row: dict[str, Any], partner: CollectionPartner,
              seen: dict[str, int]) -> _Row | str:
    """The row's values, or why it cannot be read."""
    order_id = row["order_id"]
    if not order_id:
        return _("no order id")
    if order_id in seen:
        return _("the same order as on line %(line)d") % {"line": seen[order_id]}
    seen[order_id] = line
    if row["status"] not in STATUSES:
        return _("unknown status %(status)s; allowed: %(allowed)s") % {
            "status": row["status"], "allowed": ", ".join(STATUSES)}
    try:
        taken = _date(row["takeover_date"], partner.report_date_format)
        collected_on = (_date(row["collected_at"], partner.report_date_format)
                        if row["collected_at"] else None)
    except ValueError:
        return _("a date that cannot be read: %(value)s") % {"value": row["takeover_date"]}
    try:
        collected = _amount(row["collected_amount"] or "0")
    except ValueError as exc:
        return _("collected_amount %(value)s: %(reason)s") % {
            "value": row["collected_amount"], "reason": exc}
    return _Row(line=line, values=row, taken=taken, collected=collected,
                collected_on=collected_on)


def _apply_batch(batch: list[tuple[int, dict[str, Any]]], *, partner: CollectionPartner,
                 report: AgencyReport, actor: str, seen: dict[str, int],
                 result: ReportResult) -> None:
    """Apply up to 900 rows with a handful of queries, whatever their number."""
    readable: list[_Row] = []
    for line, values in batch:
        row = _read_row(line, values, partner, seen)
        if isinstance(row, str):
            result.reject(line, values, row)
        else:
            readable.append(row)
    orders = [r.values["order_id"] for r in readable]
    cases = {c.order_id: c for c in DebtCase.objects.select_related("vendor")
             .filter(order_id__in=orders)}
    handed = set(HandoverItem.objects.filter(
        case__order_id__in=orders, handed_over=True, handover__partner=partner)
        .values_list("case__order_id", flat=True))
    booked = dict(Payment.objects.filter(order_id__in=orders, channel=PaymentChannel.AGENCY,
                                         payment_id__startswith=f"AG-{partner.pk}-")
                  .values_list("order_id").annotate(total=Sum("amount")))
    dated: list[CaseChange] = []
    payments: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    #: (case, text, the row's day: when the agency collected, else its takeover)
    comments: list[tuple[DebtCase, str, date]] = []
    for row in readable:
        order_id = row.values["order_id"]
        case = cases.get(order_id)
        problem = _row_problem(row, case, order_id in handed, booked.get(order_id), partner)
        if problem:
            result.reject(row.line, row.values, problem)
            continue
        new_money = row.collected - (booked.get(order_id) or Decimal("0"))
        if case.incasso_date != row.taken:
            dated.append(CaseChange(
                case=case, kind=EventKind.COLLECTION, changes={"incasso_date": row.taken},
                effective=row.taken,
                reason=Reason(why.TAKEOVER, {
                    "partner": partner.name, "date": date_param(row.taken),
                    "ref": row.values["agency_reference"] or None})))
        if new_money > 0:
            payments.append({
                "payment_id": f"AG-{partner.pk}-{order_id}-{row.collected}",
                "order_id": order_id, "amount": str(new_money), "currency": case.currency,
                "paid_at": (row.collected_on or report.created_at.date()).isoformat(),
                "channel": PaymentChannel.AGENCY.value})
            invoices.append({"vendor_id": case.vendor_id, "case_id": case.pk,
                             "report_id": report.pk, "amount": new_money,
                             "currency": case.currency, "collected_on": row.collected_on,
                             "created_at": report.created_at})
        if row.values["comment"]:
            comments.append((case, row.collected_on or row.taken,
                             _("%(partner)s (%(status)s): %(comment)s") % {
                "partner": partner.name,
                "status": STATUS_LABELS.get(row.values["status"], row.values["status"]),
                "comment": row.values["comment"]}))
        result.applied += 1
    change_cases(items=dated, actor=actor)
    if payments:
        feed = FEEDS["payments"]
        records = []
        for raw in payments:
            record, problems = feed.parse(raw)
            assert not problems, problems  # made here from checked values
            records.append(record)
        apply_records(feed=feed, records=records, actor=actor)
    bulk.insert_rows(VendorInvoice, invoices)
    if comments:
        # Read again: the payments above may have moved the cases (to paid), and a change
        # decided on the copies read before would be refused as stale.
        fresh = DebtCase.objects.in_bulk([case.pk for case, _day, _text in comments])
        comments = [(fresh[case.pk], day, text) for case, day, text in comments]
        now = timezone.now()
        bulk.insert_rows(CaseNote, [{"case_id": case.pk, "visibility": NoteVisibility.INTERNAL,
                                     "text": text, "author": actor, "created_at": now}
                                    for case, _day, text in comments])
        change_cases(items=[CaseChange(case=case, kind=EventKind.NOTE, effective=day,
                                       reason=Reason(case_reasons.NOTE_INTERNAL, {"text": text}))
                            for case, day, text in comments], actor=actor)


def _row_problem(row: _Row, case: DebtCase | None, handed_over: bool, booked: Decimal | None,
                 partner: CollectionPartner) -> str:
    if case is None:
        return _("unknown order")
    if not handed_over:
        return _("this case was never handed over to %(partner)s") % {"partner": partner.name}
    if case.second_dunning_letter and row.taken < case.second_dunning_letter:
        return _("takeover date %(taken)s before the second letter of %(second)s") % {
            "taken": format_day(row.taken), "second": format_day(case.second_dunning_letter)}
    new_money = row.collected - (booked or Decimal("0"))
    if new_money < 0:
        return _("the agency reports less (%(now)s) than it reported before (%(before)s)") % {
            "now": format_money(row.collected, case.currency),
            "before": format_money(booked or Decimal("0"), case.currency)}
    # What the agency may collect: principal, costs and interest (§ 13a RDG has it claim all).
    if new_money > case.total_owed:
        return _("the collected amount exceeds the open amount of %(open)s") % {
            "open": format_money(case.total_owed, case.currency)}
    return ""


def clear_row(*, row: ReportRow, actor: str, note: str,
              user: AbstractBaseUser | None = None) -> None:
    """Support has dealt with a row the import could not apply (asked the agency, corrected the
    data by hand): the row leaves the list, and the case, if there is one, gets the note."""
    if row.cleared_at is not None:
        raise ValueError(_("Line %(line)d of %(file)s was cleared before.")
                         % {"line": row.line, "file": row.report.file_name})
    with transaction.atomic():
        row.cleared_at = timezone.now()
        row.save(update_fields=["cleared_at"])
        case = DebtCase.objects.filter(order_id=row.order_id).first() if row.order_id else None
        if case is not None:
            # Support's note stays as written; the note is text, the timeline a code.
            cleared = Reason(why.REPORT_ROW_CLEARED, {
                "file": row.report.file_name, "line": row.line, "problem": row.problem,
                "note": note})
            add_note(case=case, actor=actor, user=user, text=cleared.render(), event=cleared)
