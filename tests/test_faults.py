"""Faults survived, nothing lost, nothing twice (issue 12, point 5): each test stops a real part
(a Celery worker, Redis, the database's connections, the mail server, the run's own process)
in the middle of the work and checks what became of every letter.

The tests with processes run on PostgreSQL only: SQLite's test database lives in memory, which
a second process cannot open. They use a Redis server of their own (``redis-server`` started
here on a port of its own, without persistence), never the shared one, because some of them
stop it. The mail server is aiosmtpd on loopback; its log is what it accepted, counted by
Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from mahnwerk.cases.models import CaseEvent, EventKind
from mahnwerk.dunning import delivery, dispatch, outbox, services, tasks
from mahnwerk.dunning.models import (
    DeliveryStatus,
    DunningRun,
    Letter,
    OutboxMessage,
    RunDecision,
    RunState,
)
from tests.helpers import stop_processes
from tests.test_outbox import Inbox, free_port, queued_letter, use_smtp
from tests.test_run_workers import AS_OF, counts_add_up, each_letter_once, month, wait_until

ROOT = Path(__file__).resolve().parent.parent


def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a second process cannot open SQLite's in-memory test database; CI runs "
                    "this test on PostgreSQL")


def database_url() -> str:
    db = connection.settings_dict
    return (f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


class PrivateRedis:
    """A ``redis-server`` of this test alone, without persistence: stopping it loses what
    waited in it, as a broker that crashed does."""

    def __init__(self, logs: Path) -> None:
        number = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
        self.port = 6390 + (int(number) if number.isdigit() else 0)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = logs / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Workers:
    """``celery -A mahnwerk worker`` processes (solo pool, one at a time per process) on the
    test database and the private Redis."""

    def __init__(self, broker: str, queues: str, logs: Path, **env: str) -> None:
        self.logs, self.queues, self.processes = logs, queues, {}
        self.env = {**os.environ, "CELERY_BROKER_URL": broker, "DATABASE_URL": database_url(),
                    "PYTHONPATH": os.pathsep.join(sys.path), **env}

    def start(self, name: str) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mahnwerk", "worker", "-n", f"{name}@%h",
             "-Q", self.queues, "--pool", "solo", "--prefetch-multiplier", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)
        self.processes[name] = (process, log)
        deadline = time.monotonic() + 90
        while "ready." not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"worker {name} never got ready"
            time.sleep(0.1)
        return process

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text()

    def stop(self) -> None:
        stop_processes([process for process, _log in self.processes.values()])


@pytest.fixture
def broker(settings, tmp_path):
    """A private Redis as this process's broker too (the test enqueues as beat and the web
    do); the workers are started by the test."""
    postgres_only()
    from mahnwerk.celery import app

    server = PrivateRedis(tmp_path)
    server.start()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.MAHNWERK_RUN_QUEUE = "faults-runs"
    was = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=server.url, task_always_eager=False)
    app._pool = None  # producers bound to another test's broker are not reused
    app.amqp._producer_pool = None
    pools: list[Workers] = []

    def workers(queues: str, **env: str) -> Workers:
        pool = Workers(server.url, queues, tmp_path, **env)
        pools.append(pool)
        return pool

    server.workers = workers
    yield server
    for pool in pools:
        pool.stop()
    server.stop()
    app.conf.update(was)
    app._pool = None
    app.amqp._producer_pool = None


class SlowInbox(Inbox):
    """A mail server that takes a moment over each message, so that a worker can be killed
    in the middle of a chunk."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.15)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mail_server(settings):
    servers = []

    def start(handler: Inbox, port: int | None = None) -> Controller:
        controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
        controller.start()
        servers.append(controller)
        use_smtp(settings, controller.port)
        return controller

    yield start
    for controller in servers:
        controller.stop()


def message_ids(box: Inbox) -> Counter:
    return Counter(message["Message-ID"] for message in box.messages)


def statuses() -> Counter:
    return Counter(OutboxMessage.objects.values_list("status", flat=True))


def left_once_each(messages) -> None:
    left = Counter(CaseEvent.objects.filter(code="letter.left").values_list("case_id",
                                                                            flat=True))
    assert sorted(left) == sorted(m.case_id for m in messages) and set(left.values()) == {1}


