"""A run spread over Celery workers (issue 12, point 3): one task per batch of decisions, any
number of workers taking them, a batch done twice changing nothing, the run's counts adding up,
and a run whose batch task was lost completed by resume.

The tests with workers start real ``celery -A mahnwerk worker`` processes against Redis
(database 7, a queue of each test session's own) on the PostgreSQL test database; SQLite's test
database lives in memory, which a worker process cannot open, so they are skipped there.
"""

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from mahnwerk.cases.models import CaseEvent, EventKind
from mahnwerk.dunning import services, tasks
from mahnwerk.dunning.models import (
    DunningRun,
    Letter,
    OutboxMessage,
    RunDecision,
    RunState,
    VendorTask,
)
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, stop_processes

REDIS = "redis://127.0.0.1:6379/7"
INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
AS_OF = date(2026, 10, 1)


def month(count: int, *, held: int = 0, without_email: int = 0) -> list:
    """``count`` debts whose first letter is due; ``held`` of them on a product without the
    dunning account, ``without_email`` of them for the print queue."""
    vendor = VendorFactory(vendor_id="VWORK", name="Akademie Arbeit")
    course = ProductFactory(vendor=vendor, name="Yoga für alle")
    lacking = ProductFactory(vendor=vendor, name="Pilates ohne Konto", dunning_enabled=False)
    return [incident(OrderFactory(order_id=f"O-W{n}", product=lacking if n < held else course,
                                  **({"buyer_email": ""} if held <= n < held + without_email
                                     else {})),
                     open_amount="120.00", at=INCIDENT)
            for n in range(count)]


def started(*, actor: str = "anna") -> tuple[DunningRun, str, list[list[int]]]:
    """A decided run moved to executing, its batches handed to nobody yet."""
    run = services.start_run(as_of=AS_OF, actor=actor)
    handed: list = []
    services.execute_run(run=run, actor=actor,
                         enqueue=lambda run, worker, batches, actor, user_id:
                         handed.append((worker, batches)))
    worker, batches = handed[0]
    run.refresh_from_db()
    return run, worker, batches


def each_letter_once(cases) -> None:
    assert sorted(Letter.objects.values_list("case_id", flat=True)) == sorted(
        c.pk for c in cases)
    assert OutboxMessage.objects.count() == len(cases)
    letter_events = Counter(CaseEvent.objects.filter(kind=EventKind.LETTER)
                            .values_list("case_id", flat=True))
    assert set(letter_events.values()) == {1} and len(letter_events) == len(cases)


def counts_add_up(run: DunningRun) -> None:
    """The run's progress, written batch by batch by whichever worker, says what its
    decisions say."""
    run.refresh_from_db()
    decisions = RunDecision.objects.filter(run=run)
    assert run.state == RunState.DONE and run.worker == "" and run.lock is None
    assert run.done == run.total == decisions.count()
    assert not decisions.filter(executed_at__isnull=True).exists()
    from mahnwerk.dunning import selectors

    assert run.outcomes == dict(Counter(
        selectors.outcome_key(code=d.outcome_code, params=d.outcome_params)
        for d in decisions))


# -- Without a broker: the same tasks, in this process ----------------------------------------


@pytest.mark.django_db
def test_a_batch_task_delivered_twice_changes_nothing_the_second_time(settings):
    """The same message handed to a worker twice (a worker killed after its work, before its
    acknowledgement): the second finds its decisions executed and writes nothing."""
    settings.MAHNWERK_RUN_BATCH = 4
    cases = month(10, held=1)
    run, worker, batches = started()
    assert [len(b) for b in batches] == [4, 4, 2] and run.state == RunState.EXECUTING
    first = {"run_id": run.pk, "worker": worker, "decision_ids": batches[0], "actor": "anna"}
    assert tasks.execute_batch(**first) == "done"
    written = (Letter.objects.count(), OutboxMessage.objects.count(), CaseEvent.objects.count())
    run.refresh_from_db()
    progress = (run.done, run.outcomes)
    assert tasks.execute_batch(**first) == "done"
    assert tasks.execute_batch.apply(kwargs=first).get() == "done"
    assert (Letter.objects.count(), OutboxMessage.objects.count(),
            CaseEvent.objects.count()) == written
    run.refresh_from_db()
    assert (run.done, run.outcomes) == progress and run.done == 4
    assert sum(run.outcomes.values()) == 4
    assert tasks.execute_batch(**{**first, "decision_ids": batches[2]}) == "done"
    assert tasks.execute_batch(**{**first, "decision_ids": batches[1]}) == "finished"
    # Done again after the run finished: its claim is gone, nothing is written.
    assert tasks.execute_batch(**{**first, "decision_ids": batches[1]}) == "stopped"
    each_letter_once(cases[1:])
    counts_add_up(run)
    assert VendorTask.objects.filter(run=run).count() == 1, "the run finished once"


