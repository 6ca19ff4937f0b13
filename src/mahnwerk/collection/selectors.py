"""Reading for collection: routing, the approval and collection lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.collection.models import (
    AgencyReport,
    ApprovalRequest,
    CollectionPartner,
    Handover,
    HandoverItem,
    ReportRow,
    RoutingRule,
)
from mahnwerk.dunning.models import Action, RunDecision
from mahnwerk.intake.models import Payment

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class VendorFigures:
    """A vendor's own figures in one currency (amounts of two currencies are never added)."""

    currency: str
    open_count: int = 0
    open_amount: Decimal = ZERO
    agency_count: int = 0
    agency_amount: Decimal = ZERO
    recovered_count: int = 0
    recovered_amount: Decimal = ZERO


def vendor_figures(*, vendor_id: str) -> list[VendorFigures]:
    """What a vendor's portal shows first, per currency: its open debts (the active states, as
    the workspace counts them), the part of them with the agency, and the money recovered so
    far: every payment on a debt case's order made on or after the case was opened (as the
    workspace's Übersicht counts it), through whatever channel. Two grouped queries."""
    agency = Q(state=CaseState.SENT_FOR_COLLECTION)
    found: dict[str, dict[str, object]] = {}
    for row in (DebtCase.objects.filter(vendor_id=vendor_id, state__in=ACTIVE_STATES)
                .order_by().values("currency")
                .annotate(n=Count("pk"), amount=Sum("open_amount"),
                          n_agency=Count("pk", filter=agency),
                          agency_amount=Sum("open_amount", filter=agency))):
        found[row["currency"]] = {
            "open_count": row["n"], "open_amount": row["amount"] or ZERO,
            "agency_count": row["n_agency"], "agency_amount": row["agency_amount"] or ZERO}
    for row in (Payment.objects.filter(order__debt_case__vendor_id=vendor_id,
                                       paid_at__gte=F("order__debt_case__opened_at"))
                .order_by().values("currency")
                .annotate(n=Count("pk"), amount=Sum("amount"))):
        found.setdefault(row["currency"], {}).update(
            recovered_count=row["n"], recovered_amount=row["amount"] or ZERO)
    return [VendorFigures(currency=currency, **values)
            for currency, values in sorted(found.items())]


def approval_list(*, vendor_id: str | None = None) -> QuerySet[DebtCase]:
    """"Warten auf Freigabe": escalated cases waiting for the vendor's word."""
    cases = DebtCase.objects.filter(state=CaseState.ON_HOLD)
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return cases.select_related("order", "order__product", "vendor").order_by(
        "vendor_id", "order_id")


#: Where a waiting case's request to its vendor stands (the newest request): the filter of
#: *Freigaben* and the portal's approvals.
ASKED_STAGES = ("not_asked", "asked", "reminded", "escalated")


def with_waiting(cases: QuerySet[DebtCase]) -> QuerySet[DebtCase]:
    """The waiting cases with ``waiting_since`` (as ``waiting_facts`` counts it: the day the
    run escalated the case, else the day it went on hold) and the newest approval request's
    ``asked_at``, ``reminded_at`` and ``escalated_at``, as columns of the one query: a list
    filters and sorts by them, and a page reads no query per row."""
    escalated = (RunDecision.objects.filter(case=OuterRef("pk"), action=Action.ESCALATE,
                                            executed_at__isnull=False)
                 .order_by("-run__as_of").values("run__as_of")[:1])
    moved = (CaseEvent.objects.filter(case=OuterRef("pk"), to_state=CaseState.ON_HOLD)
             .exclude(from_state=CaseState.ON_HOLD).order_by("-at").values("at")[:1])
    newest = ApprovalRequest.objects.filter(cases=OuterRef("pk")).order_by("-sent_at", "-pk")
    return cases.annotate(
        waiting_since=Coalesce(Subquery(escalated, output_field=DateField()),
                               TruncDate(Subquery(moved, output_field=DateTimeField()))),
        asked_at=Subquery(newest.values("sent_at")[:1]),
        reminded_at=Subquery(newest.values("reminded_at")[:1]),
        escalated_at=Subquery(newest.values("escalated_at")[:1]))


def asked_stage(cases: QuerySet[DebtCase], stage: str) -> QuerySet[DebtCase]:
    """The cases of ``with_waiting`` whose vendor was not asked yet, asked (no reminder yet),
    reminded (not escalated yet) or escalated to its relationship manager."""
    if stage == "not_asked":
        return cases.filter(asked_at__isnull=True)
    if stage == "asked":
        return cases.filter(asked_at__isnull=False, reminded_at__isnull=True,
                            escalated_at__isnull=True)
    if stage == "reminded":
        return cases.filter(reminded_at__isnull=False, escalated_at__isnull=True)
    return cases.filter(escalated_at__isnull=False)


COLLECTION_STATES = (CaseState.ON_HOLD, CaseState.APPROVED, CaseState.SENT_FOR_COLLECTION)


def collection_list(*, vendor_id: str | None = None, with_blocked: bool = False
                    ) -> QuerySet[DebtCase]:
    """"Inkasso - Cancelled Installments": cases on their way to or with the agency; with
    ``with_blocked`` also those support blocked on that way (unblocked, they come back)."""
    wanted = Q(state__in=COLLECTION_STATES)
    if with_blocked:
        wanted |= Q(state=CaseState.BLOCKED, blocked_from_state__in=COLLECTION_STATES)
    cases = DebtCase.objects.filter(wanted)
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return cases.select_related("order", "order__product", "vendor").order_by(
        "vendor_id", "order_id")


