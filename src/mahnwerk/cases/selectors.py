"""Reading debt cases: lists, one case with its timeline, reorder matches, the JSON shape."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from django.db import connection
from django.db.models import (
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from mahnwerk import bulk, reasons
from mahnwerk.cases.claims import Paid, charges_of
from mahnwerk.cases.models import CaseEvent, DebtCase, EventKind
from mahnwerk.cases.states import ACTIVE_STATES, REORDER_STATES, CaseState
from mahnwerk.intake.models import Incident, Order, Payment, Vendor


class LaterOrder(NamedTuple):
    order_id: str
    created_at: datetime
    sales_agent: str


def later_orders_for(*, cases: Sequence[DebtCase],
                     skip: Collection[tuple[str, str]] = ()) -> dict[str, LaterOrder]:
    """For each case, the earliest later order by the same buyer for the same product
    (``BuyerOrders.later_order``), by the case's order id.

    Plain tuples rather than model objects: an import asks this for a hundred thousand new
    cases. ``skip`` holds (case order id, later order id) pairs that do not count (support
    undid that match). Two queries per 900 cases.
    """
    result: dict[str, LaterOrder] = {}
    for start in range(0, len(cases), 900):
        own = list(Order.objects.filter(pk__in=[c.order_id for c in cases[start:start + 900]])
                   .values_list(*BUYER_ORDER_FIELDS, named=True))
        orders = buyer_orders(of=own, products={o.product_id for o in own})
        for order in own:
            later = orders.later_order(order, skip=skip)
            if later is not None:
                result[order.order_id] = later
    return result


class OrdersFollowed(NamedTuple):
    """What orders that came in are followed with (``cases.services.follow_orders``): the
    orders themselves, every order of their buyers (``BuyerOrders``, by buyer id and by
    normalised e-mail) with each order's row by id, and the cases of those orders that a new
    order can still change (not yet marked reordered, or still worked on), the newest opened
    first."""

    new: list[BuyerOrder]
    orders: BuyerOrders
    rows: dict[str, BuyerOrder]
    cases: list[DebtCase]

    def covers(self, rows: Iterable[BuyerOrder]) -> bool:
        """Whether ``orders`` holds every order of the buyers of ``rows``: their buyer ids and
        e-mails are among those it was read for (else a case's buyer, reached through an
        e-mail, may have orders under another e-mail that were not read)."""
        buyers = {n.buyer_id for n in self.new}
        emails = {n.buyer_email_normalized for n in self.new if n.buyer_email_normalized}
        return all(row.buyer_id in buyers and (
            not row.buyer_email_normalized or row.buyer_email_normalized in emails)
            for row in rows)


def orders_followed(*, order_ids: Sequence[str]) -> OrdersFollowed | None:
    """The orders ``order_ids`` (at most 900), their buyers' orders and those orders' cases
    that a new order can change (``OrdersFollowed``); None when there are none to change.
    Three queries: the orders, their buyers' orders (``buyer_orders``), the cases by their
    order (``_cases_of_orders``); one when no case could change. An intake API request of 50
    orders read the same orders and cases twice, once for the reorder match and once for the
    address flag (docs/benchmarks.md)."""
    # The cases a new order can change: a reorder match, or the flag of one still worked on.
    followed = Q(reopened=False) | ~Q(state__in=SETTLED_STATES)
    if not DebtCase.objects.filter(followed).exists():
        return None
    new = list(map(BuyerOrder._make, bulk.select_rows(Order, BUYER_ORDER_FIELDS,
                                                      where="order_id", keys=order_ids)))
    if not new:
        return None
    orders = buyer_orders(of=new)
    rows = {row.order_id: row for found in (orders.by_buyer, orders.by_email)
            for group in found.values() for row in group}
    cases = _cases_of_orders(DebtCase.objects.filter(followed), sorted(rows))
    return OrdersFollowed(new, orders, rows, cases) if cases else None


def _cases_of_orders(cases: QuerySet[DebtCase], order_ids: Sequence[str]) -> list[DebtCase]:
    """The cases (of the queryset ``cases``) of these orders, read by their order (the unique
    index), the newest opened first. The orders are read first (``buyer_orders``), not
    joined to the cases: PostgreSQL then read every case and hashed it (a plan it prefers while
    the cases are few or its statistics are old), 35 of the 51 ms an intake API request of 50
    orders spent in the database (docs/benchmarks.md)."""
    found: list[DebtCase] = []
    for start in range(0, len(order_ids), 900):
        found.extend(cases.filter(order_id__in=order_ids[start:start + 900]).order_by())
    found.sort(key=lambda case: case.opened_at, reverse=True)
    return found


def case_list(*, vendor_id: str | None = None, state: str | None = None,
              active_only: bool = False) -> QuerySet[DebtCase]:
    cases = DebtCase.objects.select_related("order", "order__product", "vendor")
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    if state:
        cases = cases.filter(state=state)
    if active_only:
        cases = cases.filter(state__in=ACTIVE_STATES)
    return cases.order_by("vendor_id", "opened_at", "order_id")


# -- The list of cases: its totals and the age of a debt ---------------------------------------

#: Age of a debt, in days since the incident that opened its current cycle (the day it
#: happened counts as day 0): the dashboard's buckets and the list's filter ``age``.
AGE_BUCKETS: dict[str, tuple[int, int | None]] = {
    "0-30": (0, 30), "31-60": (31, 60), "61-90": (61, 90), "90+": (91, None)}


def incident_day() -> Coalesce:
    """The moment a case's age counts from: the incident of its current cycle."""
    return Coalesce("cycle_started_at", "opened_at")


