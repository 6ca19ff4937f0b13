"""Collection in the workspace (issue 4, items 2, 4 and 8): "Warten auf Freigabe", the collection
list with its XLSX files, the handover export and its kept files, and support recording a
vendor's decision on the case page."""

import hashlib
import io
from datetime import date, datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent, DebtCase, EventKind
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.models import (
    AgencyReport,
    ApprovalRequest,
    CollectionPartner,
    Handover,
    ReportRow,
)
from mahnwerk.web.accounts import ensure_demo_users
from tests import helpers
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = pytest.mark.django_db


def waiting(vendor, **order_fields) -> DebtCase:
    return helpers.waiting(OrderFactory(product=ProductFactory(vendor=vendor, name="Yoga-Kurs"),
                                        **order_fields))


def approved(vendor, **order_fields) -> DebtCase:
    case = waiting(vendor, **order_fields)
    case_services.change_case(case=case, actor="vendor", reason="Freigabe",
                              to_state=CaseState.APPROVED)
    return case


@pytest.fixture
def market():
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie",
                          email="alpha@example.com", relationship_manager="Rita Reuter",
                          escalation_channel="WhatsApp-Gruppe Alpha")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    hold = waiting(alpha, order_id="O-HOLD", first_invoice_number="RE-2025-0042",
                   buyer_first_name="Erika", buyer_last_name="Musterfrau")
    request = ApprovalRequest.objects.create(
        vendor=alpha, sent_at=datetime(2025, 8, 20, 9, 0, tzinfo=BERLIN),
        reminded_at=datetime(2025, 8, 27, 9, 0, tzinfo=BERLIN),
        escalated_at=datetime(2025, 9, 3, 9, 0, tzinfo=BERLIN))
    request.cases.add(hold)
    return {
        "alpha": alpha, "beta": beta, "hold": hold,
        "beta_hold": waiting(beta, order_id="O-BETA-HOLD"),
        "approved": approved(alpha, order_id="O-APPROVED"),
        "running": lettered(incident(OrderFactory(order_id="O-RUNNING",
                                                  product=ProductFactory(vendor=alpha)))),
    }


@pytest.fixture
def users(market):
    return {u.username: u for u in ensure_demo_users(vendor_id=market["alpha"].pk)}


def login(client, django_user_model, username):
    client.force_login(django_user_model.objects.get(username=username))
    return client


@pytest.fixture
def support(client, users, django_user_model):
    return login(client, django_user_model, "support")


def page_urls(handover_pk: int | None = None) -> list[str]:
    urls = [reverse("web:approvals"), reverse("web:approvals") + "?vendor=VALPHA",
            reverse("web:approvals-xlsx"), reverse("web:collection"),
            reverse("web:collection-xlsx"), reverse("web:handovers")]
    if handover_pk:
        urls.append(reverse("web:handover-file", args=[handover_pk]))
    return urls


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def order_ids(html: str, table: str) -> list[str]:
    body = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    return [part.split('"', 1)[0] for part in body.split('data-order="')[1:]]


def export(client, vendor_id="VALPHA", **extra):
    return client.post(reverse("web:handover-export"), {"vendor": vendor_id, **extra})


# -- Access --------------------------------------------------------------------------------------


def test_support_manager_and_admin_see_the_pages(client, users, market, django_user_model):
    handover = export(login(client, django_user_model, "support"))
    pk = Handover.objects.get().pk
    assert handover.status_code == 302
    for username in ("support", "manager", "admin"):
        login(client, django_user_model, username)
        for url in page_urls(pk):
            assert client.get(url).status_code == 200, (username, url)


def test_an_anonymous_visitor_is_sent_to_the_login(client, market):
    Handover.objects.create(vendor=market["alpha"], file_name="VALPHA.csv", content=b"x",
                            sha256="0" * 64, rows=1, handed_over=0, created_by="t")
    for url in page_urls(Handover.objects.get().pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("web:login")), url
    assert export(client).status_code == 302
    response = client.post(reverse("web:case-approval", args=["O-HOLD"]),
                           {"approval-decision": "approve", "approval-reason": "x"})
    assert response["Location"].startswith(reverse("web:login"))
    assert Handover.objects.count() == 1
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.ON_HOLD


