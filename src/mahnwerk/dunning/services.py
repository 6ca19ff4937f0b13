"""Dunning runs: decide (pure, stored), then execute, a batch of cases per transaction.

    start_run    gathers the facts, decides every case and stores the decisions; refuses a date
                 before the latest run and a second run while one is in progress
    execute_run  starts (or resumes) executing the stored decisions in batches, one task each
                 for any number of workers (``execute_batch``; case by case when a batch
                 fails); can be stopped and started again: a decision is marked executed in
                 the same transaction as its letter, a batch done twice changes nothing, and
                 the database refuses a second letter of the same level for a case; one
                 execution at a time (``claim_execution``), each batch writing the run's
                 progress, the last one finishing the run, a failing case stopping it
    preview_run  the decisions without storing anything (``--dry-run``, the UI's preview)

The command line, the web workspace and the schedule all call these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, prefetch_related_objects
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from mahnwerk import bulk
from mahnwerk.cases import links
from mahnwerk.cases.claims import with_charge
from mahnwerk.cases.models import CaseNote, DebtCase, EventKind, LinkCode, NoteVisibility
from mahnwerk.cases.selectors import KnownAddress, newest_addresses
from mahnwerk.cases.services import CaseChange, change_cases
from mahnwerk.cases.states import REORDER_STATES, CaseState
from mahnwerk.dunning import letters, offers, outbox, selectors
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.decide import CaseFacts, Decision, PolicyRules, decide
from mahnwerk.dunning.models import (
    Action,
    DirectSelection,
    DunningLevel,
    DunningPolicy,
    DunningRun,
    Letter,
    RunDecision,
    RunState,
    VendorTask,
)
from mahnwerk.formats import format_day
from mahnwerk.intake.models import CollectionMode, Product
from mahnwerk.reasons import Reason


class RunError(Exception):
    """A run that may not start or go on; the message says why and what to do."""


class RunBusy(RunError):
    """Another process executes the run right now: nothing was started a second time."""


@dataclass(frozen=True)
class Planned:
    facts: CaseFacts
    decision: Decision


class _Policies:
    """Each vendor's policy and its rules, looked up once per run."""

    def __init__(self) -> None:
        self.default = selectors.default_policy()
        prefetch_related_objects([self.default], "levels")
        self.by_vendor = {p.vendor_id: p for p in
                          DunningPolicy.objects.filter(vendor__isnull=False)
                          .prefetch_related("levels")}
        self._rules: dict[int, PolicyRules] = {}

    def policy(self, vendor_id: str) -> DunningPolicy:
        return self.by_vendor.get(vendor_id, self.default)

    def rules(self, vendor_id: str) -> PolicyRules:
        policy = self.policy(vendor_id)
        if policy.pk not in self._rules:
            self._rules[policy.pk] = selectors.rules_of(policy)
        return self._rules[policy.pk]


def plan(*, as_of: date, vendor_id: str | None = None) -> Iterable[Planned]:
    """Decide every case a run looks at; reads, never writes."""
    policies = _Policies()
    for facts in selectors.run_facts(vendor_id=vendor_id):
        yield Planned(facts, decide(facts, policies.rules(facts.vendor_id), as_of))


def preview_run(*, as_of: date, vendor_id: str | None = None) -> list[Planned]:
    return list(plan(as_of=as_of, vendor_id=vendor_id))


def next_decision(*, case: DebtCase, policy: DunningPolicy, as_of: date) -> Decision | None:
    """What a run as of ``as_of`` would decide for this one case (the same facts and decide
    step as ``plan``); None when runs no longer look at the case (paid, with the agency ...).
    Reads, never writes: the case page says with it what can happen next."""
    if case.state not in selectors.RUN_STATES:
        return None
    direct = case.vendor.collection_mode == CollectionMode.DIRECT
    facts = next(iter(selectors.run_facts(case_ids=[case.pk], direct=direct)), None)
    if facts is None:
        return None
    return decide(facts, selectors.rules_of(policy), as_of)


def _check_date(as_of: date) -> None:
    today = timezone.localdate()
    if as_of > today:
        raise RunError(_("A run as of %(as_of)s lies in the future: its letters would carry a "
                         "date that has not come yet (today is %(today)s). Look at it with the "
                         "preview (--dry-run); start it on that day.")
                       % {"as_of": format_day(as_of), "today": format_day(today)})
    latest = selectors.latest_run()
    if latest is not None and latest.state != RunState.DISCARDED and as_of < latest.as_of:
        raise RunError(_("A run as of %(as_of)s would go back in time: run #%(run)d was as of "
                         "%(latest)s. Choose %(latest)s or later.")
                       % {"as_of": as_of.isoformat(), "run": latest.pk,
                          "latest": latest.as_of.isoformat()})


