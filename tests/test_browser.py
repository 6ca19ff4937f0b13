"""The workspace in a real browser: log in, the yellow and grey rows, a note on the timeline.

Drives Debian's Chromium (``/usr/bin/chromium``) through Playwright against pytest-django's
live server. Skipped, with the reason, where Playwright or Chromium is not installed.
"""

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is intended (only the test's own set-up).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("MAHNWERK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(os.environ.get("MAHNWERK_SCREENSHOT", "/tmp/workspace.png"))

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def marketplace():
    vendor = VendorFactory(vendor_id="VBROWSER", name="Akademie Sonnenschein")
    at = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
    yellow = incident(OrderFactory(order_id="O-GELB", buyer_first_name="Erika",
                                   buyer_last_name="Mustermann",
                                   product=ProductFactory(vendor=vendor, name="Yoga für alle")),
                      open_amount="1234.50", at=at)
    grey = incident(OrderFactory(order_id="O-GRAU", buyer_first_name="Max",
                                 buyer_last_name="Beispiel",
                                 product=ProductFactory(vendor=vendor, name="Pilates Pro")),
                    open_amount="89.00", at=at)
    case_services.change_case(case=grey, actor="support", reason="Kunde hat neu bestellt",
                              changes={"pursue": False})
    ensure_demo_users(vendor_id=vendor.pk)
    return yellow, grey


def test_support_logs_in_sees_yellow_and_grey_rows_and_adds_a_note(browser, live_server,
                                                                   marketplace):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/faelle/")
    assert "/anmelden/" in page.url
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/faelle/")

    yellow_row = page.locator("tr[data-order=O-GELB]")
    grey_row = page.locator("tr[data-order=O-GRAU]")
    assert "pursue" in yellow_row.get_attribute("class")
    assert "not-pursued" in grey_row.get_attribute("class")
    yellow_bg = yellow_row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    grey_bg = grey_row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert yellow_bg == "rgb(255, 244, 194)", "the style sheet colours a pursued row yellow"
    assert grey_bg == "rgb(236, 239, 241)"
    assert "1.234,50" in yellow_row.inner_text()

    page.click("a:text-is('O-GELB')")
    page.wait_for_url(f"{live_server.url}/faelle/O-GELB/")
    page.fill("textarea[name=note-text]", "Käuferin ruft am Montag zurück")
    page.locator("form[action$='/notiz/'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/faelle/O-GELB/")
    timeline = page.locator("#timeline")
    assert "Käuferin ruft am Montag zurück" in timeline.inner_text()
    assert page.locator(".messages li.success").count() == 1
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/faelle/")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.goto(f"{live_server.url}/faelle/O-GELB/")
    page.screenshot(path=str(SCREENSHOT.with_name(SCREENSHOT.stem + "-case.png")),
                    full_page=True)
