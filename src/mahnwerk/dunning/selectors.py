"""Reading for dunning: the facts a run decides on, policies, runs and their decisions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning.decide import CaseFacts, LevelRule, PolicyRules
from mahnwerk.dunning.models import (
    Action,
    Channel,
    DeliveryStatus,
    DirectSelection,
    DunningPolicy,
    DunningRun,
    OutboxMessage,
    RunDecision,
)

#: Cases a run looks at: those in commercial dunning, blocked ones (to say why they are
#: skipped) and reordered ones not yet reported by a run (the exclusion check).
RUN_STATES = (CaseState.OPEN, CaseState.DUNNING, CaseState.BLOCKED, CaseState.REOPENED)


def default_policy() -> DunningPolicy:
    policy = DunningPolicy.objects.filter(vendor__isnull=True).order_by("pk").first()
    if policy is None:
        raise DunningPolicy.DoesNotExist("no default dunning policy; run `mahnwerk migrate`")
    return policy


def policy_for(*, vendor_id: str) -> DunningPolicy:
    return DunningPolicy.objects.filter(vendor_id=vendor_id).first() or default_policy()


def rules_of(policy: DunningPolicy) -> PolicyRules:
    return PolicyRules(
        levels=tuple(LevelRule(number=level.number,
                               days_after_previous=level.days_after_previous)
                     for level in policy.levels.all()),
        escalate_after_days=policy.escalate_after_days,
        minimum_amount=policy.minimum_amount,
    )


def run_facts(*, vendor_id: str | None = None) -> Iterator[CaseFacts]:
    """The facts of every case a run looks at, streamed (one query, no model objects)."""
    reported = RunDecision.objects.filter(case=OuterRef("pk"), action=Action.EXCLUDE)
    cases = (
        DebtCase.objects.filter(state__in=RUN_STATES)
        .filter(~Q(state=CaseState.BLOCKED)
                | Q(blocked_from_state__in=[CaseState.OPEN, CaseState.DUNNING]))
        .exclude(Q(state=CaseState.REOPENED) & Q(Exists(reported)))
    )
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    choices = dict(DirectSelection.objects.filter(case__in=cases)
                   .values_list("case_id", "pursue"))
    undelivered: dict[int, int] = {}
    for case_id, level in (OutboxMessage.objects.filter(
            channel=Channel.EMAIL, status__in=[DeliveryStatus.FAILED, DeliveryStatus.BOUNCED])
            .values_list("case_id", "letter__level")):
        undelivered[case_id] = min(level, undelivered.get(case_id, level))
    tz = timezone.get_current_timezone()
    rows = cases.order_by("vendor_id", "order_id").values_list(
        "pk", "order_id", "vendor_id", "state", "open_amount", "currency", "opened_at",
        "first_dunning_letter", "second_dunning_letter", "reopened", "reopened_id",
        "block_reason", "vendor__enrolled", "vendor__collection_mode", "vendor__dunning_by",
        "order__product_id", "order__product__name", "order__product__dunning_enabled",
    )
    for row in rows.iterator(chunk_size=5000):
        (pk, order_id, vendor, state, amount, currency, opened_at, first, second, reopened,
         reopened_id, block_reason, enrolled, mode, by, product_id, product_name,
         enabled) = row
        yield CaseFacts(
            case_id=pk, order_id=order_id, vendor_id=vendor, state=state, open_amount=amount,
            currency=currency, incident_on=opened_at.astimezone(tz).date(), first_letter=first,
            second_letter=second, reopened=reopened, reopened_id=reopened_id,
            block_reason=block_reason, vendor_enrolled=enrolled, collection_mode=mode,
            dunning_by=by, product_id=product_id, product_name=product_name,
            dunning_enabled=enabled, direct_choice=choices.get(pk),
            undelivered_level=undelivered.get(pk),
        )


def latest_run() -> DunningRun | None:
    return DunningRun.objects.order_by("-as_of", "-pk").first()


def active_run() -> DunningRun | None:
    return DunningRun.objects.filter(lock__isnull=False).first()


def decisions(*, run: DunningRun) -> QuerySet[RunDecision]:
    return run.decisions.select_related("case").order_by("case__vendor_id", "case__order_id")


def run_counts(*, run: DunningRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action, level in run.decisions.values_list("action", "level"):
        key = f"{action}{level or ''}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def as_of_is_after_latest(as_of: date) -> bool:
    latest = latest_run()
    return latest is None or as_of >= latest.as_of


def describe_counts(counts: dict[str, int]) -> str:
    """A run's counts in words: "first letter 56, second letter 46, skipped 254"."""
    from django.utils.translation import gettext as _

    labels = {"send1": _("first letter"), "send2": _("second letter"),
              Action.EXCLUDE: _("excluded"), Action.HOLD: _("held"),
              Action.SKIP: _("skipped"), Action.ESCALATE: _("escalated")}
    return ", ".join(f"{labels.get(k, k)} {v}" for k, v in sorted(counts.items())) or "-"