def create_run(*, as_of: date, actor: str, vendor_id: str | None = None,
               user: AbstractBaseUser | None = None) -> DunningRun:
    """The new run, at once, in state ``deciding`` and holding the run lock, its decisions
    not written yet: ``decide_run`` writes them (the web in a background task, the CLI here and
    now). A run killed or failed while deciding is decided anew (``decide_run``,
    ``execute_run``, the schedule) or discarded: a run never holds the lock without being able
    to go on."""
    _check_date(as_of)
    try:
        with transaction.atomic():
            return DunningRun.objects.create(
                as_of=as_of, vendor_id=vendor_id, started_by=actor, state=RunState.DECIDING,
                total=selectors.run_case_count(vendor_id=vendor_id), done=0,
                user=user if user is not None and user.is_authenticated else None)
    except IntegrityError:
        active = selectors.active_run()
        raise RunError(
            _("Run #%(run)d (as of %(as_of)s, state: %(state)s) is not finished; execute it "
              "or discard it first.")
            % {"run": active.pk if active else 0,
               "as_of": active.as_of.isoformat() if active else "?",
               "state": active.get_state_display() if active else "?"}) from None


def start_run(*, as_of: date, actor: str, vendor_id: str | None = None,
              user: AbstractBaseUser | None = None) -> DunningRun:
    """Create a run and decide it here and now (state ``decided``): the CLI and the schedule."""
    run = create_run(as_of=as_of, actor=actor, vendor_id=vendor_id, user=user)
    decide_run(run=run)
    return run


#: While deciding, the run's progress (cases decided of all) is written after this many cases.
DECIDE_PROGRESS_EVERY = 2000


def decide_run(*, run: DunningRun, worker: str = "") -> DunningRun:
    """Decide a run in state ``deciding`` (new, or interrupted or failed while deciding) under
    a claim (``claim_execution``; ``worker`` is one taken before, e.g. by the web for its
    background task): a second process refuses with ``RunBusy``. The run's ``done`` of
    ``total`` counts the cases decided so far; a failure is kept on the run (``failure``) and
    raised again, and no decision of it is stored."""
    if run.state != RunState.DECIDING:
        raise RunError(_("Run #%(run)d is %(state)s, not deciding.")
                       % {"run": run.pk, "state": run.get_state_display()})
    worker = claim_execution(run=run, worker=worker)
    try:
        _decide(run=run, worker=worker)
    except RunError:
        raise
    except Exception as exc:
        _record_failure(run=run, worker=worker, error=exc, order_id="")
        raise
    finally:
        release_execution(run=run, worker=worker)
        run.refresh_from_db()
    return run


def _decide_progress(*, run: DunningRun, worker: str, done: int, total: int) -> None:
    """The cases decided so far, committed at once for the run's page; renews the claim."""
    claimed = DunningRun.objects.filter(pk=run.pk, state=RunState.DECIDING)
    if worker:
        claimed = claimed.filter(worker=worker)
    if not claimed.update(done=done, total=total, heartbeat_at=timezone.now()):
        raise RunBusy(_("Run #%(run)d was taken over by another process or discarded; this "
                        "one stops deciding.") % {"run": run.pk})


def _decide(*, run: DunningRun, worker: str = "") -> None:
    """Decide every case of the run (its progress written as it goes), then write every
    decision in one transaction and mark the run decided with them."""
    total = selectors.run_case_count(vendor_id=run.vendor_id)
    _decide_progress(run=run, worker=worker, done=0, total=total)
    # Plain tuples until they are written: 100,000 model objects would weigh ten times more.
    decided: list[tuple[int, str, int | None, str, dict]] = []
    for planned in plan(as_of=run.as_of, vendor_id=run.vendor_id):
        decision = planned.decision
        decided.append((planned.facts.case_id, decision.action, decision.level, decision.code,
                        decision.params))
        if len(decided) % DECIDE_PROGRESS_EVERY == 0:
            _decide_progress(run=run, worker=worker, done=len(decided),
                             total=max(total, len(decided)))
    with transaction.atomic():
        run.decisions.all().delete()  # a run killed while deciding starts its decisions anew
        for start in range(0, len(decided), 2000):
            RunDecision.objects.bulk_create([
                RunDecision(run=run, case_id=case_id, action=action, level=level, code=code,
                            params=params)
                for case_id, action, level, code, params in decided[start:start + 2000]])
        run.counts = selectors.run_counts(run=run)
        run.total = sum(run.counts.values())
        run.done = 0
        run.outcomes = {}
        run.state = RunState.DECIDED
        marked = DunningRun.objects.filter(pk=run.pk, state=RunState.DECIDING)
        if worker:
            marked = marked.filter(worker=worker)
        if not marked.update(counts=run.counts, total=run.total, done=0, outcomes={},
                              state=RunState.DECIDED):
            raise RunBusy(_("Run #%(run)d was taken over by another process or discarded; "
                            "this one stops deciding.") % {"run": run.pk})


def decide_again(*, run: DunningRun, worker: str = "") -> DunningRun:
    """Finish the decide phase of a run that was interrupted in it (under the caller's
    claim)."""
    if run.state != RunState.DECIDING:
        raise RunError(_("Run #%(run)d is %(state)s, not deciding.")
                       % {"run": run.pk, "state": run.get_state_display()})
    _decide(run=run, worker=worker)
    return run


