"""Runs with live progress (issue 10, point 4): executing is a background task, the run keeps
its progress and its failure, its page polls them, and a second click starts nothing."""

import importlib
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning import selectors, services, tasks
from mahnwerk.dunning.models import DunningRun, Letter, RunState
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
AS_OF = date(2026, 10, 1)


@pytest.fixture
def vendor():
    return VendorFactory(vendor_id="VRUN", name="Akademie Lauf")


def open_cases(vendor, count: int, *, without_email: int = 0) -> list:
    product = ProductFactory(vendor=vendor, name="Yoga für alle")
    return [incident(OrderFactory(order_id=f"O-RUN-{n}", product=product,
                                  **({"buyer_email": ""} if n < without_email else {})),
                     open_amount="300.00", at=INCIDENT)
            for n in range(count)]


@pytest.fixture
def support(client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def someone_else_executes(run: DunningRun, *, seconds_ago: int = 0) -> str:
    """Another process (a worker, a thread of another web process) holds the run."""
    worker = services.claim_execution(run=run)
    DunningRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago))
    run.refresh_from_db()
    return worker


# -- The run keeps its progress -------------------------------------------------------------------


def test_each_batch_writes_the_runs_progress_that_any_page_can_read(vendor, settings):
    """A support agent's run of 5 cases in batches of 2: after each batch, the run in the
    database says how far it is and what it did, as another process reads it."""
    settings.MAHNWERK_RUN_BATCH = 2
    open_cases(vendor, 5, without_email=1)
    run = services.start_run(as_of=AS_OF, actor="anna")
    assert (run.total, run.done, run.outcomes) == (5, 0, {})
    seen = []

    def progress(done: int, total: int) -> None:
        stored = DunningRun.objects.get(pk=run.pk)  # as another page reads it
        seen.append((stored.done, stored.total, sum(stored.outcomes.values()),
                     selectors.run_progress(run=stored).phase))

    services.execute_run(run=run, actor="anna", progress=progress)
    # The batch that leaves nothing pending finishes the run in its own transaction.
    assert seen == [(2, 5, 2, "running"), (4, 5, 4, "running"), (5, 5, 5, "done")]
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.worker == ""
    assert run.outcomes == {"print1": 1, "email1": 4}
    assert selectors.run_progress(run=run).phase == "done"
    assert [label for _key, label, _n in selectors.run_progress(run=run).outcomes] == [
        "1. Mahnung per E-Mail", "1. Mahnung in die Druckwarteschlange"]


def test_an_interrupted_run_keeps_its_progress_and_resumes_from_it(vendor):
    open_cases(vendor, 5)
    run = services.start_run(as_of=AS_OF, actor="anna")
    services.execute_run(run=run, actor="anna", stop_after=2)  # the process dies here
    run.refresh_from_db()
    progress = selectors.run_progress(run=run)
    assert (progress.phase, progress.done, progress.total) == ("interrupted", 2, 5)
    assert progress.can_resume and not progress.can_execute
    services.resume_run(run_id=run.pk, actor="anna")
    run.refresh_from_db()
    assert (run.state, run.done, run.outcomes) == (RunState.DONE, 5, {"email1": 5})


def test_every_outcome_has_its_key_and_words():
    keys = {code: selectors.outcome_key(code=code, params=params) for code, params in (
        (why.QUEUED, {"level": 2, "channel": "print"}), (why.ESCALATED, {"state": "on_hold"}),
        (why.MARKED_GREY, {}), (why.EXCLUDED, {}), (why.ASKED_VENDOR, {}), ("", {}),
        (why.CHANGED, {"state": "paid"}), (why.SENT_BEFORE, {"level": 1}))}
    assert keys == {why.QUEUED: "print2", why.ESCALATED: "escalated",
                    why.MARKED_GREY: "excluded", why.EXCLUDED: "excluded",
                    why.ASKED_VENDOR: "held", "": "skipped", why.CHANGED: "not_applied",
                    why.SENT_BEFORE: "not_applied"}
    assert selectors.outcome_label("print2") == "2. Mahnung in die Druckwarteschlange"
    assert selectors.outcome_label("not_applied") == "nicht angewandt (der Fall hat sich geändert)"