def test_a_vendor_login_never_reaches_the_collection_pages(client, users, market,
                                                          django_user_model):
    login(client, django_user_model, "vendor")
    Handover.objects.create(vendor=market["alpha"], file_name="VALPHA.csv", content=b"x",
                            sha256="0" * 64, rows=1, handed_over=0, created_by="t")
    for url in page_urls(Handover.objects.get().pk):
        response = client.get(url)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert response["Location"] == reverse("web:portal"), url
    assert export(client).status_code in (302, 403)
    response = client.post(reverse("web:case-approval", args=["O-HOLD"]),
                           {"approval-decision": "approve", "approval-reason": "x"})
    assert response.status_code in (302, 403)
    assert Handover.objects.count() == 1
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.ON_HOLD
    assert DebtCase.objects.get(order_id="O-APPROVED").state == CaseState.APPROVED


def test_a_relationship_manager_reads_and_records_the_vendors_word_but_cannot_export(
        client, users, market, django_user_model):
    """The relationship manager hears the vendor's answer in its chat group and records it
    (issue 10); exporting stays support's."""
    login(client, django_user_model, "manager")
    page = client.get(reverse("web:collection")).content.decode()
    assert reverse("web:handover-export") not in page
    assert export(client).status_code == 403
    case_page = client.get(reverse("web:case", args=["O-HOLD"])).content.decode()
    assert "Rita Reuter" in case_page
    assert reverse("web:case-approval", args=["O-HOLD"]) in case_page
    response = client.post(reverse("web:case-approval", args=["O-HOLD"]),
                           {"approval-decision": "approve",
                            "approval-reason": "per WhatsApp-Gruppe Alpha"})
    assert response.status_code == 302
    assert not Handover.objects.exists()
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.APPROVED
    event = CaseEvent.objects.filter(case=market["hold"]).last()
    assert event.actor == "manager" and "per WhatsApp-Gruppe Alpha" in event.reason


def test_the_navigation_leads_to_approvals_and_collection(support, market):
    page = support.get(reverse("web:cases")).content.decode()
    assert f'href="{reverse("web:approvals")}"' in page
    assert f'href="{reverse("web:collection")}"' in page


# -- "Warten auf Freigabe" -----------------------------------------------------------------------


def test_the_approval_page_lists_waiting_cases_with_the_columns_of_the_old_tab(support, market):
    response = support.get(reverse("web:approvals"))
    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(order_ids(html, "approvals")) == ["O-BETA-HOLD", "O-HOLD"]
    row = html.split('data-order="O-HOLD"', 1)[1].split("</tr>", 1)[0]
    for text in ("RE-2025-0042", "Alpha Akademie", "VALPHA", "alpha@example.com", "Erika",
                 "Musterfrau", "300,00", "Yoga-Kurs", "01.07.2025", "01.08.2025",
                 "Rita Reuter", "WhatsApp-Gruppe Alpha", "eskaliert am 03.09.2025"):
        assert text in row, text
    assert f'href="{reverse("web:case", args=["O-HOLD"])}"' in row
    assert 'class="pursue"' in html.split('data-order="O-HOLD"', 1)[0][-200:]
    # neither an approved, nor a running case is waiting
    assert "O-APPROVED" not in html and "O-RUNNING" not in html


def test_the_approval_page_filters_by_vendor(support, market):
    html = support.get(reverse("web:approvals"), {"vendor": "VBETA"}).content.decode()
    assert order_ids(html, "approvals") == ["O-BETA-HOLD"]
    assert f'{reverse("web:approvals-xlsx")}?vendor=VBETA' in html
    html = support.get(reverse("web:approvals"), {"vendor": "VALPHA"}).content.decode()
    assert order_ids(html, "approvals") == ["O-HOLD"]


