"""The vendor portal (issue 10, point 6): a vendor's own figures, approving ticked cases
together, a confirmation before cancelling, the history of closed cases, the letters sent to its
buyers without their contact data, and downloads of its lists, logged; never another vendor's
data (tests/test_role_walk.py walks every portal URL as vendor B too)."""

import csv
import io
from datetime import date, datetime

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessKind, AccessRecord, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import outbox
from mahnwerk.dunning.models import Letter
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import VendorAccount
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered, payment

pytestmark = pytest.mark.django_db


def case_of(vendor, order_id: str, *, amount: str = "300.00", first_name: str = "Jürgen",
            last_name: str = "Zänker", email: str = "juergen.zaenker@example.org",
            **order) -> DebtCase:
    return incident(OrderFactory(order_id=order_id, buyer_first_name=first_name,
                                 buyer_last_name=last_name, buyer_email=email,
                                 street="Lindenallee", house_number="7",
                                 product=ProductFactory(vendor=vendor, name="Yoga-Kurs"),
                                 **order),
                    open_amount=amount, at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))


def waiting(vendor, order_id: str, **kwargs) -> DebtCase:
    case = lettered(case_of(vendor, order_id, **kwargs))
    case_services.change_case(case=case, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    return case


def move(case: DebtCase, *states: str) -> DebtCase:
    for state in states:
        case.refresh_from_db()
        case_services.change_case(case=case, actor="test", reason="test", to_state=state)
    case.refresh_from_db()
    return case


def state_of(case: DebtCase) -> str:
    case.refresh_from_db()
    return case.state


@pytest.fixture
def alpha():
    return VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")


@pytest.fixture
def beta():
    return VendorFactory(vendor_id="VBETA", name="Beta Coaching")


@pytest.fixture
def portal(client, alpha, django_user_model):
    ensure_demo_users(vendor_id=alpha.pk)
    client.force_login(django_user_model.objects.get(username="vendor"))
    return client


@pytest.fixture
def beta_portal(beta, django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_user("vendor-b", password="x")
    VendorAccount.objects.create(user=user, vendor=beta)
    client = Client()
    client.force_login(user)
    return client


# -- Figures -------------------------------------------------------------------------------------


def test_a_vendor_sees_what_is_open_with_the_agency_and_recovered(portal, alpha, beta):
    """Open: the active cases (300 € in dunning, 200 € with the agency); recovered: the
    payments since each debt arose (50 € on a running case, 120 € that paid one in full), not
    an instalment paid before the debt, not another vendor's."""
    running = case_of(alpha, "O-RUN", amount="350.00")
    payment(running.order, amount="50.00", at=datetime(2025, 6, 10, tzinfo=BERLIN))
    payment(running.order, amount="70.00", at=datetime(2025, 5, 1, tzinfo=BERLIN),
            channel="other")  # an instalment before the debt arose
    move(waiting(alpha, "O-AGENCY", amount="200.00"), CaseState.APPROVED,
         CaseState.SENT_FOR_COLLECTION)
    paid = case_of(alpha, "O-PAID", amount="120.00")
    payment(paid.order, amount="120.00", at=datetime(2025, 6, 20, tzinfo=BERLIN))
    assert state_of(paid) == CaseState.PAID
    theirs = case_of(beta, "O-BETA", amount="999.00")
    payment(theirs.order, amount="99.00", at=datetime(2025, 6, 20, tzinfo=BERLIN))

    page = portal.get(reverse("web:portal")).content.decode()
    figures = page.split('id="figures"', 1)[1].split("</section>", 1)[0]
    row = figures.split('data-currency="EUR"', 1)[1].split("</tr>", 1)[0]
    opened = row.split('data-figure="open"', 1)[1].split("</td>", 1)[0]
    agency = row.split('data-figure="agency"', 1)[1].split("</td>", 1)[0]
    recovered = row.split('data-figure="recovered"', 1)[1].split("</td>", 1)[0]
    assert "500,00\xa0€" in opened and "2 Fälle" in opened
    assert "200,00\xa0€" in agency and "1 Fall" in agency
    assert "170,00\xa0€" in recovered and "2 Zahlungen" in recovered
    assert "999" not in figures and "99,00" not in figures


def test_a_vendor_without_debts_is_told_so(portal):
    page = portal.get(reverse("web:portal")).content.decode()
    assert "Bisher keine Forderungen." in page


# -- Approving together, cancelling after a second step --------------------------------------------


def test_a_vendor_approves_ticked_cases_together(portal, alpha):
    first, second, third = (waiting(alpha, f"O-W{n}") for n in range(3))
    response = portal.post(reverse("web:portal-approvals"), {
        "action": "approve", "order": ["O-W0", "O-W2"], "reason": "Kunden melden sich nicht"},
        follow=True)
    page = response.content.decode()
    assert "2 Fälle für das Inkasso freigegeben: O-W0, O-W2." in page
    assert [state_of(c) for c in (first, second, third)] == [
        CaseState.APPROVED, CaseState.ON_HOLD, CaseState.APPROVED]
    event = first.events.last()
    assert event.actor == "portal:vendor"
    assert event.reason.endswith("Kunden melden sich nicht")


def test_cancelling_ticked_cases_asks_first_and_changes_nothing_until_confirmed(portal, alpha):
    first, second = waiting(alpha, "O-W0"), waiting(alpha, "O-W1", amount="80.00")
    asked = portal.post(reverse("web:portal-approvals"), {
        "action": "cancel", "order": ["O-W0", "O-W1"], "reason": "Kulanz"})
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "2 Bestellungen stornieren?" in page and "Ja, 2 Bestellungen stornieren" in page
    assert "nicht rückgängig" in page and "80,00\xa0€" in page
    assert 'name="confirm" value="yes"' in page and 'value="Kulanz"' in page
    assert [state_of(c) for c in (first, second)] == [CaseState.ON_HOLD] * 2
    done = portal.post(reverse("web:portal-approvals"), {
        "action": "cancel", "order": ["O-W0", "O-W1"], "reason": "Kulanz", "confirm": "yes"},
        follow=True)
    assert "2 Fälle auf Ihren Wunsch storniert: O-W0, O-W1." in done.content.decode()
    assert [state_of(c) for c in (first, second)] == [CaseState.CANCELED] * 2


def test_cancelling_one_case_from_its_row_asks_first_too(portal, alpha):
    case = waiting(alpha, "O-W0")
    url = reverse("web:portal-approval", args=["O-W0"])
    page = portal.post(url, {"action": "cancel"}).content.decode()
    assert "1 Bestellung stornieren?" in page and f'action="{url}"' in page
    assert state_of(case) == CaseState.ON_HOLD
    portal.post(url, {"action": "cancel", "confirm": "yes"})
    assert state_of(case) == CaseState.CANCELED


def test_each_ticked_case_is_decided_on_its_own_and_refusals_are_named(portal, alpha, beta):
    """A case blocked by support meanwhile keeps its block; another vendor's order is not
    found, with the same words as one that does not exist; the others are approved."""
    ok = waiting(alpha, "O-OK")
    blocked = waiting(alpha, "O-BLOCKED")
    case_services.block_case(case=blocked, reason="Anwaltsschreiben", actor="anna")
    theirs = waiting(beta, "O-BETA")
    page = portal.post(reverse("web:portal-approvals"), {
        "action": "approve", "order": ["O-OK", "O-BLOCKED", "O-BETA", "O-NIEMALS"]},
        follow=True).content.decode()
    assert "1 Fall für das Inkasso freigegeben: O-OK." in page
    assert "Anwaltsschreiben" in page
    assert "Bestellung O-BETA ist nicht unter Ihren Fällen" in page
    assert "Bestellung O-NIEMALS ist nicht unter Ihren Fällen" in page
    assert "Beta Coaching" not in page
    assert (state_of(ok), state_of(blocked), state_of(theirs)) == (
        CaseState.APPROVED, CaseState.BLOCKED, CaseState.ON_HOLD)


def test_another_vendors_case_cannot_be_cancelled_by_ticking_it(portal, beta):
    theirs = waiting(beta, "O-BETA")
    asked = portal.post(reverse("web:portal-approvals"), {"action": "cancel",
                                                          "order": ["O-BETA"]}, follow=True)
    assert "Stornieren?" not in asked.content.decode(), "nothing of B's to confirm"
    portal.post(reverse("web:portal-approvals"), {"action": "cancel", "order": ["O-BETA"],
                                                  "confirm": "yes"})
    assert state_of(theirs) == CaseState.ON_HOLD


def test_nothing_ticked_or_no_action(portal, alpha):
    waiting(alpha, "O-W0")
    page = portal.post(reverse("web:portal-approvals"), {"action": "approve"},
                       follow=True).content.decode()
    assert "Kreuzen Sie zuerst die Fälle an" in page
    assert portal.post(reverse("web:portal-approvals"), {"order": ["O-W0"]}).status_code == 400
    assert portal.get(reverse("web:portal-approvals")).status_code == 405


def test_the_list_ticks_into_one_form_and_decides_each_row_in_its_own(portal, alpha):
    waiting(alpha, "O-W0")
    section = portal.get(reverse("web:portal")).content.decode().split(
        'id="approvals"', 1)[1].split("</section>", 1)[0]
    assert f'action="{reverse("web:portal-approvals")}" id="bulk-approvals"' in section
    assert 'name="order" value="O-W0" form="bulk-approvals"' in section
    assert "Angekreuzte Fälle freigeben" in section and "Angekreuzte stornieren" in section


# -- History and letters ---------------------------------------------------------------------------


def test_the_history_lists_the_closed_cases_newest_first(portal, alpha, beta):
    paid = case_of(alpha, "O-PAID", amount="120.00")
    payment(paid.order, amount="120.00", at=datetime(2025, 6, 20, tzinfo=BERLIN))
    cancelled = move(waiting(alpha, "O-CANCELLED"), CaseState.CANCELED)
    case_of(alpha, "O-RUNNING")
    move(waiting(beta, "O-BETA"), CaseState.CANCELED)
    page = portal.get(reverse("web:portal-closed")).content.decode()
    table = page.split('id="closed-cases"', 1)[1]
    assert table.index("O-CANCELLED") < table.index("O-PAID"), "the latest closing first"
    assert "Bezahlt" in table and "Storniert" in table and "2 Fälle" in page
    assert "O-RUNNING" not in table and "O-BETA" not in page
    assert cancelled.events.filter(to_state=CaseState.CANCELED).exists()


def test_the_letters_to_the_buyers_show_date_level_amount_channel_and_status_not_the_buyer(
        portal, alpha, beta):
    case = lettered(case_of(alpha, "O-MAIL", amount="250.00"),
                    first=date(2025, 7, 1), second=date(2025, 8, 1))
    second = Letter.objects.get(case=case, level=2)
    outbox.enqueue(letter=second)
    lettered(case_of(beta, "O-BETA", email="beta.kaeufer@example.org"))
    page = portal.get(reverse("web:portal-letters")).content.decode()
    rows = page.split('id="letters"', 1)[1].split("</table>", 1)[0].split("<tr")[2:]
    assert len(rows) == 2, "two letters of Alpha's, none of Beta's"
    newest, oldest = rows
    for text in ("O-MAIL", "01.08.2025", "2. Mahnung", "250,00\xa0€", "E-Mail", "wartend"):
        assert text in newest, text
    assert "01.07.2025" in oldest and "1. Mahnung" in oldest
    for contact in ("juergen.zaenker@example.org", "Lindenallee", "beta.kaeufer", "O-BETA"):
        assert contact not in page, contact


# -- Downloads -------------------------------------------------------------------------------------


def test_a_vendor_downloads_its_open_cases_as_csv_safe_for_excel_and_logged(portal, alpha,
                                                                            beta):
    case_of(alpha, "O-A1", amount="300.00", first_name="=HYPERLINK(\"http://x\")")
    waiting(alpha, "O-A2", amount="80.50")
    case_of(beta, "O-BETA")
    response = portal.get(reverse("web:portal-export", args=["offene-faelle", "csv"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="offene-faelle-VALPHA.csv"' in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:5] == ["Bestell-ID", "Käufer", "Produkt", "Status", "offener Betrag"]
    assert sorted(row[0] for row in rows[1:]) == ["O-A1", "O-A2"]
    assert next(row for row in rows if row[0] == "O-A1")[1] == "'=HYPERLINK(\"http://x\") Zänker"
    assert "juergen.zaenker@example.org" not in text and "Lindenallee" not in text
    record = AccessRecord.objects.get(kind=AccessKind.EXPORT)
    assert (record.actor, record.target) == ("vendor", "offene-faelle-VALPHA.csv")
    assert record.order_ids == ["O-A1", "O-A2"]


def test_every_list_downloads_as_xlsx_with_only_the_vendors_rows(portal, alpha, beta):
    lettered(case_of(alpha, "O-A1"))
    waiting(alpha, "O-A2")
    paid = case_of(alpha, "O-A3", amount="50.00")
    payment(paid.order, amount="50.00", at=datetime(2025, 6, 20, tzinfo=BERLIN))
    lettered(case_of(beta, "O-BETA"))
    expected = {"offene-faelle": {"O-A1", "O-A2"}, "freigaben": {"O-A2"},
                "abgeschlossene-faelle": {"O-A3"}, "briefe": {"O-A1", "O-A2"}}
    for name, orders in expected.items():
        response = portal.get(reverse("web:portal-export", args=[name, "xlsx"]))
        assert response.status_code == 200, name
        sheet = load_workbook(io.BytesIO(response.content)).active
        values = list(sheet.iter_rows(values_only=True))
        assert {row[0] for row in values[1:]} == orders, name
        assert "O-BETA" not in str(values)
    letters = load_workbook(io.BytesIO(portal.get(reverse(
        "web:portal-export", args=["briefe", "xlsx"])).content)).active
    header = next(letters.iter_rows(values_only=True))
    assert header == ("Bestell-ID", "Briefdatum", "hinausgegangen am", "Brief", "Betrag",
                      "Währung", "Kanal", "Status")
    assert AccessRecord.objects.filter(kind=AccessKind.EXPORT).count() == 5


def test_an_unknown_list_or_format_is_not_found(portal):
    assert portal.get(reverse("web:portal-export", args=["alle-faelle", "csv"])).status_code \
        == 404
    assert portal.get(reverse("web:portal-export", args=["briefe", "pdf"])).status_code == 404
    assert not AccessRecord.objects.exists()


def test_vendor_b_downloads_its_own_lists_and_nothing_of_vendor_a(beta_portal, alpha, beta):
    case_of(alpha, "O-ALPHA")
    case_of(beta, "O-BETA")
    text = beta_portal.get(reverse("web:portal-export", args=["offene-faelle", "csv"])
                           ).content.decode()
    assert "O-BETA" in text and "O-ALPHA" not in text
    for url in (reverse("web:portal"), reverse("web:portal-closed"),
                reverse("web:portal-letters")):
        assert "O-ALPHA" not in beta_portal.get(url).content.decode()


def test_the_portal_pages_link_each_other_and_the_downloads(portal):
    page = portal.get(reverse("web:portal")).content.decode()
    for name in ("web:portal-closed", "web:portal-letters"):
        assert reverse(name) in page
    for stem in ("offene-faelle", "freigaben", "abgeschlossene-faelle", "briefe"):
        for fmt in ("csv", "xlsx"):
            assert reverse("web:portal-export", args=[stem, fmt]) in page
