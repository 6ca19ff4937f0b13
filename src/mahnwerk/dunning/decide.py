"""The decide step of a dunning run: a pure function of the data.

Nothing here reads the database or changes anything: ``decide(facts, policy, as_of)`` says, for
one case, what the run would do and why. The run (``dunning.services``) gathers the facts, stores
the decisions, and only then executes them, as Tryton's account_dunning keeps "create dunnings"
apart from "process". The levels of a policy are data, an ordered list of any length; each level
answers one question: is this case due for me on this date?

A letter counts from the day it left (``LetterFact.dispatched_on``), not from the run that wrote
it: a letter still waiting for print, for the mail server, or whose e-mail failed or bounced
holds the case, so no buyer gets a next letter or goes to collection without having received the
one before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.models import Action
from mahnwerk.intake.addresses import usable_email
from mahnwerk.intake.models import CollectionMode, DunningBy
from mahnwerk.reasons import money_param, render


@dataclass(frozen=True, slots=True)
class LevelRule:
    number: int
    days_after_previous: int
    #: The handover file's date column this level's letter fills ("" for none).
    handover_column: str = ""

    def test(self, *, since: date | None, as_of: date) -> bool:
        """Is a case whose previous step was on ``since`` due for this level on ``as_of``?"""
        return since is not None and as_of >= self.due_on(since)

    def due_on(self, since: date) -> date:
        return since + timedelta(days=self.days_after_previous)


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """What ``decide`` needs of a policy, without the database: its levels in order."""

    levels: tuple[LevelRule, ...]
    escalate_after_days: int
    minimum_amount: Decimal

    def __post_init__(self) -> None:
        # In order once, not at every question (``after`` is asked for every case of a run).
        object.__setattr__(self, "levels", tuple(sorted(self.levels, key=lambda r: r.number)))

    def level(self, number: int) -> LevelRule:
        return next(rule for rule in self.levels if rule.number == number)

    def after(self, number: int) -> LevelRule | None:
        """The level that follows ``number`` (0: the first level), None after the last."""
        return next((rule for rule in self.levels if rule.number > number), None)


class LetterStatus:
    """Where a letter of the current cycle stands, as the decision sees it."""

    LEFT = "left"  # accepted by the mail server, or posted
    PRINT = "print"  # waiting in the print queue
    QUEUED = "queued"  # waiting for the mail server
    FAILED = "failed"
    BOUNCED = "bounced"


@dataclass(frozen=True, slots=True)
class LetterFact:
    """One letter of the case's current cycle (cancelled ones are not facts)."""

    level: int
    status: str
    #: The day it left; for a letter that has not, the day it has been waiting since.
    on: date


@dataclass(slots=True)
class CaseFacts:
    """Everything the decision looks at, for one case.

    Not frozen, unlike the other facts: a run makes one per case, and a frozen dataclass's
    ``__init__`` (``object.__setattr__`` for each of its 23 fields) costs 3.5 times a plain
    one, 0.4 s of deciding 100,000 cases (bench/dunning_benchmark.py). Nothing changes facts
    once read; a changed copy is made with ``dataclasses.replace``."""

    case_id: int
    order_id: str
    vendor_id: str
    state: str
    open_amount: Decimal
    currency: str
    #: The day of the incident that opened the current dunning cycle.
    incident_on: date
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
    #: The letters of the current cycle, by level.
    letters: tuple[LetterFact, ...] = ()
    buyer_email: str = ""
    invalid_address: bool = False
    cycle: int = 1
    #: The case's letter dates when no letter of the cycle is in Mahnwerk (taken over from the
    #: old master lists): the handover file's first and second dunning letter.
    recorded_first: date | None = None
    recorded_second: date | None = None


