"""Corrections (issue 8, point 6): the address flag follows the buyer's newest address, and
support sets the flag by hand or undoes a reorder match, each with a reason, on the command line
and on the case page."""

import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mahnwerk.cases import services
from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase, EventKind
from mahnwerk.cases.states import CaseState
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, order_record, payment, send

pytestmark = pytest.mark.django_db

LATER = datetime(2025, 7, 1, 10, 0, tzinfo=BERLIN)
EVEN_LATER = datetime(2025, 8, 1, 10, 0, tzinfo=BERLIN)


def later_order(order, *, at=LATER, other_product=False, **fields):
    """A later order of the same buyer, sent by the platform."""
    product = ProductFactory(vendor=order.vendor) if other_product else order.product
    new = OrderFactory.build(product=product, buyer=order.buyer, created_at=at, **fields)
    send("orders", order_record(new))
    return new


def address_events(case):
    return list(CaseEvent.objects.filter(case=case, kind=EventKind.ADDRESS).order_by("id"))


# -- The flag follows the buyer's newest address ---------------------------------------------------


def test_a_buyer_whose_address_was_corrected_on_a_later_order_is_no_longer_flagged():
    order = OrderFactory(street="")
    case = incident(order)
    assert case.invalid_address is True
    new = later_order(order, other_product=True)
    case.refresh_from_db()
    assert case.invalid_address is False
    assert case.address_problems == ""
    event = address_events(case)[-1]
    assert new.order_id in event.reason
    assert "nicht mehr als ungültige Adresse markiert" in event.reason
    assert event.changes["invalid_address_computed"] == [True, False]


def test_an_order_sent_again_with_a_corrected_address_clears_its_own_case():
    order = OrderFactory(postcode="5114")
    case = incident(order)
    assert case.address_problems == "postcode_country"
    send("orders", order_record(order, postcode="51147"))
    case.refresh_from_db()
    assert case.invalid_address is False
    assert order.order_id in address_events(case)[-1].reason


def test_a_later_order_with_a_broken_address_flags_the_buyers_case():
    order = OrderFactory()
    case = incident(order)
    assert case.invalid_address is False
    later_order(order, other_product=True, city="")
    case.refresh_from_db()
    assert case.invalid_address is True
    assert case.address_problems == "city"
    assert "Ort fehlt" in address_events(case)[-1].reason


def test_of_two_orders_placed_at_the_same_moment_the_higher_order_ids_address_counts():
    order = OrderFactory(order_id="O-2025-1", street="")
    case = incident(order)
    assert case.invalid_address is True
    later_order(order, at=order.created_at, other_product=True, order_id="O-2025-2")
    case.refresh_from_db()
    assert case.invalid_address is False
    # Placed at the same moment too, with a broken address, but under a lower order id.
    later_order(order, at=order.created_at, other_product=True, order_id="O-2025-0", city="")
    case.refresh_from_db()
    assert case.invalid_address is False
    assert "O-2025-2" in address_events(case)[-1].reason


def test_the_buyer_is_also_matched_by_normalised_email():
    order = OrderFactory(street="", buyer_email="Erika.M@Example.org")
    case = incident(order)
    other = OrderFactory.build(product=ProductFactory(vendor=order.vendor),
                               buyer_email="erika.m+kurs@example.org", created_at=LATER)
    assert other.buyer_id != order.buyer_id
    send("orders", order_record(other))
    case.refresh_from_db()
    assert case.invalid_address is False


def test_an_older_order_does_not_count_over_a_newer_one():
    order = OrderFactory(street="", created_at=LATER)
    case = incident(order)
    later_order(order, other_product=True, at=datetime(2025, 3, 1, tzinfo=BERLIN))
    case.refresh_from_db()
    assert case.invalid_address is True
    assert address_events(case) == []


def test_a_later_order_without_any_address_does_not_replace_the_known_one():
    order = OrderFactory()
    case = incident(order)
    later_order(order, other_product=True, street="", house_number="", postcode="", city="")
    case.refresh_from_db()
    assert case.invalid_address is False
    assert address_events(case) == []


def test_a_case_opened_on_an_old_order_takes_the_newer_address_at_once():
    order = OrderFactory(street="")
    later_order(order, other_product=True)
    case = incident(order)
    assert case.invalid_address is False
    kinds = [e.kind for e in case.events.order_by("id")]
    assert kinds[0] == EventKind.OPENED
    assert EventKind.ADDRESS in kinds