@pytest.mark.django_db
def test_without_a_broker_the_workspace_runs_the_same_batch_tasks_in_order(settings,
                                                                           monkeypatch):
    settings.MAHNWERK_RUN_BATCH = 3
    cases = month(7)
    run = services.start_run(as_of=AS_OF, actor="anna")
    worker = services.claim_execution(run=run)
    seen = []
    real = tasks.execute_batch.run

    def batch(**kwargs):
        seen.append(len(kwargs["decision_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(tasks.execute_batch, "run", batch)
    assert tasks.execute_in_background(run_id=run.pk, worker=worker, actor="anna") == "here"
    assert seen == [3, 3, 1]
    each_letter_once(cases)
    counts_add_up(run)


@pytest.mark.django_db
def test_a_case_that_fails_stops_the_batches_after_it_and_resume_enqueues_only_the_rest(
        settings, monkeypatch):
    settings.MAHNWERK_RUN_BATCH = 2
    cases = month(6)
    run = services.start_run(as_of=AS_OF, actor="anna")
    real_compose = services.letters.compose

    def compose(*, case, **kwargs):
        if case.pk == cases[3].pk:
            raise RuntimeError("Vorlage kaputt")
        return real_compose(case=case, **kwargs)

    monkeypatch.setattr(services.letters, "compose", compose)
    services.execute_run(run=run, actor="anna", enqueue=tasks.enqueue_batches)
    run.refresh_from_db()
    assert (run.failed_order, run.failure) == (cases[3].order_id, "RuntimeError: Vorlage kaputt")
    assert run.done == 3 and run.worker == "", "the case before it in its batch went through"
    monkeypatch.setattr(services.letters, "compose", real_compose)
    enqueued = []

    def enqueue(run, worker, batches, actor, user_id):
        enqueued.append(batches)
        tasks.enqueue_batches(run, worker, batches, actor, user_id)

    services.resume_run(run_id=run.pk, actor="anna", enqueue=enqueue)
    assert [len(b) for b in enqueued[0]] == [2, 1]
    each_letter_once(cases)
    counts_add_up(run)


@pytest.mark.django_db
def test_the_schedule_takes_up_a_run_whose_batches_were_lost_within_minutes(settings):
    """A batch task lost with its worker (or with Redis) leaves the run executing with a claim
    nobody renews; every five minutes the schedule hands its pending batches out again, once
    the claim is stale, and not before."""
    settings.MAHNWERK_RUN_BATCH = 3
    cases = month(7)
    run, _worker, _batches = started()
    assert services.resume_interrupted_run(enqueue=tasks.enqueue_batches) is None, \
        "its workers may still be at it"
    assert not Letter.objects.exists()
    assert settings.CELERY_BEAT_SCHEDULE["resume-runs"]["schedule"] <= 300
    settings.MAHNWERK_RUN_STALE_SECONDS = 0  # the claim is stale at once
    assert tasks.resume_runs() == run.pk
    each_letter_once(cases)
    counts_add_up(run)


@pytest.mark.django_db
def test_the_schedule_leaves_a_decided_run_waiting_for_support_alone(settings):
    month(4)
    run = services.start_run(as_of=AS_OF, actor="anna")
    settings.MAHNWERK_RUN_STALE_SECONDS = 0
    assert tasks.resume_runs() is None
    run.refresh_from_db()
    assert run.state == RunState.DECIDED and not Letter.objects.exists()


# -- With Redis and real worker processes, on PostgreSQL --------------------------------------


def _postgres_and_redis() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the test database of SQLite lives in memory, which a worker process "
                    "cannot open; CI runs this test on PostgreSQL")
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS}: {exc}")


class Workers:
    """``celery -A mahnwerk worker`` processes on the test database and a queue of their own."""

    def __init__(self, queue: str, logs: Path) -> None:
        self.queue, self.logs, self.processes = queue, logs, []
        db = connection.settings_dict
        self.env = {**os.environ, "CELERY_BROKER_URL": REDIS, "PYTHONPATH": "src",
                    "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@"
                                    f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                                    f"{db['NAME']}"}

    def start(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mahnwerk", "worker", "-n",
             f"{name}@%h", "-Q", self.queue, "--pool", "solo", "--prefetch-multiplier", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent)
        self.processes.append((name, process, log))
        deadline = time.monotonic() + 90
        while "ready." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"worker {name} never got ready: " \
                + log.read_text()
            time.sleep(0.2)

    def batches_of(self, name: str) -> int:
        log = next(log for n, _p, log in self.processes if n == name)
        return sum(1 for line in log.read_text().splitlines()
                   if "mahnwerk.dunning.tasks.execute_batch[" in line and "succeeded" in line)

    def stop(self) -> None:
        stop_processes([process for _name, process, _log in self.processes])


@pytest.fixture
def workers(settings, tmp_path):
    """Run batches go to Redis: the test enqueues, the workers execute."""
    _postgres_and_redis()
    import redis

    from mahnwerk.celery import app

    queue = f"mahnwerk-test-runs-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.MAHNWERK_RUN_QUEUE = queue
    was = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=REDIS, task_always_eager=False)
    # Producers bound to the broker of a test before (in this process) are not reused: the
    # batches would go there and no worker of this test would ever see them.
    app._pool = None
    app.amqp._producer_pool = None
    client = redis.Redis.from_url(REDIS)
    client.delete(queue)
    pool = Workers(queue, tmp_path)
    yield pool
    pool.stop()
    client.delete(queue)
    # The letters' "deliver now" nudges of the workers wait in the default queue: nobody
    # delivers them here.
    client.delete("celery")
    app.conf.update(was)
    app._pool = None
    app.amqp._producer_pool = None


