"""The last gaps of issue 10, point 2 ("lists that work like lists"): saved filters on every list
of the workspace and the portal, *Freigaben* decided for every case of a filter, bulk actions on
*Inkasso*, and a run's decisions, the run preview and the outbox sorted by every column,
filtered by trigger, amount or letter date, summed and exported as CSV and XLSX."""

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessKind, AccessRecord, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import services
from mahnwerk.dunning.models import Letter, OutboxMessage
from mahnwerk.money import format_money
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import SavedFilter
from mahnwerk.web.views.outbox import OUTBOX_COLUMNS
from mahnwerk.web.views.runs import DECISION_COLUMNS, PREVIEW_COLUMNS
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 10, 1)
EVERY_DECISION = ["O-A1", "O-A2", "O-A3", "O-B1"]


def login(client, django_user_model, username: str):
    client.force_login(django_user_model.objects.get(username=username))
    return client


@pytest.fixture
def run(client, django_user_model):
    """Alpha: two debts due for the first letter (Kaya's a chargeback) and one too young;
    Beta, whose name a spreadsheet would read as a formula: one due."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="=1+1 Coaching")
    old = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
    for order_id, vendor, amount, at, last, kind in (
            ("O-A1", alpha, "300.00", old, "Zänker", "stopped_installments"),
            ("O-A2", alpha, "120.00", old, "Kaya", "chargeback"),
            ("O-A3", alpha, "80.00", datetime(2026, 9, 28, tzinfo=BERLIN), "Neu",
             "stopped_installments"),
            ("O-B1", beta, "999.00", old, "Berg", "stopped_installments")):
        incident(OrderFactory(order_id=order_id, product=ProductFactory(vendor=vendor),
                              buyer_last_name=last), open_amount=amount, at=at, kind=kind)
    ensure_demo_users(vendor_id=alpha.pk)
    login(client, django_user_model, "support")
    return services.start_run(as_of=AS_OF, actor="test")


def rows(client, url, **params) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200
    return re.findall(r'<tr[^>]*\sdata-order="([^"]+)"', response.content.decode())


def between(html: str, marker: str, end: str = "</p>") -> str:
    return html.split(marker, 1)[1].split(end, 1)[0]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def xlsx_rows(response) -> list[tuple]:
    assert response.status_code == 200
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def exported(name: str) -> AccessRecord:
    return AccessRecord.objects.get(kind=AccessKind.EXPORT, target=name)


# -- A run's decisions ----------------------------------------------------------------------------


def test_a_runs_decisions_sort_by_every_column_both_ways(client, run):
    services.execute_run(run=run, actor="test")
    url = reverse("web:run", args=[run.pk])
    html = client.get(url).content.decode()
    for key, _label, _css in DECISION_COLUMNS:
        assert f'href="?sort={key}"' in html, f"the column {key} is a sort link"
        assert sorted(rows(client, url, sort=key)) == EVERY_DECISION
        assert sorted(rows(client, url, sort=f"-{key}")) == EVERY_DECISION
    # The young debt is skipped and nothing was done with it: its reason and outcome differ.
    by_reason = rows(client, url, sort="reason")
    assert "O-A3" in (by_reason[0], by_reason[-1])
    assert rows(client, url, sort="outcome")[0] == "O-A3"  # no outcome comes first
    assert rows(client, url, sort="-outcome")[-1] == "O-A3"


def test_a_runs_decisions_filter_by_trigger_and_open_amount(client, run):
    url = reverse("web:run", args=[run.pk])
    assert rows(client, url, trigger="chargeback") == ["O-A2"]
    assert rows(client, url, amount_min="100", amount_max="500") == ["O-A1", "O-A2"]
    assert rows(client, url, amount_max="99,99") == ["O-A3"]
    html = client.get(url, {"amount_min": "1.000,00"}).content.decode()
    assert "0 Entscheidungen" in between(html, 'id="decision-totals"')
    html = client.get(url, {"amount_min": "viel"}).content.decode()
    assert "Bitte einen Betrag wie 100 oder 99,50 angeben." in html


def test_a_runs_decisions_of_the_filter_download_as_csv_and_xlsx_into_the_access_log(
        client, run):
    url = reverse("web:run", args=[run.pk])
    html = client.get(url, {"vendor": "VALPHA", "action": "send"}).content.decode()
    link = reverse("web:run-export", args=[run.pk, "csv"]) + "?vendor=VALPHA&amp;action=send"
    assert link in html
    table = csv_rows(client.get(reverse("web:run-export", args=[run.pk, "csv"]),
                                {"action": "send", "sort": "-open_amount"}))
    assert [row[0] for row in table[1:]] == ["O-B1", "O-A1", "O-A2"]
    assert table[1][2] == "'=1+1 Coaching", "a formula-like vendor name stays text"
    sheet = xlsx_rows(client.get(reverse("web:run-export", args=[run.pk, "xlsx"]),
                                 {"trigger": "chargeback"}))
    assert [row[0] for row in sheet[1:]] == ["O-A2"]
    assert exported(f"mahnlauf-{run.pk}-entscheidungen.xlsx").order_ids == ["O-A2"]
    response = client.get(reverse("web:run-export", args=[run.pk, "csv"]), {"amount_min": "x"})
    assert response.status_code == 302, "an invalid filter exports nothing"
    assert client.get(reverse("web:run-export", args=[run.pk, "pdf"])).status_code == 404


# -- The run preview ------------------------------------------------------------------------------


def test_the_preview_sorts_by_every_column_filters_by_trigger_and_amount_and_sums(client, run):
    url = reverse("web:runs")
    day = {"as_of": AS_OF.isoformat()}
    html = client.get(url, day).content.decode()
    for key, _label, _css in PREVIEW_COLUMNS:
        assert f"sort={key}" in between(html, '<table id="preview-rows">', "</thead>")
        assert sorted(rows(client, url, **day, sort=key)) == EVERY_DECISION
        assert sorted(rows(client, url, **day, sort=f"-{key}")) == EVERY_DECISION
    assert rows(client, url, **day, sort="-open_amount") == ["O-B1", "O-A1", "O-A2", "O-A3"]
    assert rows(client, url, **day, sort="open_amount") == ["O-A3", "O-A2", "O-A1", "O-B1"]
    assert rows(client, url, **day, trigger="chargeback") == ["O-A2"]
    assert sorted(rows(client, url, **day, amount_min="100")) == ["O-A1", "O-A2", "O-B1"]
    html = client.get(url, {**day, "vendor": "VALPHA", "action": "send"}).content.decode()
    totals = between(html, 'id="preview-totals"')
    assert "2 Entscheidungen aufgelistet" in totals and format_money(420, "EUR") in totals


def test_the_preview_of_the_filter_downloads_as_csv_and_xlsx(client, run):
    params = {"as_of": AS_OF.isoformat(), "amount_min": "100", "sort": "-open_amount"}
    html = client.get(reverse("web:runs"), params).content.decode()
    assert (reverse("web:run-preview-export", args=["csv"])
            + "?as_of=2026-10-01&amp;amount_min=100&amp;sort=-open_amount") in html
    table = csv_rows(client.get(reverse("web:run-preview-export", args=["csv"]), params))
    assert [row[0] for row in table[1:]] == ["O-B1", "O-A1", "O-A2"]
    sheet = xlsx_rows(client.get(reverse("web:run-preview-export", args=["xlsx"]),
                                 {**params, "trigger": "chargeback"}))
    assert [row[0] for row in sheet[1:]] == ["O-A2"]
    assert exported("mahnlauf-vorschau-2026-10-01.xlsx").order_ids == ["O-A2"]
    response = client.get(reverse("web:run-preview-export", args=["csv"]), {"as_of": "gestern"})
    assert response.status_code == 302


# -- The outbox -----------------------------------------------------------------------------------


@pytest.fixture
def sent(run):
    """The run executed: three letters queued; Beta's dated four days later, and its e-mail
    failed once."""
    services.execute_run(run=run, actor="test")
    Letter.objects.filter(case__order_id="O-B1").update(letter_date=date(2026, 10, 5))
    OutboxMessage.objects.filter(case__order_id="O-B1").update(
        last_error="550 mailbox unavailable", to_address="zzz@example.org")
    OutboxMessage.objects.filter(case__order_id="O-A1").update(to_address="aaa@example.org")
    return run


def test_the_outbox_sorts_by_every_column_both_ways(client, sent):
    url = reverse("web:outbox")
    html = client.get(url).content.decode()
    for key, _label, _css in OUTBOX_COLUMNS:
        assert f'href="?sort={key}"' in html, f"the column {key} is a sort link"
        assert sorted(rows(client, url, sort=key)) == ["O-A1", "O-A2", "O-B1"]
        assert sorted(rows(client, url, sort=f"-{key}")) == ["O-A1", "O-A2", "O-B1"]
    assert rows(client, url, sort="to")[0] == "O-A1"
    assert rows(client, url, sort="-to")[0] == "O-B1"
    assert rows(client, url, sort="-error")[0] == "O-B1"


def test_the_outbox_filters_by_letter_date_and_sums_what_the_letters_ask(client, sent):
    url = reverse("web:outbox")
    assert rows(client, url, letter_from="2026-10-03") == ["O-B1"]
    assert sorted(rows(client, url, letter_to="01.10.2026")) == ["O-A1", "O-A2"]
    asked = sum((letter.principal + letter.fees + letter.interest
                 for letter in Letter.objects.filter(case__order_id__in=["O-A1", "O-A2"])),
                Decimal(0))
    html = client.get(url, {"letter_to": "2026-10-01"}).content.decode()
    summary = between(html, 'id="outbox-count"')
    assert "2 Nachrichten" in summary and format_money(asked, "EUR") in summary
    html = client.get(url, {"letter_from": "morgen"}).content.decode()
    assert "Geben Sie den Tag als 2026-12-01 oder 01.12.2026 an." in html


def test_the_outbox_of_the_filter_downloads_as_csv_and_xlsx(client, sent):
    table = csv_rows(client.get(reverse("web:outbox-export", args=["csv"]),
                                {"letter_from": "2026-10-03"}))
    assert [row[0] for row in table[1:]] == ["O-B1"]
    assert "550 mailbox unavailable" in table[1]
    sheet = xlsx_rows(client.get(reverse("web:outbox-export", args=["xlsx"]),
                                 {"sort": "order_id"}))
    assert [row[0] for row in sheet[1:]] == ["O-A1", "O-A2", "O-B1"]
    assert exported("ausgang.xlsx").order_ids == ["O-A1", "O-A2", "O-B1"]
    assert client.get(reverse("web:outbox-export", args=["csv"]),
                      {"level": "x"}).status_code == 302


# -- Saved filters on every list ------------------------------------------------------------------


def save(client, list_name: str, name: str, query: str, next_page: str):
    return client.post(reverse("web:saved-filter-save"),
                       {"list": list_name, "name": name, "query": query, "next": next_page})


def saved_links(html: str) -> dict[str, str]:
    box = between(html, 'id="saved-filters"', "</details>")
    return {name: href.replace("&amp;", "&")
            for href, name in re.findall(r'<a href="([^"]+)">([^<]+)</a>', box)}


def test_support_keeps_filters_of_the_same_name_on_the_outbox_and_on_a_run(client, sent):
    outbox_url, run_url = reverse("web:outbox"), reverse("web:run", args=[sent.pk])
    response = save(client, "outbox", "Beta", "vendor=VBETA&sort=-sent&page=2", outbox_url)
    assert response["Location"] == outbox_url + "?vendor=VBETA&sort=-sent"
    response = save(client, "run_decisions", "Beta", "vendor=VBETA&junk=1", run_url)
    assert response["Location"] == run_url + "?vendor=VBETA", "back to that run, its filter"
    assert SavedFilter.objects.filter(name="Beta").count() == 2

    links = saved_links(client.get(outbox_url).content.decode())
    assert links == {"Beta": outbox_url + "?vendor=VBETA&sort=-sent"}
    assert rows(client, outbox_url, vendor="VBETA", sort="-sent") == ["O-B1"]
    links = saved_links(client.get(run_url).content.decode())
    assert links == {"Beta": run_url + "?vendor=VBETA"}
    assert "Beta" not in saved_links(client.get(reverse("web:cases")).content.decode())

    save(client, "outbox", "Beta", "status=queued", outbox_url)  # kept again: replaced
    assert SavedFilter.objects.get(list="outbox", name="Beta").query == "status=queued"


def test_a_saved_filter_never_leads_to_another_site_or_list(client, sent):
    response = save(client, "outbox", "Alle", "status=queued", "https://evil.example/ausgang/")
    assert response["Location"] == reverse("web:outbox") + "?status=queued"
    response = save(client, "outbox", "Alle", "", reverse("web:cases"))
    assert response["Location"] == reverse("web:outbox")
    assert client.post(reverse("web:saved-filter-save"),
                       {"list": "nothing", "name": "x"}).status_code == 400


def test_a_vendor_keeps_its_own_filters_on_the_portals_lists(client, run, django_user_model):
    login(client, django_user_model, "vendor")
    open_url = reverse("web:portal-open")
    response = save(client, "portal_open", "Große", "amount_min=200&sort=-open_amount",
                    open_url)
    assert response["Location"] == open_url + "?amount_min=200&sort=-open_amount"
    html = client.get(open_url).content.decode()
    assert saved_links(html) == {"Große": open_url + "?amount_min=200&sort=-open_amount"}
    assert rows(client, open_url, amount_min="200", sort="-open_amount") == ["O-A1"]
    assert saved_links(client.get(reverse("web:portal-letters")).content.decode()) == {}
    saved = SavedFilter.objects.get(name="Große")

    # The vendor's filter is the vendor's: support neither saves on the portal's lists nor
    # deletes it; the vendor keeps no filter of a workspace list.
    assert save(client, "cases", "Alle", "", reverse("web:cases"))["Location"] == \
        reverse("web:portal")
    login(client, django_user_model, "support")
    assert save(client, "portal_open", "x", "", open_url).status_code == 403
    client.post(reverse("web:saved-filter-delete"), {"id": saved.pk})
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    login(client, django_user_model, "vendor")
    response = client.post(reverse("web:saved-filter-delete"),
                           {"id": saved.pk, "next": open_url})
    assert response["Location"] == open_url
    assert not SavedFilter.objects.exists()


# -- Freigaben: every case of the filter ----------------------------------------------------------


@pytest.fixture
def waiting(client, django_user_model):
    """Alpha: three cases waiting for its approval, two big, one small; Beta: one big."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    for vendor, order_id, amount in ((alpha, "O-W1", "420.00"), (alpha, "O-W2", "180.00"),
                                     (alpha, "O-W3", "40.00"), (beta, "O-W4", "999.00")):
        case = lettered(incident(OrderFactory(order_id=order_id,
                                              product=ProductFactory(vendor=vendor)),
                                 open_amount=amount))
        case_services.change_case(case=case, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
    ensure_demo_users(vendor_id=alpha.pk)
    return login(client, django_user_model, "support")


def states() -> dict[str, str]:
    return dict(DebtCase.objects.values_list("order_id", "state"))


def test_support_approves_every_case_of_a_freigaben_filter_at_the_vendors_word(waiting):
    url = reverse("web:approvals")
    html = waiting.get(url, {"vendor": "VALPHA", "amount_min": "100", "per_page": 25}
                       ).content.decode()
    assert "alle 2 Fälle dieses Filters" in between(html, 'id="scope-filter"', "</label>")
    query = re.search(r'<input type="hidden" name="query" value="([^"]*)"', html).group(1)
    response = waiting.post(reverse("web:approvals-decide"), {
        "decision": "approve", "scope": "filter", "query": query.replace("&amp;", "&"),
        "reason": "per WhatsApp-Gruppe, 3. März", "next": url})
    assert response.status_code == 302
    assert states() == {"O-W1": CaseState.APPROVED, "O-W2": CaseState.APPROVED,
                        "O-W3": CaseState.ON_HOLD, "O-W4": CaseState.ON_HOLD}
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "2 Fälle für das Inkasso freigegeben: O-W1, O-W2." in messages


def test_cancelling_every_case_of_a_freigaben_filter_asks_first_and_names_them(waiting):
    response = waiting.post(reverse("web:approvals-decide"), {
        "decision": "cancel", "scope": "filter", "query": "vendor=VALPHA",
        "reason": "Vendor storniert", "next": reverse("web:approvals")})
    assert response.status_code == 200, "a page that asks once more"
    assert re.findall(r'data-order="([^"]+)"', response.content.decode()) == \
        ["O-W1", "O-W2", "O-W3"]
    assert set(states().values()) == {CaseState.ON_HOLD}, "nothing changed yet"
    response = waiting.post(reverse("web:approvals-decide"), {
        "decision": "cancel", "scope": "filter", "query": "amount_min=kaputt",
        "reason": "Vendor storniert", "next": reverse("web:approvals")})
    assert response.status_code == 302 and set(states().values()) == {CaseState.ON_HOLD}


# -- Inkasso: bulk actions ------------------------------------------------------------------------


def bulk(client, **data):
    return client.post(reverse("web:collection-bulk"), data)


def test_support_blocks_every_case_of_an_inkasso_filter_and_unblocks_the_ticked_one(waiting):
    url = reverse("web:collection")
    html = waiting.get(url, {"vendor": "VALPHA"}).content.decode()
    assert 'action="' + reverse("web:collection-bulk") + '"' in html
    assert 'name="order" value="O-W1" form="bulk"' in html
    response = bulk(waiting, action="block", reason="Käufer meldet Betrug", scope="filter",
                    query="vendor=VALPHA&amount_min=100")
    assert response["Location"] == reverse("web:cases-bulk-report")
    report = waiting.get(response["Location"]).content.decode()
    assert "2 Fälle erledigt." in report
    assert (reverse("web:collection") + "?vendor=VALPHA&amp;amount_min=100") in report
    assert states() == {"O-W1": CaseState.BLOCKED, "O-W2": CaseState.BLOCKED,
                        "O-W3": CaseState.ON_HOLD, "O-W4": CaseState.ON_HOLD}

    # Blocked on their way to the agency, they stay on Inkasso to be unblocked.
    assert rows(waiting, url, state="blocked") == ["O-W1", "O-W2"]
    assert rows(waiting, url, blocked="no") == ["O-W3", "O-W4"]
    response = bulk(waiting, action="unblock", reason="geklärt", scope="selected",
                    order=["O-W2"], seen=["O-W2:blocked"])
    assert "1 Fall erledigt." in waiting.get(response["Location"]).content.decode()
    assert states()["O-W2"] == CaseState.ON_HOLD and states()["O-W1"] == CaseState.BLOCKED


def test_an_inkasso_bulk_action_acts_on_inkasso_cases_only_and_not_for_the_manager(
        waiting, django_user_model):
    open_case = incident(OrderFactory(order_id="O-OPEN", product=ProductFactory(
        vendor=DebtCase.objects.get(order_id="O-W1").vendor)))
    response = bulk(waiting, action="note", reason="Rückruf vereinbart", scope="selected",
                    order=["O-W1", "O-OPEN"])
    assert "1 Fall erledigt." in waiting.get(response["Location"]).content.decode(), \
        "an open case is not one of Inkasso's"
    assert open_case.notes.count() == 0
    assert DebtCase.objects.get(order_id="O-W1").notes.count() == 1

    # The list showed the case approved; it is waiting again: refused as changed meanwhile.
    response = bulk(waiting, action="block", reason="x", scope="selected", order=["O-W3"],
                    seen=["O-W3:approved"])
    report = waiting.get(response["Location"]).content.decode()
    assert "0 Fälle erledigt." in report and 'data-order="O-W3"' in report
    assert states()["O-W3"] == CaseState.ON_HOLD

    login(waiting, django_user_model, "manager")
    assert bulk(waiting, action="block", reason="x", scope="filter").status_code == 403