def stale(run: DunningRun, settings) -> None:
    """As MAHNWERK_RUN_STALE_SECONDS passing without a batch renewing the run's claim."""
    DunningRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(
        seconds=settings.MAHNWERK_RUN_STALE_SECONDS + 1))


# -- 1. A worker killed mid-delivery ---------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_delivery_sends_no_letter_twice_and_support_resolves_the_stuck(
        broker, mail_server, settings):
    """A Celery worker is killed (SIGKILL) while it sends a chunk of 4 letters.

    The design does not re-send on its own: the dead worker's chunk stays in "sending" and is
    listed as stuck, because nobody can know whether the mail server took the message that
    was on the line when the worker died. Support looks each stuck Message-ID up in the mail
    server's log: found means delivered (``confirm_stuck_sent`` records it as left), not
    found means released into the queue (``release_stuck``), and the next worker sends it.
    The mail server sees every Message-ID exactly once; no letter is lost."""
    settings.MAHNWERK_OUTBOX_CHUNK = 4
    inbox = SlowInbox()
    mail_server(inbox)
    queued = [queued_letter() for _ in range(12)]
    pool = broker.workers("celery", MAHNWERK_OUTBOX_CHUNK="4", EMAIL_HOST="127.0.0.1",
                          EMAIL_PORT=str(settings.EMAIL_PORT))
    assert tasks.deliver_outbox() == 3, "beat's call hands out a task per chunk"
    first = pool.start("w1")
    wait_until(lambda: len(inbox.envelopes) >= 2, seconds=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(0.5)  # what the mail server was taking when the worker died arrives now
    assert statuses()["sending"] == 4, "the dead worker's chunk is left in sending"
    assert statuses()["sent"] == 0, "it died before it could write its chunk down"
    before = set(message_ids(inbox))

    # Another worker, and beat's next minute: the rest goes; the dead chunk is not sent again.
    pool.start("w2")
    tasks.deliver_outbox()
    wait_until(lambda: statuses()["sent"] == 8)
    time.sleep(0.3)
    assert statuses() == {"sent": 8, "sending": 4}
    stuck = outbox.stuck(older_than=timedelta(0))
    assert len(stuck) == 4 and all(m.message_id for m in stuck)
    assert set(message_ids(inbox).values()) == {1}

    # Support: each stuck Message-ID looked up in the mail server's log.
    for message in stuck:
        if message.message_id in before:
            dispatch.confirm_stuck_sent(message=message, actor="support")
        else:
            dispatch.release_stuck(message=message, actor="support")
    released = [m for m in stuck if m.message_id not in before]
    assert 2 <= 4 - len(released) <= 4
    tasks.deliver_outbox()
    wait_until(lambda: statuses()["sent"] == 12)
    time.sleep(0.3)
    ids = message_ids(inbox)
    assert len(inbox.envelopes) == 12 and set(ids.values()) == {1}, "each letter once"
    assert set(ids) == set(OutboxMessage.objects.values_list("message_id", flat=True))
    for message in released:  # sent again under the Message-ID it was claimed with
        assert ids[message.message_id] == 1
    assert statuses() == {"sent": 12}
    left_once_each(queued)


# -- 2. Redis stopped during a run ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_redis_stopped_during_a_run_the_letters_wait_in_the_outbox_and_go_when_it_is_back(
        broker, mail_server, settings):
    """The broker (a private redis-server without persistence) is killed while a worker
    executes a run's batches: the batches still waiting in it are lost with it. The letters
    written so far wait in the outbox (the database); when Redis is back, the schedule finds
    the run interrupted once its claim is stale and hands its pending batches out again, and
    a worker delivers every letter once."""
    settings.MAHNWERK_RUN_BATCH = 3
    inbox = Inbox()
    mail_server(inbox)
    cases = month(120)
    pool = broker.workers("faults-runs")
    worker = pool.start("w1")
    run = services.start_run(as_of=AS_OF, actor="anna")
    services.execute_run(run=run, actor="anna", enqueue=tasks.enqueue_batches)
    wait_until(lambda: DunningRun.objects.get(pk=run.pk).done >= 15, seconds=60)
    broker.stop()
    time.sleep(2)  # the batch on hand finishes; its "deliver now" cannot reach the broker
    run.refresh_from_db()
    assert run.state == RunState.EXECUTING and 15 <= run.done < run.total, \
        "Redis was stopped in the middle of the run"
    written = Letter.objects.count()
    assert OutboxMessage.objects.count() == written == run.done
    assert statuses() == {"queued": written}, "they wait in the outbox"

    broker.start()  # empty: the pending batches were lost with it
    time.sleep(1)
    assert DunningRun.objects.get(pk=run.pk).done == run.done, "nothing moves on its own"
    stale(run, settings)
    assert services.scheduled_run(today=AS_OF, enqueue=tasks.enqueue_batches).pk == run.pk
    if worker.poll() is not None:  # Celery gave up reconnecting: a fresh worker (systemd's)
        pool.start("w2")
    wait_until(lambda: DunningRun.objects.get(pk=run.pk).state == RunState.DONE)
    each_letter_once(cases)
    counts_add_up(run)

    assert statuses() == {"queued": len(cases)}
    delivering = broker.workers("celery", EMAIL_HOST="127.0.0.1",
                                EMAIL_PORT=str(settings.EMAIL_PORT))
    delivering.start("deliver")
    tasks.deliver_outbox()  # beat's next minute
    wait_until(lambda: statuses()["sent"] == len(cases))
    time.sleep(0.3)
    assert statuses() == {"sent": len(cases)}
    assert len(inbox.envelopes) == len(cases) and set(message_ids(inbox).values()) == {1}
    left_once_each(OutboxMessage.objects.all())


