"""Dunning runs: decide (pure, stored), then execute, a batch of cases per transaction.

    start_run    gathers the facts, decides every case and stores the decisions; refuses a date
                 before the latest run and a second run while one is in progress
    execute_run  applies the stored decisions in batches (case by case when a batch fails); can
                 be stopped and started again: a decision is marked executed in the same
                 transaction as its letter, and the database refuses a second letter of the
                 same level for a case
    preview_run  the decisions without storing anything (``--dry-run``, the UI's preview)

The command line, the web workspace and the schedule all call these functions.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk import bulk
from mahnwerk.cases.models import CaseNote, DebtCase, EventKind, NoteVisibility
from mahnwerk.cases.services import CaseChange, change_cases
from mahnwerk.cases.states import REORDER_STATES, CaseState
from mahnwerk.dunning import letters, offers, outbox, selectors
from mahnwerk.dunning.decide import CaseFacts, Decision, PolicyRules, decide
from mahnwerk.dunning.models import (
    Action,
    DirectSelection,
    DunningPolicy,
    DunningRun,
    Letter,
    RunDecision,
    RunState,
    VendorTask,
)
from mahnwerk.intake.models import Product


class RunError(Exception):
    """A run that may not start or go on; the message says why and what to do."""


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


def _check_date(as_of: date) -> None:
    latest = selectors.latest_run()
    if latest is not None and latest.state != RunState.DISCARDED and as_of < latest.as_of:
        raise RunError(_("A run as of %(as_of)s would go back in time: run #%(run)d was as of "
                         "%(latest)s. Choose %(latest)s or later.")
                       % {"as_of": as_of.isoformat(), "run": latest.pk,
                          "latest": latest.as_of.isoformat()})


def start_run(*, as_of: date, actor: str, vendor_id: str | None = None,
              user: AbstractBaseUser | None = None) -> DunningRun:
    """Decide and store the decisions of a new run (state ``decided``)."""
    _check_date(as_of)
    try:
        with transaction.atomic():
            run = DunningRun.objects.create(
                as_of=as_of, vendor_id=vendor_id, started_by=actor,
                user=user if user is not None and user.is_authenticated else None)
    except IntegrityError:
        active = selectors.active_run()
        raise RunError(
            _("Run #%(run)d (as of %(as_of)s, state: %(state)s) is not finished; execute it "
              "or discard it first.")
            % {"run": active.pk if active else 0,
               "as_of": active.as_of.isoformat() if active else "?",
               "state": active.get_state_display() if active else "?"}) from None
    with transaction.atomic():
        batch: list[RunDecision] = []
        for planned in plan(as_of=as_of, vendor_id=vendor_id):
            batch.append(RunDecision(run=run, case_id=planned.facts.case_id,
                                     action=planned.decision.action,
                                     level=planned.decision.level,
                                     reason=planned.decision.reason[:500]))
            if len(batch) >= 2000:
                RunDecision.objects.bulk_create(batch)
                batch = []
        RunDecision.objects.bulk_create(batch)
        run.counts = selectors.run_counts(run=run)
        run.save(update_fields=["counts"])
    return run


def discard_run(*, run: DunningRun, actor: str) -> None:
    """Give up a decided run that was not executed, so that another can start."""
    if run.state != RunState.DECIDED:
        raise RunError(_("Run #%(run)d has started executing; resume it instead.")
                       % {"run": run.pk})
    run.state = RunState.DISCARDED
    run.lock = None
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "lock", "finished_at"])


# Decisions are applied in batches (settings.MAHNWERK_RUN_BATCH, 200), one transaction each: a
# case's letter, its outbox message, its case change with the event, and the decision's
# "executed" mark always commit together, so a crash loses no letter and a resumed run sends
# none twice. Batches instead of one transaction per case make execute about four times faster
# on SQLite (408 against 1,950 letters/s: the commit and the ORM's per-statement cost are paid
# once per batch; bench/dunning_benchmark.py). A batch that fails is applied again case by
# case, so one bad case holds back no other; MAHNWERK_RUN_BATCH=1 gives one transaction per
# case throughout.


def execute_run(*, run: DunningRun, actor: str, user: AbstractBaseUser | None = None,
                progress: Callable[[int, int], None] | None = None,
                stop_after: int | None = None) -> dict[str, int]:
    """Apply the run's decisions not yet executed, a batch of cases per transaction.

    ``stop_after`` stops after that many cases (as a crash would); calling again resumes.
    """
    if run.state in (RunState.DONE, RunState.DISCARDED):
        raise RunError(_("Run #%(run)d is %(state)s; start a new run.")
                       % {"run": run.pk, "state": run.get_state_display()})
    if run.state == RunState.DECIDED:
        run.state = RunState.EXECUTING
        run.executed_at = timezone.now()
        run.save(update_fields=["state", "executed_at"])
    policies = _Policies()
    pending = list(run.decisions.filter(executed_at__isnull=True).order_by("id")
                   .values_list("id", flat=True))
    limit = len(pending) if stop_after is None else min(stop_after, len(pending))
    size = max(1, settings.MAHNWERK_RUN_BATCH)
    for start in range(0, limit, size):
        batch = pending[start:min(limit, start + size)]
        try:
            _execute_batch(run=run, decision_ids=batch, policies=policies, actor=actor,
                           user=user)
        except Exception:
            if len(batch) == 1:
                raise
            for decision_id in batch:  # find the case that fails; the others go through
                _execute_batch(run=run, decision_ids=[decision_id], policies=policies,
                               actor=actor, user=user)
        if progress:
            progress(start + len(batch), len(pending))
    if limit < len(pending):
        return selectors.run_counts(run=run)
    _vendor_tasks(run=run)
    run.state = RunState.DONE
    run.lock = None
    run.finished_at = timezone.now()
    run.counts = selectors.run_counts(run=run)
    run.save(update_fields=["state", "lock", "finished_at", "counts"])
    return run.counts


@dataclass
class _Batch:
    """What one batch writes, gathered first and then written with one statement each."""

    run: DunningRun
    actor: str
    sent_before: set[tuple[int, int]]
    letters: list[Letter] = dataclasses.field(default_factory=list)
    sent: dict[int, Letter] = dataclasses.field(default_factory=dict)  # decision id: letter
    changes: list[CaseChange] = dataclasses.field(default_factory=list)
    notes: list[CaseNote] = dataclasses.field(default_factory=list)
    words: dict[tuple[str, int], letters.Words] = dataclasses.field(default_factory=dict)


def _execute_batch(*, run: DunningRun, decision_ids: list[int], policies: _Policies,
                   actor: str, user: AbstractBaseUser | None) -> None:
    with transaction.atomic():
        decisions = list(RunDecision.objects.filter(pk__in=decision_ids,
                                                    executed_at__isnull=True).order_by("id"))
        case_ids = [d.case_id for d in decisions]
        # Locked, so that a payment arriving now waits for this batch (and then cancels the
        # letter it finds in the outbox) instead of slipping in between.
        cases = {case.pk: case for case in DebtCase.objects.select_for_update(of=("self",))
                 .select_related("order", "order__product", "vendor").filter(pk__in=case_ids)}
        batch = _Batch(run=run, actor=actor, sent_before=set(
            Letter.objects.filter(case_id__in=case_ids).values_list("case_id", "level")))
        now = timezone.now()
        outcomes = []
        for decision in decisions:
            case = cases[decision.case_id]
            if decision.action == Action.SEND:
                outcome = _send(batch, decision=decision, case=case,
                                policy=policies.policy(case.vendor_id))
            elif decision.action == Action.EXCLUDE:
                outcome = _exclude(batch, case=case, reason=decision.reason)
            elif decision.action == Action.ESCALATE:
                outcome = _escalate(batch, case=case, reason=decision.reason)
            elif decision.action == Action.HOLD:
                outcome = _("vendor asked to attach the dunning account")
            else:
                outcome = ""
            outcomes.append({"id": decision.pk, "executed_at": now, "outcome": outcome[:500]})
        Letter.objects.bulk_create(batch.letters)
        messages = outbox.enqueue_many(letters=batch.letters)
        by_letter = {id(message.letter): message for message in messages}
        for row in outcomes:
            letter = batch.sent.get(row["id"])
            if letter is None:
                continue
            message = by_letter[id(letter)]
            field = "first_dunning_letter" if letter.level == 1 else "second_dunning_letter"
            batch.changes.append(CaseChange(
                case=letter.case, kind=EventKind.LETTER, to_state=CaseState.DUNNING,
                changes={field: run.as_of, "offer_link": letter.offer_link, "pursue": True},
                reason=_("Letter %(level)d (run #%(run)d) to %(to)s.") % {
                    "level": letter.level, "run": run.pk,
                    "to": message.to_address or _("the print queue")}))
            row["outcome"] = _("letter %(level)d queued (%(channel)s)") % {
                "level": letter.level, "channel": message.get_channel_display()}
        change_cases(items=batch.changes, actor=actor, user=user, at=now)
        CaseNote.objects.bulk_create(batch.notes)
        bulk.update_rows(RunDecision, outcomes, ["executed_at", "outcome"])


def _send(batch: _Batch, *, decision: RunDecision, case: DebtCase,
          policy: DunningPolicy) -> str:
    """Compose the letter; it is written, queued and noted on the case with the batch."""
    level = decision.level or 1
    if case.state not in (CaseState.OPEN, CaseState.DUNNING):
        return _("not sent: the case is now %(state)s") % {"state": case.get_state_display()}
    if (case.pk, level) in batch.sent_before:
        return _("not sent: letter %(level)d went out before") % {"level": level}
    run = batch.run
    link = offers.offer_link(case=case, token=offers.make_token(case=case))
    language = letters.language_of(None)
    key = (case.vendor_id, level)
    if key not in batch.words:
        batch.words[key] = letters.words_for(vendor_id=case.vendor_id, level=level,
                                             language=language)
    composed = letters.compose(case=case, level=level, letter_date=run.as_of, policy=policy,
                               offer_link=link, language=language, words=batch.words[key])
    letter = Letter(
        case=case, level=level, run=run, letter_date=composed.letter_date,
        deadline=composed.deadline, language=composed.language, principal=composed.principal,
        fees=composed.fees, interest=composed.interest, currency=composed.currency,
        offer_link=link, subject=composed.subject, body_html=composed.body_html,
        body_text=composed.body_text)
    batch.letters.append(letter)
    batch.sent[decision.pk] = letter
    return ""  # said once the outbox has chosen e-mail or print


def _exclude(batch: _Batch, *, case: DebtCase, reason: str) -> str:
    if case.state in REORDER_STATES:
        batch.changes.append(CaseChange(case=case, kind=EventKind.REORDERED,
                                        to_state=CaseState.REOPENED,
                                        changes={"pursue": False}, reason=reason))
        batch.notes.append(CaseNote(case=case, visibility=NoteVisibility.INTERNAL,
                                    text=reason[:1].upper() + reason[1:] + ".",
                                    author=batch.actor, created_at=timezone.now()))
        return _("marked grey")
    if case.pursue:
        batch.changes.append(CaseChange(case=case, kind=EventKind.REORDERED,
                                        changes={"pursue": False}, reason=reason))
    return _("excluded (grey)")


def _escalate(batch: _Batch, *, case: DebtCase, reason: str) -> str:
    if case.state != CaseState.DUNNING:
        return _("not escalated: the case is now %(state)s") % {
            "state": case.get_state_display()}
    direct = case.vendor.collection_mode == "direct"
    target = CaseState.APPROVED if direct else CaseState.ON_HOLD
    batch.changes.append(CaseChange(
        case=case, kind=EventKind.COLLECTION, to_state=target,
        reason=_("Escalated to collection: %(reason)s.") % {"reason": reason}))
    return _("to the collection list (%(state)s)") % {"state": CaseState(target).label}


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
              user: AbstractBaseUser | None = None) -> DunningRun:
    """Decide and execute a run in one go (the schedule, and the CLI without --dry-run)."""
    run = start_run(as_of=as_of, actor=actor, vendor_id=vendor_id, user=user)
    execute_run(run=run, actor=actor, user=user)
    run.refresh_from_db()
    return run


def resume_run(*, run_id: int, actor: str) -> DunningRun:
    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        raise RunError(_("There is no run #%(run)d.") % {"run": run_id})
    execute_run(run=run, actor=actor)
    run.refresh_from_db()
    return run


def scheduled_run(*, today: date | None = None) -> DunningRun | None:
    """The monthly run of the schedule: on the default policy's run day, once a month."""
    today = today or timezone.localdate()
    policy = selectors.default_policy()
    if today.day != policy.run_day:
        return None
    latest = selectors.latest_run()
    if latest is not None and (latest.as_of.year, latest.as_of.month) == (today.year,
                                                                       today.month):
        return None
    return run_month(as_of=today, actor="schedule")


# -- Direct-collection vendors (process.md section 4, "Important!") ---------------------------


def direct_candidates(*, vendor_id: str, as_of: date) -> list[Planned]:
    """The cases of a direct-collection vendor that a run as of ``as_of`` would dun if marked."""
    result = []
    policies = _Policies()
    for planned in plan(as_of=as_of, vendor_id=vendor_id):
        if planned.facts.collection_mode != "direct":
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
            case_id=planned.facts.case_id, defaults={"vendor_id": vendor_id})
        selections.append(selection)
    return selections


@transaction.atomic
def answer_direct_selection(*, vendor_id: str, choices: dict[str, bool], actor: str
                            ) -> int:
    """Record a direct-collection vendor's marks (order id -> pursue); returns how many."""
    selections = {s.case.order_id: s for s in DirectSelection.objects.select_related("case")
                  .filter(vendor_id=vendor_id, case__order_id__in=list(choices))}
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
