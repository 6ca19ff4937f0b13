"""A realistic demo marketplace, made up from a seed and sent in like the platform's data.

``generate`` builds the raw records of the five feeds (strings, as a platform file holds them)
from a seed and an anchor date only: the same seed and anchor give the same records, whatever the
day it runs. ``write_demo_data`` sends them through ``Feed.parse``, ``check_references`` and
``apply_records``, the one write path for platform data, so cases follow through the signals as
they do for a real import.

What is in it: vendors in both collection modes and both dunning kinds (some not enrolled), with
relationship managers and escalation channels; courses, coachings and memberships with and without
the dunning account; mostly German buyers and some from abroad; one-time, installment and
subscription orders; incidents of all three triggers on a fraction of the orders; partial and full
payments; reorders of the same product by the same buyer and re-closes through a sales agent; and
addresses that are incomplete or whose postcode does not fit the country.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext
from faker import Faker
from faker.providers.address.it_IT import Provider as ItalianAddresses

from mahnwerk.intake.feeds import FEEDS, Problem
from mahnwerk.intake.models import CollectionMode, DunningBy
from mahnwerk.intake.services import (
    ApplyResult,
    apply_records,
    check_references,
    normalize_email,
)

BERLIN = ZoneInfo("Europe/Berlin")
ACTOR = "demo-data"
DEFAULT_AS_OF = date(2026, 11, 1)
#: The order in which the feeds must be sent: each one names records of the ones before it.
FEED_ORDER = ("vendors", "products", "orders", "incidents", "payments")
CENT = Decimal("0.01")
ITALIAN_CITIES = tuple(sorted(ItalianAddresses.cities))

#: Buyer locales with their country and weight: mostly German, some from abroad.
BUYER_LOCALES: tuple[tuple[str, str, int], ...] = (
    ("de_DE", "DE", 70), ("de_AT", "AT", 7), ("de_CH", "CH", 5), ("nl_NL", "NL", 3),
    ("fr_FR", "FR", 3), ("it_IT", "IT", 2), ("es_ES", "ES", 2), ("pl_PL", "PL", 2),
    ("en_GB", "GB", 3), ("en_US", "US", 3),
)

TOPICS = (
    "Instagram-Marketing", "Trading für Einsteiger", "Persönlichkeitsentwicklung", "Amazon FBA",
    "Yoga-Lehrer-Ausbildung", "Finanzielle Freiheit", "Ernährung & Abnehmen", "Hundetraining",
    "Immobilien-Investment", "Copywriting", "E-Commerce", "Achtsamkeit", "Fotografie",
    "Excel für Profis", "Spanisch in 90 Tagen", "Social Selling", "Krypto-Grundlagen",
    "Rhetorik", "Zeitmanagement", "Dropshipping", "Selbstständig als Coach", "Gitarre lernen",
    "Verkaufspsychologie", "LinkedIn-Akquise", "Kinderschlaf", "Feng Shui",
)
VENDOR_WORDS = (
    "Erfolgsschmiede", "Mindset Manufaktur", "Wachstumswerk", "Lernwerk", "Kompass Akademie",
    "Fokus Institut", "Gipfelstürmer", "Klartext Coaching", "Zukunftsraum", "Freiheitsakademie",
    "Umsatzhelden", "Seelenzeit", "Lebenskunst Akademie", "Profitwerkstatt",
)
LEGAL_FORMS = ("GmbH", "UG (haftungsbeschränkt)", "GmbH & Co. KG", "e.K.", "")
#: In turn, so that even a small demo has each kind.
ADDRESS_MISTAKES = ("postcode", "no_street", "number_in_street", "postcode", "no_city",
                    "nothing")
CHANNELS = ("offer_link", "vendor", "agency", "other")

# Product kinds: how they are sold and at which prices (EUR; a membership's price is monthly).
COURSE, COACHING, MEMBERSHIP = "course", "coaching", "membership"
PRICES = {
    COURSE: (97, 147, 197, 297, 497, 997, 1497, 1997),
    COACHING: (1500, 2500, 3500, 4997, 6000, 8500, 12000),
    MEMBERSHIP: (19, 29, 39, 49, 79, 99),
}
INSTALLMENT_PLANS = {COURSE: (3, 6, 12), COACHING: (6, 10, 12, 24)}


def _money(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class _Buyer:
    buyer_id: str
    email: str
    first_name: str
    last_name: str
    street: str
    house_number: str
    postcode: str
    city: str
    country: str
    currency: str
    bad_address: bool


@dataclass
class _Product:
    product_id: str
    vendor_id: str
    name: str
    kind: str
    price: Decimal


@dataclass
class _Order:
    product: _Product
    buyer: _Buyer
    email: str
    created_at: datetime
    payment_type: str
    amount_total: Decimal
    installments_total: int | None = None
    installments_paid: int | None = None
    sales_agent: str = ""
    order_id: str = ""
    invoice: str = ""
    incidents: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)


class _Generator:
    def __init__(self, *, vendors: int, orders: int, seed: int, as_of: date) -> None:
        self.vendor_count = vendors
        self.order_count = orders
        self.seed = seed
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for index, (locale, _country, _weight) in enumerate(BUYER_LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed * 100 + index)
            self.fakers[locale] = fake
        self.de = self.fakers["de_DE"]
        self.anchor = datetime.combine(as_of, time(0, 0), tzinfo=BERLIN)
        self.sales_agents = [f"{self.de.first_name()} {self.de.last_name()}" for _ in range(4)]
        self.vendor_names: set[str] = set()
        self.spoiled = 0
        self.phone_orders = 0
        self.next_buyer = 0

    # -- helpers --------------------------------------------------------------------------

    def _ids(self, prefix: str, count: int, low: int, high: int) -> list[str]:
        return [self.key(prefix, n) for n in sorted(self.rng.sample(range(low, high), count))]

    def key(self, prefix: str, number: int | str) -> str:
        """A platform id; the seed in it keeps the data of different seeds apart."""
        return f"{prefix}{self.seed}-{number}"

    def _later(self, start: datetime, min_days: int, max_days: int) -> datetime | None:
        """A moment some days after ``start``, in the daytime; None if it lies after the anchor."""
        day = start.date() + timedelta(days=self.rng.randint(min_days, max_days))
        moment = datetime.combine(day, time(self.rng.randint(7, 22), self.rng.randint(0, 59),
                                            self.rng.randint(0, 59)), tzinfo=BERLIN)
        if moment <= start:
            moment = start + timedelta(minutes=self.rng.randint(5, 600))
        return moment if moment < self.anchor else None

    # -- vendors and products -------------------------------------------------------------

    def vendors(self) -> list[dict[str, str]]:
        # "manager" is the demo user's name: that relationship manager owns some vendors.
        managers = ["manager", *(f"{slugify(self.de.first_name())[:1]}."
                                 f"{slugify(self.de.last_name())}" for _ in range(2))]
        approval, direct = CollectionMode.APPROVAL.value, CollectionMode.DIRECT.value
        in_house, agency = DunningBy.IN_HOUSE.value, DunningBy.AGENCY.value
        patterns = [(approval, in_house), (direct, agency), (approval, agency), (direct, in_house)]
        records = []
        for index, vendor_id in enumerate(self._ids("V", self.vendor_count, 10000, 99999)):
            short = self._vendor_name()
            legal = self.rng.choice(LEGAL_FORMS)
            name = f"{short} {legal}".strip()
            if index < len(patterns):
                mode, dunning_by = patterns[index]
            else:
                mode = self.rng.choices((approval, direct), (7, 3))[0]
                dunning_by = self.rng.choices((in_house, agency), (6, 4))[0]
            # The first vendor is the demo vendor user's: enrolled; the last one is not.
            enrolled = index == 0 or (index != self.vendor_count - 1 and self.rng.random() < 0.85)
            manager = self.rng.choice(managers) if index == 0 or self.rng.random() < 0.7 else ""
            channel = ""
            if manager:
                channel = (f"WhatsApp: {short}" if self.rng.random() < 0.8
                           else f"Slack: #vendor-{slugify(short)}")
            records.append({
                "vendor_id": vendor_id, "name": name,
                "email": f"{self.rng.choice(('kontakt', 'support', 'info', 'buchhaltung'))}"
                         f"@{slugify(short)}.example",
                "enrolled": str(enrolled), "collection_mode": mode, "dunning_by": dunning_by,
                "relationship_manager": manager, "escalation_channel": channel,
            })
        return records

    def _vendor_name(self) -> str:
        while True:
            roll = self.rng.random()
            if roll < 0.3:
                name = f"{self.de.first_name()} {self.de.last_name()} Coaching"
            elif roll < 0.5:
                name = f"Akademie {self.de.last_name()}"
            elif roll < 0.65:
                name = f"{self.de.last_name()} & {self.de.last_name()} Business School"
            else:
                name = self.rng.choice(VENDOR_WORDS)
            if name not in self.vendor_names:
                self.vendor_names.add(name)
                return name

    def products(self, vendors: Sequence[Mapping[str, str]]) -> list[_Product]:
        per_vendor = [self.rng.randint(2, 6) for _ in vendors]
        ids = self._ids("P", sum(per_vendor), 10000, 99999)
        products = []
        for vendor, count in zip(vendors, per_vendor, strict=True):
            for _ in range(count):
                kind = self.rng.choices((COURSE, COACHING, MEMBERSHIP), (5, 3, 2))[0]
                topic = self.rng.choice(TOPICS)
                name = self.rng.choice({
                    COURSE: (f"Online-Kurs: {topic}", f"{topic} Masterclass",
                             f"{topic} – Der komplette Videokurs"),
                    COACHING: (f"1:1 Coaching {topic}", f"Mentoring-Programm {topic}",
                               f"{topic} Intensiv-Coaching (12 Wochen)"),
                    MEMBERSHIP: (f"{topic} Mitgliedschaft", f"{topic} Club (monatlich)",
                                 f"Community {topic}"),
                }[kind])
                products.append(_Product(product_id=ids[len(products)],
                                         vendor_id=vendor["vendor_id"], name=name, kind=kind,
                                         price=_money(self.rng.choice(PRICES[kind]))))
        return products

    def product_records(self, products: Sequence[_Product]) -> list[dict[str, str]]:
        return [{"product_id": p.product_id, "vendor_id": p.vendor_id, "name": p.name,
                 "dunning_enabled": str(self.rng.random() < 0.75),
                 "checkout_url": f"https://checkout.example/p/{p.product_id}"}
                for p in products]

    # -- buyers ---------------------------------------------------------------------------

    def buyers(self, count: int) -> list[_Buyer]:
        locales = [locale for locale, _c, _w in BUYER_LOCALES]
        weights = [weight for _l, _c, weight in BUYER_LOCALES]
        countries = {locale: country for locale, country, _w in BUYER_LOCALES}
        buyers = []
        for buyer_id in self._ids("B", count, 100000, 100000 + max(900000, count * 10)):
            locale = self.rng.choices(locales, weights)[0]
            fake = self.fakers[locale]
            first, last = fake.first_name(), fake.last_name()
            local = f"{slugify(first)}.{slugify(last)}".replace("-", ".").strip(".") or "kunde"
            if self.rng.random() < 0.4:
                local += str(self.rng.randint(1, 99))
            country = countries[locale]
            buyer = _Buyer(
                buyer_id=buyer_id, email=f"{local}@{fake.free_email_domain()}",
                first_name=first, last_name=last, street=fake.street_name(),
                # Only the first number of forms like "12/3" or "75-18".
                house_number=fake.building_number().split("/")[0].split("-")[0],
                postcode=fake.postcode(),
                city=self._city(locale, fake), country=country,
                currency="CHF" if country == "CH" and self.rng.random() < 0.5 else "EUR",
                bad_address=False,
            )
            if self.rng.random() < 0.05:
                self._spoil_address(buyer, ADDRESS_MISTAKES[self.spoiled % len(ADDRESS_MISTAKES)])
                self.spoiled += 1
            buyers.append(buyer)
        return buyers

    def _city(self, locale: str, fake: Faker) -> str:
        if locale == "it_IT":
            # Faker builds its Italian city list from a set, whose order changes from process to
            # process: choose from the sorted list so that the same seed gives the same city.
            return fake.random_element(ITALIAN_CITIES)
        return fake.city()

    def _spoil_address(self, buyer: _Buyer, mistake: str) -> None:
        """What buyers get wrong when they type their address at the checkout."""
        buyer.bad_address = True
        if mistake == "no_street":
            buyer.street = ""
        elif mistake == "number_in_street":
            buyer.street, buyer.house_number = f"{buyer.street} {buyer.house_number}", ""
        elif mistake == "postcode":
            if buyer.country == "DE":
                buyer.postcode = buyer.postcode[:4]  # a digit too few
            elif buyer.country in ("FR", "IT", "ES", "US"):
                buyer.postcode = buyer.postcode[:3]
            else:
                buyer.postcode = self.de.postcode()  # a German postcode abroad
        elif mistake == "no_city":
            buyer.city = ""
        else:
            buyer.street = buyer.house_number = buyer.postcode = buyer.city = ""

    # -- orders, incidents, payments ------------------------------------------------------

    def _order(self, product: _Product, buyer: _Buyer, created_at: datetime) -> _Order:
        if product.kind == MEMBERSHIP:
            payment_type = "subscription"
        elif self.rng.random() < (0.55 if product.kind == COURSE else 0.2):
            payment_type = "one_time"
        else:
            payment_type = "installments"
        order = _Order(product=product, buyer=buyer, email=buyer.email, created_at=created_at,
                       payment_type=payment_type, amount_total=product.price)
        if payment_type == "installments":
            total = self.rng.choice(INSTALLMENT_PLANS[product.kind])
            months = (self.anchor - created_at).days // 30 + 1
            order.installments_total = total
            order.installments_paid = min(total, months)
        if self.rng.random() < 0.04:
            order.sales_agent = self.rng.choice(self.sales_agents)
            # Every other order taken by telephone has no e-mail address: its letters go to
            # the print queue.
            self.phone_orders += 1
            if self.phone_orders % 2:
                order.email = ""
        return order

    def _created_at(self) -> datetime:
        day = self.anchor.date() - timedelta(days=self.rng.randint(1, 183))
        hour = self.rng.choices(range(6, 24), [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 6, 6, 7, 8, 8, 7,
                                               5, 3])[0]
        return datetime.combine(day, time(hour, self.rng.randint(0, 59), self.rng.randint(0, 59)),
                                tzinfo=BERLIN)

    def _incident(self, order: _Order) -> bool:
        """Give an order its debt: what happened, when, and what is open afterwards."""
        rng = self.rng
        amount = order.amount_total
        currency = order.buyer.currency
        if order.payment_type == "one_time":
            kind = "one_time_chargeback" if rng.random() < 0.85 else "chargeback"
            occurred, open_amount = self._later(order.created_at, 3, 60), amount
        elif order.payment_type == "installments":
            total = order.installments_total or 1
            rate = _money(amount / total)
            months = (self.anchor - order.created_at).days // 30
            if months < 1:
                return False
            paid = rng.randint(1, max(1, min(total - 1, months)))
            if rng.random() < 0.7:
                kind = "stopped_installments"
                occurred = self._later(order.created_at + timedelta(days=30 * paid), 1, 10)
            else:
                # The last installment that came in was charged back.
                kind = "chargeback"
                paid -= 1
                occurred = self._later(order.created_at + timedelta(days=30 * paid), 5, 20)
            open_amount = amount - rate * paid
            if occurred is not None:
                order.installments_paid = paid
        else:
            months = (self.anchor - order.created_at).days // 30
            if months < 1:
                return False
            missed = rng.randint(1, min(3, months))
            kind = "chargeback" if rng.random() < 0.6 else "stopped_installments"
            occurred = self._later(order.created_at + timedelta(days=30 * (months - missed)),
                                   1, 10)
            open_amount = amount * missed
        if occurred is None:
            return False
        order.incidents.append({"kind": kind, "occurred_at": occurred,
                                "open_amount": _money(open_amount), "currency": currency})
        if kind == "chargeback" and order.payment_type == "installments" and rng.random() < 0.25:
            # After the chargeback the plan stops altogether.
            later = self._later(occurred, 20, 40)
            if later is not None:
                order.incidents.append({"kind": "stopped_installments", "occurred_at": later,
                                        "open_amount": _money(open_amount), "currency": currency})
        return True

    def _payments(self, order: _Order, *, full_allowed: bool) -> None:
        rng = self.rng
        latest = order.incidents[-1]
        open_amount: Decimal = latest["open_amount"]
        outcome = rng.choices(("none", "partial", "full"), (60, 22, 18))[0]
        if outcome == "full" and not full_allowed:
            # The case of a reordered debt cannot move to paid yet (see the report on
            # cases.states: reopened -> paid is missing), so such buyers pay in part.
            outcome = "partial"
        if outcome == "none" or open_amount <= CENT:
            return
        start: datetime = latest["occurred_at"]
        amounts: list[Decimal] = []
        if outcome == "partial":
            left = open_amount
            for _ in range(rng.randint(1, 3)):
                part = _money(left * Decimal(rng.randint(10, 45)) / 100)
                if part < CENT:
                    break
                amounts.append(part)
                left -= part
            channels = rng.choices(("offer_link", "vendor", "other"), (7, 2, 1), k=len(amounts))
        else:
            if rng.random() < 0.3 and open_amount > 1:
                first = _money(open_amount * Decimal(rng.randint(30, 70)) / 100)
                amounts = [first, open_amount - first]
            else:
                amounts = [open_amount]
            channels = rng.choices(CHANNELS, (14, 3, 2, 1), k=len(amounts))
        for value, channel in zip(amounts, channels, strict=True):
            paid_at = self._later(start, 2, 40)
            if paid_at is None:
                return
            order.payments.append({"amount": value, "currency": latest["currency"],
                                   "paid_at": paid_at, "channel": channel})
            start = paid_at

    def _reorder(self, original: _Order, index: int) -> _Order | None:
        """The same buyer buys the same product again, itself or through a sales agent."""
        created = self._later(original.incidents[-1]["occurred_at"], 2, 45)
        if created is None:
            return None
        order = self._order(original.product, original.buyer, created)
        # Every other reorder is a re-close through telesales.
        order.sales_agent = self.sales_agents[index % len(self.sales_agents)] \
            if index % 2 == 0 else ""
        if index % 5 == 4:
            # A new platform account with another spelling of the same mailbox.
            local, _at, domain = original.email.partition("@")
            order.email = f"{local.capitalize()}+neu@{domain}"
            order.buyer = _Buyer(**{**original.buyer.__dict__,
                                    "buyer_id": f"{original.buyer.buyer_id}N"})
        return order

    def _buyer(self, buyers: Sequence[_Buyer]) -> _Buyer:
        """Mostly a new buyer, sometimes one who bought before."""
        if self.next_buyer < len(buyers) and (self.next_buyer == 0 or self.rng.random() < 0.85):
            self.next_buyer += 1
            return buyers[self.next_buyer - 1]
        return self.rng.choice(buyers[:self.next_buyer])

    def orders(self, products: Sequence[_Product], vendors: Sequence[Mapping[str, str]]
               ) -> list[_Order]:
        rng = self.rng
        wanted_reorders = max(2, self.order_count // 60) if self.order_count >= 20 else 0
        base_count = self.order_count - wanted_reorders
        buyers = self.buyers(max(1, int(self.order_count * 0.85)))
        # Big vendors sell much, small ones little.
        vendor_weights = [rng.paretovariate(1.3) for _ in vendors]
        by_vendor: dict[str, list[_Product]] = {}
        for product in products:
            by_vendor.setdefault(product.vendor_id, []).append(product)
        vendor_ids = [v["vendor_id"] for v in vendors]
        orders = []
        for _ in range(base_count):
            vendor_id = rng.choices(vendor_ids, vendor_weights)[0]
            product = rng.choice(by_vendor[vendor_id])
            orders.append(self._order(product, self._buyer(buyers), self._created_at()))
        # Buyers who give a wrong address default more often.
        with_debt = [order for order in orders
                     if rng.random() < (0.35 if order.buyer.bad_address else 0.17)
                     and self._incident(order)]
        reorders = []
        for original in with_debt:
            if len(reorders) >= wanted_reorders:
                break
            if rng.random() < 0.25:
                reorder = self._reorder(original, len(reorders))
                if reorder is not None:
                    reorders.append(reorder)
        # Fill up to the wanted number of orders when too few debts could be reordered.
        while len(orders) + len(reorders) < self.order_count:
            vendor_id = rng.choices(vendor_ids, vendor_weights)[0]
            orders.append(self._order(rng.choice(by_vendor[vendor_id]), self._buyer(buyers),
                                      self._created_at()))
        everything = sorted([*orders, *reorders], key=lambda o: o.created_at)
        reordered = _reordered(everything)
        for order in with_debt:
            self._payments(order, full_allowed=id(order) not in reordered)
        for number, order in enumerate(everything, start=1):
            order.order_id = self.key("O", f"{number:06d}")
            order.invoice = f"RE-{order.created_at.year}-{number:06d}"
        return everything

    def order_records(self, orders: Sequence[_Order]) -> list[dict[str, str]]:
        def cell(value: Any) -> str:
            return "" if value is None else str(value)

        return [{
            "order_id": o.order_id, "vendor_id": o.product.vendor_id,
            "product_id": o.product.product_id, "buyer_id": o.buyer.buyer_id,
            "buyer_email": o.email, "buyer_first_name": o.buyer.first_name,
            "buyer_last_name": o.buyer.last_name, "street": o.buyer.street,
            "house_number": o.buyer.house_number, "postcode": o.buyer.postcode,
            "city": o.buyer.city, "country": o.buyer.country, "payment_type": o.payment_type,
            "amount_total": cell(_money(o.amount_total)), "currency": o.buyer.currency,
            "installments_total": cell(o.installments_total),
            "installments_paid": cell(o.installments_paid),
            "created_at": o.created_at.isoformat(), "sales_agent": o.sales_agent,
            "first_invoice_number": o.invoice,
        } for o in orders]


def _reordered(orders: Sequence[_Order]) -> set[int]:
    """The orders (by ``id()``) whose buyer later ordered the same product again, matched as
    ``cases.selectors.later_orders_for`` matches them: by buyer id or normalised e-mail."""
    seen: dict[tuple[str, str], list[_Order]] = {}
    found: set[int] = set()
    for order in orders:  # sorted by creation
        keys = {(order.product.product_id, order.buyer.buyer_id),
                (order.product.product_id, normalize_email(order.email))}
        for key in keys:
            for earlier in seen.get(key, ()):
                if earlier.created_at < order.created_at:
                    found.add(id(earlier))
            seen.setdefault(key, []).append(order)
    return found


def generate(*, vendors: int = 12, orders: int = 3000, seed: int = 42,
             as_of: date = DEFAULT_AS_OF) -> dict[str, list[dict[str, str]]]:
    """The raw records of the five feeds, in the order they must be sent.

    Depends on nothing but the arguments: the same seed and anchor give the same records.
    """
    if vendors < 1:
        raise ValueError("at least one vendor")
    gen = _Generator(vendors=vendors, orders=max(0, orders), seed=seed, as_of=as_of)
    vendor_records = gen.vendors()
    products = gen.products(vendor_records)
    product_records = gen.product_records(products)
    all_orders = gen.orders(products, vendor_records)
    incidents: list[dict[str, str]] = []
    payments: list[dict[str, str]] = []
    for order in all_orders:
        for incident in order.incidents:
            incidents.append({
                "incident_id": gen.key("INC", f"{len(incidents) + 1:06d}"),
                "order_id": order.order_id,
                "kind": incident["kind"], "occurred_at": incident["occurred_at"].isoformat(),
                "open_amount": str(incident["open_amount"]), "currency": incident["currency"],
            })
        for payment in order.payments:
            payments.append({
                "payment_id": gen.key("PAY", f"{len(payments) + 1:06d}"),
                "order_id": order.order_id,
                "amount": str(payment["amount"]), "currency": payment["currency"],
                "paid_at": payment["paid_at"].isoformat(), "channel": payment["channel"],
            })
    incidents.sort(key=lambda r: (r["occurred_at"], r["incident_id"]))
    payments.sort(key=lambda r: (r["paid_at"], r["payment_id"]))
    return {"vendors": vendor_records, "products": product_records,
            "orders": gen.order_records(all_orders), "incidents": incidents,
            "payments": payments}


class DemoDataError(Exception):
    """The generator made a record the intake refuses: a bug in the generator."""


@transaction.atomic
def write_demo_data(*, data: Mapping[str, Sequence[Mapping[str, Any]]], actor: str = ACTOR,
                    batch_size: int = 500,
                    progress: Callable[[int], object] | None = None) -> dict[str, ApplyResult]:
    """Send generated records through the intake, feed by feed and batch by batch.

    All or nothing: a record the intake refuses rolls everything back and raises DemoDataError.
    So does a record that would change one already stored: the same arguments give the same
    records, so that only happens when the database holds demo data made with other arguments
    (the same seed, other sizes or another anchor), which must not be overwritten in part.
    """
    results: dict[str, ApplyResult] = {}
    for name in FEED_ORDER:
        feed = FEEDS[name]
        rows = data.get(name, ())
        results[name] = ApplyResult()
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            records = []
            for raw in batch:
                record, problems = feed.parse(raw)
                _refuse(name, raw.get(feed.key, ""), problems)
                records.append(record)
            for record, problems in zip(records, check_references(feed=feed, records=records),
                                        strict=True):
                _refuse(name, record[feed.key], problems)
            result = apply_records(feed=feed, records=records, actor=actor)
            if result.updated:
                raise DemoDataError(gettext(
                    "The database holds demo data made with the same seed but other arguments "
                    "(%(feed)s would change); nothing was written. Use the same arguments, "
                    "another seed, or a fresh database.") % {"feed": name})
            results[name].add(result)
            if progress is not None:
                progress(len(batch))
    return results


def _refuse(feed: str, key: str, problems: list[Problem]) -> None:
    if problems:
        raise DemoDataError(f"{feed} {key}: " + "; ".join(
            f"{p.column}={p.value!r}: {p.reason}" for p in problems))