def discard_run(*, run: DunningRun, actor: str) -> None:
    """Give up a decided run that was not executed, so that another can start. Refused while
    a process holds the run (its execution may be starting)."""
    if run.state not in (RunState.DECIDED, RunState.DECIDING):
        raise RunError(_("Run #%(run)d has started executing; resume it instead.")
                       % {"run": run.pk})
    now = timezone.now()
    discarded = (DunningRun.objects
                 .filter(pk=run.pk, state__in=[RunState.DECIDED, RunState.DECIDING])
                 .filter(Q(worker="") | Q(heartbeat_at__isnull=True)
                         | Q(heartbeat_at__lt=_stale_before(now)))
                 .update(state=RunState.DISCARDED, lock=None, finished_at=now, worker=""))
    run.refresh_from_db()
    if not discarded:
        if run.state in (RunState.DECIDED, RunState.DECIDING, RunState.EXECUTING):
            raise RunBusy(_("Run #%(run)d is being executed; it can no longer be discarded.")
                          % {"run": run.pk})
        raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                       % {"run": run.pk, "state": run.get_state_display()})


# Decisions are applied in batches (settings.MAHNWERK_RUN_BATCH, 200), one transaction each: a
# case's letter, its outbox message, its case change with the event, and the decision's
# "executed" mark always commit together, so a crash loses no letter and a resumed run sends
# none twice. Batches instead of one transaction per case make execute about four times faster
# on SQLite (408 against 1,950 letters/s: the commit and the ORM's per-statement cost are paid
# once per batch; bench/dunning_benchmark.py). A batch that fails is applied again case by
# case, so one bad case holds back no other; MAHNWERK_RUN_BATCH=1 gives one transaction per
# case throughout.


def _stale_before(now: datetime) -> datetime:
    """A claim renewed before this moment was left by a process that died."""
    return now - timedelta(seconds=settings.MAHNWERK_RUN_STALE_SECONDS)


def claim_execution(*, run: DunningRun, worker: str = "") -> str:
    """Take the run for one executing process and return its claim (``worker``).

    One conditional ``UPDATE``: it wins only if no other process holds a live claim (renewed
    within MAHNWERK_RUN_STALE_SECONDS). The web takes the claim before it hands the run to a
    background task, which executes under the same claim; a second click, a second process or
    the schedule meanwhile gets ``RunBusy`` and starts nothing. Taking the claim clears a
    failure recorded before: the run's page shows the progress again."""
    if run.state in (RunState.DONE, RunState.DISCARDED):
        raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                       % {"run": run.pk, "state": run.get_state_display()})
    worker = worker or secrets.token_hex(16)
    now = timezone.now()
    taken = (DunningRun.objects
             .filter(pk=run.pk, state__in=[RunState.DECIDING, RunState.DECIDED,
                                           RunState.EXECUTING])
             .filter(Q(worker="") | Q(worker=worker) | Q(heartbeat_at__isnull=True)
                     | Q(heartbeat_at__lt=_stale_before(now)))
             .update(worker=worker, heartbeat_at=now, failed_at=None, failed_order="",
                     failure=""))
    run.refresh_from_db()
    if not taken:
        if run.state in (RunState.DONE, RunState.DISCARDED):
            raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                           % {"run": run.pk, "state": run.get_state_display()})
        raise RunBusy(_("Run #%(run)d is being executed already (last progress at %(at)s); "
                        "nothing was started a second time. Its page shows the progress.")
                      % {"run": run.pk, "at": date_format(timezone.localtime(run.heartbeat_at),
                                                          "SHORT_DATETIME_FORMAT")})
    return worker


def release_execution(*, run: DunningRun, worker: str) -> None:
    """Give the claim back (the run is done, stopped or failed): another may resume it."""
    DunningRun.objects.filter(pk=run.pk, worker=worker).update(worker="")
    run.worker = ""


def _record_failure(*, run: DunningRun, worker: str, error: BaseException, order_id: str
                    ) -> None:
    """Keep why the execution stopped on the run, for its page, until it is resumed."""
    DunningRun.objects.filter(pk=run.pk, worker=worker).update(
        failed_at=timezone.now(), failed_order=order_id[:64],
        failure=f"{type(error).__name__}: {error}"[:2000])


#: Hands the batches of a run's execution to workers (``dunning.tasks.enqueue_batches``: one
#: Celery task per batch; without a broker the same tasks run here, in order). ``None``: this
#: process executes them itself, one after the other (the tests' ``stop_after`` and
#: ``progress``, the command line without a broker).
#: Called as ``enqueue(run, worker, batches, actor, user_id)``.
Enqueue = Callable[[DunningRun, str, list[list[int]], str, int | None], None]


def pending_batches(*, run: DunningRun) -> list[list[int]]:
    """The ids of the run's decisions not yet executed, in batches of MAHNWERK_RUN_BATCH."""
    pending = list(run.decisions.filter(executed_at__isnull=True).order_by("id")
                   .values_list("id", flat=True))
    size = max(1, settings.MAHNWERK_RUN_BATCH)
    return [pending[start:start + size] for start in range(0, len(pending), size)]


