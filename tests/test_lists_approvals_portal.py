"""*Freigaben* and the vendor portal's lists work like lists (issue 10, points 2 and 6): sorted by
every column, page numbers and page size, the count and the open amounts of the filter, their
filters and search, CSV and XLSX of the current filter; in the portal, approving every case of
a filter at once, and never a case or a row of another vendor."""

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessKind, AccessRecord, CaseEvent, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import VendorAccount
from mahnwerk.web.views.collection import APPROVAL_COLUMNS
from mahnwerk.web.views.portal import APPROVAL_COLUMNS as PORTAL_APPROVAL_COLUMNS
from mahnwerk.web.views.portal import CLOSED_COLUMNS, LETTER_COLUMNS, OPEN_COLUMNS
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered, payment

pytestmark = pytest.mark.django_db


def a_case(vendor, order_id, *, amount="300.00", last_name="Mustermann", kind=None,
           email="erika@example.org") -> DebtCase:
    order = OrderFactory(order_id=order_id, buyer_last_name=last_name, buyer_email=email,
                         product=ProductFactory(vendor=vendor, name="Yoga-Kurs"))
    extra = {"kind": kind} if kind else {}
    return incident(order, open_amount=amount, **extra)


def waiting(vendor, order_id, **kwargs) -> DebtCase:
    case = lettered(a_case(vendor, order_id, **kwargs))
    case_services.change_case(case=case, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    case.refresh_from_db()
    return case


def waits_since(case: DebtCase, days: int) -> None:
    """The case went on hold ``days`` ago (its timeline says so)."""
    CaseEvent.objects.filter(case=case, to_state=CaseState.ON_HOLD).update(
        at=timezone.now() - timedelta(days=days))


def asked(vendor, *cases, reminded=False, escalated=False) -> None:
    now = timezone.now()
    request = ApprovalRequest.objects.create(
        vendor=vendor, sent_at=now - timedelta(days=10),
        reminded_at=now - timedelta(days=5) if reminded or escalated else None,
        escalated_at=now - timedelta(days=1) if escalated else None)
    request.cases.add(*cases)


def rows(html: str, table: str) -> list[str]:
    body = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    return [part.split('"', 1)[0] for part in body.split('data-order="')[1:]]


def section(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</section>", 1)[0]


@pytest.fixture
def shop():
    """Alpha: four cases waiting (one asked, one reminded, one escalated, one not asked, one a
    chargeback); Beta: one waiting. Alpha's buyer Zänker, a big debt, waits longest."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    cases = {
        "zaenker": waiting(alpha, "O-A1", amount="980.50", last_name="Zänker"),
        "mueller": waiting(alpha, "O-A2", amount="120.00", last_name="Müller"),
        "kaya": waiting(alpha, "O-A3", amount="45.00", last_name="Kaya", kind="chargeback"),
        "schaefer": waiting(alpha, "O-A4", amount="300.00", last_name="Schäfer"),
        "beta_case": waiting(beta, "O-B1", amount="999.00", last_name="Beta-Käufer"),
    }
    waits_since(cases["zaenker"], 40)
    waits_since(cases["mueller"], 20)
    waits_since(cases["kaya"], 3)
    asked(alpha, cases["zaenker"], escalated=True)
    asked(alpha, cases["mueller"], reminded=True)
    asked(alpha, cases["kaya"])
    ensure_demo_users(vendor_id=alpha.pk)
    return {"alpha": alpha, "beta": beta, **cases}


@pytest.fixture
def support(client, shop, django_user_model):
    client.force_login(django_user_model.objects.get(username="support"))
    return client


@pytest.fixture
def vendor(client, shop, django_user_model):
    client.force_login(django_user_model.objects.get(username="vendor"))
    return client


# -- Freigaben -------------------------------------------------------------------------------------


def approvals(client, **params) -> str:
    response = client.get(reverse("web:approvals"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_freigaben_sorts_by_every_column_both_ways(support):
    for key, _label, _css in APPROVAL_COLUMNS:
        for sort in (key, f"-{key}"):
            html = approvals(support, sort=sort)
            assert sorted(rows(html, "approvals")) == ["O-A1", "O-A2", "O-A3", "O-A4", "O-B1"]
            direction = "descending" if sort.startswith("-") else "ascending"
            assert f'aria-sort="{direction}"' in html, sort
    assert rows(approvals(support, sort="-open_amount"), "approvals") == [
        "O-B1", "O-A1", "O-A4", "O-A2", "O-A3"]
    # Waiting longest first: the day it went on hold, oldest first; today's last.
    assert rows(approvals(support, sort="waiting"), "approvals")[:3] == ["O-A1", "O-A2", "O-A3"]
    assert rows(approvals(support, sort="buyer"), "approvals") == [
        "O-B1", "O-A3", "O-A2", "O-A4", "O-A1"]


def test_freigaben_filters_by_vendor_stage_wait_amount_trigger_and_search(support):
    assert rows(approvals(support, vendor="VBETA"), "approvals") == ["O-B1"]
    assert rows(approvals(support, asked="not_asked"), "approvals") == ["O-A4", "O-B1"]
    assert rows(approvals(support, asked="asked"), "approvals") == ["O-A3"]
    assert rows(approvals(support, asked="reminded"), "approvals") == ["O-A2"]
    assert rows(approvals(support, asked="escalated"), "approvals") == ["O-A1"]
    day = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert rows(approvals(support, waiting_to=day), "approvals") == ["O-A1", "O-A2"]
    assert rows(approvals(support, waiting_from=day, vendor="VALPHA"),
                "approvals") == ["O-A3", "O-A4"]
    assert rows(approvals(support, amount_min="100", amount_max="980,50"),
                "approvals") == ["O-A1", "O-A2", "O-A4"]
    assert rows(approvals(support, trigger="chargeback"), "approvals") == ["O-A3"]
    # The search ignores case and accents: "zanker" and "ZAENKER" find Zänker.
    assert rows(approvals(support, q="zanker"), "approvals") == ["O-A1"]
    assert rows(approvals(support, q="SCHAFER"), "approvals") == ["O-A4"]


def test_freigaben_counts_and_sums_the_filter_and_pages_it(support):
    totals = section(approvals(support, vendor="VALPHA").replace("</p>", "</section>"),
                     'id="list-totals"')
    assert "4 Fälle" in totals and "1.445,50" in totals
    totals = section(approvals(support).replace("</p>", "</section>"), 'id="list-totals"')
    assert "5 Fälle" in totals and "2.444,50" in totals
    for n in range(26):
        waiting(VendorFactory(), f"O-MORE-{n:02d}")
    first = approvals(support, per_page=25)
    assert len(rows(first, "approvals")) == 25
    assert 'aria-label="Seite 2"' in first and "31 Fälle" in first
    second = approvals(support, per_page=25, page=2)
    assert len(rows(second, "approvals")) == 6
    # The page size, the sort and the filter stay when paging and when sorting.
    assert "per_page=25" in second.split('aria-current="page"', 1)[0].rsplit("<a", 1)[-1]
    assert len(rows(approvals(support, per_page=100), "approvals")) == 31


def test_freigaben_reads_a_fixed_number_of_queries_per_page(support,
                                                           django_assert_max_num_queries):
    for n in range(30):
        case = waiting(VendorFactory(), f"O-Q{n:02d}")
        asked(case.vendor, case, reminded=n % 2 == 0)
    with django_assert_max_num_queries(19):
        html = approvals(support, per_page=50)
    assert len(rows(html, "approvals")) == 35


def test_freigaben_exports_the_current_filter_as_csv_and_xlsx_safely(support, shop):
    shop["mueller"].order.buyer_first_name = '=HYPERLINK("http://evil.example","x")'
    shop["mueller"].order.save()
    response = support.get(reverse("web:approvals-csv"), {"vendor": "VALPHA",
                                                           "amount_max": "200"})
    assert response.status_code == 200
    assert 'filename="freigaben-VALPHA.csv"' in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[4] for row in table[1:]] == ["O-A2", "O-A3"]
    assert table[1][5].startswith("'=")  # a formula stays text
    assert "eskaliert" not in response.content.decode()
    response = support.get(reverse("web:approvals-xlsx"), {"asked": "escalated"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["O-A1"]
    record = AccessRecord.objects.filter(kind=AccessKind.EXPORT).latest("pk")
    assert record.target == "freigaben.xlsx"


def test_an_invalid_filter_exports_nothing(support):
    response = support.get(reverse("web:approvals-csv"), {"amount_min": "viel"})
    assert response.status_code == 302


# -- The portal's lists --------------------------------------------------------------------------


def test_the_portals_waiting_cases_sort_filter_count_and_never_show_another_vendor(vendor):
    html = vendor.get(reverse("web:portal"), {"sort": "-open_amount"}).content.decode()
    listed = section(html, 'id="approvals"')
    assert rows(listed.replace("<table>", '<table id="w">', 1), "w") == [
        "O-A1", "O-A4", "O-A2", "O-A3"]
    assert "O-B1" not in html and "Beta-Käufer" not in html
    assert 'class="pick-all"' in listed and "web/lists.js" in html
    assert "alle 4 Fälle dieses Filters" in listed
    # A parameter naming another vendor narrows nothing to it.
    html = vendor.get(reverse("web:portal"), {"vendor": "VBETA", "q": "Beta"}).content.decode()
    assert "O-B1" not in html
    html = vendor.get(reverse("web:portal"), {"amount_min": "100"}).content.decode()
    listed = section(html, 'id="approvals"')
    assert "3 Fälle" in listed and "1.400,50" in listed and "O-A3" not in listed
    for key, _label, _css in [column for column in PORTAL_APPROVAL_COLUMNS if column[0]]:
        assert vendor.get(reverse("web:portal"), {"sort": f"-{key}"}).status_code == 200


def test_a_vendor_approves_every_case_of_its_filter_at_once(vendor, shop):
    response = vendor.post(reverse("web:portal-approvals"), {
        "action": "approve", "scope": "filter", "query": "amount_min=100&vendor=VBETA",
        "reason": "alle über 100"})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:portal") + "?amount_min=100#approvals"
    states = dict(DebtCase.objects.values_list("order_id", "state"))
    assert [o for o, s in sorted(states.items()) if s == CaseState.APPROVED] == [
        "O-A1", "O-A2", "O-A4"]
    assert states["O-A3"] == CaseState.ON_HOLD and states["O-B1"] == CaseState.ON_HOLD


def test_cancelling_every_case_of_a_filter_asks_first(vendor):
    page = vendor.post(reverse("web:portal-approvals"), {
        "action": "cancel", "scope": "filter", "query": "trigger=chargeback"}).content.decode()
    assert "1 Bestellung stornieren?" in page and "O-A3" in page and "O-A1" not in page
    assert DebtCase.objects.get(order_id="O-A3").state == CaseState.ON_HOLD


def test_tampered_ids_in_a_bulk_post_never_reach_another_vendors_case(vendor):
    page = vendor.post(reverse("web:portal-approvals"), {
        "action": "approve", "order": ["O-B1", "O-A3"]}, follow=True).content.decode()
    assert "O-B1 ist nicht unter Ihren" in page
    assert DebtCase.objects.get(order_id="O-B1").state == CaseState.ON_HOLD
    assert DebtCase.objects.get(order_id="O-A3").state == CaseState.APPROVED


def test_the_open_cases_page_sorts_filters_counts_and_exports_without_contact_data(vendor,
                                                                                  shop):
    new = a_case(shop["alpha"], "O-A9", amount="50.00", last_name="Özdemir",
                 email="oezdemir@example.org")
    url = reverse("web:portal-open")
    for key, _label, _css in OPEN_COLUMNS:
        html = vendor.get(url, {"sort": f"-{key}"}).content.decode()
        assert sorted(rows(html, "open-cases")) == ["O-A1", "O-A2", "O-A3", "O-A4", "O-A9"]
    html = vendor.get(url, {"state": new.state, "vendor": "VBETA"}).content.decode()
    assert rows(html, "open-cases") == ["O-A9"]
    assert "1 Fall" in html and "50,00" in html
    html = vendor.get(url, {"q": "ozdemir"}).content.decode()
    assert rows(html, "open-cases") == ["O-A9"]
    for fmt in ("csv", "xlsx"):
        response = vendor.get(reverse("web:portal-export", args=["offene-faelle", fmt]),
                              {"amount_max": "130"})
        if fmt == "csv":
            text = response.content.decode("utf-8-sig")
        else:
            sheet = load_workbook(io.BytesIO(response.content)).active
            text = "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row)
        assert "O-A9" in text and "O-A2" in text and "O-A1" not in text and "O-B1" not in text
        for contact in ("@example.org", "Heidestraße", "51147", "Köln"):
            assert contact not in text, (fmt, contact)


def test_the_closed_cases_and_the_letters_filter_sort_count_and_export(vendor, shop):
    done = a_case(shop["alpha"], "O-PAID", amount="70.00")
    payment(done.order, amount="70.00", at=datetime.now(BERLIN))
    a_case(shop["beta"], "O-BPAID", amount="20.00")
    url = reverse("web:portal-closed")
    for key, _label, _css in CLOSED_COLUMNS:
        html = vendor.get(url, {"sort": key}).content.decode()
        assert rows(html, "closed-cases") == ["O-PAID"]
    assert rows(vendor.get(url, {"state": "canceled"}).content.decode(), "closed-cases") == []
    url = reverse("web:portal-letters")
    for key, _label, _css in LETTER_COLUMNS:
        assert vendor.get(url, {"sort": f"-{key}"}).status_code == 200
    html = vendor.get(url, {"level": "2", "per_page": "25"}).content.decode()
    assert sorted(rows(html, "letters")) == ["O-A1", "O-A2", "O-A3", "O-A4"]
    totals = section(html.replace("</p>", "</section>"), 'id="list-totals"')
    assert "4 Briefe" in totals and "1.445,50" in totals
    html = vendor.get(url, {"q": "zanker", "sort": "letter_date"}).content.decode()
    assert rows(html, "letters") == ["O-A1", "O-A1"]
    response = vendor.get(reverse("web:portal-export", args=["briefe", "csv"]), {"level": "1"})
    lines = response.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 5 and "O-B1" not in response.content.decode("utf-8-sig")


def test_vendor_b_exports_its_own_filtered_rows_only(shop, django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_user("vendor-b", password="x")
    VendorAccount.objects.create(user=user, vendor=shop["beta"])
    client = Client()
    client.force_login(user)
    response = client.get(reverse("web:portal-export", args=["freigaben", "csv"]),
                          {"q": "Zänker"})
    assert "O-A1" not in response.content.decode("utf-8-sig")
    response = client.get(reverse("web:portal-export", args=["freigaben", "csv"]))
    text = response.content.decode("utf-8-sig")
    assert "O-B1" in text and "O-A" not in text


# -- Inkasso -------------------------------------------------------------------------------------


def test_inkasso_sorts_filters_counts_and_exports_its_filter(support, shop):
    from mahnwerk.web.views.collection import COLLECTION_COLUMNS

    case_services.change_case(case=shop["mueller"], actor="t", reason="freigegeben",
                              to_state=CaseState.APPROVED)
    url = reverse("web:collection")
    for key, _label, _css in COLLECTION_COLUMNS:
        html = support.get(url, {"sort": f"-{key}"}).content.decode()
        assert sorted(rows(html, "collection")) == ["O-A1", "O-A2", "O-A3", "O-A4", "O-B1"]
    html = support.get(url, {"state": "approved"}).content.decode()
    assert rows(html, "collection") == ["O-A2"]
    html = support.get(url, {"vendor": "VALPHA", "amount_min": "100",
                             "sort": "-open_amount"}).content.decode()
    assert rows(html, "collection") == ["O-A1", "O-A4", "O-A2"]
    totals = html.split('id="collection-totals"', 1)[1].split("</p>", 1)[0]
    assert "3 Fälle" in totals and "1.400,50" in totals
    assert rows(support.get(url, {"q": "kaya"}).content.decode(), "collection") == ["O-A3"]
    response = support.get(reverse("web:collection-csv"), {"trigger": "chargeback"})
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[2] for row in table[1:]] == ["O-A3"]
    response = support.get(reverse("web:collection-xlsx"), {"vendor": "VBETA"})
    assert 'filename="inkasso-VBETA.xlsx"' in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["O-B1"]
