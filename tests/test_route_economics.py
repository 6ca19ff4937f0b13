"""The economics of each route (issue 11, point 5): what each partner charges, what each route
brought the cases that took it, what each next step of a case can be expected to bring net of
its costs, the policy's minimum for the agency, and the fee named before a withdrawal."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals, economics, services
from mahnwerk.collection.economics import (
    AGENCY,
    LETTER1,
    LETTER2,
    VENDOR,
    Fees,
    band_of,
    expected_net,
    median_of,
)
from mahnwerk.collection.models import CollectionPartner, PartnerFee
from mahnwerk.dunning.models import DunningPolicy
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import BERLIN, incident, lettered, payment

DIAGONAL = Fees(success_percent=Decimal("15.00"), success_minimum=Decimal("25.00"),
                withdrawal=Decimal("81.24"))


# -- The estimate: a pure function of rate, fees and amount -----------------------------------


def test_a_letter_costs_its_postage_whatever_it_brings():
    costs, net = expected_net(route=LETTER1, open_amount=Decimal("300.00"),
                              rate=Decimal("0.40"), fees=Fees(), letter_cost=Decimal("1.10"))
    assert (costs, net) == (Decimal("1.10"), Decimal("118.90"))  # 300 × 40 % − 1,10


def test_the_agency_keeps_its_percentage_as_often_as_it_collects():
    costs, net = expected_net(route=AGENCY, open_amount=Decimal("300.00"),
                              rate=Decimal("0.50"), fees=DIAGONAL, letter_cost=Decimal("1.10"))
    # 15 % of 300 = 45,00, charged on the half that is collected
    assert (costs, net) == (Decimal("22.50"), Decimal("127.50"))


def test_on_a_small_debt_the_agency_charges_its_minimum():
    costs, net = expected_net(route=AGENCY, open_amount=Decimal("60.00"),
                              rate=Decimal("0.50"), fees=DIAGONAL, letter_cost=Decimal("1.10"))
    assert (costs, net) == (Decimal("12.50"), Decimal("17.50"))  # 25,00 minimum × 50 %


def test_taking_a_case_back_from_the_agency_costs_the_withdrawal_fee():
    costs, net = expected_net(route=VENDOR, open_amount=Decimal("100.00"),
                              rate=Decimal("0.30"), fees=DIAGONAL, letter_cost=Decimal("1.10"),
                              withdrawing=True)
    assert (costs, net) == (Decimal("81.24"), Decimal("-51.24"))
    # before the handover the vendor takes it back for nothing
    assert expected_net(route=VENDOR, open_amount=Decimal("100.00"), rate=Decimal("0.30"),
                        fees=DIAGONAL, letter_cost=Decimal("1.10")) == (
        Decimal("0.00"), Decimal("30.00"))


def test_without_a_rate_there_is_no_estimate_only_the_costs():
    assert expected_net(route=LETTER2, open_amount=Decimal("300.00"), rate=None, fees=Fees(),
                        letter_cost=Decimal("1.10")) == (Decimal("1.10"), None)


def test_a_rate_needs_the_minimum_number_of_cases():
    observed = economics.Observed(route=AGENCY, cases=19, recovered=10)
    assert observed.rate(20) is None
    assert economics.Observed(route=AGENCY, cases=20, recovered=5).rate(20) == Decimal("0.25")


def test_amount_bands_and_medians():
    limits = (Decimal(50), Decimal(200), Decimal(1000))
    assert [band_of(Decimal(a), limits) for a in ("0", "49.99", "50", "999.99", "1000")] == [
        "0-50", "0-50", "50-200", "200-1000", "1000+"]
    assert economics.band_keys(limits) == ["0-50", "50-200", "200-1000", "1000+"]
    assert median_of({}) is None
    assert median_of({3: 1, 10: 1, 40: 1}) == Decimal(10)
    assert median_of({3: 2, 10: 2}) == Decimal("6.5")


# -- Observed from the case history --------------------------------------------------------------


def _case(vendor, amount="300.00", **order):
    return incident(OrderFactory(product=ProductFactory(vendor=vendor), **order),
                    open_amount=amount)


def _first_letter(case, day=date(2025, 7, 1)):
    case_services.change_case(case=case, actor="t", reason="Brief", to_state=CaseState.DUNNING,
                              changes={"first_dunning_letter": day})
    return case


def _paid(case, day):
    return payment(case.order, amount=str(case.open_amount),
                   at=datetime.combine(day, datetime.min.time(), tzinfo=BERLIN).replace(hour=10))


@pytest.mark.django_db
def test_each_route_counts_the_cases_that_reached_it_and_those_paid_there(settings):
    settings.MAHNWERK_ECONOMICS_MIN_CASES = 2
    vendor = VendorFactory()
    # three cases got the first letter: one paid 10 days after it, two went on to the second
    paid_after_first = _first_letter(_case(vendor))
    _paid(paid_after_first, date(2025, 7, 11))
    paid_after_second = lettered(_case(vendor))
    _paid(paid_after_second, date(2025, 8, 21))
    unpaid = lettered(_case(vendor))
    statistics = economics.route_statistics(today=date(2025, 12, 1))
    first = statistics.observed(LETTER1)
    assert (first.cases, first.recovered, first.median_days) == (3, 1, Decimal(10))
    second = statistics.observed(LETTER2)
    assert (second.cases, second.recovered, second.median_days) == (2, 1, Decimal(20))
    assert second.rate() == Decimal("0.5000")
    own = statistics.observed(LETTER2, "stopped_installments", "200-1000")
    assert (own.cases, own.recovered) == (2, 1)
    assert statistics.observed(AGENCY).rate() is None  # nobody went there: too few cases
    # a step too young to tell is left out until its outcome is known
    assert economics.route_statistics(today=date(2025, 8, 10)).observed(LETTER2).cases == 1
    assert unpaid.state == CaseState.DUNNING


@pytest.mark.django_db
def test_a_case_page_shows_the_expected_net_of_its_next_steps(settings, client):
    settings.MAHNWERK_ECONOMICS_MIN_CASES = 1
    vendor = VendorFactory()
    for _ in range(2):
        _paid(lettered(_case(vendor)), date(2025, 8, 11))
    waiting = lettered(_case(vendor))
    case_services.change_case(case=waiting, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    found = economics.case_estimates(case=waiting)
    assert [e.route for e in found] == [AGENCY, VENDOR]
    assert all(e.net is None for e in found)  # nobody went to the agency or back yet
    # the two paid ones were paid only after the second letter: a first letter brought nothing
    letters = economics.case_estimates(case=_case(vendor))
    assert [(e.route, e.rate, e.net) for e in letters] == [
        (LETTER1, Decimal(0), Decimal("-1.10"))]
    second = economics.case_estimates(case=_first_letter(_case(vendor)))
    assert [(e.route, e.rate, e.net) for e in second] == [
        (LETTER2, Decimal(2) / 3, Decimal("198.90"))]  # 300 × 2/3 − 1,10


# -- The partner's fees, kept with their history ----------------------------------------------


@pytest.mark.django_db
def test_diagonal_charges_81_24_eur_for_a_withdrawal_from_the_start():
    fees = economics.fees_of(CollectionPartner.objects.get(name="Diagonal"), currency="EUR")
    assert fees.withdrawal == Decimal("81.24")


@pytest.mark.django_db
def test_a_partner_s_fees_apply_from_their_day_and_the_earlier_ones_stay():
    partner = CollectionPartner.objects.create(name="Testinkasso", kind="domestic")
    PartnerFee.objects.create(partner=partner, valid_from=date(2024, 1, 1),
                              withdrawal_fee=Decimal("75.00"), success_fee_percent=12)
    PartnerFee.objects.create(partner=partner, valid_from=date(2025, 1, 1),
                              withdrawal_fee=Decimal("81.24"), success_fee_percent=15)
    assert economics.fees_of(partner, currency="EUR", on=date(2024, 6, 1)).withdrawal == \
        Decimal("75.00")
    assert economics.fees_of(partner, currency="EUR", on=date(2025, 6, 1)).withdrawal == \
        Decimal("81.24")
    assert economics.fees_of(partner, currency="CHF").withdrawal == Decimal("0.00")
    assert economics.fees_of(None, currency="EUR") == Fees()


# -- The policy's minimum for the agency ------------------------------------------------------


def _approved(vendor, amount):
    case = lettered(_case(vendor, amount=amount))
    case_services.change_case(case=case, actor="t", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    case_services.change_case(case=case, actor="vendor", reason="Freigabe",
                              to_state=CaseState.APPROVED)
    return case


@pytest.mark.django_db
def test_a_case_below_the_policy_s_minimum_is_not_handed_over_and_says_why():
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    policy.handover_minimum_amount = Decimal("50.00")
    policy.save()
    vendor = VendorFactory()
    small, large = _approved(vendor, "30.00"), _approved(vendor, "300.00")
    result = services.export_handover(vendor_id=vendor.pk, actor="anna")
    assert result.handed_over == [large.order_id]
    assert "Mindestbetrag" in " ".join(result.held_back[small.order_id])
    small.refresh_from_db()
    assert small.state == CaseState.APPROVED
    event = small.events.last()
    assert event.code == "collection.below_handover_minimum"
    assert event.reason == ("Nicht an das Inkasso übergeben: der offene Betrag 30,00 € liegt "
                            "unter dem Mindestbetrag der Richtlinie von 50,00 €.").replace(
                                " €", "\xa0€")
    # the next export does not write it again
    services.export_handover(vendor_id=vendor.pk, actor="anna")
    assert small.events.filter(code="collection.below_handover_minimum").count() == 1


# -- Withdrawing a case from the agency ---------------------------------------------------------


@pytest.mark.django_db
def test_withdrawing_a_case_from_the_agency_names_the_withdrawal_fee():
    partner = CollectionPartner.objects.get(name="Diagonal")  # its fee comes with the set-up
    vendor = VendorFactory()
    case = _approved(vendor, "300.00")
    services.export_handover(vendor_id=vendor.pk, actor="anna")
    case.refresh_from_db()
    assert approvals.withdrawal_fee(case) == (partner, Decimal("81.24"))
    fee = approvals.withdraw_from_agency(case=case, actor="portal:vendor-a",
                                         reason="Kunde zahlt direkt")
    assert fee == Decimal("81.24")
    case.refresh_from_db()
    assert case.state == CaseState.CANCELED
    assert "Widerrufsgebühr von 81,24\xa0€" in case.events.last().reason
    with pytest.raises(approvals.ApprovalError):
        approvals.withdraw_from_agency(case=case, actor="portal:vendor-a")


# -- Where it shows: the case page, the approval request, the portal, the Übersicht -----------


@pytest.fixture
def vendor_with_history(settings):
    """A vendor whose earlier cases went to the agency: two paid there, one not."""
    settings.MAHNWERK_ECONOMICS_MIN_CASES = 2
    vendor = VendorFactory(vendor_id="48213", name="Akademie Sonnenschein",
                           email="info@sonnenschein.example")
    for paid in (True, True, False):
        case = _approved(vendor, "300.00")
        case_services.change_case(case=case, actor="t", reason="übergeben",
                                  to_state=CaseState.SENT_FOR_COLLECTION,
                                  changes={"incasso_date": date(2025, 8, 20)})
        if paid:
            payment(case.order, amount="300.00", channel="agency",
                    at=datetime(2025, 9, 19, 10, 0, tzinfo=BERLIN))
    fee = PartnerFee.objects.get(partner__name="Diagonal")
    fee.success_fee_percent = Decimal("15.00")
    fee.save()
    return vendor


def _logged_in(client, username, vendor_id="48213"):
    from django.contrib.auth import get_user_model

    from mahnwerk.web.accounts import ensure_demo_users

    ensure_demo_users(vendor_id=vendor_id)
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _waiting(vendor, amount="300.00"):
    case = lettered(_case(vendor, amount=amount))
    case_services.change_case(case=case, actor="run", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    return case


@pytest.mark.django_db
def test_the_approval_e_mail_says_what_the_agency_is_expected_to_bring(
        vendor_with_history, django_capture_on_commit_callbacks):
    from django.core import mail

    _waiting(vendor_with_history)
    with django_capture_on_commit_callbacks(execute=True):
        approvals.request_approvals(actor="schedule")
    # 300 × 2/3 − 15 % of 300 × 2/3 = 200,00 − 30,00
    assert ("erwartet: Inkasso: 170,00\xa0€ (66,7 % von 3 Fällen bezahlt, Kosten "
            "30,00\xa0€); Vendor: zu wenige Fälle (0) für eine Schätzung") in mail.outbox[0].body


@pytest.mark.django_db
def test_the_portal_and_the_case_page_show_the_expected_net_of_each_next_step(
        vendor_with_history, client):
    waiting = _waiting(vendor_with_history)
    portal = _logged_in(client, "vendor").get(reverse("web:portal")).content.decode()
    assert "erwartet: Inkasso: 170,00\xa0€" in portal
    page = _logged_in(client, "support").get(reverse("web:case", args=[waiting.order_id]))
    html = page.content.decode()
    assert 'id="estimates"' in html and "170,00\xa0€" in html and "zu wenige Fälle" in html


@pytest.mark.django_db
def test_the_uebersicht_shows_a_table_per_route(vendor_with_history, client):
    html = _logged_in(client, "support").get(reverse("web:overview")).content.decode()
    assert 'id="figure-economics"' in html
    for route in ("letter1", "letter2", "agency", "vendor"):
        assert f'data-route="{route}"' in html
    agency = html[html.index('data-route="agency"'):html.index('data-route="vendor"')]
    assert "66,7 %" in agency and "30" in agency  # paid 30 days after the takeover
    assert "uebersicht/zahlungen/?" in agency and "route=agency" in agency


@pytest.mark.django_db
def test_cancelling_a_case_with_the_agency_asks_first_and_names_the_fee(
        vendor_with_history, client):
    case = _approved(vendor_with_history, "300.00")
    services.export_handover(vendor_id=vendor_with_history.pk, actor="anna")
    url = reverse("web:case-withdraw", args=[case.order_id])
    asked = _logged_in(client, "support").post(url, {"reason": "Vendor klärt selbst"})
    assert asked.status_code == 200
    assert "Widerrufsgebühr des Inkassos von 81,24\xa0€" in asked.content.decode()
    case.refresh_from_db()
    assert case.state == CaseState.SENT_FOR_COLLECTION, "nothing happens before the yes"
    client.post(url, {"reason": "Vendor klärt selbst", "confirm": "yes"})
    case.refresh_from_db()
    assert case.state == CaseState.CANCELED


@pytest.mark.django_db
def test_the_vendor_withdraws_in_its_portal_after_seeing_the_fee(vendor_with_history, client):
    case = _approved(vendor_with_history, "300.00")
    services.export_handover(vendor_id=vendor_with_history.pk, actor="anna")
    _logged_in(client, "vendor")
    page = client.get(reverse("web:portal-case", args=[case.order_id])).content.decode()
    assert reverse("web:portal-withdraw", args=[case.order_id]) in page
    url = reverse("web:portal-withdraw", args=[case.order_id])
    assert "81,24\xa0€" in client.post(url).content.decode()
    case.refresh_from_db()
    assert case.state == CaseState.SENT_FOR_COLLECTION
    client.post(url, {"confirm": "yes"})
    case.refresh_from_db()
    assert case.state == CaseState.CANCELED
    assert case.events.last().actor == "portal:vendor"


@pytest.mark.django_db
def test_the_collection_list_says_which_case_owes_less_than_the_minimum(client):
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    policy.handover_minimum_amount = Decimal("50.00")
    policy.save()
    vendor = VendorFactory(vendor_id="48213")
    small = _approved(vendor, "30.00")
    html = _logged_in(client, "support").get(reverse("web:collection")).content.decode()
    row = html[html.index(f'data-order="{small.order_id}"'):]
    assert "unter dem Mindestbetrag der Richtlinie von 50,00\xa0€" in row[:row.index("</tr>")]


@pytest.mark.django_db
def test_the_uebersicht_draws_each_route_s_rate_and_expected_value_beside_the_tables(
        vendor_with_history, client):
    import re
    from urllib.parse import urlsplit

    support = _logged_in(client, "support")
    html = support.get(reverse("web:overview")).content.decode()
    section = html[html.index('id="figure-economics"'):html.index('id="figure-runs"')]
    images = re.findall(r'<img src="([^"]+)"[^>]*alt="([^"]+)"', section)
    assert [urlsplit(src).path for src, _alt in images] == [
        "/uebersicht/grafik/economics.svg", "/uebersicht/grafik/economics-value.svg"]
    assert all("Tabelle daneben" in alt for _src, alt in images)
    assert "currency=EUR" in images[1][0].replace("&amp;", "&")
    rates = support.get(images[0][0].replace("&amp;", "&"))
    assert rates.status_code == 200 and rates["Content-Type"].startswith("image/svg+xml")
    svg = rates.content.decode()
    assert "<script" not in svg and "Inkasso" in svg and "1. Mahnung" in svg
    # the letters: 3 cases each, none paid there; the agency: 2 of 3; the vendor: too few
    # cases, a gap
    drawn = re.findall(r'<desc class="value">([^<]+)</desc>', svg)
    assert drawn == ["0,0\xa0%", "0,0\xa0%", "66,7\xa0%"], drawn
    values = support.get(images[1][0].replace("&amp;", "&")).content.decode()
    # a letter that brought nothing costs its postage (drawn without cents); an average case
    # at the agency: 300 × 2/3 − 15 % of 300 × 2/3 (as in the table)
    drawn = re.findall(r'<desc class="value">([^<]+)</desc>', values)
    assert drawn == ["-1\xa0€", "-1\xa0€", "170\xa0€"], drawn
    agency = section[section.index('data-route="agency"'):section.index('data-route="vendor"')]
    assert "170,00\xa0€" in agency
    # the table beside the charts: each route's whole row, as the charts draw it
    whole = section[section.index('data-whole="agency"'):]
    whole = whole[:whole.index("</tr>")]
    assert "66,7 %" in whole and "170,00\xa0€" in whole


@pytest.mark.django_db
def test_the_portal_s_waiting_list_asks_the_database_as_often_for_thirty_cases_as_for_one(
        vendor_with_history, client, django_capture_on_commit_callbacks,
        django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def asked(count):
        for _number in range(count):
            _waiting(vendor_with_history)
        with django_capture_on_commit_callbacks(execute=True):
            approvals.request_approvals(actor="schedule")

    portal = _logged_in(client, "vendor")
    url = reverse("web:portal") + "?per_page=50"
    asked(1)
    portal.get(url)  # the route economics read once and kept, as for every later visitor
    with CaptureQueriesContext(connection) as one:
        html = portal.get(url).content.decode()
    assert html.count("angefragt am ") == 1 and html.count("erwartet: Inkasso") == 1
    asked(29)
    with django_assert_max_num_queries(len(one)):
        html = portal.get(url).content.decode()
    assert html.count("angefragt am ") == 30 and html.count("erwartet: Inkasso") == 30