def execute_run(*, run: DunningRun, actor: str, user: AbstractBaseUser | None = None,
                progress: Callable[[int, int], None] | None = None,
                stop_after: int | None = None, worker: str = "",
                enqueue: Enqueue | None = None) -> dict[str, int]:
    """Start (or resume) the execution of a run: its decisions not yet executed, a batch of
    cases per transaction (``execute_batch``), each batch for any worker to take.

    Under a claim (``claim_execution``; ``worker`` is one taken before, e.g. by the web for its
    background task): a second start while the claim is live refuses with ``RunBusy``. The
    claim belongs to this execution, not to a process: every batch carries it, renews it and
    writes the run's progress (``done``, ``outcomes``) in its own transaction; the batch that
    leaves no decision pending finishes the run. With ``enqueue`` the batches are handed over
    (one task each) and this returns at once with the claim still held by them; without, they
    are executed here, one after the other, and a case that fails stops the run, which keeps
    the case and the error (``failed_order``, ``failure``) and raises it again.
    ``stop_after`` stops after that many cases (as a crash would); calling again resumes.
    """
    if run.state in (RunState.DONE, RunState.DISCARDED):
        raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                       % {"run": run.pk, "state": run.get_state_display()})
    worker = claim_execution(run=run, worker=worker)
    handed_over = False
    try:
        if run.state == RunState.DECIDING:
            decide_again(run=run, worker=worker)
        if run.state == RunState.DECIDED:
            started = DunningRun.objects.filter(
                pk=run.pk, state=RunState.DECIDED, worker=worker).update(
                    state=RunState.EXECUTING, executed_at=timezone.now())
            run.refresh_from_db()
            if not started:
                raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                               % {"run": run.pk, "state": run.get_state_display()})
        batches = pending_batches(run=run)
        if not batches:
            _finish(run_id=run.pk, worker=worker)
        elif enqueue is not None:
            handed_over = True  # the batches hold the claim now; the last one gives it back
            enqueue(run, worker, batches, actor, user.pk if user is not None else None)
        else:
            policies = _Policies()
            total = sum(len(batch) for batch in batches)
            limit = total if stop_after is None else min(stop_after, total)
            done = 0
            for batch in batches:
                if done >= limit:
                    break
                batch = batch[:limit - done]
                execute_batch(run=run, worker=worker, decision_ids=batch, actor=actor,
                              user=user, policies=policies)
                done += len(batch)
                if progress:
                    progress(done, total)
        run.refresh_from_db()
        return dict(run.counts) if run.state == RunState.DONE else selectors.run_counts(run=run)
    except Exception:
        handed_over = False
        raise
    finally:
        if not handed_over:
            release_execution(run=run, worker=worker)
        run.refresh_from_db()


def execute_batch(*, run: DunningRun, worker: str, decision_ids: list[int], actor: str,
                  user: AbstractBaseUser | None = None, policies: _Policies | None = None
                  ) -> bool:
    """Apply one batch of a run's decisions under the execution's claim (one Celery task,
    ``dunning.tasks.execute_batch``, or one step of ``execute_run`` in this process).

    Done twice, or by two workers at once, it changes nothing the second time: decisions
    already executed are skipped, and the batch locks its decisions and cases (on PostgreSQL
    the second waits for the first and then finds them executed; on SQLite the single writer
    does the same). A batch that fails is applied again case by case: the cases before the one
    that fails are applied, each whole, and that one stops the run (kept on the run with its
    order id and error, the claim given back: the execution's other batches stop too, and
    *Fortsetzen* goes on from there). A batch whose claim is gone (the run finished, failed,
    was taken over after this execution fell silent) writes nothing: ``RunBusy``. Returns
    whether this batch finished the run."""
    if not _claim_alive(run_id=run.pk, worker=worker):
        raise RunBusy(_("Run #%(run)d was taken over by another process; this one stops.")
                      % {"run": run.pk})
    policies = policies or _Policies()
    failed_order = ""
    try:
        try:
            return _execute_batch(run=run, worker=worker, decision_ids=decision_ids,
                                  policies=policies, actor=actor, user=user)
        except RunBusy:
            raise
        except Exception:
            if len(decision_ids) == 1:
                failed_order = _order_of(decision_ids[0])
                raise
        finished = False
        for decision_id in decision_ids:  # find the case that fails; the ones before it go
            failed_order = _order_of(decision_id)
            finished = _execute_batch(run=run, worker=worker, decision_ids=[decision_id],
                                      policies=policies, actor=actor, user=user) or finished
        return finished
    except RunError:  # a refusal (taken over, finished meanwhile), not a failure of a case
        raise
    except Exception as exc:
        _record_failure(run=run, worker=worker, error=exc, order_id=failed_order)
        release_execution(run=run, worker=worker)
        raise


def _order_of(decision_id: int) -> str:
    return (RunDecision.objects.filter(pk=decision_id).values_list("case__order_id", flat=True)
            .first() or "")