def wait_until(condition, *, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the workers did not get there in time"
        time.sleep(0.2)


def settled(run: DunningRun, done: int) -> bool:
    run.refresh_from_db()
    return run.done >= done and run.state in (RunState.EXECUTING, RunState.DONE)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_execute_a_run_each_letter_once_and_its_counts_add_up(workers, settings):
    """300 decisions in batches of 10, every batch sent twice: two worker processes take them
    as they come, often the same batch at the same moment; each buyer gets one letter, the
    run's counts are its decisions' and it finishes once."""
    settings.MAHNWERK_RUN_BATCH = 10
    cases = month(300, held=4, without_email=20)
    workers.start("w1")
    workers.start("w2")
    run = services.start_run(as_of=AS_OF, actor="anna")

    def twice(run, worker, batches, actor, user_id):
        tasks.enqueue_batches(run, worker, [b for batch in batches for b in (batch, batch)],
                              actor, user_id)

    services.execute_run(run=run, actor="anna", enqueue=twice)
    wait_until(lambda: DunningRun.objects.get(pk=run.pk).state == RunState.DONE)
    each_letter_once(cases[4:])
    counts_add_up(run)
    assert run.outcomes == {"email1": 276, "print1": 20, "held": 4}
    assert VendorTask.objects.filter(run=run).count() == 1
    wait_until(lambda: workers.batches_of("w1") + workers.batches_of("w2") == 60)
    assert workers.batches_of("w1") > 0 and workers.batches_of("w2") > 0, \
        "both workers took batches"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_whose_batch_tasks_were_lost_is_completed_by_resume(workers, settings):
    """Half of the batches never reach a worker (lost with a worker, a broker that forgot
    them): the run stops moving, counts as interrupted once its claim is stale, and resuming
    it enqueues only the pending batches."""
    settings.MAHNWERK_RUN_BATCH = 10
    cases = month(60)
    workers.start("w1")
    run = services.start_run(as_of=AS_OF, actor="anna")

    def lossy(run, worker, batches, actor, user_id):
        tasks.enqueue_batches(run, worker, batches[::2], actor, user_id)

    services.execute_run(run=run, actor="anna", enqueue=lossy)
    wait_until(lambda: settled(run, 30))
    time.sleep(1)  # nothing more comes
    run.refresh_from_db()
    assert (run.state, run.done) == (RunState.EXECUTING, 30)
    from mahnwerk.dunning import selectors

    assert selectors.run_progress(run=run).phase == "running"
    with pytest.raises(services.RunBusy):  # while its claim is live, nothing starts twice
        services.resume_run(run_id=run.pk, actor="ben", enqueue=tasks.enqueue_batches)
    DunningRun.objects.filter(pk=run.pk).update(  # as MAHNWERK_RUN_STALE_SECONDS passing
        heartbeat_at=timezone.now() - timedelta(seconds=settings.MAHNWERK_RUN_STALE_SECONDS + 1))
    run.refresh_from_db()
    assert selectors.run_progress(run=run).phase == "interrupted"
    enqueued = []

    def counted(run, worker, batches, actor, user_id):
        enqueued.extend(batches)
        tasks.enqueue_batches(run, worker, batches, actor, user_id)

    assert services.scheduled_run(today=AS_OF, enqueue=counted).pk == run.pk
    assert len(enqueued) == 3 and sum(map(len, enqueued)) == 30
    wait_until(lambda: DunningRun.objects.get(pk=run.pk).state == RunState.DONE)
    each_letter_once(cases)
    counts_add_up(run)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_command_line_hands_the_batches_to_the_workers_and_follows_the_run(workers,
                                                                              settings):
    from io import StringIO

    from django.core.management import call_command

    settings.MAHNWERK_RUN_BATCH = 5
    cases = month(12)
    workers.start("w1")
    out = StringIO()
    call_command("dunning_run", "--as-of", AS_OF.isoformat(), "--no-progress", stdout=out)
    run = DunningRun.objects.get()
    assert f"Lauf #{run.pk} zum {AS_OF.isoformat()} ist abgeschlossen" in out.getvalue()
    wait_until(lambda: workers.batches_of("w1") == 3)  # the worker, not the command, did them
    each_letter_once(cases)
    counts_add_up(run)
