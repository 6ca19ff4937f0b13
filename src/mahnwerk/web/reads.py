"""Plain reads for the pages where the apps have no selector (yet): lists as a page shows them.

Only filtering, ordering and ``select_related`` for display live here; no rule of the process.
Where an app has a selector (``cases.selectors``, ``dunning.selectors``, ``dunning.outbox``), the
views call it instead.
"""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.collection.models import CollectionPartner
from mahnwerk.dunning.models import (
    DirectSelection,
    DunningRun,
    Letter,
    OutboxMessage,
    RunDecision,
    VendorTask,
)
from mahnwerk.intake.models import Vendor
from mahnwerk.web.models import VendorAccount


def vendors() -> QuerySet[Vendor]:
    return Vendor.objects.order_by("name", "vendor_id")


def letters_of(*, case: DebtCase) -> QuerySet[Letter]:
    return case.letters.select_related("outbox").order_by("level", "id")


def letter(*, pk: int) -> Letter:
    """A letter with its case and outbox message; raises Letter.DoesNotExist."""
    return Letter.objects.select_related("case", "case__order", "case__order__product",
                                         "case__vendor", "outbox", "run").get(pk=pk)


def runs() -> QuerySet[DunningRun]:
    return DunningRun.objects.select_related("vendor").order_by("-as_of", "-id")


def run(*, pk: int) -> DunningRun:
    return DunningRun.objects.select_related("vendor").get(pk=pk)


def run_decisions(decisions: QuerySet[RunDecision], *, action: str = "") -> QuerySet[RunDecision]:
    decisions = decisions.select_related("case__order", "case__vendor")
    return decisions.filter(action=action) if action else decisions


def executed_count(*, run: DunningRun) -> int:
    return run.decisions.filter(executed_at__isnull=False).count()


def outbox_messages(*, status: str = "", channel: str = "") -> QuerySet[OutboxMessage]:
    messages = OutboxMessage.objects.select_related("letter", "case", "case__vendor"
                                                    ).order_by("-id")
    if status:
        messages = messages.filter(status=status)
    if channel:
        messages = messages.filter(channel=channel)
    return messages


def outbox_message(*, pk: int) -> OutboxMessage:
    return OutboxMessage.objects.select_related("letter", "case").get(pk=pk)


def open_vendor_tasks(*, vendor_id: str) -> QuerySet[VendorTask]:
    return (VendorTask.objects.filter(vendor_id=vendor_id, done_at__isnull=True)
            .prefetch_related("products").order_by("-created_at"))


def pending_selections(*, vendor_id: str) -> QuerySet[DirectSelection]:
    """The orders a direct-collection vendor has not marked yet."""
    return (DirectSelection.objects.filter(vendor_id=vendor_id, pursue__isnull=True,
                                           cycle=F("case__cycle"))
            .select_related("case", "case__order", "case__order__product")
            .order_by("case__order_id"))


def answered_selections(*, vendor_id: str, limit: int = 200) -> list[DirectSelection]:
    return list(DirectSelection.objects.filter(vendor_id=vendor_id, pursue__isnull=False)
                .select_related("case", "case__order__product")
                .order_by("-answered_at", "case__order_id")[:limit])


def active_partners() -> QuerySet[CollectionPartner]:
    return CollectionPartner.objects.filter(active=True).order_by("name")


def vendor_overview() -> QuerySet[Vendor]:
    """The vendors with their open cases, those waiting for approval and their portal logins
    (the vendors' page of the workspace); a count per vendor from the (vendor, state) index."""

    def count(rows: QuerySet) -> Coalesce:
        return Coalesce(Subquery(rows.order_by().values("vendor_id").annotate(n=Count("pk"))
                                 .values("n")[:1]), 0)

    cases = DebtCase.objects.filter(vendor_id=OuterRef("pk"))
    return Vendor.objects.annotate(
        open_cases=count(cases.filter(state__in=[state.value for state in ACTIVE_STATES])),
        waiting=count(cases.filter(state=CaseState.ON_HOLD)),
        logins=count(VendorAccount.objects.filter(vendor_id=OuterRef("pk"))),
    ).order_by("name", "vendor_id")
