"""The Übersicht in a real browser: a support agent logs in, lands on it, reads its charts and
follows a figure to the list it counts.

Debian's Chromium through Playwright against pytest-django's live server, as
``tests/test_browser.py``; skipped, with the reason, where either is missing. The screenshot
goes to ``var/screenshots/`` (git-ignored; ``MAHNWERK_SCREENSHOTS`` moves it).
"""


import pytest
from django.core.cache import cache

from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import screenshot
from tests.test_dashboard import market  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_support_logs_in_lands_on_the_overview_and_follows_a_figure(browser, live_server,
                                                                    market):  # noqa: F811
    cache.clear()  # the figures another test's page kept for a minute
    ensure_demo_users(vendor_id=market["alpha"].pk)
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/")
    assert "/anmelden/" in page.url
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/uebersicht/")
    page.wait_for_load_state("networkidle")

    assert page.locator("h1").inner_text() == "Übersicht"
    assert page.locator("nav a.active").inner_text() == "Übersicht"
    # Every chart arrived as an image and was drawn; each has its table beside it.
    images = page.locator(".figure img")
    assert images.count() >= 8  # state, trigger, age and vendors in EUR and CHF at least
    for index in range(images.count()):
        image = images.nth(index)
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), (
            image.get_attribute("src"))
        assert "Tabelle daneben" in image.get_attribute("alt")
    assert page.locator("#figure-state table").count() == 1
    assert not refused, refused

    screenshot(page, "overview")

    # The number of cases with the agency opens the case list filtered to exactly them.
    page.locator("#figure-state tr[data-key=sent_for_collection] a").first.click()
    page.wait_for_url("**/faelle/?state=sent_for_collection&currency=EUR")
    assert page.locator("tr[data-order=O-A3]").count() == 1
    assert page.locator("tr[data-order=O-A1]").count() == 0
