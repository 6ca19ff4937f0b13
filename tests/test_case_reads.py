"""An import follows tens of thousands of cases, so the case work reads the platform's data and
the cases by plain queries (``mahnwerk.bulk.select_rows``, ``bulk.fetch``) rather than through
the ORM (issue 12). What it reads must be exactly what the ORM would have given, on SQLite as
on PostgreSQL: the same values of the same types (aware date-times in the same zone, Decimals
with their places, parsed JSON), or a comparison somewhere else goes wrong; and a payment still
locks the cases it follows, in id order, where the database has row locks."""

import pickle
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mahnwerk import bulk
from mahnwerk.cases import selectors
from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.models import Incident, Order, Payment
from tests.factories import BERLIN, BuyerFactory, OrderFactory, ProductFactory
from tests.helpers import incident, payment, send

pytestmark = pytest.mark.django_db


def columns(model):
    return [field.attname for field in model._meta.concrete_fields]


def as_read(rows):
    """Each value with its type, places and time zone (``repr``): Decimal("0.1") equals
    Decimal("0.10"), and an aware date-time equals the same moment in another zone."""
    return [[repr(value) for value in row] for row in rows]


@pytest.fixture
def case_with_everything():
    """A case whose columns hold a value of every kind the case table has: costs and interest
    with their places, charges, letter dates, a hand-set flag, date-times with and without
    microseconds."""
    order = OrderFactory()
    incident(order, open_amount="120.10")
    DebtCase.objects.filter(order=order).update(
        open_amount=Decimal("0.10"), fees=Decimal("2.50"), interest=Decimal("0.88"),
        charges=[{"on": "2025-07-01", "level": 1, "costs": "2.50", "interest": "0.88"}],
        first_dunning_letter=date(2025, 7, 1), invalid_address_override=True,
        anonymised_at=datetime(2025, 8, 1, 12, 30, 5, 123456, tzinfo=BERLIN),
        offer_link="https://pay.example/zänker")
    return DebtCase.objects.get(order=order)


def test_a_plain_read_of_a_case_gives_every_column_as_the_orm_does(case_with_everything):
    names = columns(DebtCase)
    orm = list(DebtCase.objects.filter(pk=case_with_everything.pk).values_list(*names))
    plain = bulk.select_rows(DebtCase, names, where="order_id",
                             keys=[case_with_everything.order_id])
    assert as_read(plain) == as_read(orm)
    assert "Decimal('0.10')" in as_read(plain)[0]  # not Decimal('0.1'): places kept


def test_a_locked_case_is_the_instance_the_orm_would_give(case_with_everything):
    names = columns(DebtCase)
    orm = DebtCase.objects.get(pk=case_with_everything.pk)
    (locked,) = case_services._locked_cases([case_with_everything.order_id])
    assert [repr(getattr(locked, name)) for name in names] == [
        repr(getattr(orm, name)) for name in names]
    assert (locked._state.adding, locked._state.db) == (False, orm._state.db)


def test_plain_reads_of_orders_incidents_and_payments_give_what_the_orm_gives():
    order = OrderFactory(amount_total=Decimal("600.10"), installments_total=None)
    incident(order, open_amount="99.90")
    payment(order, amount="10.00",
            at=datetime(2025, 6, 20, 9, 0, 0, 654321, tzinfo=BERLIN))
    for model in (Order, Incident, Payment):
        names = columns(model)
        orm = list(model.objects.filter(order_id=order.order_id).values_list(*names))
        plain = bulk.select_rows(model, names, where="order_id", keys=[order.order_id])
        assert as_read(plain) == as_read(orm), model


def test_a_read_of_more_keys_than_a_query_may_carry_takes_one_query_per_900_in_its_order():
    order = OrderFactory()
    incident(order)
    for day in (3, 1, 2):
        payment(order, amount="1.00", at=datetime(2025, 6, day, 9, tzinfo=UTC))
    keys = [f"missing-{n}" for n in range(950)] + [order.order_id]
    with CaptureQueriesContext(connection) as queries:
        found = bulk.select_rows(Payment, ("order_id", "paid_at"), where="order_id", keys=keys,
                                 order_by=("-paid_at",))
    assert len(queries) == 2
    assert [paid_at.day for _, paid_at in found] == [3, 2, 1]


