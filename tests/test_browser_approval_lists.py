"""*Freigaben* and the portal's waiting cases in a real browser (issue 10, points 2 and 6): support
sorts and pages *Freigaben*, exports its filter and keeps it as a saved filter to reopen; the
vendor filters its waiting cases, ticks every case of the page and approves them together, then
approves every case of a filter that spans more than one page. Screenshots under
var/screenshots/ (git-ignored)."""

import csv
import io

import pytest

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import log_in, open_page, screenshot
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SMALL = [f"O-S{n:02d}" for n in range(28)]


@pytest.fixture
def waiting_cases():
    """Alpha: three big debts and 28 small ones waiting for its approval; Beta: one."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    course = ProductFactory(vendor=alpha, name="Yoga für alle")
    wanted = [(alpha, "O-W1", "420.00"), (alpha, "O-W2", "180.00"), (alpha, "O-W3", "110.00"),
              (beta, "O-BETA", "999.00"), *((alpha, order, "50.00") for order in SMALL)]
    for vendor, order_id, amount in wanted:
        product = course if vendor == alpha else ProductFactory(vendor=beta)
        case = lettered(incident(OrderFactory(order_id=order_id, product=product),
                                 open_amount=amount))
        case_services.change_case(case=case, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
    ensure_demo_users(vendor_id=alpha.pk)


def listed(page, table: str) -> list[str]:
    return page.locator(f"{table} tbody tr[data-order]").evaluate_all(
        "rows => rows.map(r => r.dataset.order)")


def states(*order_ids: str) -> set[str]:
    return set(DebtCase.objects.filter(order_id__in=order_ids).values_list("state", flat=True))


def test_support_sorts_pages_and_exports_freigaben(browser, live_server, waiting_cases):
    page = open_page(browser)
    log_in(page, live_server.url, "support")
    page.goto(f"{live_server.url}/freigaben/")
    assert "32 Fälle" in page.locator("#list-totals").inner_text()
    assert "3.109,00" in page.locator("#list-totals").inner_text()

    # The open amount, highest first: its header twice.
    for _ in range(2):
        with page.expect_navigation():
            page.click("#approvals th a.sort:text-is('offener Betrag')")
    assert listed(page, "#approvals")[:4] == ["O-BETA", "O-W1", "O-W2", "O-W3"]
    assert page.locator("#approvals th[aria-sort=descending]").count() == 1

    # 25 a page: two pages, the sort stays.
    with page.expect_navigation():
        page.click(".page-size a:text-is('25')")
    assert len(listed(page, "#approvals")) == 25
    with page.expect_navigation():
        page.click("nav.pagination a[aria-label='Seite 2']")
    assert len(listed(page, "#approvals")) == 7
    assert "sort=-open_amount" in page.url and "per_page=25" in page.url
    screenshot(page, "freigaben-sorted-page-2")

    # Alpha's big debts only, exported as the list shows them.
    page.select_option("#approval-filter select[name=vendor]", "VALPHA")
    page.fill("#approval-filter input[name=amount_min]", "100")
    with page.expect_navigation():
        page.click("#approval-filter button[type=submit]")
    assert listed(page, "#approvals") == ["O-W1", "O-W2", "O-W3"]
    assert "3 Fälle" in page.locator("#list-totals").inner_text()
    with page.expect_download() as download:
        page.click("#list-totals ~ .actions a:text-is('Als CSV exportieren')")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert [row[4] for row in rows[1:]] == ["O-W1", "O-W2", "O-W3"]
    assert download.value.suggested_filename == "freigaben-VALPHA.csv"

    # The filter kept under a name on Freigaben, as on Fälle: the whole list again, then the
    # saved filter opens Alpha's big debts, sorted as they were; Fälle does not offer it.
    page.click("#saved-filters summary")
    page.fill("#saved-filters input[name=name]", "Alpha groß")
    with page.expect_navigation():
        page.click("#saved-filters button:text-is('Diesen Filter speichern')")
    assert "Alpha groß" in page.locator(".messages").inner_text()
    with page.expect_navigation():
        page.click("#approval-filter a:text-is('Zurücksetzen')")
    assert len(listed(page, "#approvals")) == 32
    with page.expect_navigation():
        page.click("#saved-filters a:text-is('Alpha groß')")
    assert listed(page, "#approvals") == ["O-W1", "O-W2", "O-W3"]
    assert page.locator("#approval-filter select[name=vendor]").input_value() == "VALPHA"
    screenshot(page, "freigaben-saved-filter-reopened")
    page.goto(f"{live_server.url}/faelle/")
    assert "Alpha groß" not in page.locator("#saved-filters").inner_text()


def test_a_vendor_filters_ticks_all_and_approves_in_bulk(browser, live_server, waiting_cases):
    page = open_page(browser)
    log_in(page, live_server.url, "vendor")
    page.wait_for_url(f"{live_server.url}/portal/")
    assert "O-BETA" not in page.content()

    # The big debts: filtered, every case of the page ticked with one box, approved together.
    page.fill("#approval-filter input[name=amount_min]", "100")
    with page.expect_navigation():
        page.click("#approval-filter button[type=submit]")
    assert sorted(listed(page, "#approvals")) == ["O-W1", "O-W2", "O-W3"]
    page.check("#tick-all")
    assert page.locator("#approvals tbody input[name=order]:checked").count() == 3
    page.fill("#bulk-approvals input[name=reason]", "Käufer reagieren nicht")
    screenshot(page, "portal-ticked-all")
    page.click("#bulk-approvals button[value=approve]")
    page.wait_for_selector(".messages li.success")
    assert "3 Fälle für das Inkasso freigegeben" in page.locator(".messages").inner_text()
    assert states("O-W1", "O-W2", "O-W3") == {CaseState.APPROVED}

    # The small ones: 28 of them, 25 a page; "all 28 of this filter" approves the other page too.
    page.goto(f"{live_server.url}/portal/?amount_max=60&per_page=25")
    assert len(listed(page, "#approvals")) == 25
    assert "alle 28 Fälle dieses Filters" in page.locator("#scope-filter").inner_text()
    page.check("#scope-filter input")
    page.click("#bulk-approvals button[value=approve]")
    page.wait_for_selector(".messages li.success")
    assert "28 Fälle für das Inkasso freigegeben" in page.locator(".messages").inner_text()
    assert states(*SMALL) == {CaseState.APPROVED}
    assert states("O-BETA") == {CaseState.ON_HOLD}
    screenshot(page, "portal-approved-filter")
