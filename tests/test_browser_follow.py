"""Issue 10's browser test "follows a case to the agency from the dashboard": a support agent
lands on the Übersicht, follows the figure of the cases waiting for approval to the list, opens
the case, records the vendor's approval that came by chat, writes the handover file on
*Inkasso*, reads the agency's report back, and sees the case paid, each step on its timeline.
Screenshots under var/screenshots/ (git-ignored)."""

import pytest
from django.core.cache import cache

from mahnwerk.cases.models import DebtCase
from mahnwerk.web.accounts import ensure_demo_users
from tests.browser import log_in, open_page, screenshot
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import waiting

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REPORT = ("order_id,agency_reference,takeover_date,status,collected_amount,collected_at,"
          "comment\nO-FOLGEN,AZ-4711,{day},paid,{amount},{day},Käufer hat gezahlt\n")


def test_a_support_agent_follows_a_case_to_the_agency_from_the_dashboard(
        browser, live_server, tmp_path):
    cache.clear()  # the figures another test's page kept for a minute
    vendor = VendorFactory(vendor_id="VFOLGEN", name="Akademie Folgen")
    case = waiting(OrderFactory(order_id="O-FOLGEN",
                                product=ProductFactory(vendor=vendor, name="Yoga für alle")))
    ensure_demo_users(vendor_id=vendor.pk)
    page = open_page(browser)
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    log_in(page, live_server.url, "support")

    # The Übersicht: the one case waiting for approval, a link to the list it counts.
    assert page.url == f"{live_server.url}/uebersicht/"
    page.locator("#figure-state tr[data-key=on_hold] a").first.click()
    page.wait_for_url("**/faelle/?state=on_hold*")
    screenshot(page, "follow-list")
    page.locator("tr[data-order=O-FOLGEN] a", has_text="O-FOLGEN").first.click()
    page.wait_for_url("**/faelle/O-FOLGEN/")
    assert "Warten auf Freigabe" in page.locator("h1").inner_text()

    # The vendor approved in the chat group: support records it on the case's page.
    form = page.locator("form[action='/faelle/O-FOLGEN/freigabe/']")
    form.locator("input[value=approve]").check()
    form.locator("[name=approval-reason]").fill("per WhatsApp-Gruppe")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "Freigabe" in page.locator("h1").inner_text()
    assert "per WhatsApp-Gruppe" in page.locator("main").inner_text()

    # Inkasso: the vendor's handover file hands the approved case to the agency.
    page.locator("nav a", has_text="Inkasso").click()
    page.locator("tr[data-vendor=VFOLGEN] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/inkasso/uebergaben/")
    assert "VFOLGEN.csv" in page.locator(".messages").inner_text()
    case.refresh_from_db()
    assert case.state == "sent_for_collection"

    # The agency's report comes back: taken over and paid in full.
    report = tmp_path / "bericht.csv"
    report.write_text(REPORT.format(day=case.updated_at.date().isoformat(),
                                    amount=case.open_amount), encoding="utf-8")
    upload = page.locator("form[action='/inkasso/bericht/']")
    upload.locator("input[type=file]").set_input_files(str(report))
    with page.expect_navigation():
        upload.locator("button[type=submit]").click()
    assert "1 Zeile übernommen" in page.locator(".messages").inner_text()

    page.goto(f"{live_server.url}/faelle/O-FOLGEN/")
    assert "Bezahlt" in page.locator("h1").inner_text()
    timeline = page.locator("main").inner_text()
    for step in ("Warten auf Freigabe → Freigabe",
                 "übergeben in VFOLGEN.csv", "(Akte AZ-4711)", "Beim Inkasso → Bezahlt",
                 "(bezahlt): Käufer hat gezahlt"):
        assert step in timeline, step
    screenshot(page, "follow-case-paid")
    assert DebtCase.objects.get(order_id="O-FOLGEN").state == "paid"
    assert not refused, refused
