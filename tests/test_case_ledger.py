"""The case ledger follows the platform's data (issue 2, item 6)."""

from datetime import datetime
from decimal import Decimal

import pytest

from mahnwerk.cases import services
from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase
from mahnwerk.cases.states import TRANSITIONS, CaseState
from tests.factories import BERLIN, OrderFactory, ProductFactory
from tests.helpers import incident, order_record, payment, send

pytestmark = pytest.mark.django_db


def test_an_incident_opens_one_case_for_its_order():
    order = OrderFactory()
    case = incident(order, open_amount="400.00", kind="chargeback")
    assert case.state == CaseState.OPEN
    assert case.open_amount == Decimal("400.00")
    assert case.currency == "EUR"
    assert case.trigger == "chargeback"
    assert case.pursue is True
    assert [e.kind for e in case.events.all()] == ["opened"]
    incident(order, open_amount="400.00", kind="chargeback",
             at=datetime(2025, 6, 2, tzinfo=BERLIN))
    assert DebtCase.objects.count() == 1


def test_a_partial_payment_lowers_the_open_amount():
    order = OrderFactory()
    incident(order, open_amount="300.00")
    case = payment(order, amount="100.00")
    assert case.open_amount == Decimal("200.00")
    assert case.state == CaseState.OPEN
    event = case.events.last()
    assert event.kind == "payment"
    assert event.changes["open_amount"] == ["300.00", "200.00"]
    assert event.reason == "Zahlung eingegangen; noch 200,00\xa0€ offen.", "as people read it"


def test_a_fully_paid_case_moves_to_paid():
    order = OrderFactory()
    incident(order, open_amount="300.00")
    payment(order, amount="100.00")
    case = payment(order, amount="200.00")
    assert case.open_amount == Decimal("0.00")
    assert case.state == CaseState.PAID
    assert case.events.last().to_state == CaseState.PAID


def test_the_same_payment_sent_twice_counts_once():
    order = OrderFactory()
    incident(order, open_amount="300.00")
    payment(order, amount="100.00", payment_id="PAY-1")
    events = CaseEvent.objects.count()
    case = payment(order, amount="100.00", payment_id="PAY-1")
    assert case.open_amount == Decimal("200.00")
    assert CaseEvent.objects.count() == events


def test_a_payment_before_the_incident_does_not_lower_the_debt():
    order = OrderFactory()
    payment(order, amount="100.00", at=datetime(2025, 5, 3, tzinfo=BERLIN))
    case = incident(order, open_amount="300.00", at=datetime(2025, 6, 1, tzinfo=BERLIN))
    assert case.open_amount == Decimal("300.00")


def test_a_buyer_who_reordered_the_same_product_is_marked_reopened_and_grey():
    order = OrderFactory()
    case = incident(order)
    reorder = OrderFactory.build(product=order.product, buyer=order.buyer,
                                 created_at=datetime(2025, 7, 1, tzinfo=BERLIN))
    send("orders", order_record(reorder))
    case.refresh_from_db()
    assert case.reopened is True
    assert case.reopened_id == reorder.order_id
    assert case.state == CaseState.REOPENED
    assert case.pursue is False
    note = CaseNote.objects.get(case=case)
    assert note.text == f"Erneut bestellt als Bestellung {reorder.order_id}."


def test_a_reorder_is_matched_by_normalised_email_when_the_buyer_id_differs():
    order = OrderFactory(buyer_email="Erika.M@Example.org")
    case = incident(order)
    other = OrderFactory.build(product=order.product, buyer_email="erika.m+kurs@example.org",
                               created_at=datetime(2025, 7, 1, tzinfo=BERLIN))
    send("orders", order_record(other))
    case.refresh_from_db()
    assert case.reopened_id == other.order_id


