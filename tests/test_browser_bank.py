"""The Bankauszüge page in a real browser (issue 11, point 3): support uploads the bank's
statement, checks what it would do, reads it, and decides the credits left over.

Drives Debian's Chromium through Playwright against pytest-django's live server (tests/browser.py);
skipped, with the reason, where Playwright or Chromium is not installed.
"""

from decimal import Decimal
from pathlib import Path

import pytest

from mahnwerk.banking.models import BankStatement, StatementLine
from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.models import Payment
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import log_in, open_page, screenshot
from tests.factories import OrderFactory
from tests.helpers import incident

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SPARKASSE = Path(__file__).parent / "assets" / "camt053_sparkasse.xml"


def case_of(order_id, invoice, open_amount, last_name):
    return incident(OrderFactory(order_id=order_id, first_invoice_number=invoice,
                                 buyer_last_name=last_name), open_amount=open_amount)


def test_support_checks_reads_a_statement_and_assigns_and_ignores_what_is_left(
        browser, live_server):
    case_of("O42-000116", "RE-2026-000116", "300.00", "Mustermann")
    case_of("O42-000117", "RE-2026-000117", "120.00", "Beispiel")
    # Jana Probe's 50 EUR quote no reference: support knows (by phone) it is for her case.
    probe = case_of("O42-000300", "RE-2026-000300", "80.00", "Probe")
    # Booking 3 quotes RE-2026-000118: no case of ours, so it waits for support too.
    ensure_demo_users(vendor_id=None)
    page = open_page(browser)
    log_in(page, live_server.url, "support")
    page.goto(f"{live_server.url}/bankauszuege/")

    page.set_input_files("#bank-upload input[type=file]", str(SPARKASSE))
    with page.expect_navigation():
        page.click("#bank-upload button[name=check]")
    report = page.locator("#bank-report")
    assert "Probelauf, nichts wurde verbucht" in report.inner_text()
    assert "O42-000116" in report.inner_text() and "Jana Probe" in report.inner_text()
    assert Payment.objects.count() == 0 and BankStatement.objects.count() == 0
    screenshot(page, "bank-check")

    page.set_input_files("#bank-upload input[type=file]", str(SPARKASSE))
    with page.expect_navigation():
        page.click("#bank-upload button[name=read]")
    assert "zugeordnet: 2" in page.locator(".messages").inner_text()
    waiting = page.locator("#bank-open")
    assert "2 Gutschriften warten auf Support" in waiting.inner_text()
    assert DebtCase.objects.filter(state="paid").count() == 2

    jana = waiting.locator("tr", has_text="Jana Probe")
    jana.locator("input[name=order_id]").fill("O42-000300")
    with page.expect_navigation():
        jana.locator("form[action$='/zuordnen/'] button").click()
    hans = page.locator("#bank-open tr", has_text="Hans Muster")
    hans.locator("input[name=reason]").fill("kein Fall bei uns, an den Absender zurück")
    with page.expect_navigation():
        hans.locator("form[action$='/uebergehen/'] button").click()

    assert "Jede Gutschrift ist zugeordnet oder übergangen." in \
        page.locator("#bank-open").inner_text()
    screenshot(page, "bank-decided")
    probe.refresh_from_db()
    assert probe.open_amount == Decimal("30.00") and probe.state != "paid"
    assigned = StatementLine.objects.get(remitter_name="Jana Probe")
    assert (assigned.state, assigned.method, assigned.case, assigned.decided_by) == (
        "matched", "support", probe, "support")
    ignored = StatementLine.objects.get(remitter_name="Hans Muster")
    assert (ignored.state, ignored.note) == ("ignored",
                                             "kein Fall bei uns, an den Absender zurück")