def _claim_alive(*, run_id: int, worker: str) -> bool:
    return DunningRun.objects.filter(pk=run_id, worker=worker,
                                     state=RunState.EXECUTING).exists()


def _count_batch(*, run: DunningRun, worker: str, rows: list[dict]) -> bool:
    """Inside the batch's transaction, at its end: add the batch to the run's progress and
    renew the claim; finish the run when this batch left no decision pending. Returns whether
    it finished the run.

    The run's row is locked for this (``SELECT ... FOR UPDATE``, held only until the batch
    commits): two workers' batches add their counts one after the other and never overwrite
    each other's, and the batch that takes the lock last sees every other batch committed, so
    exactly one finds nothing pending and finishes the run."""
    locked = (DunningRun.objects.select_for_update()
              .filter(pk=run.pk, worker=worker, state=RunState.EXECUTING)
              .values_list("done", "total", "outcomes").first())
    if locked is None:  # another process took the run over after this one fell silent
        raise RunBusy(_("Run #%(run)d was taken over by another process; this one stops.")
                      % {"run": run.pk})
    done, total, outcomes = locked
    outcomes = Counter(outcomes or {}) + Counter(
        selectors.outcome_key(code=row["outcome_code"], params=row["outcome_params"])
        for row in rows)
    done += len(rows)
    DunningRun.objects.filter(pk=run.pk).update(done=done, outcomes=dict(outcomes),
                                                heartbeat_at=timezone.now())
    if done < total or run.decisions.filter(executed_at__isnull=True).exists():
        return False
    return _finish(run_id=run.pk, worker=worker)


def _finish(*, run_id: int, worker: str) -> bool:
    """Mark the run done, exactly once (a conditional ``UPDATE`` under the execution's claim),
    with its vendor tasks and counts, and give the claim back."""
    with transaction.atomic():
        won = DunningRun.objects.filter(pk=run_id, worker=worker,
                                        state=RunState.EXECUTING).update(
            state=RunState.DONE, lock=None, finished_at=timezone.now(), worker="")
        if not won:
            return False
        run = DunningRun.objects.get(pk=run_id)
        _vendor_tasks(run=run)
        DunningRun.objects.filter(pk=run_id).update(counts=selectors.run_counts(run=run))
    return True


@dataclass
class _Batch:
    """What one batch writes, gathered first and then written with one statement each."""

    run: DunningRun
    actor: str
    #: (case, cycle, level) of the letters written before and not withdrawn.
    written_before: set[tuple[int, int, int]]
    letters: list[Letter] = dataclasses.field(default_factory=list)
    sent: dict[int, Letter] = dataclasses.field(default_factory=dict)  # decision id: letter
    changes: list[CaseChange] = dataclasses.field(default_factory=list)
    notes: list[CaseNote] = dataclasses.field(default_factory=list)
    words: dict[tuple[str, str], letters.Words] = dataclasses.field(default_factory=dict)
    #: The offer links' codes, saved with the batch's letters.
    codes: list[LinkCode] = dataclasses.field(default_factory=list)
    #: The buyers' postal addresses (newest known), read once for the batch.
    addresses: dict[int, KnownAddress] = dataclasses.field(default_factory=dict)
    #: What a letter claims beyond the letters before it (decision id: its charge and the
    #: claim's costs and interest with it), kept on its case with the letter.
    charges: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)


def refusal(*, action: str, state: str) -> Reason | None:
    """Why execute would not apply ``action`` to a case now in ``state`` (None: it applies).

    The decide step never returns an action refused here for the state it decided on
    (tests/test_lifecycle_property.py); a refusal only happens when the case changed between
    deciding and executing."""
    if action == Action.SEND and state not in (CaseState.OPEN, CaseState.DUNNING):
        return Reason(why.NOT_SENT_STATE, {"state": state})
    if action == Action.ESCALATE and state not in (CaseState.OPEN, CaseState.DUNNING):
        return Reason(why.NOT_ESCALATED, {"state": state})
    return None


def preview_refusal(*, case: DebtCase) -> str | None:
    """Why no letter of the case can be previewed (None: its next letters can): a run sends
    no letter to a grey case, nor to one in a state ``refusal`` refuses a letter in (paid,
    blocked, with the agency ...)."""
    if refusal(action=Action.SEND, state=case.state) is not None:
        return _("Case %(order)s is %(state)s: a run sends it no letter, so there is none to "
                 "preview.") % {"order": case.order_id, "state": CaseState(case.state).label}
    if not case.pursue:
        return _("Case %(order)s is grey (not pursued): a run sends it no letter, so there is "
                 "none to preview.") % {"order": case.order_id}
    return None


def levels_to_preview(*, case: DebtCase, policy: DunningPolicy,
                      letters: Iterable[Letter] | None = None) -> list[DunningLevel]:
    """The policy's levels whose letter the case may still get in its current cycle (those not
    yet written), to preview before they go out; none when ``preview_refusal`` says why.
    ``letters``: the case's letters, if the caller read them already."""
    if preview_refusal(case=case) is not None:
        return []
    if letters is None:
        letters = Letter.objects.filter(case=case)
    written = {letter.level for letter in letters
               if letter.cycle == case.cycle and letter.withdrawn_at is None}
    return [level for level in policy.levels.all() if level.number not in written]


