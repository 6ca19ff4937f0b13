"""*Fälle* in a real browser (issue 10, point 2): a support agent filters, sorts, blocks a
filtered selection in bulk and exports it; screenshots under var/screenshots/ (git-ignored).

Drives Debian's Chromium through Playwright against pytest-django's live server, as
tests/test_browser.py does (its fixtures are reused).
"""

import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import screenshot
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, payment

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def shop():
    """Alpha with four open debts (one of them blocked already) and a paid one; Beta one."""
    now = datetime.now(BERLIN).replace(microsecond=0)
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    course = ProductFactory(vendor=alpha, name="Yoga für alle")
    names = [("Jürgen", "Zänker", "410.00"), ("Anna", "Müller", "120.00"),
             ("Özlem", "Kaya", "980.50"), ("Lena", "Schäfer", "35.00")]
    for n, (first, last, amount) in enumerate(names):
        incident(OrderFactory(order_id=f"O-A{n}", product=course, buyer_first_name=first,
                              buyer_last_name=last), open_amount=amount,
                 at=now - timedelta(days=10 + n))
    case_services.block_case(case=DebtCase.objects.get(order_id="O-A3"), reason="Anwalt",
                             actor="anna")
    paid = OrderFactory(order_id="O-A-PAID", product=course, buyer_last_name="Bezahlt")
    incident(paid, open_amount="60.00", at=now - timedelta(days=40))
    payment(paid, amount="60.00", at=now - timedelta(days=5))
    incident(OrderFactory(order_id="O-B0", product=ProductFactory(vendor=beta)),
             open_amount="77.00", at=now - timedelta(days=3))
    ensure_demo_users(vendor_id=alpha.pk)


def rows(page) -> list[str]:
    return page.locator("table.case-list tbody tr[data-order]").evaluate_all(
        "rows => rows.map(r => r.dataset.order)")


def test_a_support_agent_filters_sorts_blocks_in_bulk_and_exports(browser, live_server, shop,
                                                                  tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="de-DE")
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/anmelden/")
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/uebersicht/")  # the first page after login
    page.goto(f"{live_server.url}/faelle/")

    # Filter: Alpha's cases still in work.
    page.select_option("select[name=vendor]", "VALPHA")
    page.select_option("select[name=state]", "active")
    with page.expect_navigation():
        page.click("#case-filter button[type=submit]")
    assert sorted(rows(page)) == ["O-A0", "O-A1", "O-A2", "O-A3"]
    totals = page.locator("#case-totals").inner_text()
    assert "4 Fälle" in totals and "1.545,50" in totals

    # Sort by open amount, highest first: the header twice.
    with page.expect_navigation():
        page.click("th a.sort:text-is('offener Betrag')")
    with page.expect_navigation():
        page.click("th a.sort:text-is('offener Betrag')")
    assert rows(page) == ["O-A2", "O-A0", "O-A1", "O-A3"]
    assert page.locator("th[aria-sort=descending]").count() == 1

    # Search without the umlaut.
    page.fill("input[name=q]", "zanker")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    assert rows(page) == ["O-A0"]
    page.fill("input[name=q]", "")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    assert len(rows(page)) == 4

    screenshot(page, "case-list-filtered")

    # Tick the whole page, then block them all with a reason.
    page.check("#pick-all")
    assert page.locator("tbody input[name=order]:checked").count() == 4
    page.select_option("select[name=action]", "block")
    page.fill("#bulk input[name=reason]", "Schreiben des Anwalts vom 3. März")
    with page.expect_navigation():
        page.click("#bulk button[type=submit]")
    report = page.locator("#bulk-report").inner_text()
    assert "3 Fälle erledigt." in report and "1 Fall abgelehnt" in report
    refused = page.locator("#refused tbody tr")
    assert refused.count() == 1
    assert "O-A3" in refused.inner_text() and "bereits blockiert" in refused.inner_text()
    screenshot(page, "case-list-bulk-report")
    assert set(DebtCase.objects.filter(vendor_id="VALPHA", state="blocked")
               .values_list("order_id", flat=True)) == {"O-A0", "O-A1", "O-A2", "O-A3"}

    # Back to the list, now the blocked ones, and export them.
    with page.expect_navigation():
        page.click("a:text-is('Zurück zur Liste')")
    page.select_option("select[name=state]", "blocked")
    with page.expect_navigation():
        page.click("#case-filter button[type=submit]")
    assert sorted(rows(page)) == ["O-A0", "O-A1", "O-A2", "O-A3"]
    with page.expect_download() as download:
        page.click("a:text-is('Als CSV exportieren')")
    saved = tmp_path / "faelle.csv"
    download.value.save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert sorted(row["order_id"] for row in exported) == ["O-A0", "O-A1", "O-A2", "O-A3"]
    assert {row["state"] for row in exported} == {"blocked"}
    assert re.fullmatch(r"faelle-\d{4}-\d\d-\d\d-\d{4}\.csv", download.value.suggested_filename)

    # The paid case is grey, the top bar's open count opens as many cases.
    page.goto(f"{live_server.url}/faelle/?state=paid")
    assert "not-pursued" in page.locator("tr[data-order=O-A-PAID]").get_attribute("class")
    with page.expect_navigation():
        page.click(".dashboard a >> nth=0")
    bar = page.locator(".dashboard a >> nth=0").inner_text()
    assert re.search(r"\d+", bar).group(0) in page.locator("#case-totals").inner_text()
    screenshot(page, "case-list-open")