def test_a_payment_locks_the_cases_it_follows_in_id_order_where_rows_can_be_locked():
    order = OrderFactory()
    incident(order)
    with CaptureQueriesContext(connection) as queries:
        send("payments", {"payment_id": "PAY-LOCK", "order_id": order.order_id,
                          "amount": "10.00", "currency": "EUR",
                          "paid_at": "2025-06-20T09:00:00+02:00", "channel": "offer_link"})
    table = connection.ops.quote_name(DebtCase._meta.db_table)
    (read,) = [q["sql"] for q in queries.captured_queries
               if re.match(rf"SELECT .* FROM {re.escape(table)} WHERE .* (IN|= ANY)\(?",
                           q["sql"])
               and "ORDER BY" in q["sql"]]
    locked = connection.features.has_select_for_update  # SQLite: a writer locks the database
    assert re.search(rf'ORDER BY (\S+\.)?"id"( ASC)?{" FOR UPDATE" if locked else ""}$', read)


def test_a_buyers_orders_are_found_by_buyer_id_and_by_e_mail_each_once():
    product = ProductFactory()
    buyer = BuyerFactory()
    own = OrderFactory(product=product, buyer=buyer,
                       created_at=datetime(2025, 5, 1, 10, tzinfo=BERLIN))
    same_id = OrderFactory(product=product, buyer=buyer,
                           created_at=datetime(2025, 5, 3, 10, tzinfo=BERLIN))
    # The same person under another buyer id, found by the e-mail.
    same_mail = OrderFactory(product=product, buyer=BuyerFactory(),
                             buyer_email=own.buyer_email.upper(),
                             created_at=datetime(2025, 5, 2, 10, tzinfo=BERLIN))
    OrderFactory(product=product)  # somebody else
    own_row = Order.objects.filter(pk=own.pk).values_list(
        *selectors.BUYER_ORDER_FIELDS, named=True).get()

    orders = selectors.buyer_orders(of=[own_row])

    assert {o.order_id for o in orders.of(own_row)} == {
        own.order_id, same_id.order_id, same_mail.order_id}
    assert sum(map(len, orders.by_buyer.values())) == 3  # each order read once
    later = orders.later_order(own_row)
    assert (later.order_id, later.created_at) == (same_mail.order_id, same_mail.created_at)
    assert selectors.buyer_orders(of=[own_row], products={"no-such-product"}).of(own_row) == []


def test_orders_read_with_their_buyers_in_one_query_answer_as_the_two_reads_did():
    """An incident file reads a batch's orders with all their buyers' orders in one query
    (``orders_with_their_buyers``): the same rows, each once, and the same answers (reorder
    match, newest address) as reading the orders and then ``buyer_orders`` of them."""
    product = ProductFactory()
    buyer = BuyerFactory()
    own = OrderFactory(product=product, buyer=buyer,
                       created_at=datetime(2025, 5, 1, 10, tzinfo=BERLIN))
    OrderFactory(product=product, buyer=buyer, street="Neue Straße", house_number="7",
                 created_at=datetime(2025, 5, 3, 10, tzinfo=BERLIN))
    same_mail = OrderFactory(product=product, buyer=BuyerFactory(),
                             buyer_email=own.buyer_email.upper(),
                             created_at=datetime(2025, 5, 2, 10, tzinfo=BERLIN))
    no_mail = OrderFactory(product=product, buyer_email="",
                           created_at=datetime(2025, 5, 4, 10, tzinfo=BERLIN))
    OrderFactory(product=product, buyer=no_mail.buyer, buyer_email="",
                 created_at=datetime(2025, 5, 5, 10, tzinfo=BERLIN))
    OrderFactory(product=product)  # somebody else
    asked = [own.order_id, no_mail.order_id]  # same_mail is found by its e-mail

    with CaptureQueriesContext(connection) as queries:
        rows = selectors.orders_with_their_buyers(order_ids=asked,
                                                  fields=selectors.BUYER_ORDER_FIELDS)
    assert len(queries) == 1
    one = selectors.BuyerOrders(map(selectors.BuyerOrder._make, rows))
    own_rows = [Order.objects.filter(pk=pk).values_list(
        *selectors.BUYER_ORDER_FIELDS, named=True).get() for pk in asked]
    two = selectors.buyer_orders(of=own_rows)

    assert sorted(as_read(rows)) == sorted(as_read(
        o for orders in two.by_buyer.values() for o in orders))
    assert len({row[0] for row in rows}) == len(rows) == 5  # each once, the stranger not
    assert same_mail.order_id in {row[0] for row in rows}
    for order in own_rows:
        assert one.later_order(order) == two.later_order(order)
        assert one.newest_address(order) == two.newest_address(order)
    assert one.newest_address(own_rows[0]).street == "Neue Straße"


