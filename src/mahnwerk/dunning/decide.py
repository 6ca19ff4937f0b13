"""The decide step of a dunning run: a pure function of the data.

Nothing here reads the database or changes anything: ``decide(facts, policy, as_of)`` says, for
one case, what the run would do and why. The run (``dunning.services``) gathers the facts, stores
the decisions, and only then executes them, as Tryton's account_dunning keeps "create dunnings"
apart from "process". Each level answers one question: is this case due for me on this date?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils.translation import gettext as _

from mahnwerk.dunning.models import Action
from mahnwerk.formats import format_day
from mahnwerk.money import format_money


@dataclass(frozen=True, slots=True)
class LevelRule:
    number: int
    days_after_previous: int

    def test(self, *, since: date | None, as_of: date) -> bool:
        """Is a case whose previous step was on ``since`` due for this level on ``as_of``?"""
        return since is not None and as_of >= self.due_on(since)

    def due_on(self, since: date) -> date:
        return since + timedelta(days=self.days_after_previous)


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """What ``decide`` needs of a policy, without the database."""

    levels: tuple[LevelRule, ...]
    escalate_after_days: int
    minimum_amount: Decimal

    def level(self, number: int) -> LevelRule:
        return next(rule for rule in self.levels if rule.number == number)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """Everything the decision looks at, for one case."""

    case_id: int
    order_id: str
    vendor_id: str
    state: str
    open_amount: Decimal
    currency: str
    incident_on: date
    first_letter: date | None
    second_letter: date | None
    reopened: bool
    reopened_id: str
    block_reason: str
    vendor_enrolled: bool
    collection_mode: str
    dunning_by: str
    product_id: str
    product_name: str
    dunning_enabled: bool
    #: For direct-collection vendors: True (pursue), False (do not), None (not marked).
    direct_choice: bool | None = None
    #: The level of a letter whose e-mail failed for good or bounced and that has not gone
    #: by post instead: the buyer never got it.
    undelivered_level: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    reason: str
    level: int | None = None


def decide(facts: CaseFacts, policy: PolicyRules, as_of: date) -> Decision:
    """The next action for one case as of ``as_of``, and the reason, in the process's order."""
    skip = Action.SKIP
    if not facts.vendor_enrolled:
        return Decision(skip, _("vendor not enrolled in dunning"))
    if facts.dunning_by == "agency":
        return Decision(skip, _("the agency sends this vendor's letters (transitional process)"))
    if facts.state == "blocked":
        return Decision(skip, _("blocked: %(reason)s") % {"reason": facts.block_reason})
    if facts.reopened:
        return Decision(Action.EXCLUDE, _("reopened as order %(order)s") % {
            "order": facts.reopened_id})
    if not facts.dunning_enabled:
        return Decision(Action.HOLD, _("product %(product)s has no dunning account") % {
            "product": facts.product_name})
    if facts.open_amount < policy.minimum_amount:
        return Decision(skip, _("open amount %(amount)s below the minimum %(minimum)s") % {
            "amount": format_money(facts.open_amount, facts.currency),
            "minimum": format_money(policy.minimum_amount, facts.currency)})
    if facts.collection_mode == "direct" and facts.direct_choice is not True:
        if facts.direct_choice is False:
            return Decision(skip, _("the vendor chose not to pursue this order"))
        return Decision(skip, _("not marked for pursuit by the vendor"))
    if facts.undelivered_level is not None:
        return Decision(skip, _("letter %(level)d did not reach the buyer (e-mail failed or "
                                "bounced): send it by post first") % {
            "level": facts.undelivered_level})
    if facts.first_letter is None:
        rule = policy.level(1)
        if rule.test(since=facts.incident_on, as_of=as_of):
            return Decision(Action.SEND, _("first letter due since %(date)s") % {
                "date": format_day(rule.due_on(facts.incident_on))}, level=1)
        return Decision(skip, _("first letter not due before %(date)s") % {
            "date": format_day(rule.due_on(facts.incident_on))})
    if facts.second_letter is None:
        rule = policy.level(2)
        if rule.test(since=facts.first_letter, as_of=as_of):
            return Decision(Action.SEND, _("second letter due since %(date)s") % {
                "date": format_day(rule.due_on(facts.first_letter))}, level=2)
        return Decision(skip, _("second letter not due before %(date)s") % {
            "date": format_day(rule.due_on(facts.first_letter))})
    escalate_on = facts.second_letter + timedelta(days=policy.escalate_after_days)
    if as_of >= escalate_on:
        return Decision(Action.ESCALATE, _("unpaid %(days)d days after the second letter") % {
            "days": (as_of - facts.second_letter).days})
    return Decision(skip, _("escalation not due before %(date)s") % {
        "date": format_day(escalate_on)})