# -- 3. PostgreSQL restarted during a run -------------------------------------------------------


def terminate_other_backends() -> int:
    """What a PostgreSQL restart does to its clients: every other connection to this
    database is cut (the shared server itself is never restarted; other engineers use it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                       "FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_connections_cut_during_a_run_the_run_resumes_and_completes_once(
        broker, settings):
    """The workers' database connections are terminated (``pg_terminate_backend``) again and
    again while they execute a run's batches: what a PostgreSQL restart does to its clients.
    Not a real restart: the shared server must stay up for the other engineers, and a private
    cluster would need the whole schema migrated into it for this one test (about 20 s more
    of CI). A batch cut in the middle rolls back whole; the run is resumed by the schedule
    and completes; every buyer has one letter and the run's counts add up."""
    settings.MAHNWERK_RUN_BATCH = 3
    cases = month(150, held=3, without_email=6)
    pool = broker.workers("faults-runs")
    pool.start("w1")
    run = services.start_run(as_of=AS_OF, actor="anna")
    services.execute_run(run=run, actor="anna", enqueue=tasks.enqueue_batches)
    wait_until(lambda: DunningRun.objects.get(pk=run.pk).done >= 15, seconds=60)
    run.refresh_from_db()
    assert run.done < run.total, "the connections are cut in the middle of the run"
    cut = 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        cut += terminate_other_backends()
        time.sleep(0.05)
    assert cut > 0, "the worker's connections were cut"

    def stopped_moving() -> bool:
        before = DunningRun.objects.get(pk=run.pk).done
        time.sleep(1.5)
        current = DunningRun.objects.get(pk=run.pk)
        return current.state == RunState.DONE or current.done == before

    wait_until(stopped_moving)
    run.refresh_from_db()
    if run.state != RunState.DONE:
        assert run.decisions.filter(executed_at__isnull=True).exists()
        stale(run, settings)
        services.scheduled_run(today=AS_OF, enqueue=tasks.enqueue_batches)
        wait_until(lambda: DunningRun.objects.get(pk=run.pk).state == RunState.DONE)
    each_letter_once(cases[3:])
    counts_add_up(run)
    assert run.outcomes == {"email1": 141, "print1": 6, "held": 3}


# -- 4. The mail server down for an hour ----------------------------------------------------------