def with_age(cases: QuerySet[DebtCase], bucket: str, *, today: date | None = None
             ) -> QuerySet[DebtCase]:
    """The cases whose debt is ``bucket`` old (a key of ``AGE_BUCKETS``), as of ``today``.

    Bounds on the moment rather than a computed age, so the database can use a plain
    comparison: "0-30" means the incident happened on or after the start of the day 30 days
    ago (local time)."""
    low, high = AGE_BUCKETS[bucket]
    today = today or timezone.localdate()
    zone = timezone.get_current_timezone()

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=zone)

    cases = cases.alias(incident_at=incident_day())
    cases = cases.filter(incident_at__lt=start_of(today - timedelta(days=low - 1)))
    if high is not None:
        cases = cases.filter(incident_at__gte=start_of(today - timedelta(days=high)))
    return cases


def currencies_in_use() -> list[str]:
    """The currencies of all cases, sorted, from the ``case_totals`` index (currency first).

    SQLite answers ``DISTINCT`` with a skip over the index. PostgreSQL (before 18) reads the
    whole index for it, 46 ms on every case list page at 100,000 cases and ten times that at a
    million: there, a recursive query jumps from one currency to the next in the index (the
    "loose index scan" of PostgreSQL's wiki), a handful of index probes whatever the count."""
    if connection.vendor != "postgresql":
        return sorted(DebtCase.objects.order_by().values_list("currency", flat=True).distinct())
    table = connection.ops.quote_name(DebtCase._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE found(currency) AS ("
            f"  (SELECT currency FROM {table} ORDER BY currency LIMIT 1)"
            f"  UNION ALL"
            f"  SELECT (SELECT currency FROM {table} WHERE currency > found.currency"
            f"          ORDER BY currency LIMIT 1) FROM found WHERE found.currency IS NOT NULL"
            f") SELECT currency FROM found WHERE currency IS NOT NULL")
        return [row[0] for row in cursor.fetchall()]


class CurrencyTotal(NamedTuple):
    currency: str
    count: int
    open_amount: Decimal


def totals_by_currency(cases: QuerySet[DebtCase]) -> list[CurrencyTotal]:
    """How many cases and how much is open, per currency (those with cases only).

    One aggregate with a count and a sum per currency in use (``FILTER (WHERE currency =
    …)``), rather than ``GROUP BY currency``: SQLite's planner walks the ``case_totals`` index
    for a grouping even when the filter must then read every row from the table, which made a
    search's totals ten times slower (docs/benchmarks.md). The currencies in use come from
    that index first (a skip over it, no table read)."""
    currencies = currencies_in_use()
    if not currencies:
        return []
    figures = cases.order_by().aggregate(**{
        f"{kind}_{n}": aggregate("open_amount" if kind == "sum" else "id",
                                 filter=Q(currency=currency))
        for n, currency in enumerate(currencies)
        for kind, aggregate in (("count", Count), ("sum", Sum))})
    return [CurrencyTotal(currency, figures[f"count_{n}"],
                          figures[f"sum_{n}"] or Decimal("0.00"))
            for n, currency in enumerate(currencies) if figures[f"count_{n}"]]


#: States in which nothing is owed any more or nothing more is done: the vendor's history.
CLOSED_STATES = (CaseState.PAID, CaseState.CANCELED, CaseState.REOPENED)


def closed_cases(*, vendor_id: str) -> QuerySet[DebtCase]:
    """A vendor's closed cases (paid, cancelled, reordered), newest closing first, each with
    ``closed_at``: when it entered the state it is in (its newest event into that state; its
    last update for a case from before the timeline)."""
    entered = (CaseEvent.objects.filter(case=OuterRef("pk"), to_state=OuterRef("state"))
               .exclude(from_state=F("to_state")).order_by("-at").values("at")[:1])
    return (DebtCase.objects.filter(vendor_id=vendor_id, state__in=CLOSED_STATES)
            .select_related("order", "order__product")
            .annotate(closed_at=Coalesce(Subquery(entered), F("updated_at")))
            .order_by("-closed_at", "order_id"))


def get_case(*, order_id: str) -> DebtCase:
    """The case of an order; raises DebtCase.DoesNotExist."""
    return DebtCase.objects.select_related("order", "order__product", "order__buyer",
                                           "vendor").get(order_id=order_id)


def _date(value: Any) -> str | None:
    return value.isoformat() if value else None


def case_to_dict(case: DebtCase) -> dict[str, Any]:
    """A case in the names of the handover file where the file has the field."""
    order = case.order
    return {
        "order_id": case.order_id,
        "vendor_id": case.vendor_id,
        "state": case.state,
        "incasso_state": case.incasso_state,
        "cycle": case.cycle,
        "pursue": case.pursue,
        "trigger": case.trigger,
        "open_amount": f"{case.open_amount:.2f}",
        "currency": case.currency,
        "first_dunning_letter": _date(case.first_dunning_letter),
        "second_dunning_letter": _date(case.second_dunning_letter),
        "incasso_date": _date(case.incasso_date),
        "offer_link": case.offer_link,
        "reopened": case.reopened,
        "reopened_id": case.reopened_id,
        "invalid_address": case.invalid_address,
        "address_problems": case.address_problems,
        "block_reason": case.block_reason,
        "first_invoice_number": case.first_invoice_number,
        "product_id": order.product_id,
        "product_name": order.product.name,
        "buyer_id": order.buyer_id,
        "buyer_name": f"{order.buyer_first_name} {order.buyer_last_name}".strip(),
        "buyer_email": order.buyer_email,
        "ordered_at": order.created_at.isoformat(),
        "opened_at": case.opened_at.isoformat(),
        "anonymised_at": case.anonymised_at.isoformat() if case.anonymised_at else None,
    }


def timeline(*, case: DebtCase) -> list[dict[str, Any]]:
    """The case's events in the order they were recorded: ``reason`` in the reader's (active)
    language, with the stored ``code`` and ``params`` it is rendered from, for a program that
    reads the JSON. ``date`` is the business date (the payment's day, the run's date, the day a
    letter left; for an event without one the day it was recorded), ``at`` the moment it was
    recorded."""
    return [
        {"date": e.business_date.isoformat(), "at": e.at.isoformat(), "kind": e.kind,
         "by": e.actor, "from_state": e.from_state, "to_state": e.to_state, "reason": e.reason,
         "code": e.code, "params": e.params, "changes": e.changes}
        for e in case.events.all().order_by("at", "id")
    ]


def notes(*, case: DebtCase, shared_only: bool = False) -> list[dict[str, Any]]:
    qs = case.notes.all()
    if shared_only:
        qs = qs.filter(visibility="shared")
    gone = reasons.render(reasons.TEXT, {"text": reasons.ANONYMISED})  # an anonymised note
    return [{"at": n.created_at.isoformat(), "visibility": n.visibility, "by": n.author,
             "text": n.text or gone} for n in qs]


def count_by_state(*, vendor_id: str | None = None) -> dict[str, int]:
    """How many cases are in each state (states without cases are left out)."""
    cases = DebtCase.objects.all()
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return dict(cases.order_by().values_list("state").annotate(n=Count("id")))


def vendor_exists(*, vendor_id: str) -> bool:
    return Vendor.objects.filter(pk=vendor_id).exists()


# -- The case page: the order's money and the buyer's other orders -------------------------------


class LedgerLine(NamedTuple):
    """One debt (incident) or payment of the order, as the case page lists them."""

    kind: str  # "incident", "payment" or "charge" (costs or interest a letter claimed)
    id: str
    at: datetime
    amount: Decimal
    currency: str
    #: The incident's kind (IncidentKind) or the payment's channel (PaymentChannel), a code;
    #: a charge: "costs" or "interest".
    what: str


def order_ledger(*, case: DebtCase) -> list[LedgerLine]:
    """The order's incidents and payments, oldest first (one query), and the costs and interest
    the current cycle's letters claimed: where the open amounts come from (the latest incident
    and the charges, less the payments since: costs first, then interest, then principal)."""
    incidents = Incident.objects.filter(order_id=case.order_id).order_by().annotate(
        line=Value("incident")).values_list("line", "incident_id", "occurred_at",
                                            "open_amount", "currency", "kind")
    payments = Payment.objects.filter(order_id=case.order_id).order_by().annotate(
        line=Value("payment")).values_list("line", "payment_id", "paid_at", "amount",
                                           "currency", "channel")
    lines = [LedgerLine(*row) for row in incidents.union(payments, all=True)]
    # The current cycle's letters' costs and interest (kept on the case: no query).
    for charge in charges_of(case.charges):
        at = timezone.make_aware(datetime.combine(charge.on, time.min))
        for what, amount in (("costs", charge.costs), ("interest", charge.interest)):
            if amount:
                lines.append(LedgerLine("charge", str(charge.level), at, amount, case.currency,
                                        what))
    return sorted(lines, key=lambda line: (line.at, line.kind, line.id))


class RelatedOrder(NamedTuple):
    """Another order of the case's buyer, with its case (if it has one)."""

    order_id: str
    created_at: datetime
    product_name: str
    amount_total: Decimal
    currency: str
    case_state: str | None


#: How many of the buyer's other orders the case page lists (the newest).
RELATED_ORDERS = 20


def related_orders(*, case: DebtCase, limit: int = RELATED_ORDERS
                   ) -> tuple[list[RelatedOrder], int]:
    """The buyer's other orders (by buyer id or normalised e-mail, as reorders are matched),
    newest first, at most ``limit``, with the state of each one's case; and how many there are
    in all (counted in the same query, over the rows before the limit). One query."""
    order = case.order
    buyer = Q(buyer_id=order.buyer_id)
    if order.buyer_email_normalized:
        buyer |= Q(buyer_email_normalized=order.buyer_email_normalized)
    others = Order.objects.filter(buyer).exclude(pk=order.pk)
    found = list(others.annotate(total=Window(Count("*"))).order_by(
        "-created_at", "-order_id").values_list(
        "order_id", "created_at", "product__name", "amount_total", "currency",
        "debt_case__state", "total")[:limit])
    return [RelatedOrder(*row[:-1]) for row in found], (found[0][-1] if found else 0)


def case_exists(*, order_id: str) -> bool:
    return DebtCase.objects.filter(order_id=order_id).exists()


__all__ = ["AGE_BUCKETS", "REORDER_STATES", "BuyerOrder", "BuyerOrders", "CurrencyTotal",
           "KnownAddress", "LedgerLine", "RelatedOrder", "buyer_orders", "case_exists",
           "case_list", "case_to_dict", "count_by_state", "get_case", "later_orders_for",
           "newest_addresses", "notes", "order_exists", "order_ledger", "orders_followed",
           "rejected_reorders", "related_orders", "timeline", "totals_by_currency",
           "vendor_exists", "with_age"]


# -- Corrections: the buyer's newest known address, support's overrides --------------------------


#: The states in which a case no longer follows the buyer's address: nothing more is to be done.
SETTLED_STATES = frozenset({CaseState.PAID, CaseState.CANCELED})

_ADDRESS_FIELDS = ("order_id", "created_at", "street", "house_number", "postcode", "city",
                   "country")


def _given(order: Any) -> bool:
    """Whether an order (or its address) carries an address at all (``KnownAddress.given``)."""
    # Spelled out rather than any() over a generator: called for each order of each buyer
    # when an import opens its cases.
    return bool((order.street or "").strip() or (order.house_number or "").strip()
                or (order.postcode or "").strip() or (order.city or "").strip())


class KnownAddress(NamedTuple):
    """An order's postal address, as the buyer typed it at the checkout."""

    order_id: str
    created_at: datetime
    street: str
    house_number: str
    postcode: str
    city: str
    country: str

    @property
    def given(self) -> bool:
        """Whether the order carries an address at all (the country alone is no address: the
        platform fills it from the payment)."""
        return _given(self)

    def parts(self) -> dict[str, str]:
        return {"street": self.street, "house_number": self.house_number,
                "postcode": self.postcode, "city": self.city, "country": self.country}

    def one_line(self) -> str:
        street = f"{self.street} {self.house_number}".strip()
        place = " ".join(p for p in (self.postcode, self.city, self.country) if p).strip()
        return ", ".join(p for p in (street, place) if p) or "–"


#: What the reorder match and the address flag read of each order of a buyer.
BUYER_ORDER_FIELDS = (*_ADDRESS_FIELDS, "buyer_id", "buyer_email_normalized", "product_id",
                      "sales_agent")


class BuyerOrder(NamedTuple):
    """An order as ``BuyerOrders`` reads it (a named row of ``BUYER_ORDER_FIELDS``, or any
    row with these attributes: ``cases.services.follow_orders_debts`` reads more columns)."""

    order_id: str
    created_at: datetime
    street: str
    house_number: str
    postcode: str
    city: str
    country: str
    buyer_id: str
    buyer_email_normalized: str
    product_id: str
    sales_agent: str


class BuyerOrders:
    """Every order of some buyers, read once for the two questions the process asks of a
    buyer's orders: a case's reorder match and the buyer's newest known address.

    The buyer of an order is every order with its buyer id or its normalised e-mail
    (process.md §6), the order itself included. Built by ``buyer_orders``, or from the rows of
    ``orders_with_their_buyers``."""

    def __init__(self, rows: Iterable[BuyerOrder]) -> None:
        self.by_buyer: dict[str, list[BuyerOrder]] = {}
        self.by_email: dict[str, list[BuyerOrder]] = {}
        for row in rows:
            self.by_buyer.setdefault(row.buyer_id, []).append(row)
            if row.buyer_email_normalized:
                self.by_email.setdefault(row.buyer_email_normalized, []).append(row)

    def of(self, order: BuyerOrder) -> list[BuyerOrder]:
        """The orders of ``order``'s buyer (an order matched both ways comes twice)."""
        found = self.by_buyer.get(order.buyer_id, [])
        email = order.buyer_email_normalized
        return found + self.by_email.get(email, []) if email else found

    def later_order(self, order: BuyerOrder,
                    skip: Collection[tuple[str, str]] = ()) -> LaterOrder | None:
        """The earliest later order (then the lower order id) of ``order``'s buyer for the
        same product, not one of the (order id, later order id) pairs in ``skip``."""
        first = None
        for row in self.of(order):
            if row.product_id == order.product_id and row.created_at > order.created_at \
                    and row.order_id != order.order_id \
                    and (order.order_id, row.order_id) not in skip \
                    and (first is None or (row.created_at, row.order_id) < (
                        first.created_at, first.order_id)):
                first = row
        return None if first is None else LaterOrder(first.order_id, first.created_at,
                                                     first.sales_agent)

    def newest_address(self, order: BuyerOrder) -> KnownAddress:
        """The address that counts for the invalid-address flag of ``order``'s case: the
        buyer's newest known address.

        "Newest" is the latest order time (then the higher order id). An order without any
        address (only a country, or nothing) does not replace an address the buyer gave
        before; if no order of the buyer carries one, ``order``'s own counts (and is flagged
        for every missing part). A re-sent order counts with its corrected address at its own
        order time."""
        newest = None
        for row in self.of(order):
            # Not newer than the newest so far: (created_at, order_id) compared without making
            # two tuples for each of the buyer's orders (an import asks this for every case).
            if newest is not None and (row.created_at < newest.created_at or (
                    row.created_at == newest.created_at and row.order_id <= newest.order_id)):
                continue
            if _given(row):
                newest = row
        found = newest or order
        return KnownAddress(found.order_id, found.created_at, found.street, found.house_number,
                            found.postcode, found.city, found.country)


class BuyerAnswers:
    """What ``BuyerOrders`` answers for some orders (``later_order`` without ``skip``, and
    ``newest_address``), worked out once and kept with the orders themselves (``orders``, by
    order id): small enough to travel through a pipe, where the buyers' orders behind the
    answers are a few times as many rows. Built by ``answer_for``.

    Only answers that differ from the usual are kept: ``later`` holds the orders that have a
    later order, ``newest`` those whose buyer's newest address is another order's."""

    __slots__ = ("later", "newest", "orders")

    def __init__(self, orders: dict[str, Any], later: dict[str, LaterOrder],
                 newest: dict[str, KnownAddress]) -> None:
        self.orders = orders
        self.later = later
        self.newest = newest

    def covers(self, order_ids: Iterable[str]) -> bool:
        """Whether every one of these orders was answered (an order not stored when the
        answers were read was not)."""
        return all(order_id in self.orders for order_id in order_ids)

    def later_order(self, order: BuyerOrder) -> LaterOrder | None:
        return self.later.get(order.order_id)

    def newest_address(self, order: BuyerOrder) -> KnownAddress:
        found = self.newest.get(order.order_id)
        if found is not None:
            return found
        return KnownAddress(order.order_id, order.created_at, order.street, order.house_number,
                            order.postcode, order.city, order.country)


def answer_for(*, order_ids: Sequence[str], fields: Sequence[str],
               make: Callable[[Iterable[Any]], Any]) -> BuyerAnswers:
    """``BuyerAnswers`` for these orders (any number), each order read as ``make`` of its
    ``fields`` (``BUYER_ORDER_FIELDS`` among them): ``orders_with_their_buyers`` per 900 of
    them. An order's answers depend on its buyer's orders alone, never on the other orders
    asked with it, so they are the same whichever batch asks."""
    orders: dict[str, Any] = {}
    later: dict[str, LaterOrder] = {}
    newest: dict[str, KnownAddress] = {}
    for start in range(0, len(order_ids), 900):
        chunk = order_ids[start:start + 900]
        rows = list(map(make, orders_with_their_buyers(order_ids=chunk, fields=fields)))
        asked = set(chunk)
        buyers = BuyerOrders(rows)
        for order in rows:
            if order.order_id not in asked or order.order_id in orders:
                continue
            orders[order.order_id] = order
            found = buyers.later_order(order)
            if found is not None:
                later[order.order_id] = found
            address = buyers.newest_address(order)
            if address.order_id != order.order_id:
                newest[order.order_id] = address
    return BuyerAnswers(orders, later, newest)


def buyer_orders(*, of: Iterable[BuyerOrder],
                 products: Collection[str] | None = None) -> BuyerOrders:
    """Every order of the buyers of these orders (only of ``products``, if given), each once:
    one query in two parts, each of which can use its own index on the orders (an OR could
    not)."""
    buyers: set[str] = set()
    emails: set[str] = set()
    for order in of:
        buyers.add(order.buyer_id)
        if order.buyer_email_normalized:
            emails.add(order.buyer_email_normalized)
    if not buyers:
        return BuyerOrders(())
    # A plain query (``bulk.fetch``), the same the ORM wrote: the ORM's preparing of the
    # thousands of parameters and converting of each order's date-time were two fifths of
    # this read in a file of incidents (py-spy), SQLite's executing of it the rest.
    table = connection.ops.quote_name(Order._meta.db_table)
    select = f"SELECT {bulk.columns(Order, BUYER_ORDER_FIELDS)} FROM {table} WHERE "
    of_buyers = _one_of("buyer_id", list(buyers))
    of_products: tuple[str, list[Any]] = ("", [])
    if products is not None:
        condition, values = _one_of("product_id", list(products))
        of_products = (f" AND {condition}", values)
    sql = select + of_buyers[0] + of_products[0]
    params = [*of_buyers[1], *of_products[1]]
    if emails:
        # The e-mail part leaves out the orders the buyer-id part returns (most buyers keep
        # one e-mail): a fifth less time than reading them twice.
        of_emails = _one_of("buyer_email_normalized", list(emails))
        sql += f" UNION ALL {select}{of_emails[0]} AND NOT {of_buyers[0]}{of_products[0]}"
        params += [*of_emails[1], *of_buyers[1], *of_products[1]]
    return BuyerOrders(map(BuyerOrder._make, bulk.fetch(Order, BUYER_ORDER_FIELDS, sql,
                                                        params)))


def orders_with_their_buyers(*, order_ids: Sequence[str], fields: Sequence[str]
                             ) -> list[tuple[Any, ...]]:
    """The ``fields`` (``BUYER_ORDER_FIELDS`` among them) of these orders (at most 900) and of
    every other order of their buyers, each once: what ``buyer_orders`` reads for these
    orders, with the orders themselves, in one query (``BuyerOrders`` of the rows answers as
    that of ``buyer_orders``). The database finds the buyers' ids and e-mails itself: an
    incident file read a batch's orders first and then sent their 900 buyer ids and e-mails
    back in the next query."""
    quote = connection.ops.quote_name
    table = quote(Order._meta.db_table)
    buyer, email = (quote(Order._meta.get_field(name).column)
                    for name in ("buyer_id", "buyer_email_normalized"))
    select = f"SELECT {bulk.columns(Order, fields)} FROM {table} WHERE "
    asked, params = _one_of("order_id", order_ids)
    own = f"WITH own AS (SELECT {buyer}, {email} FROM {table} WHERE {asked}) "
    if connection.vendor == "sqlite":
        # SQLite finds the rows of both parts in its two indexes alone (each entry holds the
        # row's rowid), then reads each row once, in the table's order: the e-mail part of
        # the query below reads every row it finds to compare its buyer, most of them rows
        # the buyer part has read already. An incident file's batch: 26 → 21 ms (SQLite
        # alone, a million orders, docs/benchmarks.md). PostgreSQL has no rowid: it keeps
        # the query below.
        sql = (f"{own}{select}rowid IN (SELECT rowid FROM {table} WHERE {buyer} IN "
               f"(SELECT {buyer} FROM own) UNION SELECT rowid FROM {table} WHERE {email} IN "
               f"(SELECT {email} FROM own WHERE {email} <> ''))")
    else:
        sql = (f"{own}{select}{buyer} IN (SELECT {buyer} FROM own) UNION ALL "
               f"{select}{email} IN (SELECT {email} FROM own WHERE {email} <> '') "
               f"AND {buyer} NOT IN (SELECT {buyer} FROM own)")
    return bulk.fetch(Order, fields, sql, params)


def _one_of(name: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    """An order's field is one of ``values`` (``bulk.one_of``)."""
    return bulk.one_of(connection.ops.quote_name(Order._meta.get_field(name).column), values)


def newest_addresses(*, cases: Sequence[DebtCase]) -> dict[int, KnownAddress]:
    """For each case (by pk), the address that counts for its invalid-address flag: the
    buyer's newest known address (``BuyerOrders.newest_address``).

    Two queries per 900 cases, whatever the number of cases (one when the cases' orders were
    read with them, as on the case page): the file import asks this for every case of every
    buyer whose orders it changed.
    """
    result: dict[int, KnownAddress] = {}
    for start in range(0, len(cases), 900):
        chunk = cases[start:start + 900]
        if all(DebtCase.order.is_cached(case) for case in chunk):
            own = {case.order_id: BuyerOrder._make(getattr(case.order, name)
                                                   for name in BUYER_ORDER_FIELDS)
                   for case in chunk}
        else:
            own = {o.order_id: o for o in Order.objects.filter(
                pk__in=[c.order_id for c in chunk]).values_list(*BUYER_ORDER_FIELDS, named=True)}
        orders = buyer_orders(of=own.values())
        for case in chunk:
            if case.order_id in own:
                result[case.pk] = orders.newest_address(own[case.order_id])
    return result


def rejected_reorders(*, case_ids: Sequence[int]) -> set[tuple[int, str]]:
    """(case pk, order id) of every reorder match support undid (``override_reorder``): that
    order is never matched to that case again."""
    rejected: set[tuple[int, str]] = set()
    for start in range(0, len(case_ids), 900):
        for case_id, changes in CaseEvent.objects.filter(
                case_id__in=case_ids[start:start + 900], kind=EventKind.REORDERED
                ).values_list("case_id", "changes"):
            undone = (changes or {}).get("reopened_id")
            if (changes or {}).get("reopened") == [True, False] and undone and undone[0]:
                rejected.add((case_id, undone[0]))
    return rejected


def order_exists(*, order_id: str) -> bool:
    return Order.objects.filter(pk=order_id).exists()


def claim_basis(*, case: DebtCase) -> tuple[Decimal, list[Paid]]:
    """What a claim is computed from (``cases.claims.settle``): the latest incident's open
    amount and the payments on the order since that incident, by their (German) day."""
    incident = (Incident.objects.filter(order_id=case.order_id)
                .order_by("-occurred_at", "-incident_id").first())
    if incident is None:
        return case.open_amount, []
    return incident.open_amount, paid_since(
        Payment.objects.filter(order_id=case.order_id, paid_at__gte=incident.occurred_at))


class PaymentFacts(Protocol):
    """What settling a claim reads of a payment: a ``Payment``, or a named row of these
    columns (``cases.services.follow_orders_debts`` reads rows: see ``IncidentFacts`` there)."""

    order_id: str
    paid_at: datetime
    amount: Decimal


def paid_since(payments: Iterable[PaymentFacts], tz: tzinfo | None = None) -> list[Paid]:
    """The payments as ``cases.claims.settle`` takes them, by their local day (``tz``: the
    current time zone, looked up once by a caller that settles thousands of cases)."""
    tz = tz or timezone.get_current_timezone()
    return sorted((Paid(on=p.paid_at.astimezone(tz).date(), amount=p.amount)
                   for p in payments), key=lambda paid: paid.on)
