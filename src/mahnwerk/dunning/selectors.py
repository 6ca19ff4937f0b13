"""Reading for dunning: the facts a run decides on, policies, runs and their decisions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.selectors import CurrencyTotal, KnownAddress, newest_addresses
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import outbox, workdays
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.decide import CaseFacts, LetterFact, LetterStatus, LevelRule, PolicyRules
from mahnwerk.dunning.models import (
    Action,
    Channel,
    DeliveryStatus,
    DirectSelection,
    DunningPolicy,
    DunningRun,
    Letter,
    OutboxMessage,
    RunDecision,
    RunState,
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
    """The vendor's own policy, else the default policy (one query for either)."""
    policy = (DunningPolicy.objects.filter(Q(vendor_id=vendor_id) | Q(vendor__isnull=True))
              .order_by(F("vendor_id").asc(nulls_last=True), "pk").first())
    return policy if policy is not None else default_policy()  # raises: no default policy


def rules_of(policy: DunningPolicy) -> PolicyRules:
    return PolicyRules(
        levels=tuple(LevelRule(number=level.number,
                               days_after_previous=level.days_after_previous,
                               handover_column=level.handover_column)
                     for level in sorted(policy.levels.all(), key=lambda lvl: lvl.number)),
        escalate_after_days=policy.escalate_after_days,
        minimum_amount=policy.minimum_amount,
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def letter_status(*, dispatched_on: Any, channel: str | None, status: str | None) -> str:
    """Where a letter stands for the decision: left, or why it has not."""
    if dispatched_on is not None:
        return LetterStatus.LEFT
    if status in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        return str(status)
    if channel == Channel.PRINT:
        return LetterStatus.PRINT
    return LetterStatus.QUEUED


def cycle_letters(*, cases: QuerySet[DebtCase], case_ids: list[int] | None = None
                  ) -> dict[int, tuple[LetterFact, ...]]:
    """The letters of each case's current cycle that were not withdrawn (one query).

    ``case_ids``: the cases are these at most (a batch of execute), named to the database as
    such: it then reads their letters by the letters' case index. Without them PostgreSQL may
    scan every letter not withdrawn and join each to the batch's cases, which grew with every
    batch of a run (2.7 s a batch at 37,000 letters; bench/run_workers_benchmark.py)."""
    found: dict[int, list[LetterFact]] = {}
    letters = Letter.objects.filter(case_id__in=case_ids) if case_ids is not None \
        else Letter.objects.all()
    rows = (letters.filter(case__in=cases, cycle=F("case__cycle"), withdrawn_at__isnull=True)
            .exclude(outbox__status=DeliveryStatus.CANCELLED)
            .values_list("case_id", "level", "dispatched_on", "letter_date", "outbox__channel",
                         "outbox__status"))
    for case_id, level, dispatched_on, letter_date, channel, status in rows.iterator(
            chunk_size=5000):
        state = letter_status(dispatched_on=dispatched_on, channel=channel, status=status)
        on = dispatched_on if state == LetterStatus.LEFT else letter_date
        found.setdefault(case_id, []).append(LetterFact(level=level, status=state,
                                                        on=_as_date(on)))
    return {case_id: tuple(sorted(letters, key=lambda f: f.level))
            for case_id, letters in found.items()}


def _run_cases(*, vendor_id: str | None = None, case_ids: list[int] | None = None,
               run: DunningRun | None = None) -> QuerySet[DebtCase]:
    """The cases a run looks at (``run_facts``)."""
    reported = RunDecision.objects.filter(case=OuterRef("pk"), action=Action.EXCLUDE)
    if run is not None:
        reported = reported.exclude(run=run)
    cases = (
        DebtCase.objects.filter(state__in=RUN_STATES)
        .filter(~Q(state=CaseState.BLOCKED)
                | Q(blocked_from_state__in=[CaseState.OPEN, CaseState.DUNNING]))
        .exclude(Q(state=CaseState.REOPENED) & Q(Exists(reported)))
    )
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    if case_ids is not None:
        cases = cases.filter(pk__in=case_ids)
    return cases


def run_case_count(*, vendor_id: str | None = None) -> int:
    """How many cases a run (of this vendor, or all) decides: the total of its decide phase."""
    return _run_cases(vendor_id=vendor_id).count()


def _choices(*, vendor_id: str | None, case_ids: list[int] | None,
             cases: QuerySet[DebtCase]) -> QuerySet[DirectSelection]:
    choices = DirectSelection.objects.filter(cycle=F("case__cycle"))
    if case_ids is not None:
        return choices.filter(case__in=cases)
    return choices.filter(case__vendor_id=vendor_id) if vendor_id else choices


def run_facts(*, vendor_id: str | None = None, case_ids: list[int] | None = None,
              run: DunningRun | None = None, direct: bool = True) -> Iterator[CaseFacts]:
    """The facts of every case a run looks at, streamed (three queries, no model objects).

    ``case_ids``: only these cases (execute reads them again, to check that each is still as
    its decision saw it); ``run``: the run asking, whose own exclusions do not count as
    reported yet; ``direct=False``: none of the cases is of a vendor that collects directly,
    so there are no vendor's choices to read (one query less for one case's page)."""
    cases = _run_cases(vendor_id=vendor_id, case_ids=case_ids, run=run)
    # The vendors' choices of the current cycles, looked up by case: for a whole run not
    # restricted to the run's cases, which costs SQLite more than it saves (a choice of a case
    # the run does not look at is never asked for).
    choices = dict(_choices(vendor_id=vendor_id, case_ids=case_ids, cases=cases)
                   .values_list("case_id", "pursue")) if direct else {}
    letters = cycle_letters(cases=cases, case_ids=case_ids)
    rows = cases.order_by("vendor_id", "order_id").values_list(
        "pk", "order_id", "vendor_id", "state", "open_amount", "currency", "opened_at",
        "cycle_started_at", "cycle", "reopened", "reopened_id", "block_reason",
        "vendor__enrolled", "vendor__collection_mode", "vendor__dunning_by",
        "order__product_id", "order__product__name", "order__product__dunning_enabled",
        "order__buyer_email", "invalid_address_computed", "invalid_address_override",
        "first_dunning_letter", "second_dunning_letter",
    )
    day = _local_day()
    for row in _plain_rows(rows, convert=("open_amount",)):
        (pk, order_id, vendor, state, amount, currency, opened_at, cycle_started_at, cycle,
         reopened, reopened_id, block_reason, enrolled, mode, by, product_id, product_name,
         enabled, email, invalid_computed, invalid_override, first, second) = row
        yield CaseFacts(
            case_id=pk, order_id=order_id, vendor_id=vendor, state=state, open_amount=amount,
            currency=currency, incident_on=day(cycle_started_at or opened_at),
            reopened=bool(reopened), reopened_id=reopened_id, block_reason=block_reason,
            vendor_enrolled=bool(enrolled), collection_mode=mode, dunning_by=by,
            product_id=product_id, product_name=product_name, dunning_enabled=bool(enabled),
            direct_choice=choices.get(pk), letters=letters.get(pk, ()), buyer_email=email,
            invalid_address=bool(invalid_override if invalid_override is not None
                                 else invalid_computed),
            cycle=cycle,
            recorded_first=_as_date(first) if first else None,
            recorded_second=_as_date(second) if second else None,
        )


def _plain_rows(rows: QuerySet[Any], *, convert: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of a ``values_list`` query as the database driver gives them, streamed, with
    Django's converters applied only to the fields named in ``convert``.

    Why not ``values_list`` itself: on SQLite every date-time, date and boolean of every row
    goes through a converter (a date-time is parsed and made aware: about a fifth of deciding
    100,000 cases, bench/dunning_benchmark.py), where the caller needs only the day of a few
    distinct moments (``_local_day``). Same query, same SQL; only the conversion differs."""
    from django.db.models.sql.constants import MULTI

    compiler = rows.query.get_compiler(using=rows.db)
    chunks = compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=5000)
    names = list(rows.query.values_select)
    wanted = {names.index(name) for name in convert}
    fields = [select[0] for select in compiler.select[:compiler.col_count]]
    converters = [(position, functions, expression) for position, (functions, expression)
                  in compiler.get_converters(fields).items() if position in wanted]
    connection = compiler.connection
    for chunk in chunks:
        for row in chunk:
            if converters:
                row = list(row)
                for position, functions, expression in converters:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
            yield tuple(row)


def _local_day() -> Any:
    """A function giving the day in the site's time zone of a moment as the database returns
    it: aware (PostgreSQL), or naive in UTC (SQLite, where Django stores UTC), remembering the
    moments it has seen (a run's cases share many)."""
    tz = timezone.get_current_timezone()
    seen: dict[datetime, date] = {}

    def day(value: datetime) -> date:
        found = seen.get(value)
        if found is None:
            moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            found = seen[value] = moment.astimezone(tz).date()
        return found

    return day


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


def sent_level(key: str) -> int | None:
    """The level of a run's count key ``send<N>`` (any level), else None."""
    rest = key[len(Action.SEND):] if key.startswith(Action.SEND) else ""
    return int(rest) if rest.isdigit() else None


def letter_label(level: int | str) -> str:
    """A letter of a level in words: "letter 3" ("3. Mahnung")."""
    from django.utils.translation import gettext as _

    return _("letter %(level)s") % {"level": level}


def describe_counts(counts: dict[str, int]) -> str:
    """A run's counts in words: "first letter 56, second letter 46, skipped 254"."""
    from django.utils.translation import gettext as _

    labels = {Action.EXCLUDE: _("excluded"), Action.HOLD: _("held"),
              Action.SKIP: _("skipped"), Action.ESCALATE: _("escalated")}

    def label(key: str) -> str:
        level = sent_level(key)
        return letter_label(level) if level is not None else str(labels.get(key, key))

    return ", ".join(f"{label(k)} {v}" for k, v in sorted(counts.items())) or "-"


def vendor_letters(*, vendor_id: str) -> QuerySet[Letter]:
    """The letters written to a vendor's buyers, newest first, with their outbox message (the
    channel and the status) and without their text: the vendor portal lists them, never the
    buyer's address or e-mail."""
    return (Letter.objects.filter(case__vendor_id=vendor_id)
            .select_related("case", "outbox")
            .defer("body_html", "body_text", "offer_link", "subject",
                   "outbox__to_address", "outbox__last_error")
            .order_by("-letter_date", "-id"))


def with_amount(letters: QuerySet[Letter]) -> QuerySet[Letter]:
    """The letters with ``amount``: what each asked for (principal, fees and interest)."""
    return letters.alias(amount=F("principal") + F("fees") + F("interest"))


def letter_totals(letters: QuerySet[Letter]) -> list[CurrencyTotal]:
    """How many letters and how much they asked for, per currency: one grouped query."""
    return [CurrencyTotal(row["currency"], row["n"], row["total"])
            for row in letters.order_by().values("currency")
            .annotate(n=Count("pk"), total=Sum(F("principal") + F("fees") + F("interest")))
            .order_by("currency")]


# -- A run's progress ---------------------------------------------------------------------------

#: What executing a decision did, as the run counts it (``DunningRun.outcomes``), besides a
#: queued letter, which counts as its channel and level ("email1", "print2").
_OUTCOME_KEYS = {why.ESCALATED: "escalated", why.MARKED_GREY: "excluded",
                 why.EXCLUDED: "excluded", why.ASKED_VENDOR: "held", "": "skipped"}
#: The order in which a run's page lists them, after the letters.
OUTCOME_ORDER = ("escalated", "excluded", "held", "skipped", "not_applied")


def outcome_key(*, code: str, params: dict[str, Any]) -> str:
    """The key an executed decision counts under, from its stored outcome (code and facts);
    a decision not applied because its case changed counts as "not_applied"."""
    if code == why.QUEUED:
        return f"{params.get('channel', Channel.EMAIL)}{params.get('level', 1)}"
    return _OUTCOME_KEYS.get(code, "not_applied")


def _letter_key(key: str) -> tuple[str, int] | None:
    for channel in (Channel.EMAIL, Channel.PRINT):
        rest = key[len(channel):] if key.startswith(channel) else ""
        if rest.isdigit():
            return str(channel), int(rest)
    return None


def outcome_label(key: str) -> str:
    """An outcome key in words: "1. Mahnung per E-Mail", "eskaliert"."""
    from django.utils.translation import gettext as _

    letter = _letter_key(key)
    if letter is not None:
        channel, level = letter
        text = (_("%(letter)s by e-mail") if channel == Channel.EMAIL
                else _("%(letter)s to the print queue"))
        return text % {"letter": letter_label(level)}
    labels = {"escalated": _("escalated"), "excluded": _("excluded"), "held": _("held"),
              "skipped": _("skipped"), "not_applied": _("not applied (the case changed)")}
    return str(labels.get(key, key))


def describe_outcomes(outcomes: dict[str, int]) -> list[tuple[str, str, int]]:
    """A run's outcomes as (key, words, count): the letters by level, then the rest."""
    def order(key: str) -> tuple[int, int, str]:
        letter = _letter_key(key)
        if letter is not None:
            return (0, letter[1], letter[0])
        if key in OUTCOME_ORDER:
            return (1, OUTCOME_ORDER.index(key), key)
        return (2, 0, key)

    return [(key, outcome_label(key), count)
            for key, count in sorted(outcomes.items(), key=lambda item: order(item[0]))
            if count]


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands, as its page shows it.

    ``phase``: "deciding" (a process decides its cases right now: ``done`` of ``total`` cases
    decided), "ready" (decided, to be executed), "running" (a process executes it and gave a
    sign within MAHNWERK_RUN_STALE_SECONDS), "failed" (stopped with an error: while deciding,
    ``state`` is still deciding, else at a case), "interrupted" (stopped without an error: the
    process died or was stopped), "undecided" (interrupted while deciding), "done" or
    "discarded". The page polls while ``polling``."""

    phase: str
    state: str
    total: int
    done: int
    outcomes: list[tuple[str, str, int]]
    heartbeat_at: datetime | None
    failed_at: datetime | None
    failed_order: str
    failure: str

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)

    @property
    def can_execute(self) -> bool:
        return self.phase == "ready"

    @property
    def can_resume(self) -> bool:
        return self.phase in ("failed", "interrupted") and not self.deciding

    @property
    def deciding(self) -> bool:
        """Still in the decide phase (deciding now, or stopped in it): what goes on is
        deciding again, not executing."""
        return self.state == "deciding"

    @property
    def can_decide(self) -> bool:
        return self.phase in ("failed", "undecided") and self.deciding

    @property
    def polling(self) -> bool:
        return self.phase in ("deciding", "running")

    @property
    def can_discard(self) -> bool:
        return self.phase in ("ready", "undecided") or (self.phase == "failed"
                                                          and self.deciding)


def execution_alive(*, run: DunningRun, now: datetime | None = None) -> bool:
    """True while a process holds the run and gave a sign of progress recently."""
    if not run.worker or run.heartbeat_at is None:
        return False
    now = now or timezone.now()
    return run.heartbeat_at >= now - timedelta(seconds=settings.MAHNWERK_RUN_STALE_SECONDS)


def run_progress(*, run: DunningRun, now: datetime | None = None) -> RunProgress:
    if run.state in (RunState.DONE, RunState.DISCARDED):
        phase = str(run.state)
    elif execution_alive(run=run, now=now):
        phase = "deciding" if run.state == RunState.DECIDING else "running"
    elif run.failed_at is not None:
        phase = "failed"
    elif run.state == RunState.EXECUTING:
        phase = "interrupted"
    elif run.state == RunState.DECIDING:
        phase = "undecided"
    else:
        phase = "ready"
    return RunProgress(phase=phase, state=str(run.state), total=run.total, done=run.done,
                       outcomes=describe_outcomes(run.outcomes or {}),
                       heartbeat_at=run.heartbeat_at, failed_at=run.failed_at,
                       failed_order=run.failed_order, failure=run.failure)


# -- The print queue -------------------------------------------------------------------------------


@dataclass
class PrintItem:
    """A letter waiting in the print queue: since when (its date), how many working days it
    has waited by today and how many its vendor's policy allows (``print_within_days``)."""

    message: OutboxMessage
    working_days: int
    allowed: int
    #: The buyer's newest known postal address, which the letter is printed with.
    postal: KnownAddress | None = None

    @property
    def waiting_since(self) -> date:
        return self.message.print_since or self.message.letter.letter_date

    @property
    def overdue(self) -> bool:
        """Waited longer than the policy allows (``workdays.print_waiting_too_long``)."""
        return self.working_days > self.allowed

    @property
    def address(self) -> str:
        """The postal address the letter is printed with (the buyer's newest known)."""
        known = self.postal
        if known is None:
            order = self.message.case.order
            known = KnownAddress(order.order_id, order.created_at, order.street,
                                 order.house_number, order.postcode, order.city, order.country)
        return known.one_line()

    @property
    def buyer_name(self) -> str:
        order = self.message.case.order
        return f"{order.buyer_first_name} {order.buyer_last_name}".strip()


def print_limits() -> tuple[int, dict[str, int]]:
    """How many working days a paper letter may wait: the default policy's, and each vendor's
    own policy's (one query for all policies)."""
    default: int | None = None
    own: dict[str, int] = {}
    for vendor_id, days in (DunningPolicy.objects.order_by("pk")
                            .values_list("vendor_id", "print_within_days")):
        if vendor_id is None:
            default = days if default is None else default  # the first, as default_policy()
        else:
            own[vendor_id] = days
    if default is None:
        default = default_policy().print_within_days  # raises: no default policy
    return default, own


def print_items(*, case_id: int | None = None, overdue_only: bool = False,
                limit: int | None = None, today: date | None = None) -> list[PrintItem]:
    """The print queue (oldest first), each letter with the working days it has waited and
    whether that is longer than its vendor's policy allows: one query for the queue, one for
    the policies (none when the queue is empty: a case page's case mostly has no letter
    waiting). ``overdue_only``: only the letters waiting too long, asked of the database as
    such (letters dated after the latest day that can be overdue are not read)."""
    today = today or timezone.localdate()
    limits = print_limits() if overdue_only else None
    queue = outbox.print_queue()
    if case_id is not None:
        queue = queue.filter(case_id=case_id)
    if limits is not None:
        strictest = min([limits[0], *limits[1].values()])
        queue = queue.annotate(since=Coalesce("print_since", "letter__letter_date")).filter(
            since__lte=workdays.waited_too_long_up_to(allowed_working_days=strictest,
                                                      today=today))
    if limit is not None:
        queue = queue[:limit]
    messages = list(queue)
    if not messages:
        return []
    default, own = limits if limits is not None else print_limits()
    waited: dict[date, int] = {}
    items = []
    for message in messages:
        since = message.print_since or message.letter.letter_date
        if since not in waited:
            waited[since] = workdays.working_days_between(since, today)
        item = PrintItem(message=message, working_days=waited[since],
                         allowed=own.get(message.case.vendor_id, default))
        if item.overdue or not overdue_only:
            items.append(item)
    if items:  # three queries for all, whatever their number
        postal = newest_addresses(cases=[item.message.case for item in items])
        for item in items:
            item.postal = postal.get(item.message.case_id)
    return items


def print_overdue(*, case_id: int | None = None, today: date | None = None) -> list[PrintItem]:
    """The letters that have waited in the print queue longer than their policy allows."""
    return print_items(case_id=case_id, overdue_only=True, today=today)


def order_ids_of(*, messages: Sequence[OutboxMessage]) -> list[str]:
    """The orders whose letters these outbox messages carry (for the access log)."""
    ids = [m.pk for m in messages]
    found: list[str] = []
    for start in range(0, len(ids), 900):
        found.extend(OutboxMessage.objects.filter(pk__in=ids[start:start + 900])
                     .values_list("letter__case__order_id", flat=True))
    return found