def test_the_migration_counts_the_runs_of_before_as_the_run_counts_them():
    """Runs executed before the progress existed get theirs from their decisions, with the
    same keys (the migration keeps its own copy of ``outcome_key``)."""
    migration = importlib.import_module("mahnwerk.dunning.migrations.0008_run_progress")
    for code, params in ((why.QUEUED, {"level": 1, "channel": "email"}),
                         (why.QUEUED, {"level": 3, "channel": "print"}),
                         (why.ESCALATED, {}), (why.MARKED_GREY, {}), (why.EXCLUDED, {}),
                         (why.ASKED_VENDOR, {}), ("", {}), (why.CHANGED, {}),
                         (why.NOT_SENT_STATE, {}), (why.NOT_ESCALATED, {})):
        assert migration._key(code, params) == selectors.outcome_key(code=code, params=params)


# -- One execution at a time ----------------------------------------------------------------------


def test_a_run_held_by_another_process_is_not_executed_a_second_time(vendor):
    cases = open_cases(vendor, 3)
    run = services.start_run(as_of=AS_OF, actor="anna")
    someone_else_executes(run)
    with pytest.raises(services.RunBusy, match=f"#{run.pk} wird bereits ausgeführt"):
        services.claim_execution(run=run)
    with pytest.raises(services.RunBusy):
        services.execute_run(run=run, actor="ben")
    with pytest.raises(services.RunBusy, match="nicht mehr verworfen"):
        services.discard_run(run=run, actor="ben")
    assert services.scheduled_run(today=AS_OF).pk == run.pk, "the schedule leaves it be"
    run.refresh_from_db()
    assert run.state == RunState.DECIDED and run.done == 0
    assert not Letter.objects.filter(case__in=cases).exists()


def test_a_claim_left_by_a_process_that_died_may_be_taken_over(vendor, settings):
    open_cases(vendor, 3)
    run = services.start_run(as_of=AS_OF, actor="anna")
    services.execute_run(run=run, actor="anna", stop_after=1)
    gone = someone_else_executes(run, seconds_ago=settings.MAHNWERK_RUN_STALE_SECONDS + 1)
    assert selectors.run_progress(run=run).phase == "interrupted"
    services.execute_run(run=run, actor="ben")
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.done == 3 and run.worker != gone


def test_a_process_whose_claim_was_taken_over_stops_before_its_next_batch(vendor, settings):
    """A process that fell silent longer than the stale limit and comes back finds the run
    taken over: its batch is not written, and it stops."""
    settings.MAHNWERK_RUN_BATCH = 1
    open_cases(vendor, 3)
    run = services.start_run(as_of=AS_OF, actor="anna")

    def taken_over(done: int, total: int) -> None:
        if done == 1:
            DunningRun.objects.filter(pk=run.pk).update(worker="another")

    with pytest.raises(services.RunBusy, match="übernommen"):
        services.execute_run(run=run, actor="anna", progress=taken_over)
    assert Letter.objects.count() == 1
    assert DunningRun.objects.get(pk=run.pk).done == 1


# -- A failure stays on the run -------------------------------------------------------------------


def test_a_case_that_fails_stops_the_run_which_keeps_the_case_and_the_error(vendor, monkeypatch):
    cases = open_cases(vendor, 5)
    run = services.start_run(as_of=AS_OF, actor="anna")
    broken = cases[3]
    real_compose = services.letters.compose

    def compose(*, case, **kwargs):
        if case.pk == broken.pk:
            raise RuntimeError("template engine crashed")
        return real_compose(case=case, **kwargs)

    monkeypatch.setattr(services.letters, "compose", compose)
    with pytest.raises(RuntimeError):
        services.execute_run(run=run, actor="anna")
    run.refresh_from_db()
    progress = selectors.run_progress(run=run)
    assert progress.phase == "failed" and progress.can_resume
    assert progress.failed_order == broken.order_id
    assert progress.failure == "RuntimeError: template engine crashed"
    assert progress.done == 3, "the cases before it were applied"
    monkeypatch.setattr(services.letters, "compose", real_compose)
    services.execute_run(run=run, actor="anna")
    run.refresh_from_db()
    assert (run.state, run.done, run.failure, run.failed_at) == (RunState.DONE, 5, "", None)


