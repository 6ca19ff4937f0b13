"""The month in a real browser (issue 10, point 3): a support agent imports a platform file and
asks the vendors; the vendor's word is recorded on *Freigaben* for two cases at once and a
cancellation only after the confirmation; an administrator invites a vendor's contact, who sets
a password and logs in to the portal; a letter template is previewed in the admin. *Freigaben*
fits 1440 pixels. Screenshots under var/screenshots/ (git-ignored).

Drives Debian's Chromium through Playwright against pytest-django's live server, as
tests/test_browser.py does (its fixture is reused). Without a broker the import's tasks run in
the request, so one test plays the worker itself to watch the page follow a running task.
"""

import re

import pytest
from django.utils import timezone

from mahnwerk.cases.models import DebtCase
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.dunning.models import LetterTemplate
from mahnwerk.intake import import_jobs
from mahnwerk.intake.models import Vendor
from mahnwerk.web.accounts import ensure_demo_users
from tests import helpers
from tests.browser import log_in, open_page, screenshot
from tests.factories import OrderFactory, ProductFactory, VendorFactory

pytestmark = [pytest.mark.browser,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]

VENDORS = ("vendor_id,name,email,enrolled,collection_mode,dunning_by,relationship_manager,"
           "escalation_channel\n"
           "48213,Akademie Sonnenschein GmbH,info@sonnenschein.example,True,approval,in_house,"
           "Rita Reuter,WhatsApp-Gruppe Sonnenschein\n"
           "48214,Coaching Nord UG,kontakt@nord.example,Vielleicht,direct,agency,,\n")


@pytest.fixture(autouse=True)
def _imports(settings, tmp_path):
    settings.MAHNWERK_IMPORT_DIR = tmp_path / "imports"


@pytest.fixture
def waiting_cases():
    """Three cases of a vendor with a long name waiting for its approval, one of another."""
    alpha = VendorFactory(vendor_id="VALPHA-2026-LANGER-NAME",
                          name="Alpha Akademie für ganzheitliche Persönlichkeitsentwicklung GmbH",
                          email="alpha@example.com", relationship_manager="Rita Reuter",
                          escalation_channel="WhatsApp-Gruppe Alpha Akademie Vertrieb")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching", email="beta@example.com")
    course = ProductFactory(vendor=alpha, name="Jahresprogramm Achtsamkeit und Führung")
    for order_id, first, last in (("O-A1", "Jürgen", "Zänker-Oberhauser"),
                                  ("O-A2", "Anna", "Müller"), ("O-A3", "Özlem", "Kaya")):
        helpers.waiting(OrderFactory(order_id=order_id, product=course, buyer_first_name=first,
                                     buyer_last_name=last,
                                     first_invoice_number=f"RE-2026-{order_id}"))
    helpers.waiting(OrderFactory(order_id="O-B1", product=ProductFactory(vendor=beta)))
    ensure_demo_users(vendor_id=alpha.pk)


def test_a_support_agent_imports_a_file_fixes_the_located_problem_and_applies_it(
        browser, live_server, tmp_path, waiting_cases):
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "support")
    page.click("nav a:text-is('Import')")
    page.wait_for_url(f"{live_server.url}/import/")
    bad = tmp_path / "vendors.csv"
    bad.write_text(VENDORS, encoding="utf-8")
    page.select_option("select[name=feed]", "vendors")
    page.set_input_files("input[name=file]", str(bad))
    with page.expect_navigation():
        page.click("button:text-is('Hochladen und prüfen')")
    problem = page.locator("#import-problems tr[data-line='3']")
    assert "enrolled" in problem.inner_text() and "Vielleicht" in problem.inner_text()
    assert page.locator("#import-apply").count() == 0
    screenshot(page, "import-problems")

    bad.write_text(VENDORS.replace("Vielleicht", "False"), encoding="utf-8")
    page.click("a:text-is('← Import')")
    page.select_option("select[name=feed]", "vendors")
    page.set_input_files("input[name=file]", str(bad))
    with page.expect_navigation():
        page.click("button:text-is('Hochladen und prüfen')")
    checked = page.locator("#import-checked").inner_text()
    assert "Beim Anwenden: 2 neu, 0 geändert, 0 unverändert." in checked
    assert not Vendor.objects.filter(pk="48213").exists()
    screenshot(page, "import-checked")
    with page.expect_navigation():
        page.click("#import-apply")
    assert "vendors.csv eingelesen: 2 Zeilen; 2 neu" in page.locator(".messages").inner_text()
    assert page.locator("#import-applied").count() == 1
    assert Vendor.objects.get(pk="48213").relationship_manager == "Rita Reuter"
    with page.expect_navigation():
        page.click("a:text-is('← Import')")
    assert page.locator("#import-jobs tbody tr").count() == 2


def test_the_import_page_follows_a_task_that_runs_in_a_worker(
        browser, live_server, waiting_cases):
    """With a broker the check runs in a worker: the page shows the bar, polls the status and
    shows the report by itself once the worker is done (here the test is the worker)."""
    job = import_jobs.receive(feed="vendors", name="vendors.csv",
                              chunks=[VENDORS.replace("Vielleicht", "False").encode()],
                              size=300, actor="support", language="de")
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "support")
    page.goto(f"{live_server.url}/import/{job.token}/")
    assert page.locator("#import-progress").count() == 1
    assert "0 Zeilen gelesen" in page.locator("#import-progress-text").inner_text()
    import_jobs.check(token=job.token)
    page.wait_for_selector("#import-checked")
    assert page.locator("#import-progress").count() == 0