def _execute_batch(*, run: DunningRun, worker: str, decision_ids: list[int],
                   policies: _Policies, actor: str, user: AbstractBaseUser | None) -> bool:
    """One transaction: the batch's letters, outbox messages, case changes with their events,
    the decisions' marks and the run's progress. Returns whether it finished the run."""
    with transaction.atomic():
        # The decisions are locked first and read as they are once the lock is held: a second
        # worker on the same batch waits here for the first to commit, and PostgreSQL then
        # leaves out the rows the first marked executed (it checks the condition again).
        decisions = list(RunDecision.objects.select_for_update().filter(
            pk__in=decision_ids, executed_at__isnull=True).order_by("id"))
        if not decisions:
            return False  # done before (a task delivered twice, a batch resumed)
        case_ids = [d.case_id for d in decisions]
        # Locked (in the order of their ids, so that two batches never wait for each other in
        # a circle), so that a payment arriving now waits for this batch (and then cancels
        # the letter it finds in the outbox) instead of slipping in between.
        cases = {case.pk: case for case in DebtCase.objects.select_for_update(of=("self",))
                 .select_related("order", "order__product", "vendor").filter(pk__in=case_ids)
                 .order_by("pk")}
        batch = _Batch(run=run, actor=actor, written_before=set(
            Letter.objects.filter(case_id__in=case_ids, withdrawn_at__isnull=True)
            .values_list("case_id", "cycle", "level")))
        sending = [cases[d.case_id] for d in decisions if d.action == Action.SEND]
        if sending:
            batch.addresses = newest_addresses(cases=sending)
        now = timezone.now()
        outcomes = []
        still = _decide_again(run=run, decisions=decisions, policies=policies)
        for decision in decisions:
            case = cases[decision.case_id]
            outcome = refusal(action=decision.action, state=case.state)
            if outcome is None and decision.pk not in still:
                outcome = Reason(why.CHANGED, {"state": case.state})
            if outcome is not None:
                pass
            elif decision.action == Action.SEND:
                outcome = _send(batch, decision=decision, case=case,
                                policy=policies.policy(case.vendor_id))
            elif decision.action == Action.EXCLUDE:
                outcome = _exclude(batch, case=case, decision=decision)
            elif decision.action == Action.ESCALATE:
                outcome = _escalate(batch, case=case, decision=decision)
            elif decision.action == Action.HOLD:
                outcome = Reason(why.ASKED_VENDOR)
            outcomes.append({"id": decision.pk, "executed_at": now,
                             "outcome_code": outcome.code if outcome else "",
                             "outcome_params": dict(outcome.params) if outcome else {}})
        links.save_all(batch.codes)
        Letter.objects.bulk_create(batch.letters)
        messages = outbox.enqueue_many(letters=batch.letters)
        by_letter = {id(message.letter): message for message in messages}
        for row in outcomes:
            letter = batch.sent.get(row["id"])
            if letter is None:
                continue
            message = by_letter[id(letter)]
            if message.to_address:
                reason = Reason(why.LETTER_QUEUED, {"level": letter.level, "run": run.pk,
                                                    "to": message.to_address})
            else:
                reason = Reason(why.LETTER_TO_PRINT, {"level": letter.level, "run": run.pk})
            # The letter's date reaches the case when it leaves (outbox), not now.
            batch.changes.append(CaseChange(
                case=letter.case, kind=EventKind.LETTER, to_state=CaseState.DUNNING,
                changes={"offer_link": letter.offer_link, "pursue": True,
                         **batch.charges.get(row["id"], {})}, reason=reason,
                effective=run.as_of))
            row["outcome_code"] = why.QUEUED
            row["outcome_params"] = {"level": letter.level, "channel": message.channel}
        change_cases(items=batch.changes, actor=actor, user=user, at=now)
        CaseNote.objects.bulk_create(batch.notes)
        bulk.update_rows(RunDecision, outcomes, ["executed_at", "outcome_code",
                                                 "outcome_params"])
        return _count_batch(run=run, worker=worker, rows=outcomes)


#: The decisions that change a case: execute checks each against the case as it is now.
_ACTING = frozenset({Action.SEND, Action.ESCALATE, Action.EXCLUDE})


def _decide_again(*, run: DunningRun, decisions: list[RunDecision], policies: _Policies
                  ) -> set[int]:
    """The ids of the decisions the run would still take on the locked cases as they are now
    (the same action and level); the others changed since the run decided (a payment and a new
    debt, a letter that bounced ...) and are not applied. Decisions that change nothing (skip,
    hold) are always still taken."""
    acting = [d for d in decisions if d.action in _ACTING]
    still = {d.pk for d in decisions if d.action not in _ACTING}
    if not acting:
        return still
    fresh = {facts.case_id: decide(facts, policies.rules(facts.vendor_id), run.as_of)
             for facts in selectors.run_facts(case_ids=[d.case_id for d in acting], run=run)}
    for decision in acting:
        now = fresh.get(decision.case_id)
        if now is not None and (now.action, now.level) == (decision.action, decision.level):
            still.add(decision.pk)
    return still


