"""The figures of the *Übersicht* (dashboard): pure reads, each one GROUP BY in the database.

Every selector here returns a handful of grouped rows, whatever the number of cases: the
database counts and adds, Python only arranges the groups for the page. Amounts stay apart by
currency (EUR and CHF are never added).

Two kinds of figures (docs/process-reading.md, "The Übersicht"):

* **Stocks, as of today** (the vendor filter applies, the period does not): the cases by state;
  the open debts (``ACTIVE_STATES``, as the top bar counts them) by trigger and by age since
  the incident (``cycle_started_at``, else ``opened_at``: 0–30, 31–60, 61–90, more than 90
  days); per vendor what is open and what of it is with the agency.
* **Flows in the period** (vendor and period): the money recovered, by route and month; the
  recovery rate of each run dated in the period; per vendor what was recovered.

**Recovered** is every payment on a debt case's order made on or after the incident that
opened the case (an instalment paid before the debt arose is no recovery), counted when it was
paid. Its **route** is its channel when that says *offer link*, *agency* or *vendor*; any
other payment counts as paid after the highest letter level of the case that had left (its
``dispatched_on``) on or before the payment's day, within the cycle the payment belongs to
(a payment before the current cycle's incident belongs to an earlier cycle), or as paid
before any letter.

A run's **recovery rate** is the share of its letters that left whose case was paid within 30
days of the day the letter left: the payments on the order from that day to 30 days after add
up to the letter's principal at least.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.dunning.models import DunningRun, Letter
from mahnwerk.intake.models import Payment, PaymentChannel, Vendor

ZERO = Decimal("0.00")
#: The age groups of an open debt, in days since its incident: (key, first day, last day).
#: The keys are the values of the case list's ``age`` parameter.
AGE_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
#: A payment's channel that names its route; any other payment is routed by the letters.
CHANNEL_ROUTES = (PaymentChannel.OFFER_LINK, PaymentChannel.AGENCY, PaymentChannel.VENDOR)
#: The route of a payment made before any letter of its cycle had left.
NO_LETTER = "no_letter"
#: Days after a letter left within which its case counts as paid for the run's rate.
RATE_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Group:
    """One group of a figure: its key (a state, a trigger, an age group), currency, how many
    cases and their open amount."""

    key: str
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Recovered:
    """Payments of one route, month and currency."""

    month: date  # the first day of the month
    route: str  # a channel of CHANNEL_ROUTES, "letter<N>" or NO_LETTER
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class RunRate:
    """One run: its letters that left (of the vendor, when filtered) and how many of their
    cases were paid within the window."""

    run_id: int
    as_of: date
    vendor_name: str  # the run's only vendor, or ""
    letters: int
    paid: int
    #: The last day a payment can still count (the latest letter's window end).
    window_end: date

    @property
    def rate(self) -> Decimal:
        return (Decimal(self.paid) * 100 / self.letters).quantize(Decimal("0.1"))

    def complete(self, today: date) -> bool:
        return self.window_end < today


@dataclass(frozen=True)
class VendorFigures:
    """One vendor in one currency: open (all open debts), of it with the agency, recovered in
    the period."""

    vendor_id: str
    name: str
    currency: str
    open_count: int = 0
    open_amount: Decimal = ZERO
    agency_count: int = 0
    agency_amount: Decimal = ZERO
    recovered_count: int = 0
    recovered_amount: Decimal = ZERO


def route_of(channel: str, level: int | None) -> str:
    """The route key of a group of payments (see the module's docstring)."""
    if channel in CHANNEL_ROUTES:
        return str(channel)
    return f"letter{level}" if level else NO_LETTER


def route_level(route: str) -> int | None:
    """The letter level of a route key ``letter<N>``, else None."""
    rest = route.removeprefix("letter")
    return int(rest) if rest != route and rest.isdigit() else None


def day_start(day: date) -> datetime:
    """The first moment of a day in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class LocalDate(TruncDate):
    """The day of a moment in the site's time zone (``TruncDate``). On SQLite Django computes
    it in Python for every row; where the process's own time zone is the site's (Django sets
    ``TZ`` from ``TIME_ZONE``), SQLite's built-in ``date(…, 'localtime')`` says the same at a
    fraction of the cost."""

    def as_sqlite(self, compiler, connection, **extra_context):
        if (os.environ.get("TZ") == settings.TIME_ZONE
                and timezone.get_current_timezone_name() == settings.TIME_ZONE):
            sql, params = compiler.compile(self.lhs)
            return f"date({sql}, 'localtime')", params
        return super().as_sql(compiler, connection, **extra_context)


class DaysAfter(Func):
    """A date column plus a number of days: on SQLite its built-in ``date(…, '+N days')``
    rather than Django's interval arithmetic, which SQLite computes in Python for every row;
    on PostgreSQL a date plus an integer."""

    output_field = DateField()

    def __init__(self, expression, days: int) -> None:
        super().__init__(expression)
        self.days = int(days)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '+{self.days} days')", params

    def as_sql(self, compiler, connection, **extra_context):
        """PostgreSQL (the other database Mahnwerk runs on): a date plus an integer."""
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + {self.days})", params


def month_of(field: str, months: list[date]) -> Case:
    """The first day of the month (of ``months``) a moment falls in, in the site's time zone:
    plain comparisons with each month's first moment, which every database does fast."""
    whens = [When(**{f"{field}__gte": day_start(month)}, then=Value(month))
             for month in reversed(months)]
    return Case(*whens, default=Value(None), output_field=DateField())


def months_between(since: date, until: date) -> list[date]:
    """The first day of every month from ``since`` to ``until``."""
    months, month = [], since.replace(day=1)
    while month <= until:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _cases(vendor_id: str | None) -> QuerySet[DebtCase]:
    cases = DebtCase.objects.all()
    return cases.filter(vendor_id=vendor_id) if vendor_id else cases


def _groups(rows) -> list[Group]:
    return [Group(key=row["key"], currency=row["currency"], count=row["count"],
                  amount=row["amount"] or ZERO) for row in rows]


# -- Stocks: the cases as they are today --------------------------------------------------------


@dataclass(frozen=True)
class Stock:
    """The cases of one state, trigger and currency: how many, how much is open, and both per
    age group (``AGE_GROUPS``' keys)."""

    state: str
    trigger: str
    currency: str
    count: int
    amount: Decimal
    ages: dict[str, tuple[int, Decimal]]


def stock(*, today: date, vendor_id: str | None = None) -> list[Stock]:
    """Every case grouped by state, trigger and currency, the age groups as conditional sums:
    one pass over the cases for the three figures by state, trigger and age."""
    ages = {}
    for index, (key, _first, _last) in enumerate(AGE_GROUPS):
        condition = age_condition(key, today=today)
        ages[f"n{index}"] = Count("id", filter=condition)
        ages[f"a{index}"] = Sum("open_amount", filter=condition)
    rows = (with_incident(_cases(vendor_id)).order_by()
            .values("state", "trigger", "currency")
            .annotate(count=Count("id"), amount=Sum("open_amount"), **ages))
    return [Stock(state=row["state"], trigger=row["trigger"], currency=row["currency"],
                  count=row["count"], amount=row["amount"] or ZERO,
                  ages={key: (row[f"n{index}"], row[f"a{index}"] or ZERO)
                        for index, (key, _first, _last) in enumerate(AGE_GROUPS)})
            for row in rows]


def _summed(pairs) -> list[Group]:
    """Groups from (key, currency, count, amount) pairs, added up per key and currency."""
    found: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for key, currency, count, amount in pairs:
        n, total = found.get((key, currency), (0, ZERO))
        found[(key, currency)] = (n + count, total + amount)
    return [Group(key=key, currency=currency, count=n, amount=total)
            for (key, currency), (n, total) in found.items() if n]


def by_state(rows: list[Stock]) -> list[Group]:
    """Every case by state and currency: how many, and their open amount."""
    return _summed((r.state, r.currency, r.count, r.amount) for r in rows)


def by_trigger(rows: list[Stock]) -> list[Group]:
    """The open debts (the states of ``ACTIVE_STATES``) by trigger and currency."""
    return _summed((r.trigger, r.currency, r.count, r.amount) for r in rows
                   if r.state in ACTIVE_STATES)


def by_age(rows: list[Stock]) -> list[Group]:
    """The open debts by age group and currency."""
    return _summed((key, r.currency, *r.ages[key]) for r in rows if r.state in ACTIVE_STATES
                   for key, _first, _last in AGE_GROUPS)


def cases_by_state(*, vendor_id: str | None = None) -> list[Group]:
    return by_state(stock(today=timezone.localdate(), vendor_id=vendor_id))


def open_by_trigger(*, vendor_id: str | None = None) -> list[Group]:
    return by_trigger(stock(today=timezone.localdate(), vendor_id=vendor_id))


def open_by_age(*, today: date, vendor_id: str | None = None) -> list[Group]:
    return by_age(stock(today=today, vendor_id=vendor_id))


def age_condition(key: str, *, today: date) -> Q:
    """The cases (annotated by ``with_incident``) of an age group: whole days from the
    incident's day to ``today`` (an incident of today is 0 days old; one dated later too)."""
    for group, first, last in AGE_GROUPS:
        if group == key:
            condition = Q()
            if first > 0:  # at least ``first`` days old: the incident's day is that long ago
                condition &= Q(incident_at__lt=day_start(today - timedelta(days=first - 1)))
            if last is not None:
                condition &= Q(incident_at__gte=day_start(today - timedelta(days=last)))
            return condition
    raise ValueError(key)


def with_incident(cases: QuerySet[DebtCase]) -> QuerySet[DebtCase]:
    """Cases with ``incident_at``: the incident of the current cycle, else the opening."""
    return cases.alias(incident_at=Coalesce("cycle_started_at", "opened_at"))


# -- Flows: money recovered and runs in the period ----------------------------------------------


def _recovered(*, since: date, until: date, vendor_id: str | None) -> QuerySet[Payment]:
    """Payments on a debt case's order, made in the period and not before the case's first
    incident."""
    payments = Payment.objects.filter(
        order__debt_case__isnull=False, paid_at__gte=day_start(since),
        paid_at__lt=day_start(until + timedelta(days=1))
    ).filter(paid_at__gte=F("order__debt_case__opened_at"))
    if vendor_id:
        payments = payments.filter(order__debt_case__vendor_id=vendor_id)
    return payments


def recovered_payments(*, since: date, until: date, vendor_id: str | None = None
                       ) -> QuerySet[Payment]:
    """The payments that recovered money in the period (see the module's docstring), each
    with ``level``: for a payment whose channel names no route, the highest letter level of
    its cycle that had left on or before its day (None: no letter had)."""
    payments = _recovered(since=since, until=until, vendor_id=vendor_id)
    # A payment before the current cycle's incident belongs to an earlier cycle: every
    # letter before it counts (from cycle 0 on); otherwise only the current cycle's.
    payments = payments.alias(
        paid_day=LocalDate("paid_at"),
        from_cycle=Case(When(paid_at__lt=F("order__debt_case__cycle_started_at"),
                             then=Value(0)),
                        default=F("order__debt_case__cycle"), output_field=IntegerField()))
    last_letter = (Letter.objects.filter(case_id=OuterRef("order__debt_case__id"),
                                         dispatched_on__isnull=False,
                                         dispatched_on__lte=OuterRef("paid_day"),
                                         cycle__gte=OuterRef("from_cycle"))
                   .order_by("-cycle", "-level").values("level")[:1])
    return payments.annotate(level=Case(
        When(channel__in=CHANNEL_ROUTES, then=Value(None)),
        default=Subquery(last_letter), output_field=IntegerField()))


def recovered_by_route(*, since: date, until: date, vendor_id: str | None = None
                       ) -> list[Recovered]:
    """The money recovered in the period by month, route and currency."""
    rows = (recovered_payments(since=since, until=until, vendor_id=vendor_id)
            .annotate(month=month_of("paid_at", months_between(since, until))).order_by()
            .values("month", "channel", "level", "currency")
            .annotate(count=Count("payment_id"), amount=Sum("amount")))
    merged: dict[tuple[date, str, str], list] = {}
    for row in rows:  # a few groups per month (channel x level), never a row per payment
        month = row["month"]
        if isinstance(month, datetime):
            month = month.date()
        key = (month, route_of(row["channel"], row["level"]), row["currency"])
        count, amount = merged.get(key, (0, ZERO))
        merged[key] = [count + row["count"], amount + (row["amount"] or ZERO)]
    return [Recovered(month=month, route=route, currency=currency, count=count, amount=amount)
            for (month, route, currency), (count, amount) in sorted(merged.items())]


def payments_of_route(*, route: str, since: date, until: date, vendor_id: str | None = None,
                      currency: str | None = None) -> QuerySet[Payment]:
    """The payments behind one figure of ``recovered_by_route`` (a route, a period, a
    currency), newest first: the list a figure links to."""
    payments = recovered_payments(since=since, until=until, vendor_id=vendor_id)
    if currency:
        payments = payments.filter(currency=currency)
    if route in CHANNEL_ROUTES:
        payments = payments.filter(channel=route)
    elif route == NO_LETTER:
        payments = payments.exclude(channel__in=CHANNEL_ROUTES).filter(level__isnull=True)
    elif route_level(route) is not None:
        payments = payments.exclude(channel__in=CHANNEL_ROUTES).filter(level=route_level(route))
    elif route:
        return payments.none()
    return payments.select_related("order__debt_case__vendor").order_by("-paid_at",
                                                                        "-payment_id")


def run_rates(*, since: date, until: date, vendor_id: str | None = None,
              window_days: int = RATE_WINDOW_DAYS) -> list[RunRate]:
    """Each run dated in the period with letters that left: how many, and how many of their
    cases were paid in full within ``window_days`` of the day the letter left."""
    window = timedelta(days=window_days)
    letters = Letter.objects.filter(run__isnull=False, dispatched_on__isnull=False,
                                    run__as_of__gte=since, run__as_of__lte=until)
    if vendor_id:
        letters = letters.filter(case__vendor_id=vendor_id)
    # From the payments' side: the letters with their case's payments made within the window,
    # joined and grouped once (a subquery per letter asked the payments of each letter's order
    # one by one), then those whose payments cover the letter's principal. Not narrowed to the
    # period's runs here (the outer query is): so the databases start from the payments.
    paid_day = LocalDate("case__order__payments__paid_at")
    paid_letters = (Letter.objects.filter(  # one call: one inner join of the payments
        GreaterThanOrEqual(paid_day, F("dispatched_on")),
        LessThanOrEqual(paid_day, DaysAfter("dispatched_on", window_days)),
        case__order__payments__isnull=False, dispatched_on__isnull=False)
        .order_by().values("pk", "principal")
        .annotate(paid_total=Sum("case__order__payments__amount"))
        .filter(paid_total__gte=F("principal")).values("pk"))
    rows = list(letters.order_by().values("run_id")  # grouped by the run alone
                .annotate(letters=Count("id"), paid=Count("id", filter=Q(pk__in=paid_letters)),
                          last_left=Max("dispatched_on")))
    runs = {run.pk: run for run in DunningRun.objects.filter(pk__in=[r["run_id"] for r in rows])
            .select_related("vendor")}
    return sorted((RunRate(run_id=row["run_id"], as_of=runs[row["run_id"]].as_of,
                           vendor_name=runs[row["run_id"]].vendor.name
                           if runs[row["run_id"]].vendor else "",
                           letters=row["letters"], paid=row["paid"],
                           window_end=row["last_left"] + window) for row in rows),
                  key=lambda rate: (rate.as_of, rate.run_id))


def by_vendor(*, since: date, until: date, vendor_id: str | None = None
              ) -> list[VendorFigures]:
    """Per vendor and currency: the open debts, those of them with the agency, and the money
    recovered in the period; the largest open amount first."""
    agency = Q(state=CaseState.SENT_FOR_COLLECTION)
    found: dict[tuple[str, str], VendorFigures] = {}
    for row in (_cases(vendor_id).filter(state__in=ACTIVE_STATES).order_by()
                .values("vendor_id", "currency")
                .annotate(n_open=Count("id"), sum_open=Sum("open_amount"),
                          n_agency=Count("id", filter=agency),
                          sum_agency=Sum("open_amount", filter=agency))):
        found[(row["vendor_id"], row["currency"])] = VendorFigures(
            vendor_id=row["vendor_id"], name="", currency=row["currency"],
            open_count=row["n_open"], open_amount=row["sum_open"] or ZERO,
            agency_count=row["n_agency"], agency_amount=row["sum_agency"] or ZERO)
    for row in (_recovered(since=since, until=until, vendor_id=vendor_id).order_by()
                .values("currency", vendor_id=F("order__debt_case__vendor_id"))
                .annotate(count=Count("payment_id"), amount=Sum("amount"))):
        key = (row["vendor_id"], row["currency"])
        base = found.get(key) or VendorFigures(vendor_id=row["vendor_id"], name="",
                                               currency=row["currency"])
        found[key] = VendorFigures(**{**base.__dict__, "recovered_count": row["count"],
                                      "recovered_amount": row["amount"] or ZERO})
    names = dict(Vendor.objects.filter(pk__in={v for v, _c in found})
                 .values_list("vendor_id", "name"))
    found = {key: VendorFigures(**{**v.__dict__, "name": names.get(v.vendor_id, v.vendor_id)})
             for key, v in found.items()}
    return sorted(found.values(), key=lambda v: (v.currency, -v.open_amount,
                                                 -v.recovered_amount, v.name, v.vendor_id))