def recorded_letters(facts: CaseFacts, policy: PolicyRules) -> tuple[LetterFact, ...]:
    """Letters known only by the case's dates count as the policy's levels that fill those
    columns, left on those days; a level without a column before them (a friendly reminder)
    counts as left with the next one."""
    if facts.recorded_first is None and facts.recorded_second is None:
        return ()  # what the loop below finds then, without the loop (most cases of a run)
    dates = {"first_dunning_letter": facts.recorded_first,
             "second_dunning_letter": facts.recorded_second}
    found: list[LetterFact] = []
    pending: list[int] = []
    for rule in policy.levels:
        if not rule.handover_column:
            pending.append(rule.number)
            continue
        day = dates.get(rule.handover_column)
        if day is None:
            break
        found.extend(LetterFact(level=n, status=LetterStatus.LEFT, on=day)
                     for n in [*pending, rule.number])
        pending = []
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    level: int | None = None

    @property
    def reason(self) -> str:
        """The reason in the reader's language."""
        return render(self.code, self.params)


#: The states in which a run may send a letter or escalate.
DUNNING_STATES = frozenset({"open", "dunning"})


def _skip(code: str, **params: Any) -> Decision:
    return Decision(Action.SKIP, code, params)


def _waiting(letter: LetterFact) -> Decision:
    if letter.status == LetterStatus.PRINT:
        return _skip(why.WAITING_PRINT, level=letter.level, since=letter.on.isoformat())
    if letter.status == LetterStatus.QUEUED:
        return _skip(why.WAITING_EMAIL, level=letter.level, since=letter.on.isoformat())
    return _skip(why.UNDELIVERED, level=letter.level, status=letter.status,
                 since=letter.on.isoformat())


def decide(facts: CaseFacts, policy: PolicyRules, as_of: date) -> Decision:
    """The next action for one case as of ``as_of``, and the reason, in the process's order."""
    if not facts.vendor_enrolled:
        return _skip(why.NOT_ENROLLED)
    if facts.dunning_by == DunningBy.AGENCY:
        return _skip(why.AGENCY_SENDS)
    if facts.state == "blocked":
        return _skip(why.BLOCKED, reason=facts.block_reason)
    if facts.reopened:
        return Decision(Action.EXCLUDE, why.REORDERED, {"order": facts.reopened_id})
    if facts.state not in DUNNING_STATES:
        return _skip(why.NOT_IN_DUNNING, state=facts.state)
    if not facts.dunning_enabled:
        return Decision(Action.HOLD, why.NO_ACCOUNT, {"product": facts.product_name})
    if facts.open_amount < policy.minimum_amount:
        return _skip(why.BELOW_MINIMUM,
                     amount=money_param(facts.open_amount, facts.currency),
                     minimum=money_param(policy.minimum_amount, facts.currency))
    if facts.collection_mode == CollectionMode.DIRECT and facts.direct_choice is not True:
        if facts.direct_choice is False:
            return _skip(why.VENDOR_DECLINED)
        return _skip(why.NOT_MARKED)
    letters = facts.letters or recorded_letters(facts, policy)
    if len(letters) > 1:
        letters = sorted(letters, key=lambda letter: letter.level)
    last = letters[-1] if letters else None
    if last is not None and last.status != LetterStatus.LEFT:
        return _waiting(last)
    # An earlier letter that did not arrive (a late bounce) is answered by the later one that
    # did: the buyer was reminded, and the waits count from the last letter.
    rule = policy.after(last.level if last else 0)
    if rule is not None:
        since = last.on if last else facts.incident_on
        if not rule.test(since=since, as_of=as_of):
            return _skip(why.NOT_DUE, level=rule.number, date=rule.due_on(since).isoformat())
        if facts.invalid_address and not usable_email(facts.buyer_email):
            return _skip(why.UNREACHABLE)
        return Decision(Action.SEND, why.DUE,
                        {"level": rule.number, "date": rule.due_on(since).isoformat()},
                        level=rule.number)
    if last is None:  # a policy without levels escalates from the incident
        since, level = facts.incident_on, 0
    else:
        since, level = last.on, last.level
    escalate_on = since + timedelta(days=policy.escalate_after_days)
    if as_of >= escalate_on:
        return Decision(Action.ESCALATE, why.ESCALATE,
                        {"days": (as_of - since).days, "level": level})
    return _skip(why.ESCALATION_NOT_DUE, date=escalate_on.isoformat())