def test_a_support_agent_asks_the_vendors_and_freigaben_fits_the_screen(
        browser, live_server, waiting_cases, django_capture_on_commit_callbacks):
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "support")
    page.goto(f"{live_server.url}/freigaben/")
    assert page.locator("tr[data-order=O-A1]", has_text="noch nicht angefragt").count() == 1
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"Freigaben is {width[0]} px wide at {width[1]} px"
    screenshot(page, "freigaben")
    with page.expect_navigation():
        page.click("button:text-is('Vendoren jetzt anfragen und erinnern')")
    assert "2 Vendoren zu 4 Fällen angefragt" in page.locator(".messages").inner_text()
    today = timezone.localdate().strftime("%d.%m.%Y")
    assert f"angefragt {today}" in page.locator("tr[data-order=O-A1]").inner_text()
    assert ApprovalRequest.objects.count() == 2
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"Freigaben is {width[0]} px wide at {width[1]} px"
    screenshot(page, "freigaben-asked")


def test_the_vendors_approval_of_two_cases_is_recorded_at_once_and_a_cancel_is_confirmed(
        browser, live_server, waiting_cases):
    """The relationship manager records what the vendor wrote in its chat group: two cases
    approved in bulk, one cancelled after the confirmation page."""
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "manager")
    page.goto(f"{live_server.url}/freigaben/")
    # Enter in a reason field submits nothing: the form's default button is a disabled one.
    assert page.evaluate("document.querySelector('#decide').querySelector("
                         "'button[type=submit], input[type=submit]').disabled") is True
    page.check("#select-all")  # the head's box ticks every row of the page, and clears them
    assert page.locator("#approvals input[name=order]:checked").count() == 4
    page.uncheck("#select-all")
    assert page.locator("#approvals input[name=order]:checked").count() == 0
    page.check("tr[data-order=O-A1] input[name=order]")
    page.check("tr[data-order=O-A2] input[name=order]")
    page.fill("#bulk-reason", "per WhatsApp-Gruppe, 3. März")
    with page.expect_navigation():
        page.click("button:text-is('Angekreuzte Fälle freigeben')")
    assert ("2 Fälle für das Inkasso freigegeben: O-A1, O-A2."
            in page.locator(".messages li.success").inner_text())
    assert DebtCase.objects.get(order_id="O-A1").state == "approved"
    assert page.locator("tr[data-order=O-A1]").count() == 0

    page.fill("input[name='reason-O-A3']", "Vendor storniert per Chat")
    with page.expect_navigation():
        page.click("tr[data-order=O-A3] button[name=row][value^=cancel]")
    assert "Auf Wunsch des Vendors stornieren?" in page.locator("h1").inner_text()
    assert DebtCase.objects.get(order_id="O-A3").state == "on_hold", "not before the yes"
    screenshot(page, "freigaben-cancel-confirm")
    with page.expect_navigation():
        page.click("#confirm")
    assert "1 Fall auf Wunsch des Vendors storniert: O-A3." in page.locator(
        ".messages").inner_text()
    assert DebtCase.objects.get(order_id="O-A3").state == "canceled"
    assert page.url.endswith("/freigaben/")


def test_an_administrator_invites_a_vendor_contact_who_sets_a_password_and_logs_in(
        browser, live_server, waiting_cases, mailoutbox):
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "admin")
    page.click("nav a:text-is('Vendoren')")
    page.click("a:text-is('Beta Coaching')")
    page.fill("input[name=email]", "lena@beta-coaching.example")
    page.fill("input[name=first_name]", "Lena")
    with page.expect_navigation():
        page.click("button:text-is('Zugang anlegen und Einladung senden')")
    assert "eingeladen, noch nicht festgelegt" in page.locator("#vendor-logins").inner_text()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the vendor's page is {width[0]} px wide at {width[1]} px"
    screenshot(page, "vendor-page")
    assert len(mailoutbox) == 1
    link = re.search(r"https?://\S+/konto/passwort/\S+/", mailoutbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]

    contact = browser.new_context(locale="de-DE").new_page()
    contact.set_default_timeout(15000)
    contact.goto(f"{live_server.url}/{path}")
    contact.fill("input[name=new_password1]", "Sonnenschein-2026!")
    contact.fill("input[name=new_password2]", "Sonnenschein-2026!")
    with contact.expect_navigation():
        contact.click("button:text-is('Passwort festlegen')")
    assert "Passwort festgelegt" in contact.locator("h1").inner_text()
    with contact.expect_navigation():
        contact.click("a:text-is('Anmelden')")
    log_in(contact, live_server.url, "lena@beta-coaching.example", "Sonnenschein-2026!")
    assert contact.url.endswith("/portal/")
    assert "O-B1" in contact.content()


def test_an_administrator_previews_a_letter_template_in_the_admin(
        browser, live_server, waiting_cases):
    template = LetterTemplate.objects.get(template="first", language="de", vendor=None)
    page = open_page(browser, width=1440)
    log_in(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/admin/dunning/lettertemplate/{template.pk}/change/")
    with page.expect_navigation():
        page.click("#template-preview")
    assert "MUSTER-1001" in page.locator("#preview-subject").inner_text()
    page.fill("#preview-case", "O-A1")
    with page.expect_navigation():
        page.click("input[type=submit][value='Anzeigen']")
    assert "O-A1" in page.locator("#preview-subject").inner_text()
    frame = page.frame_locator("iframe.letter-preview")
    assert "Jürgen Zänker-Oberhauser" in frame.locator("body").inner_text()
    screenshot(page, "letter-template-preview")