def _send(batch: _Batch, *, decision: RunDecision, case: DebtCase,
          policy: DunningPolicy) -> Reason | None:
    """Compose the letter; it is written, queued and noted on the case with the batch."""
    level_number = decision.level or 1
    if (case.pk, case.cycle, level_number) in batch.written_before:
        return Reason(why.SENT_BEFORE, {"level": level_number})
    level = letters.policy_level(policy=policy, number=level_number)
    run = batch.run
    code = offers.prepare_token(case=case, valid_days=policy.offer_valid_days)
    batch.codes.append(code)
    link = offers.offer_link(case=case, token=code.code)
    language = letters.language_of(None)
    key = (case.vendor_id, level.template)
    if key not in batch.words:
        batch.words[key] = letters.words_for(vendor_id=case.vendor_id, template=level.template,
                                             language=language)
    composed = letters.compose(case=case, level=level_number, letter_date=run.as_of,
                               policy=policy, offer_link=link, language=language,
                               words=batch.words[key], address=batch.addresses.get(case.pk))
    letter = Letter(
        case=case, cycle=case.cycle, level=level_number, template=level.template,
        handover_column=level.handover_column, run=run, letter_date=composed.letter_date,
        deadline=composed.deadline, language=composed.language, principal=composed.principal,
        fees=composed.fees, interest=composed.interest, currency=composed.currency,
        offer_link=link, subject=composed.subject, body_html=composed.body_html,
        body_text=composed.body_text)
    batch.letters.append(letter)
    batch.sent[decision.pk] = letter
    if composed.charge is not None:
        batch.charges[decision.pk] = {
            "charges": with_charge(case.charges, composed.charge),
            "fees": composed.fees, "interest": composed.interest}
    return None  # said once the outbox has chosen e-mail or print


def _exclude(batch: _Batch, *, case: DebtCase, decision: RunDecision) -> Reason:
    reason = Reason(decision.code, decision.params)
    if case.state in REORDER_STATES:
        batch.changes.append(CaseChange(case=case, kind=EventKind.REORDERED,
                                        to_state=CaseState.REOPENED,
                                        changes={"pursue": False}, reason=reason,
                                        effective=batch.run.as_of))
        text = reason.render()
        batch.notes.append(CaseNote(case=case, visibility=NoteVisibility.INTERNAL,
                                    text=text[:1].upper() + text[1:] + ".",
                                    author=batch.actor, created_at=timezone.now()))
        return Reason(why.MARKED_GREY)
    if case.pursue:
        batch.changes.append(CaseChange(case=case, kind=EventKind.REORDERED,
                                        changes={"pursue": False}, reason=reason,
                                        effective=batch.run.as_of))
    return Reason(why.EXCLUDED)


def _escalate(batch: _Batch, *, case: DebtCase, decision: RunDecision) -> Reason:
    direct = case.vendor.collection_mode == CollectionMode.DIRECT
    target = CaseState.APPROVED if direct else CaseState.ON_HOLD
    batch.changes.append(CaseChange(
        case=case, kind=EventKind.COLLECTION, to_state=target, effective=batch.run.as_of,
        reason=Reason(why.ESCALATED_CASE, {"days": decision.params.get("days"),
                                           "level": decision.params.get("level")})))
    return Reason(why.ESCALATED, {"state": target})


def _vendor_tasks(*, run: DunningRun) -> None:
    """One task per vendor listing every product that lacks the dunning account (read from
    the stored decisions, so a resumed run lists them all too)."""
    held: dict[str, set[str]] = defaultdict(set)
    for vendor_id, product_id in run.decisions.filter(action=Action.HOLD).values_list(
            "case__vendor_id", "case__order__product_id"):
        held[vendor_id].add(product_id)
    for vendor_id, product_ids in held.items():
        products = list(Product.objects.filter(pk__in=product_ids).order_by("name"))
        task, _created = VendorTask.objects.get_or_create(
            vendor_id=vendor_id, run=run,
            defaults={"text": _("Please add \"MahnwesenCopeCart\" as telesales agent with 0 %% "
                                "and 0 EUR commission to these products, so that we can send "
                                "payment links: %(products)s")
                      % {"products": ", ".join(p.name for p in products)}})
        task.products.add(*products)
    # This run's task replaces a vendor's earlier ones (it lists the products as they are now);
    # a vendor in the run's scope without held products has done what was asked.
    earlier = VendorTask.objects.filter(done_at__isnull=True).exclude(run=run)
    if run.vendor_id:
        earlier = earlier.filter(vendor_id=run.vendor_id)
    earlier.update(done_at=timezone.now())