#: Orders of a small world: each a buyer id of three and an e-mail of three (or none), so that
#: buyers share e-mails under other ids, a moment of a few, and an address or none.
WORLD_ORDER = st.tuples(st.sampled_from(["b1", "b2", "b3"]),
                        st.sampled_from(["", "x@example.org", "Y@example.org", "y@example.org"]),
                        st.integers(min_value=0, max_value=3), st.booleans())


def world_address(n, given):
    if given:
        return {"street": f"Weg {n}", "house_number": str(n + 1), "postcode": "50667",
                "city": "Köln"}
    return {"street": "", "house_number": "", "postcode": "", "city": ""}


@hypothesis_settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(WORLD_ORDER, min_size=1, max_size=10), st.data())
def test_whatever_the_buyers_share_the_one_query_reads_what_the_two_reads_did(orders, data):
    """For any orders of buyers who share e-mails in any way, and any of them asked: the one
    query gives every order of the asked orders' buyers (by id or e-mail) once, the asked ones
    included, as reading them and then ``buyer_orders`` did; and the same reorder match and
    newest address for each asked order. The answers worked out ahead (``answer_for``, as an
    incident file's reader sends them to the writer, pickled) are the same, asked together or
    each order alone."""
    asked_at = data.draw(st.sets(st.integers(0, len(orders) - 1), min_size=1))
    with transaction.atomic():
        product = ProductFactory()
        made = [OrderFactory(product=product, buyer=BuyerFactory(buyer_id=buyer),
                             buyer_email=email, **world_address(n, given),
                             created_at=datetime(2025, 5, 1 + day, 10, tzinfo=BERLIN))
                for n, (buyer, email, day, given) in enumerate(orders)]
        asked = [made[i].order_id for i in sorted(asked_at)]
        rows = selectors.orders_with_their_buyers(order_ids=asked,
                                                  fields=selectors.BUYER_ORDER_FIELDS)
        own = [Order.objects.filter(pk=pk).values_list(
            *selectors.BUYER_ORDER_FIELDS, named=True).get() for pk in asked]
        two = selectors.buyer_orders(of=own)
        one = selectors.BuyerOrders(map(selectors.BuyerOrder._make, rows))
        assert len({row[0] for row in rows}) == len(rows)
        assert sorted(as_read(rows)) == sorted(as_read(
            o for found in two.by_buyer.values() for o in found))
        ahead = pickle.loads(pickle.dumps(selectors.answer_for(
            order_ids=asked, fields=selectors.BUYER_ORDER_FIELDS,
            make=selectors.BuyerOrder._make)))
        alone = [selectors.answer_for(order_ids=[pk], fields=selectors.BUYER_ORDER_FIELDS,
                                      make=selectors.BuyerOrder._make) for pk in asked]
        assert ahead.covers(asked) and not ahead.covers([*asked, "not-stored"])
        for order, answered_alone in zip(own, alone, strict=True):
            assert one.later_order(order) == two.later_order(order)
            assert one.newest_address(order) == two.newest_address(order)
            for answers in (ahead, answered_alone):
                assert tuple(answers.orders[order.order_id]) == tuple(order)
                assert answers.later_order(order) == two.later_order(order)
                assert answers.newest_address(order) == two.newest_address(order)
        transaction.set_rollback(True)
