"""Delivery over workers (issue 12, point 3): the one-shot command delivers everything due in
passes, the schedule hands out one task per chunk of due letters, and workers that deliver at
the same moment send every letter once (a real SMTP server on loopback, real database
connections; the races on PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mahnwerk.cases.models import CaseEvent, EventKind
from mahnwerk.dunning import delivery, outbox
from mahnwerk.dunning.models import OutboxMessage
from mahnwerk.dunning.tasks import deliver_outbox
from tests.test_outbox import Inbox, free_port, queued_letter, use_smtp

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings):
    """A real SMTP server on 127.0.0.1 that keeps what it accepts; Django points at it."""
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_smtp(settings, controller.port)
    yield box
    controller.stop()


def message_ids(box: Inbox) -> Counter:
    return Counter(message["Message-ID"] for message in box.messages)


def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("two workers need two connections to one database; the test database of "
                    "SQLite lives in memory, which a second connection cannot open. CI runs "
                    "this test on PostgreSQL")


# -- The one-shot command ----------------------------------------------------------------------


def test_the_one_shot_command_delivers_pass_after_pass_until_nothing_is_due(inbox, settings):
    settings.MAHNWERK_OUTBOX_CHUNK = 2
    queued = [queued_letter() for _ in range(7)]
    out = StringIO()
    call_command("deliver_outbox", "--pass-size", "3", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert lines == [
        "Durchgang 1: gesendet 3, später erneut 0, fehlgeschlagen 0; noch fällig 4",
        "Durchgang 2: gesendet 6, später erneut 0, fehlgeschlagen 0; noch fällig 1",
        "Durchgang 3: gesendet 7, später erneut 0, fehlgeschlagen 0; noch fällig 0"]
    assert len(inbox.envelopes) == 7
    assert set(message_ids(inbox).values()) == {1}, "each letter once"
    assert {m.status for m in OutboxMessage.objects.filter(pk__in=[q.pk for q in queued])} == {
        "sent"}
    assert CaseEvent.objects.filter(kind=EventKind.LETTER, code="letter.left").count() == 7


def test_the_default_one_shot_goes_past_one_pass_of_500(inbox, settings):
    """The old command stopped after one pass of 500 (34,853 letters needed 70 calls)."""
    for _ in range(3):
        queued_letter()
    out = StringIO()
    call_command("deliver_outbox", "--pass-size", "1", stdout=out, stderr=StringIO())
    assert out.getvalue().count("Durchgang") == 3 and len(inbox.envelopes) == 3
    out = StringIO()
    call_command("deliver_outbox", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "nichts ist fällig"


def test_the_limit_caps_the_total_and_says_how_many_are_still_due(inbox):
    for _ in range(5):
        queued_letter()
    out = StringIO()
    call_command("deliver_outbox", "--limit", "3", "--pass-size", "2", stdout=out,
                 stderr=StringIO())
    assert out.getvalue().splitlines()[-1].endswith("gesendet 3, später erneut 0, "
                                                    "fehlgeschlagen 0; noch fällig 2")
    assert len(inbox.envelopes) == 3
    assert outbox.status_counts()["queued"] == 2


def test_a_mail_server_that_cannot_be_reached_ends_the_passes_and_says_so(settings):
    use_smtp(settings, free_port())  # nobody listens there
    first, second = queued_letter(), queued_letter()
    err = StringIO()
    call_command("deliver_outbox", "--pass-size", "1", stdout=StringIO(), stderr=err)
    assert "Der Mailserver war nicht erreichbar; 1 E-Mails warten" in err.getvalue()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == ("queued", 1), "retried later, with back-off"
    assert (second.status, second.attempts) == ("queued", 0), "not tried: it waits"


@pytest.mark.parametrize("argument", ["--limit=0", "--pass-size=0"])
def test_a_bad_number_is_refused_with_the_option_named(argument):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=argument.split("=")[0]):
        call_command("deliver_outbox", argument, stdout=StringIO())


# -- Chunks -------------------------------------------------------------------------------------


def test_the_schedule_hands_out_one_task_per_chunk_and_without_a_broker_runs_them_here(
        inbox, settings):
    settings.MAHNWERK_OUTBOX_CHUNK = 2
    for _ in range(5):
        queued_letter()
    assert deliver_outbox.delay().get() == 3
    assert len(inbox.envelopes) == 5
    assert deliver_outbox.delay().get() == 0, "nothing due, nothing handed out"


def test_a_chunk_records_its_letters_in_a_few_statements_whatever_its_size(inbox, settings):
    """The outcome of a chunk is written at once: a longer chunk costs no more queries."""
    def queries_of_a_chunk(size: int) -> int:
        for _ in range(size):
            queued_letter()
        with CaptureQueriesContext(connection) as queries:
            assert delivery.deliver_chunk(size=size).counts["sent"] == size
        return len(queries)

    assert queries_of_a_chunk(3) == queries_of_a_chunk(12)


def test_a_payment_while_a_chunk_is_on_its_way_stops_the_letters_not_yet_sent(
        inbox, settings, monkeypatch):
    from tests.helpers import payment

    settings.MAHNWERK_OUTBOX_CHUNK = 40
    monkeypatch.setattr(delivery, "RECHECK_EVERY", 2)
    queued = [queued_letter() for _ in range(4)]
    real_attempt = delivery._attempt
    sent = []

    def attempt(**kwargs):
        sent.append(kwargs["message"].pk)
        if len(sent) == 2:  # the buyer of the 4th letter pays while the 2nd is being sent
            payment(queued[3].case.order, amount="300.00")
        return real_attempt(**kwargs)

    monkeypatch.setattr(delivery, "_attempt", attempt)
    assert delivery.deliver_chunk().counts == {"sent": 3, "retry": 0, "failed": 0}
    last = OutboxMessage.objects.get(pk=queued[3].pk)
    assert last.status == "cancelled" and "bezahlt" in last.last_error
    assert len(inbox.envelopes) == 3


# -- Workers at the same moment (PostgreSQL) ----------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_delivering_at_once_send_every_letter_once(inbox, settings):
    postgres_only()
    settings.MAHNWERK_OUTBOX_CHUNK = 3
    queued = [queued_letter() for _ in range(30)]
    barrier = threading.Barrier(2)
    chunks: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            while (result := delivery.deliver_chunk()).claimed:
                chunks[name].append(result.counts["sent"])
        except BaseException as exc:  # shown in the assertion
            errors.append(exc)
        finally:
            connection.close()  # the thread's own connection

    threads = [threading.Thread(target=worker, args=(name,)) for name in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert chunks["a"] and chunks["b"], f"both workers took chunks: {chunks}"
    assert sum(chunks["a"]) + sum(chunks["b"]) == 30
    assert len(inbox.envelopes) == 30
    assert set(message_ids(inbox).values()) == {1}, "no letter twice"
    assert set(OutboxMessage.objects.filter(pk__in=[q.pk for q in queued])
               .values_list("status", flat=True)) == {"sent"}
    left = Counter(CaseEvent.objects.filter(code="letter.left").values_list("case_id",
                                                                            flat=True))
    assert sorted(left) == sorted(q.case_id for q in queued) and set(left.values()) == {1}


def _redis_db_8() -> str:
    url = os.environ.get("MAHNWERK_TEST_REDIS_URL", "redis://127.0.0.1:6379/8")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:  # no Redis here: say so
        pytest.skip(f"no Redis at {url} ({exc})")
    return url


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_celery_worker_processes_share_the_chunks_and_send_every_letter_once(inbox, settings):
    postgres_only()
    broker = _redis_db_8()
    import redis

    redis.Redis.from_url(broker).flushdb()
    queued = [queued_letter() for _ in range(24)]
    db = connection.settings_dict
    env = {**os.environ, "CELERY_BROKER_URL": broker, "MAHNWERK_OUTBOX_CHUNK": "4",
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                           f"{db['PORT'] or 5432}/{db['NAME']}",
           "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(settings.EMAIL_PORT),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    # The schedule's call, as beat makes it, handed to the broker: 6 chunk tasks; its next
    # call, while they still wait in the queue, hands out none more.
    dispatch = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from mahnwerk.dunning.tasks import deliver_outbox; "
         "print(deliver_outbox(), deliver_outbox())"],
        env={**env, "DJANGO_SETTINGS_MODULE": "mahnwerk.settings"}, capture_output=True,
        text=True, timeout=120)
    assert dispatch.returncode == 0, dispatch.stderr
    assert dispatch.stdout.strip() == "6 0"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mahnwerk", "worker", "--pool", "solo",
         "--hostname", f"deliver{number}@%h", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-mingle", "--without-gossip"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for number in (1, 2)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(inbox.envelopes) < 24:
            time.sleep(0.2)
        time.sleep(0.5)  # a second copy would come now
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert len(inbox.envelopes) == 24, [w.stderr.read().decode()[-2000:] for w in workers]
    assert set(message_ids(inbox).values()) == {1}, "no letter twice"
    assert set(OutboxMessage.objects.filter(pk__in=[q.pk for q in queued])
               .values_list("status", flat=True)) == {"sent"}
