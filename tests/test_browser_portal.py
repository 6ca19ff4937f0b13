"""The vendor portal in a real browser (issue 10, point 6): a vendor reads its figures, ticks
two waiting cases and approves them together, cancels a third after the confirmation page,
and reads its closed cases and the letters to its buyers; screenshots under var/screenshots/
(git-ignored).

Drives Debian's Chromium through Playwright against pytest-django's live server, as
tests/test_browser.py does (its fixture is reused).
"""


import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import screenshot
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def waiting_cases():
    """Three of Alpha's cases waiting for its approval, one of Beta's."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    for vendor, order_id, amount in ((alpha, "O-W1", "120.00"), (alpha, "O-W2", "80.00"),
                                     (alpha, "O-W3", "45.50"), (beta, "O-BETA", "999.00")):
        case = lettered(incident(OrderFactory(order_id=order_id, product=ProductFactory(
            vendor=vendor, name="Yoga für alle")), open_amount=amount))
        case_services.change_case(case=case, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
    ensure_demo_users(vendor_id=alpha.pk)


def state(order_id: str) -> str:
    return DebtCase.objects.get(order_id=order_id).state


def test_a_vendor_approves_in_bulk_and_cancels_with_confirmation(browser, live_server,
                                                                 waiting_cases):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/anmelden/")
    page.fill("input[name=username]", "vendor")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/portal/")

    figures = page.locator("#figures").inner_text()
    assert "245,50" in figures and "3 Fälle" in figures
    assert "O-BETA" not in page.content()
    screenshot(page, "portal")

    # Two ticked, approved together.
    page.check("tr[data-order=O-W1] input[type=checkbox]")
    page.check("tr[data-order=O-W2] input[type=checkbox]")
    page.fill("#bulk-approvals input[name=reason]", "Käufer reagieren nicht")
    page.click("#bulk-approvals button[value=approve]")
    page.wait_for_selector(".messages li.success")
    assert "2 Fälle für das Inkasso freigegeben: O-W1, O-W2." in page.locator(
        ".messages").inner_text()
    assert (state("O-W1"), state("O-W2")) == (CaseState.APPROVED, CaseState.APPROVED)
    assert page.locator("#approvals tr[data-order]").count() == 1

    # The third, cancelled from its row: the portal asks first, on a page of its own.
    page.click("tr[data-order=O-W3] button[value=cancel]")
    page.wait_for_selector("#confirm-cancel")
    assert "1 Bestellung stornieren?" in page.locator("h1").inner_text()
    assert "45,50" in page.locator("#confirm-cancel").inner_text()
    assert state("O-W3") == CaseState.ON_HOLD, "asking changes nothing"
    screenshot(page, "portal-cancel-confirm")
    page.click("a:text-is('Nein, zurück')")
    page.wait_for_url(f"{live_server.url}/portal/#approvals")
    assert state("O-W3") == CaseState.ON_HOLD

    page.click("tr[data-order=O-W3] button[value=cancel]")
    page.wait_for_selector("#confirm-cancel")
    page.fill("#cancel-reason", "Kulanz für Stammkundin")
    page.click("#confirm-cancel button[value=cancel]")
    page.wait_for_selector(".messages li.success")
    assert "Fall O-W3 auf Wunsch des Vendors storniert." in page.locator(".messages").inner_text()
    assert state("O-W3") == CaseState.CANCELED
    assert state("O-BETA") == CaseState.ON_HOLD

    # The history and the letters.
    page.click("nav a:text-is('Abgeschlossene Fälle')")
    page.wait_for_selector("#closed-cases")
    assert "O-W3" in page.locator("#closed-cases").inner_text()
    screenshot(page, "portal-closed")
    page.click("nav a:text-is('Briefe an Ihre Käufer')")
    page.wait_for_selector("#letters")
    letters = page.locator("#letters").inner_text()
    assert "O-W1" in letters and "2. Mahnung" in letters and "O-BETA" not in letters
    screenshot(page, "portal-letters")