def test_a_re_close_by_a_sales_agent_names_the_agent():
    order = OrderFactory()
    case = incident(order)
    reclose = OrderFactory.build(product=order.product, buyer=order.buyer,
                                 sales_agent="Tina Telesales",
                                 created_at=datetime(2025, 7, 1, tzinfo=BERLIN))
    send("orders", order_record(reclose))
    case.refresh_from_db()
    assert case.state == CaseState.REOPENED
    assert "Tina Telesales" in case.notes.get().text


def test_an_order_for_another_product_is_no_reorder():
    order = OrderFactory()
    case = incident(order)
    other = OrderFactory.build(buyer=order.buyer, product=ProductFactory(vendor=order.vendor),
                               created_at=datetime(2025, 7, 1, tzinfo=BERLIN))
    send("orders", order_record(other))
    case.refresh_from_db()
    assert case.reopened is False
    assert case.state == CaseState.OPEN


def test_an_earlier_order_is_no_reorder():
    order = OrderFactory(created_at=datetime(2025, 5, 2, tzinfo=BERLIN))
    earlier = OrderFactory(product=order.product, buyer=order.buyer,
                           created_at=datetime(2025, 1, 2, tzinfo=BERLIN))
    case = incident(order)
    assert earlier.order_id and case.reopened is False


def test_a_reorder_that_came_before_the_incident_marks_the_new_case_at_once():
    order = OrderFactory()
    reorder = OrderFactory(product=order.product, buyer=order.buyer,
                           created_at=datetime(2025, 7, 1, tzinfo=BERLIN))
    case = incident(order)
    assert case.state == CaseState.REOPENED
    assert case.reopened_id == reorder.order_id


@pytest.mark.parametrize(("fields", "problem"), [
    ({"street": ""}, "Straße fehlt"),
    ({"house_number": ""}, "Hausnummer fehlt"),
    ({"postcode": "1234"}, "passt nicht zum Land DE"),
    ({"country": "AT", "postcode": "51147"}, "passt nicht zum Land AT"),
    ({"country": "NL", "postcode": "1234"}, "passt nicht zum Land NL"),
    ({"country": "GB", "postcode": "12345"}, "passt nicht zum Land GB"),
])
def test_an_incomplete_or_wrong_address_is_flagged_invalid(fields, problem):
    case = incident(OrderFactory(**fields))
    assert case.invalid_address is True
    assert problem in case.address_problem_text


@pytest.mark.parametrize(("country", "postcode"), [
    ("DE", "51147"), ("AT", "1010"), ("CH", "8001"), ("NL", "1012 AB"), ("FR", "75001"),
    ("IT", "00184"), ("ES", "28013"), ("PL", "00-950"), ("GB", "SW1A 1AA"), ("US", "10001-1234"),
])
def test_a_complete_address_is_valid_in_every_country_we_know(country, postcode):
    case = incident(OrderFactory(country=country, postcode=postcode))
    assert case.invalid_address is False


def test_support_can_override_the_address_flag_and_is_named():
    case = incident(OrderFactory(street=""))
    services.set_invalid_address(case=case, value=False, reason="Adresse telefonisch bestätigt",
                                 actor="anna")
    case.refresh_from_db()
    assert case.invalid_address is False
    assert case.invalid_address_set_by == "anna"
    assert case.events.last().kind == "address"


def test_blocking_and_unblocking_returns_the_case_to_where_it_was():
    case = incident(OrderFactory())
    services.change_case(case=case, actor="t", reason="Brief", to_state=CaseState.DUNNING)
    services.block_case(case=case, reason="Anwaltsschreiben eingegangen", actor="anna")
    case.refresh_from_db()
    assert case.state == CaseState.BLOCKED
    assert case.block_reason == "Anwaltsschreiben eingegangen"
    services.unblock_case(case=case, reason="geklärt", actor="anna")
    case.refresh_from_db()
    assert case.state == CaseState.DUNNING
    assert case.block_reason == ""
    kinds = [(e.kind, e.from_state, e.to_state, e.actor) for e in case.events.all()][-2:]
    assert kinds == [("blocked", "dunning", "blocked", "anna"),
                     ("unblocked", "blocked", "dunning", "anna")]