# -- The run's page -------------------------------------------------------------------------------


def test_a_support_agent_executes_a_run_and_its_page_shows_the_end(support, vendor):
    """Without a broker and without the thread (as in the tests) the task runs inside the
    request: the page comes back with the run done and its figures."""
    open_cases(vendor, 3)
    support.post(reverse("web:run-start"), {"as_of": AS_OF.isoformat()})
    run = DunningRun.objects.get()
    page = support.get(reverse("web:run", args=[run.pk])).content.decode()
    assert 'data-phase="ready"' in page and "Ausführen" in page
    assert "0 von 3 Entscheidungen ausgeführt" in page
    assert "hx-trigger" not in page, "nothing to follow before it runs"
    response = support.post(reverse("web:run-execute", args=[run.pk]), follow=True)
    page = response.content.decode()
    assert f"Mahnlauf #{run.pk} ausgeführt: 3 Entscheidungen angewendet." in page
    assert 'data-phase="done"' in page and "3 von 3 Entscheidungen ausgeführt" in page
    assert 'aria-label="Ausführung" max="3" value="3"' in page
    assert 'data-outcome="email1">1. Mahnung per E-Mail<strong>3</strong>' in page
    assert Letter.objects.count() == 3


def test_the_page_of_a_running_run_polls_its_progress_and_offers_no_second_start(
        support, vendor, monkeypatch):
    open_cases(vendor, 4)
    run = services.start_run(as_of=AS_OF, actor="anna")
    services.execute_run(run=run, actor="anna", stop_after=1)
    someone_else_executes(run)
    page = support.get(reverse("web:run", args=[run.pk])).content.decode()
    url = reverse("web:run-progress", args=[run.pk])
    assert f'hx-get="{url}" hx-trigger="every 1s"' in page
    assert "1 von 4 Entscheidungen ausgeführt" in page and "25 %" in page
    assert "Sie können diese Seite verlassen" in page
    assert reverse("web:run-execute", args=[run.pk]) not in page
    assert "/static/django_htmx/htmx-2.min.js" in page and 'name="htmx-config"' in page
    # The partial it polls, with the same figures; a click meanwhile starts nothing.
    partial = support.get(url, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in partial and "1 von 4" in partial.content.decode()
    started = []
    monkeypatch.setattr(tasks, "execute_in_background", lambda **kw: started.append(kw))
    response = support.post(reverse("web:run-execute", args=[run.pk]), follow=True)
    assert "wird bereits ausgeführt" in response.content.decode()
    assert started == [] and Letter.objects.count() == 1


def test_when_the_execution_ends_the_polling_page_loads_itself_again(support, vendor):
    open_cases(vendor, 2)
    run = services.run_month(as_of=AS_OF, actor="anna")
    url = reverse("web:run-progress", args=[run.pk])
    assert support.get(url, HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    plain = support.get(url).content.decode()  # without htmx: the partial itself
    assert 'data-phase="done"' in plain and "2 von 2 Entscheidungen ausgeführt" in plain


def test_a_failure_shows_on_the_page_with_its_reason_and_the_run_is_resumed(
        support, vendor, monkeypatch):
    cases = open_cases(vendor, 3)
    support.post(reverse("web:run-start"), {"as_of": AS_OF.isoformat()})
    run = DunningRun.objects.get()
    real_compose = services.letters.compose

    def compose(*, case, **kwargs):
        if case.pk == cases[1].pk:
            raise RuntimeError("Vorlage kaputt")
        return real_compose(case=case, **kwargs)

    monkeypatch.setattr(services.letters, "compose", compose)
    page = support.post(reverse("web:run-execute", args=[run.pk]), follow=True
                        ).content.decode()
    assert f"Mahnlauf #{run.pk} hielt bei Bestellung O-RUN-1 an: RuntimeError: Vorlage kaputt" \
        in page
    assert 'data-phase="failed"' in page and 'class="error-box" role="alert"' in page
    assert "Bei Bestellung O-RUN-1:" in page
    assert "Fortsetzen" in page and "1 von 3 Entscheidungen ausgeführt" in page
    monkeypatch.setattr(services.letters, "compose", real_compose)
    page = support.post(reverse("web:run-execute", args=[run.pk]), follow=True
                        ).content.decode()
    assert 'data-phase="done"' in page and "Vorlage kaputt" not in page
    run.refresh_from_db()
    assert run.state == RunState.DONE and Letter.objects.count() == 3
    for case in cases:
        case.refresh_from_db()
        assert case.state == CaseState.DUNNING


def test_a_broker_that_cannot_be_reached_starts_nothing_and_gives_the_run_back(
        support, vendor, settings, monkeypatch):
    open_cases(vendor, 2)
    run = services.start_run(as_of=AS_OF, actor="anna")
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def unreachable(**kwargs):
        raise ConnectionError("Redis antwortet nicht")

    monkeypatch.setattr(tasks.execute_run, "apply_async", unreachable)
    page = support.post(reverse("web:run-execute", args=[run.pk]), follow=True
                        ).content.decode()
    assert "konnte nicht an den Worker übergeben werden (Redis antwortet nicht)" in page
    run.refresh_from_db()
    assert run.worker == "" and selectors.run_progress(run=run).phase == "ready"


def test_a_relationship_manager_follows_the_progress_but_does_not_execute(
        client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    open_cases(vendor, 2)
    run = services.start_run(as_of=AS_OF, actor="anna")
    client.force_login(django_user_model.objects.get(username="manager"))
    page = client.get(reverse("web:run", args=[run.pk])).content.decode()
    assert "wartet darauf, ausgeführt zu werden" in page
    assert reverse("web:run-execute", args=[run.pk]) not in page
    assert client.get(reverse("web:run-progress", args=[run.pk])).status_code == 200
    assert client.post(reverse("web:run-execute", args=[run.pk])).status_code == 403


# -- Where the task runs --------------------------------------------------------------------------


def test_the_task_goes_to_a_worker_with_a_broker_and_to_a_thread_without(settings, monkeypatch):
    sent, threads = [], []
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda kwargs: sent.append(kwargs))

    class Thread:
        def __init__(self, *, target, kwargs, name, daemon):
            threads.append((target, kwargs, name, daemon))

        def start(self):
            pass

    monkeypatch.setattr(tasks.threading, "Thread", Thread)
    args = {"run_id": 7, "worker": "w", "actor": "anna", "user_id": None}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert tasks.execute_in_background(**args) == "worker" and sent == [args]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MAHNWERK_RUN_IN_THREAD = True
    assert tasks.execute_in_background(**args) == "thread"
    assert threads == [(tasks._in_thread, args, "mahnwerk-run-7", True)]


def test_the_task_executes_under_the_claim_it_was_given_and_keeps_a_failure(vendor):
    open_cases(vendor, 2)
    run = services.start_run(as_of=AS_OF, actor="anna")
    worker = services.claim_execution(run=run)
    assert tasks.execute_run.apply(kwargs={"run_id": run.pk, "worker": "not-mine",
                                           "actor": "anna"}).get() == RunState.DECIDED
    assert tasks.execute_run.apply(kwargs={"run_id": run.pk, "worker": worker,
                                           "actor": "anna"}).get() == RunState.DONE
    assert tasks.execute_run.apply(kwargs={"run_id": 999_999, "worker": worker,
                                           "actor": "anna"}).get() == "gone"
