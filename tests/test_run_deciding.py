"""Creating a run ("Lauf anlegen") is a background task too (issue 10, point 4): the run exists
at once in the state "deciding" with its progress (cases decided of all), its page polls it and
can be left and come back to, a failure is shown with what to do, and the CLI decides through
the same services."""

from datetime import date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from mahnwerk.dunning import selectors, services, tasks
from mahnwerk.dunning.models import DunningRun, RunDecision, RunState
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
AS_OF = date(2026, 10, 1)


@pytest.fixture
def vendor():
    return VendorFactory(vendor_id="VDEC", name="Akademie Entscheid")


def open_cases(vendor, count: int) -> list:
    product = ProductFactory(vendor=vendor, name="Yoga für alle")
    return [incident(OrderFactory(order_id=f"O-DEC-{n}", product=product),
                     open_amount="300.00", at=INCIDENT) for n in range(count)]


@pytest.fixture
def support(client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def broken_decide(monkeypatch, order_id: str) -> None:
    real = services.decide

    def decide(facts, rules, as_of):
        if facts.order_id == order_id:
            raise RuntimeError("Regel kaputt")
        return real(facts, rules, as_of)

    monkeypatch.setattr(services, "decide", decide)


# -- The services ---------------------------------------------------------------------------------


def test_a_new_run_exists_at_once_deciding_and_holds_the_run_lock(vendor):
    open_cases(vendor, 3)
    run = services.create_run(as_of=AS_OF, actor="anna")
    assert run.state == RunState.DECIDING and not run.decisions.exists()
    assert selectors.run_progress(run=run).phase == "undecided", "nobody decides it yet"
    with pytest.raises(services.RunError, match="nicht abgeschlossen"):
        services.create_run(as_of=AS_OF, actor="bert")


def test_deciding_writes_how_many_cases_are_decided_that_any_page_can_read(
        vendor, monkeypatch):
    """Five cases, progress every two: another process reads 0, 2 and 4 of 5 while the run
    decides, then the run is decided with its five decisions."""
    open_cases(vendor, 5)
    monkeypatch.setattr(services, "DECIDE_PROGRESS_EVERY", 2)
    run = services.create_run(as_of=AS_OF, actor="anna")
    seen = []
    write = services._decide_progress

    def progress(**kwargs):
        write(**kwargs)
        stored = DunningRun.objects.get(pk=run.pk)  # as the run's page reads it
        state = selectors.run_progress(run=stored)
        seen.append((stored.done, stored.total, state.phase, stored.decisions.count()))

    monkeypatch.setattr(services, "_decide_progress", progress)
    services.decide_run(run=run)
    assert seen == [(0, 5, "deciding", 0), (2, 5, "deciding", 0), (4, 5, "deciding", 0)]
    run.refresh_from_db()
    assert (run.state, run.total, run.done, run.worker) == (RunState.DECIDED, 5, 0, "")
    assert run.counts == {"send1": 5} and run.decisions.count() == 5


def test_a_failure_while_deciding_is_kept_on_the_run_with_no_decision_stored(
        vendor, monkeypatch):
    open_cases(vendor, 3)
    broken_decide(monkeypatch, "O-DEC-1")
    run = services.create_run(as_of=AS_OF, actor="anna")
    with pytest.raises(RuntimeError):
        services.decide_run(run=run)
    run.refresh_from_db()
    progress = selectors.run_progress(run=run)
    assert run.state == RunState.DECIDING and run.worker == ""
    assert not RunDecision.objects.exists()
    assert (progress.phase, progress.failure) == ("failed", "RuntimeError: Regel kaputt")
    assert progress.can_decide and progress.can_discard and not progress.can_resume
    monkeypatch.undo()
    services.decide_run(run=run)
    run.refresh_from_db()
    assert run.state == RunState.DECIDED and run.failure == "" and run.failed_at is None
    assert run.decisions.count() == 3


def test_a_run_discarded_while_it_is_decided_stores_no_decision(vendor, monkeypatch):
    """The decide step renews its claim with each progress; a run discarded meanwhile (its
    deciding process had fallen silent) stops it before anything is written."""
    open_cases(vendor, 2)
    run = services.create_run(as_of=AS_OF, actor="anna")
    write = services._decide_progress

    def progress(**kwargs):
        DunningRun.objects.filter(pk=run.pk).update(state=RunState.DISCARDED, lock=None)
        write(**kwargs)

    monkeypatch.setattr(services, "_decide_progress", progress)
    with pytest.raises(services.RunBusy):
        services.decide_run(run=run)
    assert not RunDecision.objects.exists()


def test_the_cli_creates_and_decides_a_run_through_the_same_services(vendor, capsys):
    open_cases(vendor, 2)
    call_command("dunning_run", "--as-of", AS_OF.isoformat())
    run = DunningRun.objects.get()
    assert run.state == RunState.DONE and run.decisions.count() == 2


def test_the_decide_task_goes_to_a_worker_with_a_broker_and_to_a_thread_without(
        settings, monkeypatch):
    sent, threads = [], []
    monkeypatch.setattr(tasks.decide_run, "apply_async", lambda kwargs: sent.append(kwargs))

    class Thread:
        def __init__(self, *, target, kwargs, name, daemon):
            threads.append((target, kwargs, name, daemon))

        def start(self):
            pass

    monkeypatch.setattr(tasks.threading, "Thread", Thread)
    args = {"run_id": 7, "worker": "w"}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert tasks.decide_in_background(**args) == "worker" and sent == [args]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MAHNWERK_RUN_IN_THREAD = True
    assert tasks.decide_in_background(**args) == "thread"
    assert threads == [(tasks._decide_in_thread, args, "mahnwerk-decide-7", True)]


# -- The run's page -------------------------------------------------------------------------------


def test_lauf_anlegen_hands_the_decide_step_to_the_background_and_returns_at_once(
        support, vendor, monkeypatch):
    """With a worker (or the web's thread) the request only creates the run and hands it
    over: the page shows it deciding, polls it, and offers neither executing nor discarding."""
    open_cases(vendor, 3)
    handed = []
    monkeypatch.setattr(tasks, "decide_in_background",
                        lambda **kwargs: handed.append(kwargs) or "worker")
    response = support.post(reverse("web:run-start"), {"as_of": AS_OF.isoformat()}, follow=True)
    page = response.content.decode()
    run = DunningRun.objects.get()
    assert handed == [{"run_id": run.pk, "worker": run.worker}] and run.worker
    assert run.state == RunState.DECIDING and not run.decisions.exists()
    assert f"Mahnlauf #{run.pk} wird entschieden" in page
    assert 'data-phase="deciding"' in page and "0 von 3 Fällen entschieden" in page
    url = reverse("web:run-progress", args=[run.pk])
    assert f'hx-get="{url}" hx-trigger="every 1s"' in page
    assert reverse("web:run-execute", args=[run.pk]) not in page
    assert reverse("web:run-discard", args=[run.pk]) not in page
    assert "Die Entscheidungen sind noch nicht geschrieben." in page
    # The worker decides; the polling page is told to load itself again and shows them.
    services.decide_run(run=run, worker=run.worker)
    assert support.get(url, HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    page = support.get(reverse("web:run", args=[run.pk])).content.decode()
    assert 'data-phase="ready"' in page and "0 von 3 Entscheidungen ausgeführt" in page


def test_a_failure_while_deciding_shows_what_to_do_and_deciding_again_goes_on(
        support, vendor, monkeypatch):
    open_cases(vendor, 2)
    broken_decide(monkeypatch, "O-DEC-0")
    page = support.post(reverse("web:run-start"), {"as_of": AS_OF.isoformat()}, follow=True
                        ).content.decode()
    run = DunningRun.objects.get()
    assert f"Mahnlauf #{run.pk} konnte nicht entschieden werden: RuntimeError: Regel kaputt" \
        in page
    assert 'data-phase="failed"' in page and "Das Entscheiden brach am" in page
    assert "Keine Entscheidung dieses Laufs wurde gespeichert" in page
    assert reverse("web:run-decide", args=[run.pk]) in page and "Erneut entscheiden" in page
    assert reverse("web:run-discard", args=[run.pk]) in page
    assert reverse("web:run-execute", args=[run.pk]) not in page
    monkeypatch.undo()
    page = support.post(reverse("web:run-decide", args=[run.pk]), follow=True).content.decode()
    assert f"Mahnlauf #{run.pk} angelegt" in page and 'data-phase="ready"' in page
    run.refresh_from_db()
    assert run.state == RunState.DECIDED and run.decisions.count() == 2


def test_a_run_interrupted_while_deciding_is_decided_again_or_discarded(support, vendor):
    open_cases(vendor, 2)
    run = services.create_run(as_of=AS_OF, actor="anna")
    services.claim_execution(run=run)  # a process took it and died
    DunningRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1))
    page = support.get(reverse("web:run", args=[run.pk])).content.decode()
    assert 'data-phase="undecided"' in page and "beim Entscheiden unterbrochen" in page
    assert "hx-trigger" not in page
    page = support.post(reverse("web:run-decide", args=[run.pk]), follow=True).content.decode()
    assert 'data-phase="ready"' in page
    page = support.post(reverse("web:run-decide", args=[run.pk]), follow=True).content.decode()
    assert "ist bereits entschieden" in page


def test_a_relationship_manager_follows_the_deciding_but_cannot_start_it_again(
        client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    open_cases(vendor, 1)
    run = services.create_run(as_of=AS_OF, actor="anna")
    client.force_login(django_user_model.objects.get(username="manager"))
    page = client.get(reverse("web:run", args=[run.pk])).content.decode()
    assert reverse("web:run-decide", args=[run.pk]) not in page
    assert client.post(reverse("web:run-decide", args=[run.pk])).status_code == 403