def test_a_move_the_table_does_not_allow_is_refused_and_nothing_is_written():
    case = incident(OrderFactory())
    services.change_case(case=case, actor="t", reason="bezahlt", to_state=CaseState.PAID)
    events = CaseEvent.objects.count()
    with pytest.raises(services.CaseError, match="kann nicht von Bezahlt"):
        services.change_case(case=case, actor="t", reason="x", to_state=CaseState.ON_HOLD)
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    assert CaseEvent.objects.count() == events


def test_every_state_can_be_reached_and_left_only_as_the_table_says():
    reachable = {CaseState.OPEN}
    for targets in TRANSITIONS.values():
        reachable |= targets
    assert reachable == set(CaseState.values)
    assert set(TRANSITIONS) == set(CaseState.values)


def test_a_note_is_internal_unless_shared_and_lands_on_the_timeline():
    case = incident(OrderFactory())
    services.add_note(case=case, text="Kunde rief an", actor="anna")
    services.add_note(case=case, text="Ratenzahlung angeboten", actor="anna", shared=True)
    assert list(case.notes.values_list("visibility", flat=True)) == ["internal", "shared"]
    assert [e.kind for e in case.events.all()][-2:] == ["note", "note"]


def test_a_new_incident_on_a_paid_order_opens_the_debt_again():
    order = OrderFactory()
    incident(order, open_amount="100.00")
    payment(order, amount="100.00")
    case = incident(order, open_amount="200.00", kind="chargeback",
                    at=datetime(2025, 8, 1, tzinfo=BERLIN))
    assert case.state == CaseState.OPEN
    assert case.open_amount == Decimal("200.00")


def test_many_cases_changed_alike_at_once_each_get_their_change_and_event():
    """A handover moves thousands of cases to one state at once; mahnwerk.bulk writes those
    alike in one statement per chunk, the others one by one."""
    cases = [incident(OrderFactory(), open_amount="100.00") for _ in range(12)]
    items = [services.CaseChange(case=case, reason="Sammelsperre", to_state=CaseState.BLOCKED)
             for case in cases[:10]]
    items += [services.CaseChange(case=case, reason="Betrag", changes={
        "open_amount": Decimal(f"{50 + n}.00")}) for n, case in enumerate(cases[10:])]
    assert services.change_cases(items=items, actor="anna") == 12
    states = dict(DebtCase.objects.values_list("pk", "state"))
    assert [states[c.pk] for c in cases[:10]] == [CaseState.BLOCKED] * 10
    assert [DebtCase.objects.get(pk=c.pk).open_amount for c in cases[10:]] == [
        Decimal("50.00"), Decimal("51.00")]
    assert CaseEvent.objects.filter(params__text="Sammelsperre").count() == 10


def test_many_events_written_at_once_read_back_exactly():
    """mahnwerk.bulk writes large batches with COPY on PostgreSQL (executemany on SQLite):
    JSON, date-times, empty values and umlauts come back as they went in."""
    from mahnwerk import bulk

    case = incident(OrderFactory(), open_amount="100.00")
    at = datetime(2026, 10, 2, 9, 30, tzinfo=BERLIN)
    rows = [{"case_id": case.pk, "at": at, "kind": "note", "actor": "anna", "user_id": None,
             "from_state": "open", "to_state": "open",
             "code": "text",
             "params": {"text": f"Zeile {n}: Käufer sagt \"später\"\tund\\oder\nmorgen"},
             "changes": {"open_amount": ["100.00", f"{n}.50"], "note": "Grüße"}}
            for n in range(bulk.COPY_FROM + 10)]
    bulk.insert_rows(CaseEvent, rows)
    events = list(case.events.filter(kind="note").order_by("id"))
    assert len(events) == bulk.COPY_FROM + 10
    assert events[7].reason == "Zeile 7: Käufer sagt \"später\"\tund\\oder\nmorgen"
    assert events[7].changes == {"open_amount": ["100.00", "7.50"], "note": "Grüße"}
    assert events[7].at == at and events[7].user_id is None
