"""Every step of the month in the browser (issue 10, point 3): support imports the platform's
files from a page (a check that writes nothing, then apply), asks and reminds the vendors from
*Freigaben* and records their decisions in a row or in bulk; the relationship manager records
the answer from the vendor's chat group; an administrator makes a vendor's portal login that
is invited by e-mail; letter templates are checked and previewed in the admin before they are
saved, and a policy's history shows its levels' changes."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessRecord, CaseEvent, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.dunning.models import DunningLevel, DunningPolicy, LetterTemplate
from mahnwerk.intake import import_jobs
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import import_file
from mahnwerk.intake.models import Order, Product, Vendor
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import VendorAccount
from tests import helpers
from tests.factories import OrderFactory, ProductFactory, VendorFactory

pytestmark = pytest.mark.django_db

VENDORS = ("vendor_id,name,email,enrolled,collection_mode,dunning_by,relationship_manager,"
           "escalation_channel\n"
           "48213,Akademie Sonnenschein GmbH,info@sonnenschein.example,True,approval,in_house,"
           "Rita Reuter,WhatsApp-Gruppe Sonnenschein\n")
PRODUCTS = ("product_id,vendor_id,name,dunning_enabled,checkout_url\n"
            "77120,48213,Yoga-Kurs,True,https://checkout.example/p/77120\n")
ORDER_HEADER = ("order_id,vendor_id,product_id,buyer_id,buyer_email,buyer_first_name,"
                "buyer_last_name,street,house_number,postcode,city,country,payment_type,"
                "amount_total,currency,installments_total,installments_paid,created_at,"
                "sales_agent,first_invoice_number\n")
ORDER_ROW = ("kq7319a,48213,77120,b1,erika@example.org,Erika,Mustermann,Heidestraße,17,51147,"
             "Köln,DE,installments,600.00,EUR,6,2,2025-05-02T10:00:00+02:00,,RE-1001\n")
INCIDENTS = ("incident_id,order_id,kind,occurred_at,open_amount,currency\n"
             "i1,kq7319a,stopped_installments,2025-06-01T09:00:00+02:00,400.00,EUR\n")


@pytest.fixture(autouse=True)
def _imports(settings, tmp_path):
    settings.MAHNWERK_IMPORT_DIR = tmp_path / "imports"
    return settings.MAHNWERK_IMPORT_DIR


@pytest.fixture
def users():
    vendor = VendorFactory(vendor_id="VPORTAL", name="Portal Akademie")
    return {u.username: u for u in ensure_demo_users(vendor_id=vendor.pk)}


def as_user(client, username):
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def support(client, users):
    return as_user(client, "support")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def upload(client, feed: str, name: str, content: str | bytes, **extra):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(reverse("web:import"), {"feed": feed,
                                               "file": SimpleUploadedFile(name, data), **extra})


def job_of(response) -> import_jobs.ImportJob:
    token = response["Location"].rstrip("/").split("/")[-1]
    return import_jobs.load(token=token)


def imported(client, feed: str, name: str, content: str) -> None:
    """The whole way through the page: upload, check, apply (and read the page, so that its
    message is shown and gone)."""
    job = job_of(upload(client, feed, name, content))
    assert job.state == import_jobs.JobState.CHECKED, job.problems or job.error
    client.post(reverse("web:import-apply", args=[job.token]), follow=True)
    assert import_jobs.load(token=job.token).state == import_jobs.JobState.APPLIED


# -- The import page -----------------------------------------------------------------------------


def test_a_support_agent_checks_a_file_sees_the_located_problem_and_nothing_is_written(support):
    """An orders file with a bad amount in line 3: the check names file, line, column, value
    and reason, writes nothing, keeps no upload, and offers no "apply"."""
    imported(support, "vendors", "vendors.csv", VENDORS)
    imported(support, "products", "products.csv", PRODUCTS)
    bad = ORDER_HEADER + ORDER_ROW + ORDER_ROW.replace("kq7319a", "kq7320b").replace(
        "600.00", "sechshundert")
    response = upload(support, "orders", "bestellungen März.csv", bad)
    assert response.status_code == 302
    job = job_of(response)
    assert job.state == import_jobs.JobState.REFUSED
    assert not Order.objects.exists(), "a check writes nothing, not even the good row"
    assert not job.path.exists(), "an upload that cannot be applied is not kept"

    page = support.get(response["Location"]).content.decode()
    assert "Die Prüfung hat Probleme gefunden" in page
    assert reverse("web:import-apply", args=[job.token]) not in page
    row = page.split('data-line="3"', 1)[1].split("</tr>", 1)[0]
    for text in ("bestellungen_M_rz.csv", "amount_total", "sechshundert"):
        assert text in row, text
    assert len(re.findall(r'data-line="\d+"', page)) == 1, "the good row has no problem"


def test_a_clean_file_is_checked_then_applied_from_the_same_upload(support, _imports):
    """The check says what applying would do and writes nothing; "apply" imports the kept
    file in one step, says so, and removes the upload; the report stays."""
    imported(support, "vendors", "vendors.csv", VENDORS)
    imported(support, "products", "products.csv", PRODUCTS)
    response = upload(support, "orders", "orders.csv", ORDER_HEADER + ORDER_ROW)
    job = job_of(response)
    assert job.state == import_jobs.JobState.CHECKED
    assert job.counts == {"created": 1, "updated": 0, "unchanged": 0}
    assert job.path.exists() and job.path.parent.parent == _imports
    assert not Order.objects.exists()
    page = support.get(response["Location"]).content.decode()
    assert "Die Prüfung hat kein Problem gefunden" in page
    assert "1 Zeile gelesen." in page
    assert "Beim Anwenden: 1 neu, 0 geändert, 0 unverändert." in page
    assert reverse("web:import-apply", args=[job.token]) in page
    # Found in the walk: the page speaks of "Anwenden", so its button says it too (it said
    # "Ausführen", the word of the runs).
    assert 'id="import-apply">Anwenden</button>' in page
    # ... its state is said once, and its heading names the file and its kind without
    # parentheses inside parentheses ("orders.csv (Bestellungen (orders.csv))").
    assert page.count("bereit zum Anwenden") == 1
    assert "<h1>orders.csv <span class=\"muted small\">· Bestellungen (orders.csv)</span></h1>" \
        in page

    applied = support.post(reverse("web:import-apply", args=[job.token]))
    assert applied.status_code == 302
    assert messages_of(applied) == ["orders.csv eingelesen: 1 Zeile; 1 neu, 0 geändert, "
                                    "0 unverändert."]
    assert Order.objects.get().order_id == "kq7319a"
    job = import_jobs.load(token=job.token)
    assert job.state == import_jobs.JobState.APPLIED and not job.path.exists()
    assert "Eingelesen" in support.get(applied["Location"]).content.decode()

    incidents = job_of(upload(support, "incidents", "incidents.csv", INCIDENTS))
    support.post(reverse("web:import-apply", args=[incidents.token]))
    case = DebtCase.objects.get(order_id="kq7319a")
    assert str(case.open_amount) == "400.00"
    assert CaseEvent.objects.filter(case=case, actor="support (import:incidents.csv)").exists()


def test_an_apply_runs_once_however_often_it_is_asked(support):
    imported(support, "vendors", "vendors.csv", VENDORS)
    job = job_of(upload(support, "products", "products.csv", PRODUCTS))
    support.post(reverse("web:import-apply", args=[job.token]), follow=True)
    again = support.post(reverse("web:import-apply", args=[job.token]))
    assert messages_of(again) == ["products.csv kann nicht (mehr) angewandt werden: "
                                  "angewandt."]
    assert Product.objects.count() == 1


def test_a_failed_apply_leaves_nothing_half_written(support, settings, monkeypatch):
    """A file is one transaction: when the second batch fails while applying, the first one
    is not kept either, and the page says nothing was written."""
    settings.MAHNWERK_IMPORT_BATCH_SIZE = 1
    imported(support, "vendors", "vendors.csv", VENDORS)
    two = PRODUCTS + "77121,48213,Pilates,True,\n"
    job = job_of(upload(support, "products", "products.csv", two))
    assert job.state == import_jobs.JobState.CHECKED

    from mahnwerk.intake import importing

    real, calls = importing.apply_records, []

    def failing_second_batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("Datenbank nicht erreichbar")
        return real(**kwargs)

    monkeypatch.setattr(importing, "apply_records", failing_second_batch)
    response = support.post(reverse("web:import-apply", args=[job.token]))
    assert messages_of(response) == ["products.csv wurde nicht eingelesen; nichts wurde "
                                     "geschrieben (siehe unten)."]
    assert len(calls) == 2, "the first batch was applied before the second failed"
    assert not Product.objects.exists(), "and it was rolled back with the whole file"
    job = import_jobs.load(token=job.token)
    assert job.state == import_jobs.JobState.FAILED
    assert "RuntimeError: Datenbank nicht erreichbar" in job.error
    page = support.get(response["Location"]).content.decode()
    assert "Nicht eingelesen: nichts wurde geschrieben" in page


def test_a_workbook_is_checked_like_a_csv(support):
    book = Workbook()
    sheet = book.active
    for row in (VENDORS.splitlines()[0].split(","), VENDORS.splitlines()[1].split(",")):
        sheet.append(row)
    sheet["B2"] = "=A1"
    buffer = io.BytesIO()
    book.save(buffer)
    job = job_of(upload(support, "vendors", "vendors.xlsx", buffer.getvalue()))
    assert job.state == import_jobs.JobState.REFUSED
    assert job.problems == [{"file": "vendors.xlsx", "line": 2, "column": "name",
                             "value": "=A1",
                             "reason": "eine Formel; stattdessen die Werte einfügen"}]


def test_a_file_too_large_or_of_another_kind_is_refused_before_it_is_kept(support, settings,
                                                                          _imports):
    settings.MAHNWERK_IMPORT_MAX_BYTES = 100
    response = upload(support, "vendors", "vendors.csv", VENDORS)
    assert response.status_code == 200, "the page comes back with the message"
    size = len(VENDORS.encode("utf-8"))
    assert messages_of(response) == [f"vendors.csv ist {size} Bytes groß; eine Datei darf "
                                     "höchstens 100 Bytes haben. Teilen Sie sie auf mehrere "
                                     "Dateien auf."]
    settings.MAHNWERK_IMPORT_MAX_BYTES = 1_048_576
    response = upload(support, "vendors", "vendors.pdf", VENDORS)
    assert response.status_code == 200
    assert messages_of(response) == ["vendors.pdf: nur CSV (.csv) und Excel-Arbeitsmappen "
                                     "(.xlsx) können eingelesen werden."]
    assert not _imports.exists() or not any(_imports.iterdir())


def test_the_job_page_polls_a_status_while_a_task_works(support, settings):
    """With a broker the task runs in a worker: the page shows a progress bar, loads the
    polling script, and the status endpoint says how far it is."""
    job = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[VENDORS.encode()],
                              size=len(VENDORS.encode()), actor="support", language="de")
    page = support.get(reverse("web:import-job", args=[job.token])).content.decode()
    assert '<progress id="import-progress"' in page
    assert "web/import.js" in page
    assert f'data-status-url="{reverse("web:import-status", args=[job.token])}"' in page
    status = support.get(reverse("web:import-status", args=[job.token]))
    assert status["Cache-Control"] == "no-store"
    assert json.loads(status.content) | {} == {
        "state": "check_queued", "running": True, "stalled": False, "rows": 0, "done": 0,
        "total": 0, "percent": 0, "problems": 0, "label": "wartet auf die Prüfung",
        "text": "0 Zeilen gelesen"}
    import_jobs.check(token=job.token)  # the worker's part
    status = json.loads(support.get(reverse("web:import-status", args=[job.token])).content)
    assert status["running"] is False and status["rows"] == 1 and status["percent"] == 100
    page = support.get(reverse("web:import-job", args=[job.token])).content.decode()
    assert "web/import.js" not in page, "nothing to poll once it is done"


def test_a_file_that_cannot_be_read_at_all_says_why(support):
    response = upload(support, "vendors", "vendors.csv", b"\xef\xbb\xbf" + VENDORS.encode())
    job = job_of(response)
    assert job.state == import_jobs.JobState.REFUSED and job.problems == []
    page = support.get(response["Location"]).content.decode()
    assert 'id="import-error"' in page
    assert "vendors.csv:1: Die Datei beginnt mit einer Byte-Order-Mark (BOM)" in job.error


def test_a_task_that_stopped_without_a_word_is_shown_as_stopped(support):
    """A worker that died leaves its job "being checked": after 15 minutes without a move the
    page stops waiting and says what to do."""
    job = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[b"x"], size=1,
                              actor="support", language="de")
    data = json.loads((job.directory / "job.json").read_text())
    data.update(state="checking", updated_at=(timezone.now() - timedelta(minutes=16)).isoformat())
    (job.directory / "job.json").write_text(json.dumps(data))
    status = json.loads(support.get(reverse("web:import-status", args=[job.token])).content)
    assert status["running"] is False and status["stalled"] is True
    page = support.get(reverse("web:import-job", args=[job.token])).content.decode()
    assert "web/import.js" not in page and "Die Hintergrundaufgabe hat aufgehört" in page
    assert support.post(reverse("web:import-discard", args=[job.token])).status_code == 302
    assert not job.directory.exists()


def test_uploads_are_kept_a_day_and_a_discarded_one_goes_at_once(support, settings, _imports):
    old = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[b"x"], size=1,
                              actor="support", language="de")
    fresh = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[b"x"], size=1,
                                actor="support", language="de")
    later = timezone.now() + timedelta(hours=settings.MAHNWERK_IMPORT_KEEP_HOURS, minutes=1)
    assert import_jobs.clean_up(now=later) == 2
    assert not old.directory.exists() and not fresh.directory.exists()
    job = import_jobs.receive(feed="vendors", name="vendors.csv", chunks=[b"x"], size=1,
                              actor="support", language="de")
    import_jobs.check(token=job.token)
    response = support.post(reverse("web:import-discard", args=[job.token]))
    assert response["Location"] == reverse("web:import")
    assert not job.directory.exists()
    assert support.get(reverse("web:import-job", args=[job.token])).status_code == 404


def test_a_token_never_reaches_outside_the_import_folder(support):
    for token in ("..", "../../etc", "a" * 10):
        with pytest.raises(import_jobs.ImportJobError):
            import_jobs.load(token=token)
    assert support.get("/import/..%2F..%2Fetc/").status_code == 404


def test_importing_is_for_support_and_administrators(client, users):
    for username, status in (("manager", 403), ("admin", 200), ("support", 200)):
        assert as_user(client, username).get(reverse("web:import")).status_code == status
    page = as_user(client, "support").get(reverse("web:cases")).content.decode()
    assert f'href="{reverse("web:import")}"' in page
    page = as_user(client, "manager").get(reverse("web:cases")).content.decode()
    assert f'href="{reverse("web:import")}"' not in page
    vendor = as_user(client, "vendor").get(reverse("web:import"))
    assert vendor["Location"] == reverse("web:portal")


def test_a_dry_run_of_the_importer_writes_nothing_and_counts_what_it_would_do(tmp_path):
    path = tmp_path / "vendors.csv"
    path.write_text(VENDORS, encoding="utf-8")
    report = import_file(path=path, feed=FEEDS["vendors"], actor="t", dry_run=True)
    assert report.ok and not report.committed
    assert report.applied.as_dict() == {"created": 1, "updated": 0, "unchanged": 0}
    assert not Vendor.objects.exists()


# -- Freigaben: ask the vendors, decide in the row and in bulk -----------------------------------


@pytest.fixture
def waiting_cases(users):
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie", email="alpha@example.com",
                          relationship_manager="Rita Reuter",
                          escalation_channel="WhatsApp-Gruppe Alpha")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching", email="beta@example.com")
    product = ProductFactory(vendor=alpha, name="Yoga-Kurs")
    cases = {order_id: helpers.waiting(OrderFactory(order_id=order_id, product=product))
             for order_id in ("O-A1", "O-A2", "O-A3")}
    cases["O-B1"] = helpers.waiting(OrderFactory(
        order_id="O-B1", product=ProductFactory(vendor=beta, name="Mentoring")))
    return cases


def state(order_id: str) -> str:
    return DebtCase.objects.get(order_id=order_id).state


def test_support_asks_the_vendors_from_the_page_and_sees_when_each_was_asked(
        support, waiting_cases, mailoutbox, django_capture_on_commit_callbacks):
    page = support.get(reverse("web:approvals")).content.decode()
    rows = page.split('<table id="approvals">', 1)[1].split("</table>", 1)[0]
    assert rows.count("noch nicht angefragt") == 4  # the filter offers the words too
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(reverse("web:approvals-ask"),
                                {"next": reverse("web:approvals") + "?vendor=VALPHA"})
    assert response["Location"] == reverse("web:approvals") + "?vendor=VALPHA"
    assert messages_of(response) == ["2 Vendoren zu 4 Fällen angefragt; 0 Vendoren erinnert; "
                                     "0 an den Relationship Manager eskaliert."]
    assert sorted(m.to[0] for m in mailoutbox) == ["alpha@example.com", "beta@example.com"]
    assert ApprovalRequest.objects.count() == 2
    event = CaseEvent.objects.filter(case=waiting_cases["O-A1"]).last()
    assert event.actor == "support"
    today = timezone.localdate().strftime("%d.%m.%Y")
    page = support.get(reverse("web:approvals")).content.decode()
    row = page.split('data-order="O-A1"', 1)[1].split("</tr>", 1)[0]
    assert f"angefragt {today}" in row and "noch nicht angefragt" not in row

    # The schedule's service: nothing twice; a reminder once it is due.
    support.get(reverse("web:approvals"))  # the message of the first ask is read
    again = support.post(reverse("web:approvals-ask"))
    assert messages_of(again) == ["Nichts zu tun: Jeder Vendor mit wartenden Fällen wurde schon "
                                  "angefragt, und keine Erinnerung oder Eskalation ist fällig."]
    ApprovalRequest.objects.update(sent_at=timezone.now() - timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        reminded = support.post(reverse("web:approvals-ask"))
    assert "2 Vendoren erinnert" in messages_of(reminded)[-1]
    row = support.get(reverse("web:approvals")).content.decode().split(
        'data-order="O-A1"', 1)[1].split("</tr>", 1)[0]
    assert f"erinnert {today}" in row


def test_the_list_says_since_when_each_case_waits(support, waiting_cases):
    CaseEvent.objects.filter(case=waiting_cases["O-A1"], to_state=CaseState.ON_HOLD).update(
        at=timezone.now() - timedelta(days=20))
    page = support.get(reverse("web:approvals")).content.decode()
    row = page.split('data-order="O-A1"', 1)[1].split("</tr>", 1)[0]
    since = (timezone.localdate() - timedelta(days=20)).strftime("%d.%m.%Y")
    assert since in row and "20 Tage" in row and "waiting-long" in row
    row = page.split('data-order="O-A2"', 1)[1].split("</tr>", 1)[0]
    assert "0 Tage" in row and "waiting-long" not in row


def test_support_approves_a_row_with_the_vendors_reason(support, waiting_cases):
    response = support.post(reverse("web:approvals-decide"), {
        "row": "approve:O-A1", "reason-O-A1": "per E-Mail vom 3. März",
        "reason-O-A2": "", "reason": ""})
    assert messages_of(response) == ["1 Fall für das Inkasso freigegeben: O-A1."]
    assert state("O-A1") == CaseState.APPROVED
    assert state("O-A2") == CaseState.ON_HOLD
    event = CaseEvent.objects.filter(case=waiting_cases["O-A1"]).last()
    assert event.actor == "support" and "per E-Mail vom 3. März" in event.reason


def test_cancelling_a_row_asks_once_more_before_anything_changes(support, waiting_cases):
    response = support.post(reverse("web:approvals-decide"), {
        "row": "cancel:O-A2", "reason-O-A2": "Vendor hat storniert", "next": "/freigaben/"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Auf Wunsch des Vendors stornieren?" in page
    assert 'data-order="O-A2"' in page and "Vendor hat storniert" in page
    assert state("O-A2") == CaseState.ON_HOLD, "nothing changes before the confirmation"
    confirmed = support.post(reverse("web:approvals-decide"), {
        "decision": "cancel", "order": ["O-A2"], "reason": "Vendor hat storniert",
        "confirmed": "yes", "next": "/freigaben/"})
    assert confirmed["Location"] == "/freigaben/"
    assert messages_of(confirmed) == ["1 Fall auf Wunsch des Vendors storniert: O-A2."]
    assert state("O-A2") == CaseState.CANCELED


def test_support_approves_several_cases_at_once_and_hears_which_could_not_be(support,
                                                                              waiting_cases):
    """One blocked meanwhile: the others are approved, the blocked one stays blocked and the
    message says why."""
    case_services.change_case(case=waiting_cases["O-A3"], actor="support", reason="Anwalt",
                              to_state=CaseState.BLOCKED, changes={"block_reason": "Anwalt"})
    response = support.post(reverse("web:approvals-decide"), {
        "decision": "approve", "order": ["O-A1", "O-B1", "O-A3"],
        "reason": "per WhatsApp-Gruppe", "reason-O-A1": "ignoriert"})
    assert messages_of(response) == [
        "2 Fälle für das Inkasso freigegeben: O-A1, O-B1.",
        "Bestellung O-A3 wurde inzwischen vom Support blockiert (Anwalt); die Sperre hat "
        "Vorrang, es wurde nichts geändert. Der Support meldet sich bei Ihnen."]
    assert (state("O-A1"), state("O-B1"), state("O-A3"), state("O-A2")) == (
        CaseState.APPROVED, CaseState.APPROVED, CaseState.BLOCKED, CaseState.ON_HOLD)
    event = CaseEvent.objects.filter(case=waiting_cases["O-A1"]).last()
    assert "per WhatsApp-Gruppe" in event.reason


def test_cancelling_in_bulk_asks_once_more(support, waiting_cases):
    response = support.post(reverse("web:approvals-decide"), {
        "decision": "cancel", "order": ["O-A1", "O-A2"], "reason": "Vendor storniert beide"})
    page = response.content.decode()
    assert "Ja, diese 2 Fälle stornieren" in page
    assert state("O-A1") == state("O-A2") == CaseState.ON_HOLD
    support.post(reverse("web:approvals-decide"), {
        "decision": "cancel", "order": ["O-A1", "O-A2"], "reason": "Vendor storniert beide",
        "confirmed": "yes"})
    assert state("O-A1") == state("O-A2") == CaseState.CANCELED


def test_a_decision_needs_a_reason_and_a_selection(support, waiting_cases):
    response = support.post(reverse("web:approvals-decide"),
                            {"decision": "approve", "order": ["O-A1"], "reason": " "})
    assert "Geben Sie einen Grund" in messages_of(response)[0]
    response = support.post(reverse("web:approvals-decide"),
                            {"decision": "approve", "reason": "per Chat"})
    assert messages_of(response)[-1:] == ["Wählen Sie zuerst die Fälle aus, über die der Vendor "
                                     "entschieden hat."]
    assert state("O-A1") == CaseState.ON_HOLD


def test_the_approval_list_offers_the_decision_in_every_row_and_in_bulk(support, waiting_cases):
    page = support.get(reverse("web:approvals")).content.decode()
    assert f'action="{reverse("web:approvals-decide")}"' in page
    assert 'name="row" value="approve:O-A1"' in page and 'name="row" value="cancel:O-A1"' in page
    assert 'name="order" value="O-A1"' in page
    assert 'name="decision" value="approve"' in page
    assert f'action="{reverse("web:approvals-ask")}"' in page


def test_the_relationship_manager_records_the_vendors_answer_and_nothing_else(
        client, waiting_cases):
    manager = as_user(client, "manager")
    page = manager.get(reverse("web:approvals")).content.decode()
    assert 'name="row" value="approve:O-A1"' in page, "the decision is offered"
    assert reverse("web:approvals-ask") not in page, "asking the vendors is support's"
    response = manager.post(reverse("web:approvals-decide"), {
        "row": "approve:O-A1", "reason-O-A1": "per WhatsApp-Gruppe"})
    assert messages_of(response) == ["1 Fall für das Inkasso freigegeben: O-A1."]
    event = CaseEvent.objects.filter(case=waiting_cases["O-A1"]).last()
    assert event.actor == "manager" and "per WhatsApp-Gruppe" in event.reason

    case_page = manager.get(reverse("web:case", args=["O-A2"])).content.decode()
    assert reverse("web:case-approval", args=["O-A2"]) in case_page
    response = manager.post(reverse("web:case-approval", args=["O-A2"]), {
        "approval-decision": "cancel", "approval-reason": "per WhatsApp-Gruppe: storniert"})
    assert response.status_code == 302 and state("O-A2") == CaseState.CANCELED

    forbidden = [
        (reverse("web:approvals-ask"), {}),
        (reverse("web:case-block", args=["O-A3"]), {"reason": "x"}),
        (reverse("web:case-note", args=["O-A3"]), {"note-text": "x"}),
        (reverse("web:handover-export"), {"vendor": "VALPHA"}),
    ]
    for url, data in forbidden:
        assert manager.post(url, data).status_code == 403, url
    assert state("O-A3") == CaseState.ON_HOLD
    assert ApprovalRequest.objects.count() == 0


def test_a_vendor_login_cannot_decide_for_the_workspace(client, waiting_cases):
    response = as_user(client, "vendor").post(reverse("web:approvals-decide"), {
        "row": "approve:O-A1", "reason-O-A1": "x"})
    assert response["Location"] == reverse("web:portal")
    assert state("O-A1") == CaseState.ON_HOLD


# -- Vendors and their portal logins -------------------------------------------------------------


def test_an_administrator_makes_a_vendor_login_the_invitation_sets_its_password_and_it_works(
        client, users, mailoutbox, django_capture_on_commit_callbacks):
    vendor = VendorFactory(vendor_id="VNEU", name="Neue Akademie")
    helpers.waiting(OrderFactory(order_id="O-NEU", product=ProductFactory(vendor=vendor)))
    admin = as_user(client, "admin")
    page = admin.get(reverse("web:vendors")).content.decode()
    assert f'href="{reverse("web:vendor", args=["VNEU"])}"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("web:vendor-login-create", args=["VNEU"]), {
            "email": "Lena.Lehmann@Neue-Akademie.example", "first_name": "Lena",
            "last_name": "Lehmann"})
    assert messages_of(response) == [
        "Portalzugang lena.lehmann@neue-akademie.example für Neue Akademie angelegt; die "
        "Einladung mit dem Link zum Festlegen des Passworts ging an "
        "lena.lehmann@neue-akademie.example."]
    user = get_user_model().objects.get(username="lena.lehmann@neue-akademie.example")
    assert not user.has_usable_password() and not user.is_staff
    assert VendorAccount.objects.get(user=user).vendor_id == "VNEU"
    assert [m.to for m in mailoutbox] == [["lena.lehmann@neue-akademie.example"]]
    mail = mailoutbox[0]
    assert "Neue Akademie" in mail.body and "lena.lehmann@neue-akademie.example" in mail.body
    link = re.search(r"https?://\S+/konto/passwort/\S+/", mail.body).group(0)
    page = admin.get(reverse("web:vendor", args=["VNEU"])).content.decode()
    assert "eingeladen, noch nicht festgelegt" in page

    client.logout()
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert "Passwort festlegen" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "Sonnenschein-2026!",
                                                    "new_password2": "Sonnenschein-2026!"})
    assert done["Location"] == reverse("web:password-set-done")
    assert client.get("/" + path, follow=True).context["validlink"] is False, "used once"

    login = client.post(reverse("web:login"), {"username": "lena.lehmann@neue-akademie.example",
                                               "password": "Sonnenschein-2026!"}, follow=True)
    assert login.redirect_chain[-1][0] == reverse("web:portal")
    assert "O-NEU" in login.content.decode()


def test_a_login_is_made_once_and_only_by_an_administrator(client, users, mailoutbox,
                                                           django_capture_on_commit_callbacks):
    VendorFactory(vendor_id="VNEU", name="Neue Akademie")
    support = as_user(client, "support")
    page = support.get(reverse("web:vendor", args=["VNEU"])).content.decode()
    assert reverse("web:vendor-login-create", args=["VNEU"]) not in page
    assert support.post(reverse("web:vendor-login-create", args=["VNEU"]),
                        {"email": "x@example.org"}).status_code == 403
    admin = as_user(client, "admin")
    admin.post(reverse("web:vendor-login-create", args=["VNEU"]), {"email": "x@example.org"},
               follow=True)
    again = admin.post(reverse("web:vendor-login-create", args=["VNEU"]),
                       {"email": "X@example.org"}, follow=True)
    assert messages_of(again) == ["x@example.org hat schon einen Zugang für diesen Vendor; "
                                  "senden Sie die Einladung aus der Liste unten erneut."]
    taken = admin.post(reverse("web:vendor-login-create", args=["VNEU"]),
                       {"email": "support@mahnwerk.example"}, follow=True)
    assert "ist schon der Zugang eines anderen Benutzers" in messages_of(taken)[0]
    bad = admin.post(reverse("web:vendor-login-create", args=["VNEU"]), {"email": "kein"})
    assert bad.status_code == 400 and "gültige E-Mail-Adresse" in bad.content.decode()
    user = get_user_model().objects.get(username="x@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        resent = admin.post(reverse("web:vendor-login-invite", args=["VNEU", user.pk]),
                            follow=True)
    assert messages_of(resent) == ["Die Einladung ging erneut an x@example.org."]
    assert len(mailoutbox) == 1
    other = admin.post(reverse("web:vendor-login-invite", args=["VPORTAL", user.pk]),
                       follow=True)
    assert messages_of(other) == ["Dieser Vendor hat keinen solchen Zugang."]


# -- Letter templates: checked and previewed before they are saved -------------------------------


@pytest.fixture
def admin(client, users):
    return as_user(client, "admin")


def template_form(template: LetterTemplate, **changes) -> dict:
    data = {"template": template.template, "language": template.language, "vendor": "",
            "subject": template.subject, "body_html": template.body_html,
            "body_text": template.body_text, "preview_case": ""}
    data.update(changes)
    return data


def test_the_admin_refuses_a_template_that_does_not_render_and_says_where(admin):
    template = LetterTemplate.objects.get(template="first", language="de", vendor=None)
    url = reverse("admin:dunning_lettertemplate_change", args=[template.pk])
    text = template.body_text.replace("{{ order_id }}", "{{ bestellnummer }}", 1)
    lines = text.splitlines()
    line = next(n for n, t in enumerate(lines, start=1) if "bestellnummer" in t)
    response = admin.post(url, template_form(
        template, body_text=text, subject="Mahnung {{ level|divisibleby:0 }}"))
    assert response.status_code == 200, "refused: the form comes back"
    errors = response.context["adminform"].form.errors
    assert errors["body_text"] == [
        f"Der Brief lässt sich mit einem Beispielfall nicht erstellen: Zeile {line}: "
        "unbekannter Platzhalter {{ bestellnummer }}"]
    assert errors["subject"] == [
        "Der Brief lässt sich mit einem Beispielfall nicht erstellen: Zeile 1: "
        "ZeroDivisionError: integer modulo by zero"]
    template.refresh_from_db()
    assert "bestellnummer" not in template.body_text, "nothing was saved"

    ok = admin.post(url, template_form(template, subject="Erinnerung: {{ order_id }}"))
    assert ok.status_code == 302
    template.refresh_from_db()
    assert template.subject == "Erinnerung: {{ order_id }}"
    version = template.history.latest()
    assert version.subject == template.subject and version.history_user.username == "admin", (
        "the change is in the template's history")


def test_the_check_of_an_english_template_speaks_the_readers_language(admin):
    """Found in the demo: the problems of an English template were named in English on a
    German page (the check rendered the letter in its language and wrote its findings there
    too)."""
    template = LetterTemplate.objects.get(template="first", language="en", vendor=None)
    url = reverse("admin:dunning_lettertemplate_change", args=[template.pk])
    response = admin.post(url, template_form(template, subject="{{ kaeufer_name }}"))
    assert response.context["adminform"].form.errors["subject"] == [
        "Der Brief lässt sich mit einem Beispielfall nicht erstellen: Zeile 1: "
        "unbekannter Platzhalter {{ kaeufer_name }}"]


def test_every_standard_template_passes_the_check():
    from mahnwerk.dunning import letters, template_checks

    for template in LetterTemplate.objects.all():
        words = letters.Words(subject=template.subject, body_html=template.body_html,
                              body_text=template.body_text)
        assert template_checks.check_words(words, language=template.language) == {}, template


def test_the_preview_shows_the_letter_for_a_sample_or_a_chosen_case(admin, waiting_cases):
    template = LetterTemplate.objects.get(template="second", language="de", vendor=None)
    change = admin.get(reverse("admin:dunning_lettertemplate_change", args=[template.pk]))
    preview = reverse("admin:dunning_lettertemplate_preview")
    assert f"{preview}?template={template.pk}" in change.content.decode()
    assert f'formaction="{preview}"' in change.content.decode()

    page = admin.get(preview, {"template": template.pk}).content.decode()
    assert "Zahlungserinnerung" in page or "Mahnung" in page
    assert "Erika Mustermann" in page and "MUSTER-1001" in page
    assert "Für einen Beispielfall" in page
    assert not AccessRecord.objects.exists(), "a sample case is nobody's data"

    page = admin.get(preview, {"template": template.pk, "case": "O-A1"}).content.decode()
    assert "O-A1" in page and "Für den Fall der Bestellung O-A1" in page
    assert AccessRecord.objects.get().order_ids == ["O-A1"]

    # Words not saved yet, from the change form's "preview" button.
    unsaved = admin.post(preview, template_form(template, subject="Neu: {{ order_id }}",
                                                preview_case="O-A2"))
    html = unsaved.content.decode()
    assert "Neu: O-A2" in html and "Wortlaut nicht gespeichert" in html
    template.refresh_from_db()
    assert not template.subject.startswith("Neu:")
    broken = admin.post(preview, template_form(template, body_html="{% if %}"))
    assert 'id="template-problems"' in broken.content.decode()


def test_a_policy_links_its_levels_letters_and_its_history_shows_level_changes(admin):
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    page = admin.get(reverse("admin:dunning_dunningpolicy_change", args=[policy.pk]))
    html = page.content.decode()
    assert reverse("admin:dunning_lettertemplate_preview") + "?kind=first&amp;language=de" in html
    level = DunningLevel.objects.get(policy=policy, number=2)
    for fee in ("5.00", "7.50"):
        level.fee = fee
        level.save()
    history = admin.get(reverse("admin:dunning_dunningpolicy_history", args=[policy.pk]))
    block = history.content.decode().split('id="level-history"', 1)[1]
    assert "fee: 5.00 → 7.50" in block, "a change against the version before"
    assert "fee: 5.00" in block and level.name in block, "the first version known, in full"


def test_support_does_not_preview_or_edit_templates(client, users):
    support = as_user(client, "support")
    assert support.get(reverse("admin:dunning_lettertemplate_preview")).status_code == 403


def test_an_administrator_group_member_keeps_the_policies_without_being_superuser(client):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("verwalterin", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Administrator"))
    for perm in ("dunning.change_dunningpolicy", "dunning.add_dunninglevel",
                 "dunning.change_lettertemplate", "collection.record_vendor_decision",
                 "web.add_vendoraccount"):
        assert user.has_perm(perm), perm
    manager = get_user_model().objects.create_user("rm", password="x", is_staff=True)
    manager.groups.add(Group.objects.get(name="Relationship Manager"))
    assert manager.has_perm("collection.record_vendor_decision")
    assert not manager.has_perm("cases.change_debtcase")
    assert not manager.has_perm("dunning.change_lettertemplate")
