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

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.services import add_note, change_case
from mahnwerk.collection.models import (
    AgencyReport,
    CollectionPartner,
    HandoverItem,
    ReportRow,
    VendorInvoice,
)
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import Payment
from mahnwerk.intake.services import apply_records

COLUMNS = ("order_id", "agency_reference", "takeover_date", "status", "collected_amount",
           "collected_at", "comment")
REQUIRED = ("order_id", "takeover_date", "status", "collected_amount")
STATUSES = ("open", "paid", "partially_paid", "uncollectible", "withdrawn", "disputed")


class ReportError(Exception):
    """A report that cannot be read at all; nothing was applied."""


@dataclass
class ReportResult:
    report: AgencyReport
    already_imported: bool = False
    applied: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # line, order, reason


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
    data = path.read_bytes()
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
                          % {"file": path.name, "line": line, "partner": partner.name}) from None
    mapping = {canonical: partner.report_mapping.get(canonical, canonical)
               for canonical in COLUMNS}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [mapping[c] for c in REQUIRED if mapping[c] not in (reader.fieldnames or [])]
    if missing:
        raise ReportError(_("%(file)s:1: columns missing: %(cols)s (mapping of %(partner)s). "
                            "Nothing was applied.")
                          % {"file": path.name, "cols": ", ".join(missing),
                             "partner": partner.name})
    with transaction.atomic():
        report = AgencyReport.objects.create(partner=partner, file_name=path.name,
                                             sha256=digest, created_by=actor)
        result = ReportResult(report=report)
        seen: dict[str, int] = {}
        for raw in reader:
            line = reader.line_num
            report.rows += 1
            row = {c: (raw.get(mapping[c]) or "").strip() for c in COLUMNS}
            problem = _apply_row(row=row, line=line, partner=partner, report=report,
                                 actor=actor, seen=seen)
            if problem:
                result.problems.append((line, row["order_id"], problem))
                ReportRow.objects.create(report=report, line=line, order_id=row["order_id"],
                                         values=row, problem=problem[:500])
            else:
                result.applied += 1
        report.applied = result.applied
        report.save(update_fields=["rows", "applied"])
    return result


def _apply_row(*, row: dict[str, Any], line: int, partner: CollectionPartner,
               report: AgencyReport, actor: str, seen: dict[str, int]) -> str:
    """Apply one row; return why it cannot be applied (empty when it was)."""
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
    case = DebtCase.objects.select_related("order", "vendor").filter(order_id=order_id).first()
    if case is None:
        return _("unknown order")
    if not HandoverItem.objects.filter(case=case, handed_over=True,
                                       handover__partner=partner).exists():
        return _("this case was never handed over to %(partner)s") % {"partner": partner.name}
    if case.second_dunning_letter and taken < case.second_dunning_letter:
        return _("takeover date %(taken)s before the second letter of %(second)s") % {
            "taken": taken.isoformat(), "second": case.second_dunning_letter.isoformat()}
    booked = Payment.objects.filter(order_id=order_id, channel="agency",
                                    payment_id__startswith=f"AG-{partner.pk}-"
                                    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    new_money = collected - booked
    if new_money < 0:
        return _("the agency reports less (%(now)s) than it reported before (%(before)s)") % {
            "now": collected, "before": booked}
    if new_money > case.open_amount:
        return _("the collected amount exceeds the open amount of %(open)s %(currency)s") % {
            "open": case.open_amount, "currency": case.currency}
    if case.incasso_date != taken:
        change_case(case=case, actor=actor, kind=EventKind.COLLECTION,
                    changes={"incasso_date": taken},
                    reason=_("Takeover by %(partner)s on %(date)s (file %(ref)s).") % {
                        "partner": partner.name, "date": taken.isoformat(),
                        "ref": row["agency_reference"] or "-"})
    if new_money > 0:
        feed = FEEDS["payments"]
        record, problems = feed.parse({
            "payment_id": f"AG-{partner.pk}-{order_id}-{collected}", "order_id": order_id,
            "amount": str(new_money), "currency": case.currency,
            "paid_at": (collected_on or report.created_at.date()).isoformat(),
            "channel": "agency"})
        assert not problems, problems
        apply_records(feed=feed, records=[record], actor=actor)
        VendorInvoice.objects.create(vendor=case.vendor, case=case, report=report,
                                     amount=new_money, currency=case.currency,
                                     collected_on=collected_on)
    if row["comment"]:
        case.refresh_from_db()
        add_note(case=case, actor=actor, text=_("%(partner)s (%(status)s): %(comment)s") % {
            "partner": partner.name, "status": row["status"], "comment": row["comment"]})
    return ""
