"""A month's run in a real browser (issue 10, point 4): a support agent previews and creates the
run, watches it being decided in the background, executes it, watches its progress grow, leaves
the page and comes back, and sees it reach the end; screenshots under var/screenshots/
(git-ignored).

The run executes in a thread of the live server's process, as in the demo
(MAHNWERK_RUN_IN_THREAD). The test decides when each batch may go (``turns``), so that the page
is seen between batches without a timed wait. SQLite's test database lives in memory, where
two connections reading and writing at once fail at once instead of waiting: the page's
requests and the run's batches take turns (a lock), as they wait for each other on a database
file or on PostgreSQL.
"""

import threading
from datetime import datetime, timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler

from mahnwerk.dunning import services, tasks
from mahnwerk.dunning.models import DunningRun, Letter, RunState
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import screenshot
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

CASES = 6
BATCH = 2

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def month():
    """Six debts whose first letter is due; one buyer without e-mail (the print queue)."""
    now = datetime.now(BERLIN).replace(microsecond=0)
    vendor = VendorFactory(vendor_id="VMONAT", name="Akademie Monat")
    course = ProductFactory(vendor=vendor, name="Yoga für alle")
    for n in range(CASES):
        incident(OrderFactory(order_id=f"O-M{n}", product=course,
                              **({"buyer_email": ""} if n == 0 else {})),
                 open_amount="120.00", at=now - timedelta(days=40 + n))
    ensure_demo_users(vendor_id=vendor.pk)


class Turns:
    """The run's thread waits before each batch until the test lets one go."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # the database: one side at a time
        self.go = threading.Semaphore(0)
        self.waiting = threading.Event()  # the thread waits before a batch
        self.finished = threading.Event()

    def let_go(self, batches: int = 1) -> None:
        for _ in range(batches):
            self.waiting.wait(timeout=30)
            self.waiting.clear()
            self.go.release()


@pytest.fixture
def turns(settings, monkeypatch):
    settings.MAHNWERK_RUN_IN_THREAD = True
    settings.MAHNWERK_RUN_BATCH = BATCH
    monkeypatch.setattr(services, "DECIDE_PROGRESS_EVERY", BATCH + 1)
    turns = Turns()
    execute_batch, in_thread, handle = services._execute_batch, tasks._in_thread, \
        WSGIHandler.__call__
    decide_progress, decide_in_thread = services._decide_progress, tasks._decide_in_thread

    def batch(**kwargs):
        turns.lock.release()
        turns.waiting.set()
        assert turns.go.acquire(timeout=60), "the test never let the batch go"
        turns.lock.acquire()
        return execute_batch(**kwargs)

    def thread(**kwargs):
        try:
            with turns.lock:
                in_thread(**kwargs)
        finally:
            turns.finished.set()

    def progress(**kwargs):  # deciding: the progress is written, then the next cases wait
        decide_progress(**kwargs)
        turns.lock.release()
        turns.waiting.set()
        assert turns.go.acquire(timeout=60), "the test never let the deciding go on"
        turns.lock.acquire()

    def deciding(**kwargs):
        with turns.lock:
            decide_in_thread(**kwargs)

    def request(self, environ, start_response):
        with turns.lock:
            return handle(self, environ, start_response)

    monkeypatch.setattr(services, "_execute_batch", batch)
    monkeypatch.setattr(services, "_decide_progress", progress)
    monkeypatch.setattr(tasks, "_decide_in_thread", deciding)
    monkeypatch.setattr(tasks, "_in_thread", thread)
    monkeypatch.setattr(WSGIHandler, "__call__", request)
    yield turns
    turns.go.release(CASES)  # never leave the thread waiting
    turns.finished.wait(timeout=30)


def figures(page) -> str:
    return page.locator("#run-progress-figures").inner_text()


def test_a_support_agent_executes_a_months_run_and_watches_it_reach_the_end(
        browser, live_server, month, turns):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    errors = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.goto(f"{live_server.url}/anmelden/")
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/anmelden/" not in url)

    # The month: preview as of today, create the run, execute it.
    page.goto(f"{live_server.url}/mahnlaeufe/")
    page.click("button:text-is('Vorschau')")
    page.wait_for_selector("#preview")
    page.click("button:text-is('Lauf anlegen')")

    # The run exists at once and is decided in the background: 0, then 3 of 6 cases decided.
    page.wait_for_selector("#run-progress[data-phase=deciding]")
    assert "wird entschieden" in page.locator(".messages").inner_text()
    assert "0 von 6 Fällen entschieden" in figures(page)
    assert page.locator("#run-progress form").count() == 0, "nothing to execute yet"
    turns.let_go()
    page.locator("#run-progress-figures:has-text('3 von 6 Fällen entschieden')").wait_for()
    screenshot(page, "run-deciding")
    page.goto(f"{live_server.url}/faelle/")  # left and come back while it decides
    page.go_back()
    page.wait_for_selector("#run-progress[data-phase=deciding]")
    turns.let_go(2)  # the last progress, then the decisions are written: the page reloads
    page.wait_for_selector("#run-progress[data-phase=ready]")
    assert page.locator("h1 .badge").inner_text() == "entschieden"
    assert "0 von 6 Entscheidungen ausgeführt" in figures(page)
    page.click("#run-progress button:text-is('Ausführen')")

    # The request came back at once: the run waits before its first batch, the page follows.
    page.wait_for_selector("#run-progress[data-phase=running]")
    assert "wird ausgeführt" in page.locator(".messages").inner_text()
    assert page.locator("#run-progress form").count() == 0, "no second start offered"
    turns.let_go()
    page.locator("#run-progress-figures:has-text('2 von 6 Entscheidungen')").wait_for()
    bar = page.locator("#run-progress-bar")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("2", "6")
    screenshot(page, "run-progress")

    # Left and come back: the page picks the run up where it stands.
    page.goto(f"{live_server.url}/faelle/")
    turns.let_go()
    page.goto(f"{live_server.url}/mahnlaeufe/{DunningRun.objects.get().pk}/")
    page.wait_for_selector("#run-progress[data-phase=running]")
    page.locator("#run-progress-figures:has-text('4 von 6 Entscheidungen')").wait_for()

    # The last batch: the page loads itself again and shows the end.
    turns.let_go()
    page.wait_for_selector("#run-progress[data-phase=done]")
    assert "6 von 6 Entscheidungen ausgeführt" in figures(page)
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("6", "6")
    counts = page.locator("#run-progress .counts").inner_text()
    assert "1. Mahnung per E-Mail" in counts and "1. Mahnung in die Druckwarteschlange" in counts
    assert page.locator("h1 .badge").inner_text() == "abgeschlossen"
    screenshot(page, "run-done")

    assert turns.finished.wait(timeout=30)
    run = DunningRun.objects.get()
    assert run.state == RunState.DONE and run.done == CASES and run.worker == ""
    assert Letter.objects.count() == CASES
    assert not [e for e in errors if "Content Security Policy" in e or "htmx" in e], errors