def run_month(*, as_of: date, actor: str, vendor_id: str | None = None,
              user: AbstractBaseUser | None = None, enqueue: Enqueue | None = None
              ) -> DunningRun:
    """Decide and execute a run in one go (the schedule, the demo); ``enqueue`` as for
    ``execute_run``."""
    run = start_run(as_of=as_of, actor=actor, vendor_id=vendor_id, user=user)
    execute_run(run=run, actor=actor, user=user, enqueue=enqueue)
    run.refresh_from_db()
    return run


def resume_run(*, run_id: int, actor: str, enqueue: Enqueue | None = None) -> DunningRun:
    """Go on with an interrupted run: only its decisions still pending are executed (with
    ``enqueue``: handed to the workers again, one task per batch)."""
    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        raise RunError(_("There is no run #%(run)d.") % {"run": run_id})
    execute_run(run=run, actor=actor, enqueue=enqueue)
    run.refresh_from_db()
    return run


def resume_interrupted_run(*, enqueue: Enqueue | None = None,
                           now: datetime | None = None) -> DunningRun | None:
    """Hand the pending batches of an executing run whose claim went stale to the workers
    again (the schedule, every few minutes): a batch task lost with its worker or with the
    broker's memory is then taken up within minutes, not at the next monthly pass. A run that
    is deciding or decided, waiting for support to look at its preview, is not touched, nor a
    run whose workers are still renewing its claim. Returns the run resumed, if any."""
    now = now or timezone.now()
    run = selectors.active_run()
    if run is None or run.state != RunState.EXECUTING:
        return None
    if run.worker and run.heartbeat_at is not None and run.heartbeat_at >= _stale_before(now):
        return None
    try:
        execute_run(run=run, actor="schedule", enqueue=enqueue)
    except RunBusy:  # a worker renewed the claim in the meantime
        return None
    run.refresh_from_db()
    return run


def scheduled_run(*, today: date | None = None, enqueue: Enqueue | None = None
                  ) -> DunningRun | None:
    """The monthly run of the schedule (beat calls it every day).

    An unfinished run (killed while deciding or executing, or a batch task of it lost with its
    worker) is finished first, whatever the day: once its claim is stale, its pending batches
    are executed (handed to the workers again). Then, from the default policy's run day on, a
    month without a finished run gets one: a day the machine was down or a run that died
    never makes the schedule skip a month."""
    today = today or timezone.localdate()
    active = selectors.active_run()
    if active is not None:
        # Workers (or the web's background task) may be executing it right now.
        with contextlib.suppress(RunBusy):
            execute_run(run=active, actor="schedule", enqueue=enqueue)
        active.refresh_from_db()
        return active
    policy = selectors.default_policy()
    if today.day < policy.run_day:
        return None
    done_this_month = DunningRun.objects.filter(
        state=RunState.DONE, vendor__isnull=True, as_of__year=today.year,
        as_of__month=today.month).exists()
    if done_this_month:
        return None
    return run_month(as_of=today, actor="schedule", enqueue=enqueue)


# -- Direct-collection vendors (process.md section 4, "Important!") ---------------------------


def direct_candidates(*, vendor_id: str, as_of: date) -> list[Planned]:
    """The cases of a direct-collection vendor that a run as of ``as_of`` would dun if marked."""
    result = []
    policies = _Policies()
    for planned in plan(as_of=as_of, vendor_id=vendor_id):
        if planned.facts.collection_mode != CollectionMode.DIRECT:
            continue
        marked = dataclasses.replace(planned.facts, direct_choice=True)
        if decide(marked, policies.rules(vendor_id), as_of).action in (Action.SEND,
                                                                      Action.ESCALATE):
            result.append(planned)
    return result


@transaction.atomic
def request_direct_selection(*, vendor_id: str, as_of: date) -> list[DirectSelection]:
    """Put the orders a run would dun before the vendor; unmarked ones are not pursued."""
    selections = []
    for planned in direct_candidates(vendor_id=vendor_id, as_of=as_of):
        selection, _created = DirectSelection.objects.get_or_create(
            case_id=planned.facts.case_id, cycle=planned.facts.cycle,
            defaults={"vendor_id": vendor_id})
        selections.append(selection)
    return selections


@transaction.atomic
def answer_direct_selection(*, vendor_id: str, choices: dict[str, bool], actor: str
                            ) -> int:
    """Record a direct-collection vendor's marks (order id -> pursue); returns how many."""
    selections = {s.case.order_id: s for s in DirectSelection.objects.select_related("case")
                  .filter(vendor_id=vendor_id, case__order_id__in=list(choices),
                          cycle=F("case__cycle"))}
    unknown = sorted(set(choices) - set(selections))
    if unknown:
        raise RunError(_("These orders were not on your list: %(orders)s")
                       % {"orders": ", ".join(unknown)})
    now = timezone.now()
    for order_id, pursue in choices.items():
        selection = selections[order_id]
        selection.pursue = pursue
        selection.answered_at = now
        selection.answered_by = actor
        selection.save(update_fields=["pursue", "answered_at", "answered_by"])
    return len(choices)