def test_sending_the_same_orders_twice_writes_no_second_event():
    order = OrderFactory(street="")
    case = incident(order)
    new = later_order(order, other_product=True)
    events = CaseEvent.objects.count()
    send("orders", order_record(new))
    send("orders", order_record(new, installments_paid=3))
    assert CaseEvent.objects.count() == events
    case.refresh_from_db()
    assert case.invalid_address is False


def test_a_paid_case_keeps_its_flag():
    order = OrderFactory(street="")
    case = incident(order, open_amount="100.00")
    case = payment(order, amount="100.00")
    assert case.state == CaseState.PAID
    later_order(order, other_product=True)
    case.refresh_from_db()
    assert case.invalid_address is True
    assert address_events(case) == []


def test_a_debt_that_comes_back_on_a_paid_case_follows_the_newer_address_again():
    """A paid case keeps its flag while the buyer corrects the address; an incident that opens
    a new cycle looks at the buyer's newest address again."""
    order = OrderFactory(street="")
    incident(order, open_amount="100.00", at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    payment(order, amount="100.00", at=datetime(2025, 6, 10, 9, 0, tzinfo=BERLIN))
    later_order(order, other_product=True)
    case = incident(order, open_amount="50.00", at=EVEN_LATER)
    assert (case.state, case.cycle, case.invalid_address) == (CaseState.OPEN, 2, False)
    assert [e.kind for e in case.events.order_by("at", "id")][-2:] == [EventKind.INCIDENT,
                                                                       EventKind.ADDRESS]


def test_an_incident_paid_at_once_leaves_the_flag_of_the_case_as_it_opened():
    """A case opened on an incident that was already paid is settled: its flag no longer
    follows the buyer's address."""
    order = OrderFactory(street="")
    later_order(order, other_product=True)
    payment(order, amount="100.00", at=datetime(2025, 6, 20, 9, 0, tzinfo=BERLIN))
    case = incident(order, open_amount="100.00")
    assert (case.state, case.invalid_address) == (CaseState.PAID, True)
    assert address_events(case) == []


def test_a_new_case_reordered_and_with_a_newer_address_is_opened_matched_then_corrected():
    """One incident file: the case opens with its own order's address, the later order of the
    same product marks it reordered, then its address follows the later order's."""
    order = OrderFactory(street="")
    later_order(order)
    case = incident(order)
    assert (case.state, case.reopened, case.invalid_address) == (CaseState.REOPENED, True,
                                                                 False)
    assert [e.kind for e in case.events.order_by("at", "id")] == [
        EventKind.OPENED, EventKind.REORDERED, EventKind.ADDRESS]
    assert CaseNote.objects.filter(case=case).count() == 1


def test_a_case_opened_on_an_incident_finds_the_buyer_by_email_under_another_buyer_id():
    """The later order carries another buyer id but the same normalised e-mail: the new case
    is matched to it as a reorder and takes its address, both from the one reading of the
    buyer's orders."""
    order = OrderFactory(street="", buyer_email="Erika.M@Example.org")
    other = OrderFactory.build(product=order.product, buyer_email="erika.m+kurs@example.org",
                               created_at=LATER)
    assert other.buyer_id != order.buyer_id
    send("orders", order_record(other))
    case = incident(order)
    assert (case.reopened_id, case.invalid_address) == (other.order_id, False)
    assert [e.kind for e in case.events.order_by("at", "id")] == [
        EventKind.OPENED, EventKind.REORDERED, EventKind.ADDRESS]


def test_an_incident_file_opens_many_cases_with_the_same_few_queries():
    """Opening cases reads the buyers' orders once for the reorder match and the address flag:
    the number of queries does not grow with the cases (within one batch)."""
    vendor = VendorFactory()
    product = ProductFactory(vendor=vendor)

    def open_cases(count: int) -> int:
        orders = [OrderFactory(product=product, street="") for _ in range(count)]
        for order in orders[::2]:
            later_order(order)
        records = [{"incident_id": f"I-{count}-{n}", "order_id": o.order_id,
                    "kind": "stopped_installments", "occurred_at": "2025-06-01T09:00:00+02:00",
                    "open_amount": "300.00", "currency": o.currency}
                   for n, o in enumerate(orders)]
        with CaptureQueriesContext(connection) as queries:
            send("incidents", *records)
        cases = DebtCase.objects.filter(order__in=orders)
        assert cases.filter(reopened=True, invalid_address_computed=False).count() == \
            len(orders[::2])
        assert cases.filter(reopened=False, invalid_address_computed=True).count() == \
            count - len(orders[::2])
        return len(queries)

    open_cases(2)  # a process's first write of a table asks once for its size (bulk._grown)
    assert open_cases(4) == open_cases(40)


def test_a_flag_set_by_hand_survives_a_corrected_address():
    order = OrderFactory(street="")
    case = incident(order)
    services.set_invalid_address(case=case, value=True, reason="Brief kam zurück", actor="anna")
    later_order(order, other_product=True)
    case.refresh_from_db()
    assert case.invalid_address is True
    assert case.invalid_address_override is True
    assert case.invalid_address_set_by == "anna"
    # The computed value underneath is current, and the timeline says the hand-set flag stays.
    assert case.invalid_address_computed is False
    assert "von Hand gesetzte Kennzeichen (ungültig, von anna) bleibt" in \
        address_events(case)[-1].reason
    services.set_invalid_address(case=case, value=None, reason="neue Adresse passt",
                                 actor="anna")
    case.refresh_from_db()
    assert case.invalid_address is False
    assert case.invalid_address_set_by == ""


def test_going_back_to_the_computed_value_reads_the_newest_address_afresh():
    order = OrderFactory(street="")
    case = incident(order)
    services.set_invalid_address(case=case, value=False, reason="telefonisch geklärt",
                                 actor="anna")
    # Written outside the intake (no signal): only the way back reads it.
    OrderFactory(product=ProductFactory(vendor=order.vendor), buyer=order.buyer,
                 created_at=LATER, postcode="")
    case.refresh_from_db()
    assert case.address_problems == "street"
    services.set_invalid_address(case=case, value=None, reason="zurück", actor="anna")
    case.refresh_from_db()
    assert case.invalid_address is True
    assert case.address_problems == "postcode"
    assert "berechneten Wert (ungültig)" in address_events(case)[-1].reason


def test_an_import_recomputes_many_buyers_with_the_same_few_queries():
    vendor = VendorFactory()
    product = ProductFactory(vendor=vendor)
    other = ProductFactory(vendor=vendor)

    def import_corrections(count: int) -> int:
        orders = [OrderFactory(product=product, street="") for _ in range(count)]
        for order in orders:
            incident(order)
        records = [order_record(OrderFactory.build(product=other, buyer=o.buyer,
                                                   created_at=LATER)) for o in orders]
        with CaptureQueriesContext(connection) as queries:
            followed = services.follow_orders(
                order_ids=[r["order_id"] for r in records], actor="t")
            assert followed == (0, 0)  # the orders are not stored yet: nothing to follow
            send("orders", *records)
        assert DebtCase.objects.filter(order__in=orders, invalid_address_computed=False
                                       ).count() == count
        return len(queries)

    assert import_corrections(3) == import_corrections(40)


# -- Support's corrections (services) --------------------------------------------------------------


def test_setting_the_flag_by_hand_names_what_was_set_and_why():
    case = incident(OrderFactory())
    services.set_invalid_address(case=case, value=True, reason="Brief kam zurück", actor="anna")
    event = address_events(case)[-1]
    assert event.reason == "Adresse von Hand als ungültig markiert: Brief kam zurück"


@pytest.mark.parametrize(("first", "again", "expected"), [
    (True, True, "bereits von Hand als ungültig markiert (von anna)"),
    (False, False, "bereits von Hand als gültig markiert (von anna)"),
    (None, None, "nicht von Hand gesetzt"),
])
def test_a_flag_that_is_already_so_is_refused(first, again, expected):
    case = incident(OrderFactory())
    if first is not None:
        services.set_invalid_address(case=case, value=first, reason="x", actor="anna")
    events = CaseEvent.objects.count()
    with pytest.raises(services.CaseError) as error:
        services.set_invalid_address(case=case, value=again, reason="y", actor="anna")
    assert expected in str(error.value)
    assert case.order_id in str(error.value)
    assert CaseEvent.objects.count() == events


def test_the_flag_of_a_paid_case_is_not_changed_by_hand():
    order = OrderFactory()
    incident(order, open_amount="100.00")
    case = payment(order, amount="100.00")
    with pytest.raises(services.CaseError, match="Bezahlt"):
        services.set_invalid_address(case=case, value=True, reason="x", actor="anna")


def test_the_flag_of_a_case_with_the_agency_may_be_changed():
    case = incident(OrderFactory())
    services.change_case(case=case, actor="t", reason="x",
                         to_state=CaseState.SENT_FOR_COLLECTION)
    services.set_invalid_address(case=case, value=True, reason="Agentur meldet unbekannt",
                                 actor="anna")
    case.refresh_from_db()
    assert case.invalid_address is True


def reordered():
    order = OrderFactory()
    case = incident(order)
    new = later_order(order)
    case.refresh_from_db()
    assert case.state == CaseState.REOPENED
    return order, new, case


def test_an_undone_reorder_match_is_pursued_again_with_a_note():
    _order, new, case = reordered()
    services.override_reorder(case=case, reason="anderer Käufer, gleicher Name", actor="anna")
    case.refresh_from_db()
    assert (case.state, case.reopened, case.reopened_id, case.pursue) == (
        CaseState.OPEN, False, "", True)
    event = case.events.last()
    assert event.kind == EventKind.REORDERED
    assert event.reason == (f"Kein erneuter Kauf (Bestellung {new.order_id}): "
                            "anderer Käufer, gleicher Name")
    assert case.notes.last().text == event.reason


def test_an_undone_match_is_not_made_again_when_the_platform_sends_the_order_again():
    _order, new, case = reordered()
    services.override_reorder(case=case, reason="kein erneuter Kauf", actor="anna")
    send("orders", order_record(new, installments_paid=3))
    case.refresh_from_db()
    assert case.reopened is False
    assert case.state == CaseState.OPEN


def test_a_second_later_order_is_still_a_reorder_after_an_undone_match():
    order, _new, case = reordered()
    services.override_reorder(case=case, reason="kein erneuter Kauf", actor="anna")
    second = later_order(order, at=EVEN_LATER)
    case.refresh_from_db()
    assert case.reopened_id == second.order_id
    assert case.state == CaseState.REOPENED


def test_a_blocked_case_only_loses_the_reorder_flag():
    order = OrderFactory()
    case = incident(order)
    services.block_case(case=case, reason="Anwaltsschreiben", actor="anna")
    later_order(order)
    case.refresh_from_db()
    assert (case.state, case.reopened) == (CaseState.BLOCKED, True)
    services.override_reorder(case=case, reason="kein erneuter Kauf", actor="anna")
    case.refresh_from_db()
    assert (case.state, case.reopened, case.reopened_id) == (CaseState.BLOCKED, False, "")


def test_undoing_a_reorder_on_a_case_that_is_not_reordered_is_refused():
    case = incident(OrderFactory())
    with pytest.raises(services.CaseError, match="nicht als erneut bestellt"):
        services.override_reorder(case=case, reason="x", actor="anna")
    assert not CaseNote.objects.exists()


# -- The command line ------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_sets_the_flag_by_hand_and_back():
    case = incident(OrderFactory(order_id="O-CLI", street=""))
    out = run("case", "O-CLI", "address-valid", "--reason", "telefonisch bestätigt",
              "--as", "anna")
    assert "O-CLI" in out
    case.refresh_from_db()
    assert (case.invalid_address, case.invalid_address_set_by) == (False, "cli:anna")
    run("case", "O-CLI", "address-invalid", "--reason", "Brief kam zurück", "--as", "anna")
    case.refresh_from_db()
    assert case.invalid_address is True
    data = json.loads(run("case", "O-CLI", "address-computed", "--reason", "zurück",
                          "--format", "json"))
    assert data["invalid_address"] is True
    assert data["timeline"][-1]["kind"] == "address"
    case.refresh_from_db()
    assert case.invalid_address_override is None


def test_the_command_undoes_a_reorder_match():
    order = OrderFactory(order_id="O-RE")
    incident(order)
    later_order(order)
    out = run("case", "O-RE", "not-reordered", "--reason", "anderer Käufer")
    assert "O-RE" in out
    assert DebtCase.objects.get(order_id="O-RE").state == CaseState.OPEN


@pytest.mark.parametrize(("args", "expected"), [
    (("case", "O-BAD", "address-valid"), "--reason"),
    (("case", "O-BAD", "address-valid", "--reason", "  "), "--reason"),
    (("case", "O-BAD", "not-reordered", "--reason", "x"), "nicht als erneut bestellt"),
    (("case", "O-BAD", "address-computed", "--reason", "x"), "nicht von Hand gesetzt"),
    (("case", "O-NONE", "address-valid", "--reason", "x"), "hat keine Forderung"),
    (("case", "O-NOWHERE", "address-valid", "--reason", "x"), "nicht bekannt"),
    (("case", "O-BAD", "address-valid", "--reason", "x", "--shared"), "--shared"),
])
def test_what_makes_no_sense_is_refused_and_nothing_is_written(args, expected):
    incident(OrderFactory(order_id="O-BAD"))
    OrderFactory(order_id="O-NONE")
    events = CaseEvent.objects.count()
    with pytest.raises(CommandError) as error:
        run(*args)
    assert expected in str(error.value)
    assert CaseEvent.objects.count() == events
    assert not CaseNote.objects.exists()


def test_setting_invalid_twice_says_who_set_it():
    incident(OrderFactory(order_id="O-TWICE"))
    run("case", "O-TWICE", "address-invalid", "--reason", "Brief zurück", "--as", "anna")
    with pytest.raises(CommandError, match="bereits von Hand als ungültig markiert"):
        run("case", "O-TWICE", "address-invalid", "--reason", "nochmal")


# -- The case page ---------------------------------------------------------------------------------


@pytest.fixture
def support(client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_demo_users(vendor_id=None)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def test_the_case_page_offers_the_address_actions_but_not_not_reordered(support):
    incident(OrderFactory(order_id="O-WEB", street=""))
    page = support.get(reverse("web:case", args=["O-WEB"])).content.decode()
    assert reverse("web:case-address", args=["O-WEB"]) in page
    assert reverse("web:case-not-reordered", args=["O-WEB"]) not in page
    assert 'value="valid"' in page
    assert 'value="computed"' not in page  # nothing set by hand yet


def test_setting_the_address_valid_on_the_case_page_writes_an_event(support):
    case = incident(OrderFactory(order_id="O-WEB", street=""))
    response = support.post(reverse("web:case-address", args=["O-WEB"]),
                            {"address-flag": "valid", "address-reason": "telefonisch geklärt"},
                            follow=True)
    page = response.content.decode()
    assert "Adresse von Fall O-WEB von Hand als gültig markiert" in page
    case.refresh_from_db()
    assert (case.invalid_address, case.invalid_address_set_by) == (False, "support")
    event = address_events(case)[-1]
    assert event.user.username == "support"
    assert 'value="computed"' in page


def test_the_case_page_refuses_without_reason_or_when_already_set(support):
    case = incident(OrderFactory(order_id="O-WEB"))
    response = support.post(reverse("web:case-address", args=["O-WEB"]),
                            {"address-flag": "invalid", "address-reason": ""}, follow=True)
    assert "Bitte einen Grund angeben." in response.content.decode()
    services.set_invalid_address(case=case, value=True, reason="x", actor="anna")
    events = CaseEvent.objects.count()
    response = support.post(reverse("web:case-address", args=["O-WEB"]),
                            {"address-flag": "invalid", "address-reason": "nochmal"},
                            follow=True)
    assert "bereits von Hand als ungültig markiert" in response.content.decode()
    response = support.post(reverse("web:case-address", args=["O-WEB"]),
                            {"address-flag": "nonsense", "address-reason": "x"}, follow=True)
    assert "gültige Auswahl" in response.content.decode()
    assert CaseEvent.objects.count() == events


def test_a_reordered_case_page_undoes_the_match(support):
    order = OrderFactory(order_id="O-WEB")
    incident(order)
    later_order(order)
    page = support.get(reverse("web:case", args=["O-WEB"])).content.decode()
    assert reverse("web:case-not-reordered", args=["O-WEB"]) in page
    response = support.post(reverse("web:case-not-reordered", args=["O-WEB"]),
                            {"not_reordered-reason": "anderer Käufer"}, follow=True)
    assert "der Fall wird weiter verfolgt" in response.content.decode()
    assert DebtCase.objects.get(order_id="O-WEB").state == CaseState.OPEN


def test_a_manager_who_only_reads_cannot_correct(client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_demo_users(vendor_id=None)
    client.force_login(django_user_model.objects.get(username="manager"))
    incident(OrderFactory(order_id="O-WEB"))
    response = client.post(reverse("web:case-address", args=["O-WEB"]),
                           {"address-flag": "invalid", "address-reason": "x"})
    assert response.status_code == 403


# -- The handover ----------------------------------------------------------------------------------


def test_a_case_whose_buyer_corrected_the_address_goes_to_the_agency_unflagged():
    """The handover check reads the same address as the flag: the order's own address is
    incomplete, but the buyer's newest one is complete, so the case is not held back."""
    from mahnwerk.collection import services as collection_services
    from tests.helpers import lettered

    vendor = VendorFactory(vendor_id="48290")
    order = OrderFactory(product=ProductFactory(vendor=vendor), street="")
    case = lettered(incident(order))
    later_order(order, other_product=True)
    for state in (CaseState.ON_HOLD, CaseState.APPROVED):
        services.change_case(case=case, actor="t", reason="x", to_state=state)
    case.refresh_from_db()
    result = collection_services.export_handover(vendor_id="48290", actor="t")
    assert result.handed_over == [case.order_id]
