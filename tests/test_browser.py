"""The workspace in a real browser: log in, the yellow and grey rows, a note on the timeline.

Drives Debian's Chromium (``/usr/bin/chromium``) through Playwright against pytest-django's
live server. Skipped, with the reason, where Playwright or Chromium is not installed.
"""

from datetime import datetime

import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import screenshot
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


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
    page.goto(f"{live_server.url}/faelle/")
    screenshot(page, "workspace")
    page.goto(f"{live_server.url}/faelle/O-GELB/")
    screenshot(page, "workspace-case")


def test_a_vendor_approves_in_the_portal_and_support_hands_the_case_over(browser, live_server,
                                                                         tmp_path):
    """Issue 4 in the browser: the vendor's "Freigabe", the handover file, its download."""
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.collection.handover_format import check_file
    from tests.helpers import waiting

    vendor = VendorFactory(vendor_id="VFREI", name="Akademie Freigabe")
    waiting(OrderFactory(order_id="O-WARTET", product=ProductFactory(vendor=vendor,
                                                                     name="Yoga für alle")))
    ensure_demo_users(vendor_id=vendor.pk)

    def login(page, username):
        page.goto(f"{live_server.url}/anmelden/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")

    portal = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    portal.set_default_timeout(15000)
    login(portal, "vendor")
    portal.wait_for_url(f"{live_server.url}/portal/")
    row = portal.locator("#approvals tr", has_text="O-WARTET")
    row.locator("input[name=reason]").fill("Kunde reagiert nicht")
    with portal.expect_navigation():
        row.locator("button[value=approve]").click()
    assert portal.locator(".messages li.success").count() == 1
    assert DebtCase.objects.get(order_id="O-WARTET").state == "approved"

    support = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    support.set_default_timeout(15000)
    login(support, "support")
    support.goto(f"{live_server.url}/inkasso/")
    support.locator("tr[data-vendor=VFREI] button[type=submit]").click()
    support.wait_for_url(f"{live_server.url}/inkasso/uebergaben/")
    assert "VFREI.csv" in support.locator(".messages li.success").inner_text()
    with support.expect_download() as download:
        support.click("a:text-is('VFREI.csv')")
    saved = tmp_path / "VFREI.csv"
    download.value.save_as(saved)
    assert check_file(saved).ok, "the downloaded file passes the validator"
    assert "O-WARTET" in saved.read_text(encoding="utf-8")
    assert DebtCase.objects.get(order_id="O-WARTET").state == "sent_for_collection"


def test_no_page_breaks_the_content_security_policy(browser, live_server, marketplace):
    """Issue 9: every page works under the policy; the browser reports no violation."""
    violations = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/anmelden/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/uebersicht/")
    for path in ("/uebersicht/", "/faelle/", "/faelle/O-GELB/", "/mahnlaeufe/", "/ausgang/",
                 "/freigaben/", "/inkasso/", "/inkasso/uebergaben/", "/admin/",
                 "/admin/auth/user/", "/admin/auth/user/add/", "/admin/axes/accessattempt/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15000)
    assert violations == []