def active_rules() -> list[RoutingRule]:
    return list(RoutingRule.objects.select_related("partner").filter(partner__active=True))


def route(*, rules: list[RoutingRule], vendor_id: str, country: str, trigger: str
          ) -> CollectionPartner | None:
    country = (country or settings.MAHNWERK_DEFAULT_COUNTRY).upper()
    for rule in rules:
        if rule.vendor_id and rule.vendor_id != vendor_id:
            continue
        if rule.trigger and rule.trigger != trigger:
            continue
        wanted = rule.buyer_country.upper()
        if wanted.startswith("!") and country == wanted[1:]:
            continue
        if wanted and not wanted.startswith("!") and country != wanted:
            continue
        return rule.partner
    return None


def vendor_counts(*, cases: QuerySet[DebtCase]) -> list[dict[str, object]]:
    """One line per vendor of the collection list: how many cases wait, are approved, are with
    the agency (for the export buttons)."""
    by_vendor: dict[str, dict[str, object]] = {}
    for row in (cases.order_by().values("vendor_id", "vendor__name", "state")
                .annotate(n=Count("pk"))):
        line = by_vendor.setdefault(row["vendor_id"], {
            "vendor_id": row["vendor_id"], "name": row["vendor__name"],
            CaseState.ON_HOLD.value: 0, CaseState.APPROVED.value: 0,
            CaseState.SENT_FOR_COLLECTION.value: 0})
        line[row["state"]] = row["n"]
    return sorted(by_vendor.values(), key=lambda line: (str(line["name"]), line["vendor_id"]))


def handovers(*, vendor_id: str | None = None) -> QuerySet[Handover]:
    """The kept exports, newest first, without their content (read only to download it)."""
    kept = (Handover.objects.select_related("vendor", "partner").defer("content")
            .order_by("-created_at", "-id"))
    return kept.filter(vendor_id=vendor_id) if vendor_id else kept


def handover_file(*, pk: int) -> Handover | None:
    """One kept export with its content (file name and bytes), or None."""
    return Handover.objects.filter(pk=pk).only("file_name", "content").first()


def agency_reports(*, limit: int = 20) -> QuerySet[AgencyReport]:
    """The latest imported agency reports, newest first."""
    return AgencyReport.objects.select_related("partner").order_by("-created_at", "-id")[:limit]


def open_report_rows() -> QuerySet[ReportRow]:
    """Rows of agency reports that could not be applied and that support has not cleared."""
    return (ReportRow.objects.filter(cleared_at__isnull=True).select_related("report",
                                                                             "report__partner")
            .order_by("-report__created_at", "line"))


@dataclass(frozen=True, slots=True)
class WaitingFacts:
    """How long a case waits for its vendor's word, and when the vendor was asked."""

    since: date | None
    days: int | None
    asked_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None


def facts_of(case: DebtCase, *, today: date | None = None) -> WaitingFacts:
    """A case read with ``with_waiting``: its facts from its own columns (no query)."""
    today = today or timezone.localdate()
    since = case.waiting_since
    return WaitingFacts(since=since, days=(today - since).days if since else None,
                        asked_at=case.asked_at, reminded_at=case.reminded_at,
                        escalated_at=case.escalated_at)


def waiting_facts(*, case_ids: list[int], today: date | None = None) -> dict[int, WaitingFacts]:
    """Per waiting case (three queries for a whole page): since when it waits for the vendor's
    approval, the business day the run escalated it (the run's date; a case put on hold
    otherwise, e.g. by unblocking, since the day it went there), and the newest request's
    asked, reminded and escalated moments (``ApprovalRequest``)."""
    today = today or timezone.localdate()
    escalated = dict(
        RunDecision.objects.filter(case_id__in=case_ids, action=Action.ESCALATE,
                                   executed_at__isnull=False)
        .values("case_id").annotate(day=Max("run__as_of")).values_list("case_id", "day"))
    moved = dict(
        CaseEvent.objects.filter(case_id__in=case_ids, to_state=CaseState.ON_HOLD)
        .exclude(from_state=CaseState.ON_HOLD)
        .values("case_id").annotate(at=Max("at")).values_list("case_id", "at"))
    requests: dict[int, ApprovalRequest] = {}
    links = (ApprovalRequest.cases.through.objects.filter(debtcase_id__in=case_ids)
             .select_related("approvalrequest").order_by("approvalrequest__sent_at"))
    for link in links:
        requests[link.debtcase_id] = link.approvalrequest  # the newest wins
    facts = {}
    for pk in case_ids:
        since = escalated.get(pk) or (timezone.localdate(moved[pk]) if pk in moved else None)
        request = requests.get(pk)
        facts[pk] = WaitingFacts(
            since=since, days=(today - since).days if since else None,
            asked_at=request.sent_at if request else None,
            reminded_at=request.reminded_at if request else None,
            escalated_at=request.escalated_at if request else None)
    return facts


def agency_of(case: DebtCase) -> CollectionPartner | None:
    """The partner the case was last handed over to (None: not handed over)."""
    item = (HandoverItem.objects.filter(case=case, handed_over=True)
            .select_related("handover__partner").order_by("-handover__created_at", "-pk")
            .first())
    return item.handover.partner if item is not None else None