class DeferringInbox(Inbox):
    """A mail server that keeps one mailbox's mail deferred (451), the way a full mailbox or a
    grey-listing server does."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("voll@"):
            return "451 4.2.2 mailbox full, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.mark.django_db
def test_the_mail_server_down_for_an_hour_backs_off_then_delivers_each_letter_once(
        mail_server, settings):
    """Beat asks for delivery every minute; the mail server refuses connections for the first
    hour (simulated time: ``now`` moves, nothing sleeps). Each letter's attempts are spaced as
    ``delivery.BACKOFF`` says, its next attempt stored; when the server is back each goes once,
    under the Message-ID it had from its first attempt. A mailbox that keeps deferring uses up
    MAHNWERK_OUTBOX_MAX_ATTEMPTS and fails, visible in the outbox and on its case."""
    assert settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS == 5
    port = free_port()
    use_smtp(settings, port, timeout=2)  # nobody listens there yet
    letters = [queued_letter() for _ in range(3)]
    full = queued_letter(buyer_email="voll@example.org")
    start = timezone.now().replace(microsecond=0)
    attempts: dict[int, list[datetime]] = {m.pk: [] for m in [*letters, full]}
    inbox = DeferringInbox()
    minute = 0
    while minute < 6 * 60 and statuses()["queued"]:
        now = start + timedelta(minutes=minute)
        if minute == 60:
            mail_server(inbox, port=port)  # back, after an hour
        before = dict(OutboxMessage.objects.values_list("pk", "attempts"))
        delivery.deliver_due(now=now)
        for pk, count in OutboxMessage.objects.values_list("pk", "attempts"):
            if count > before[pk]:
                attempts[pk].append(now)
        if minute == 59:  # the end of the hour down: nothing sent, each waiting its turn
            assert statuses() == {"queued": 4} and not inbox.envelopes
            for message in OutboxMessage.objects.all():
                tried = attempts[message.pk]
                assert message.attempts == len(tried) >= 2
                assert message.next_attempt_at == tried[-1] + delivery.BACKOFF[len(tried) - 1]
                assert message.last_error.startswith("ConnectionRefusedError")
        minute += 1
    for pk, tried in attempts.items():  # the pauses between attempts, as BACKOFF says
        pauses = [later - earlier for earlier, later in pairwise(tried)]
        for number, pause in enumerate(pauses):
            # At least the pause; at most a few beats more (one letter per beat while the
            # server refuses connections: a refused connection ends the pass).
            assert delivery.BACKOFF[number] <= pause <= delivery.BACKOFF[number] + timedelta(
                minutes=4), (pk, tried)
    assert len(inbox.envelopes) == 3
    assert set(message_ids(inbox).values()) == {1}
    assert set(message_ids(inbox)) == {m.message_id for m in OutboxMessage.objects.filter(
        pk__in=[m.pk for m in letters])}, "the Message-ID of the first attempt"
    assert statuses() == {"sent": 3, "failed": 1}
    full.refresh_from_db()
    assert full.status == DeliveryStatus.FAILED and full.attempts == 5
    assert len(attempts[full.pk]) == 5 and "451 4.2.2 mailbox full" in full.last_error
    assert outbox.status_counts()["failed"] == 1
    assert CaseEvent.objects.filter(case_id=full.case_id, code="letter.failed").count() == 1
    left_once_each(letters)


# -- 5. The run process killed at 20 random points ------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_run_process_killed_at_20_random_points_sends_each_letter_once(settings, tmp_path):
    """``mahnwerk dunning-run`` (no broker: the batches run in its own process) is killed with
    SIGKILL 20 times, each time a random moment (seeded, printed) after it has written a
    batch, and resumed with ``--resume`` after each (its claim made stale first, as
    MAHNWERK_RUN_STALE_SECONDS passing). Real-time kills, no hook: waiting for the next batch
    in the database before the random pause makes each kill land inside execute. The pause is
    a random part of one batch's time, measured on the first process before the first kill, so
    that it covers every point of a batch's cycle (inside its transaction and between two) on a
    fast or a loaded machine alike, and a batch written during the pause ends it, so the 20
    kills use at most 40 of the 73 batches (a fixed pause of up to 0.12 s let a fast machine
    finish the run before kill 16; a pause measured while the machine was busier let the run
    end before kill 20). At the end:
    every decision executed once, one letter per (case, cycle, level) the run decided to send,
    one outbox message per letter, one letter event per letter on the cases."""
    postgres_only()
    seed = int(os.environ.get("MAHNWERK_FAULT_SEED", random.randrange(10**6)))
    print(f"kill seed {seed} (MAHNWERK_FAULT_SEED={seed} repeats it)")
    chance = random.Random(seed)
    cases = month(150, held=5, without_email=10)
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_BROKER_URL": "",
           "MAHNWERK_RUN_BATCH": "2", "MAHNWERK_RUN_IN_THREAD": "false",
           "PYTHONPATH": os.pathsep.join(sys.path), "DJANGO_SETTINGS_MODULE": "mahnwerk.settings"}
    command = [sys.executable, "-m", "django", "dunning_run", "--no-progress", "--as", "anna"]
    log = (tmp_path / "runs.log").open("w")

    def launch(*arguments: str) -> subprocess.Popen:
        return subprocess.Popen([*command, *arguments], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)

    def next_batch(process: subprocess.Popen, number: int) -> DunningRun:
        """Waits until ``process`` has written a batch (one more than when it was called)."""
        run = DunningRun.objects.order_by("-pk").first()
        before = run.done if run is not None and run.state == RunState.EXECUTING else 0
        deadline = time.monotonic() + 60
        while True:
            run = DunningRun.objects.order_by("-pk").first()
            if run is not None and run.state == RunState.EXECUTING and run.done > before:
                return run
            assert process.poll() is None, f"the run ended before kill {number + 1}"
            assert time.monotonic() < deadline, "the run does not move"
            time.sleep(0.002)

    kills = []
    process = launch("--as-of", AS_OF.isoformat())
    next_batch(process, 0)
    started = time.monotonic()
    for _ in range(3):
        next_batch(process, 0)
    batch_seconds = (time.monotonic() - started) / 3
    for number in range(20):
        run = next_batch(process, number)
        pause = chance.uniform(0, batch_seconds)
        # A pause never spans a whole batch more: on a machine whose load changes, the first
        # batches can take many times as long as the later ones, and the run ended before kill
        # 20 (CI on a loaded machine). A batch written during the pause ends it: the kill then
        # lands just after that batch, which is a point of the cycle too.
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not DunningRun.objects.filter(
                pk=run.pk, done__gt=run.done).exists():
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        run.refresh_from_db()
        kills.append((round(pause, 3), run.done))
        assert run.state == RunState.EXECUTING, f"kill {number + 1} came after the end"
        stale(run, settings)
        process = launch("--resume", str(run.pk))
    assert process.wait(timeout=120) == 0, (tmp_path / "runs.log").read_text()[-3000:]
    print(f"one batch {batch_seconds:.3f} s; kills (pause after a batch, cases done):", kills)
    run.refresh_from_db()
    counts_add_up(run)
    sending = RunDecision.objects.filter(run=run, action="send")
    decided = {(d.case_id, d.level or 1) for d in sending}
    assert len(decided) == 145, "135 by e-mail, 10 to print; 5 held"
    letters = Counter(Letter.objects.values_list("case_id", "cycle", "level"))
    assert set(letters.values()) == {1}, "no letter twice"
    assert {(case, level) for case, _cycle, level in letters} == decided, "none lost"
    assert OutboxMessage.objects.count() == len(letters)
    assert set(Counter(OutboxMessage.objects.values_list("letter_id", flat=True)).values()) \
        == {1}
    events = Counter(CaseEvent.objects.filter(kind=EventKind.LETTER).values_list("case_id",
                                                                                 flat=True))
    assert events == Counter(case for case, _cycle, _level in letters)
    each_letter_once(cases[5:])


@pytest.mark.django_db
def test_support_can_confirm_as_sent_only_a_letter_stuck_in_sending():
    queued = queued_letter()
    with pytest.raises(outbox.OutboxError, match="als gesendet bestätigt"):
        dispatch.confirm_stuck_sent(message=queued, actor="support")
    assert OutboxMessage.objects.get(pk=queued.pk).status == DeliveryStatus.QUEUED
    assert not CaseEvent.objects.filter(code="letter.left").exists()