def test_the_approval_list_downloads_as_xlsx(support, market):
    response = support.get(reverse("web:approvals-xlsx"), {"vendor": "VALPHA"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "attachment" in response["Content-Disposition"]
    assert "VALPHA" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == _("first invoice number") and rows[0][4] == _("order id")
    assert rows[0][-1] == _("escalation status")
    assert len(rows) == 2
    assert rows[1][:5] == ("RE-2025-0042", "VALPHA", "Alpha Akademie", "alpha@example.com",
                           "O-HOLD")
    assert sheet.freeze_panes == "A2"


# -- "Inkasso" -----------------------------------------------------------------------------------


def test_the_collection_page_lists_the_collection_list_yellow_and_grey(support, market):
    grey = market["beta_hold"]
    case_services.change_case(case=grey, actor="t", reason="nicht verfolgen",
                              changes={"pursue": False})
    html = support.get(reverse("web:collection")).content.decode()
    assert sorted(order_ids(html, "collection")) == ["O-APPROVED", "O-BETA-HOLD", "O-HOLD"]
    assert 'class="pursue" data-order="O-APPROVED"' in html
    assert 'class="not-pursued" data-order="O-BETA-HOLD"' in html
    vendors = html.split('<table id="handover-vendors">', 1)[1].split("</table>", 1)[0]
    assert 'data-vendor="VALPHA"' in vendors and 'data-vendor="VBETA"' in vendors
    filtered = support.get(reverse("web:collection"), {"vendor": "VBETA"}).content.decode()
    assert order_ids(filtered, "collection") == ["O-BETA-HOLD"]


def test_the_collection_list_downloads_as_xlsx_with_yellow_and_grey_rows(support, market):
    case_services.change_case(case=market["hold"], actor="t", reason="nicht verfolgen",
                              changes={"pursue": False})
    response = support.get(reverse("web:collection-xlsx"), {"vendor": "VALPHA"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]][:3] == [_("vendor id"), _("vendor"), _("order id")]
    by_order = {row[2].value: row for row in rows[1:]}
    assert set(by_order) == {"O-APPROVED", "O-HOLD"}
    assert by_order["O-APPROVED"][0].value == "VALPHA"
    assert by_order["O-APPROVED"][0].fill.start_color.rgb.endswith("FFF2CC")
    assert by_order["O-HOLD"][0].fill.start_color.rgb.endswith("D9D9D9")


def test_a_bad_vendor_filter_is_refused_not_ignored(support, market):
    response = support.get(reverse("web:collection-xlsx"), {"vendor": "NOPE"})
    assert response.status_code == 302 and response["Location"] == reverse("web:collection")
    assert _("Please check the filter.") in messages_of(response)


# -- The handover export -------------------------------------------------------------------------


def test_the_export_button_writes_a_handover_and_hands_the_approved_case_over(support, market):
    response = export(support)
    assert response.status_code == 302 and response["Location"] == reverse("web:handovers")
    handover = Handover.objects.get()
    assert (handover.vendor_id, handover.file_name) == ("VALPHA", "VALPHA.csv")
    assert handover.rows == 3 and handover.handed_over == 1
    assert handover.created_by == "support" and handover.user.username == "support"
    assert DebtCase.objects.get(order_id="O-APPROVED").state == CaseState.SENT_FOR_COLLECTION
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.ON_HOLD
    event = CaseEvent.objects.filter(case=market["approved"]).last()
    assert event.kind == EventKind.COLLECTION and event.actor == "support"
    assert messages_of(response) == [
        f"Übergabedatei VALPHA.csv geschrieben: 3 Zeilen, 1 Fall an {handover.partner.name} "
        "übergeben."]
    html = support.get(reverse("web:handovers")).content.decode()
    row = html.split(f'data-handover="{handover.pk}"', 1)[1].split("</tr>", 1)[0]
    for text in ("Alpha Akademie", "VALPHA.csv", handover.sha256, "support",
                 handover.partner.name, reverse("web:handover-file", args=[handover.pk])):
        assert text in row, text


def test_an_approved_case_that_fails_the_check_stays_back_and_the_message_says_why(
        support, market):
    case = approved(market["alpha"], order_id="O-NOADDR", street="", postcode="")
    case_services.set_invalid_address(case=case, value=False, reason="geprüft", actor="anna")
    response = export(support)
    success, warning = messages_of(response)
    assert "O-NOADDR" in warning and "O-NOADDR" not in success
    assert Handover.objects.get().handed_over == 1
    assert DebtCase.objects.get(order_id="O-NOADDR").state == CaseState.APPROVED


def test_an_export_for_another_vendor_with_a_partner_of_choice(support, market):
    foreign = approved(market["beta"], order_id="O-WIEN", country="AT", postcode="1010")
    partner = CollectionPartner.objects.get(kind="foreign")
    response = support.post(reverse("web:handover-export"),
                            {"other-vendor": "VBETA", "other-partner": str(partner.pk)})
    assert response["Location"] == reverse("web:handovers")
    handover = Handover.objects.get()
    assert handover.partner == partner and handover.handed_over == 1
    foreign.refresh_from_db()
    assert foreign.state == CaseState.SENT_FOR_COLLECTION


def test_an_export_that_would_break_a_rule_shows_why_and_writes_nothing(support, market):
    broken = incident(OrderFactory(order_id="O-BROKEN",
                                   product=ProductFactory(vendor=market["alpha"])))
    case_services.change_case(case=broken, actor="t", reason="von Hand",
                              to_state=CaseState.DUNNING,
                              changes={"second_dunning_letter": date(2025, 8, 1)})
    events_before = CaseEvent.objects.count()
    response = export(support)
    assert response.status_code == 302 and response["Location"] == reverse("web:collection")
    [message] = messages_of(response)
    assert "O-BROKEN" in message
    assert _("a second letter without a first") in message
    assert not Handover.objects.exists()
    assert DebtCase.objects.get(order_id="O-APPROVED").state == CaseState.APPROVED
    assert CaseEvent.objects.count() == events_before
    page = support.get(reverse("web:collection")).content.decode()
    assert "O-BROKEN" in page  # the message is shown on the page it leads back to


def test_an_export_without_a_vendor_is_refused(support, market):
    response = support.post(reverse("web:handover-export"), {"vendor": "NOPE"})
    assert response["Location"] == reverse("web:collection")
    assert not Handover.objects.exists()
    assert support.get(reverse("web:handover-export")).status_code == 405


def test_the_handover_file_is_the_stored_file_byte_for_byte(support, market):
    export(support)
    handover = Handover.objects.get()
    response = support.get(reverse("web:handover-file", args=[handover.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="VALPHA.csv"'
    assert response.content == bytes(handover.content)
    assert hashlib.sha256(response.content).hexdigest() == handover.sha256
    assert response.content.startswith(b"vendor_id,order_id,")
    assert support.get(reverse("web:handover-file", args=[handover.pk + 1])).status_code == 404


# -- The vendor's decision on the case page ------------------------------------------------------


def test_support_records_an_approval_with_its_reason(support, market):
    url = reverse("web:case", args=["O-HOLD"])
    page = support.get(url).content.decode()
    assert reverse("web:case-approval", args=["O-HOLD"]) in page
    assert "Rita Reuter" in page and "WhatsApp-Gruppe Alpha" in page
    response = support.post(reverse("web:case-approval", args=["O-HOLD"]), {
        "approval-decision": "approve",
        "approval-reason": "Freigabe per WhatsApp vom 4.9."})
    assert response.status_code == 302 and response["Location"] == url
    case = DebtCase.objects.get(order_id="O-HOLD")
    assert case.state == CaseState.APPROVED
    event = case.events.last()
    assert event.kind == EventKind.COLLECTION
    assert event.actor == "support" and event.user.username == "support"
    assert "Freigabe per WhatsApp vom 4.9." in event.reason
    page = support.get(url).content.decode()
    timeline = page.split('id="timeline"', 1)[1]
    assert "Freigabe per WhatsApp vom 4.9." in timeline
    # decided: the form is gone, and a second decision is refused
    assert reverse("web:case-approval", args=["O-HOLD"]) not in page
    response = support.post(reverse("web:case-approval", args=["O-HOLD"]), {
        "approval-decision": "cancel", "approval-reason": "doch nicht"})
    assert "O-HOLD" in messages_of(response)[0]
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.APPROVED


def test_support_records_a_cancellation(support, market):
    support.post(reverse("web:case-approval", args=["O-HOLD"]), {
        "approval-decision": "cancel", "approval-reason": "Anbieter storniert laut E-Mail"})
    case = DebtCase.objects.get(order_id="O-HOLD")
    assert case.state == CaseState.CANCELED
    assert "Anbieter storniert laut E-Mail" in case.events.last().reason


def test_a_decision_without_a_reason_is_refused(support, market):
    response = support.post(reverse("web:case-approval", args=["O-HOLD"]),
                            {"approval-decision": "approve", "approval-reason": "  "})
    assert response["Location"] == reverse("web:case", args=["O-HOLD"])
    assert len(messages_of(response)) == 1
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.ON_HOLD


def test_a_blocked_case_stays_blocked_and_the_page_says_why(support, market):
    case_services.block_case(case=market["hold"], reason="Anwaltsschreiben", actor="anna")
    page = support.get(reverse("web:case", args=["O-HOLD"])).content.decode()
    assert reverse("web:case-approval", args=["O-HOLD"]) not in page
    response = support.post(reverse("web:case-approval", args=["O-HOLD"]), {
        "approval-decision": "approve", "approval-reason": "Freigabe per Mail"}, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    assert "O-HOLD" in message and "Anwaltsschreiben" in message
    assert message in response.content.decode()
    assert DebtCase.objects.get(order_id="O-HOLD").state == CaseState.BLOCKED


# -- The agency's report: rows support must look at -------------------------------------------


def test_rows_of_an_agency_report_that_could_not_be_applied_wait_until_support_clears_them(
        client, users, market, django_user_model):
    report = AgencyReport.objects.create(
        partner=CollectionPartner.objects.get(name="Diagonal"), file_name="bericht-11.csv",
        sha256="0" * 64, rows=2, applied=1, created_by="anna")
    row = ReportRow.objects.create(report=report, line=3, order_id="O-HOLD",
                                   values={"order_id": "O-HOLD"},
                                   problem="der Fall wurde nie übergeben")
    manager = login(client, django_user_model, "manager")
    page = manager.get(reverse("web:handovers")).content.decode()
    assert "bericht-11.csv" in page and "der Fall wurde nie übergeben" in page
    clear = reverse("web:report-row-clear", args=[row.pk])
    assert manager.post(clear, {"reason": "x"}).status_code == 403, "managers only read"

    support = login(client, django_user_model, "support")
    support.post(clear, {"reason": ""})
    row.refresh_from_db()
    assert row.cleared_at is None, "a reason is needed"
    response = support.post(clear, {"reason": "Diagonal hat die Zeile korrigiert"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.cleared_at is not None
    note = DebtCase.objects.get(order_id="O-HOLD").notes.last()
    assert "bericht-11.csv" in note.text and "Diagonal hat die Zeile korrigiert" in note.text
    event = note.case.events.last()
    assert (event.code, event.params) == ("collection.report_row_cleared", {
        "file": "bericht-11.csv", "line": 3, "problem": "der Fall wurde nie übergeben",
        "note": "Diagonal hat die Zeile korrigiert"})
    assert "der Fall wurde nie übergeben" not in support.get(
        reverse("web:handovers")).content.decode()


# -- Files support brings in ------------------------------------------------------------------

GOOD_FILE = (
    "vendor_id,order_id,first_dunning_letter,second_dunning_letter,incasso_date,support_comment,"
    "status_support,offer_link,incasso_state,reopened,reopened_id,invalid_address\n"
    "VALPHA,O-1,07/01/2025,08/01/2025,09/12/2025,,Freigabe,"
    "https://checkout.example/p/1?token=x,sent_for_collection,False,,False\n")


def upload(name: str, text: str, encoding: str = "utf-8"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def test_support_checks_a_hand_made_handover_file_and_downloads_it_corrected(support, market):
    page = reverse("web:handover-check")
    assert support.get(page).status_code == 200
    ok = support.post(page, {"file": upload("VALPHA.csv", GOOD_FILE)})
    assert "ist korrekt" in ok.content.decode()
    excel = GOOD_FILE.replace("07/01/2025", "01.07.2025").replace(",", ";")
    checked = support.post(page, {"file": upload("VALPHA.csv", excel)}).content.decode()
    assert 'id="problems"' in checked and "01.07.2025" in checked and "07/01/2025" in checked
    fixed = support.post(page, {"file": upload("VALPHA.csv", excel), "fix": "1"})
    assert fixed["Content-Type"] == "text/csv; charset=utf-8"
    assert "VALPHA.csv" in fixed["Content-Disposition"]
    assert fixed.content.decode().replace("\r\n", "\n") == GOOD_FILE
    unknown_state = GOOD_FILE.replace("sent_for_collection", "in_progress")
    refused = support.post(page, {"file": upload("VALPHA.csv", unknown_state), "fix": "1"})
    assert refused["Content-Type"].startswith("text/html"), "no guessing at an unknown state"
    assert "in_progress" in refused.content.decode()


def test_support_reads_the_agency_report_once_and_sees_the_rows_it_could_not_apply(
        client, users, market, django_user_model):
    support = login(client, django_user_model, "support")
    export(support)  # O-APPROVED goes to Diagonal
    report = ("order_id,agency_reference,takeover_date,status,collected_amount,collected_at,"
              "comment\n"
              "O-APPROVED,AZ-1,2025-09-12,open,0.00,,Akte angelegt\n"
              "O-NIEMALS,AZ-2,2025-09-12,open,0.00,,\n")
    diagonal = CollectionPartner.objects.get(name="Diagonal")
    url = reverse("web:agency-report-upload")
    response = support.post(url, {"file": upload("bericht.csv", report),
                                  "partner": diagonal.pk})
    assert response.status_code == 302
    assert any("1 Zeile übernommen" in m for m in messages_of(response))
    assert DebtCase.objects.get(order_id="O-APPROVED").incasso_date == date(2025, 9, 12)
    page = support.get(reverse("web:handovers")).content.decode()
    assert "O-NIEMALS" in page
    again = support.post(url, {"file": upload("bericht.csv", report), "partner": diagonal.pk})
    assert AgencyReport.objects.count() == 1, "the same file twice changes nothing"
    assert messages_of(again)
    latin = support.post(url, {"file": upload("b2.csv", report.replace("Akte", "Äkte"),
                                                "latin-1"), "partner": diagonal.pk})
    assert any("UTF-8" in m for m in messages_of(latin))
    manager = login(client, django_user_model, "manager")
    assert manager.post(url, {"file": upload("b3.csv", report),
                              "partner": diagonal.pk}).status_code == 403
