"""The economics of each route: what a next step can be expected to bring, net of its costs.

Four routes a case can take, each a step after the one before (docs/process-reading.md,
"The economics of each route"):

    letter1   the first dunning letter (from the day it left)
    letter2   the second dunning letter (from the day it left)
    agency    the collection agency (from its takeover, else the day the case was handed over)
    vendor    the vendor takes the case back and pursues it itself (from its cancellation)

**Observed, from the case history** (``route_statistics``, two grouped queries): of the cases
of the current cycle that reached a step and whose outcome there is known (they were paid,
closed, went on to a further step, or the step is ``MATURE_DAYS`` old), the share that was paid
at that step (paid with no further step reached), and the median days from the step's start to
the payment; per trigger and amount band (``MAHNWERK_AMOUNT_BANDS``, the debt of the cycle's
incident). Below ``MAHNWERK_ECONOMICS_MIN_CASES`` cases a group gives no rate: "too few cases".

**Expected, per case** (``expected_net``, a pure function of the facts): open amount × observed
rate − the step's costs: a letter's cost (``MAHNWERK_LETTER_COST``), the agency's success fee
(its percentage of what is collected, at least its minimum, as often as the agency collects),
the partner's withdrawal fee when the vendor takes back a case already handed over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    DateField,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.cases.states import CLOSED_STATES, CaseState
from mahnwerk.collection import reasons as why
from mahnwerk.collection import selectors
from mahnwerk.collection.models import CollectionPartner, PartnerFee
from mahnwerk.intake.models import Incident

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

LETTER1, LETTER2, AGENCY, VENDOR = "letter1", "letter2", "agency", "vendor"
#: The steps in their order: a case at a step has been through the ones before.
ROUTES = (LETTER1, LETTER2, AGENCY, VENDOR)
ROUTE_NAMES = {LETTER1: pgettext_lazy("route", "1st letter"),
               LETTER2: pgettext_lazy("route", "2nd letter"),
               AGENCY: pgettext_lazy("route", "agency"), VENDOR: pgettext_lazy("route", "vendor")}
#: Every trigger, every band: the key of a route's whole row.
ALL = ""


def amount_bands() -> tuple[Decimal, ...]:
    """The limits between the amount bands, ascending (``MAHNWERK_AMOUNT_BANDS``)."""
    return tuple(sorted(Decimal(str(limit)) for limit in settings.MAHNWERK_AMOUNT_BANDS))


def band_of(amount: Decimal, limits: tuple[Decimal, ...] | None = None) -> str:
    """The key of the band an amount falls in: "0-50", "50-200", ..., "1000+" (the lower
    limit belongs to the band)."""
    limits = amount_bands() if limits is None else limits
    lower = Decimal(0)
    for limit in limits:
        if amount < limit:
            return f"{lower:g}-{limit:g}"
        lower = limit
    return f"{lower:g}+"


def band_keys(limits: tuple[Decimal, ...] | None = None) -> list[str]:
    limits = amount_bands() if limits is None else limits
    return [band_of(limit - CENT if limit else ZERO, limits) for limit in limits] + [
        band_of(limits[-1] if limits else ZERO, limits)]


def min_cases() -> int:
    return int(settings.MAHNWERK_ECONOMICS_MIN_CASES)


# -- The facts and the pure estimate -------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """One route in one group (a trigger and an amount band, or all of them): how many cases
    reached it with a known outcome, how many were paid there, in how many days (median)."""

    route: str
    trigger: str = ALL
    band: str = ALL
    cases: int = 0
    recovered: int = 0
    median_days: Decimal | None = None
    #: The debts of the cases counted (for the Übersicht's expected value), per currency.
    amounts: dict[str, Decimal] = field(default_factory=dict)

    def rate(self, minimum: int | None = None) -> Decimal | None:
        """The share paid, 0 to 1 (exact: rounded only where it is shown); None below the
        minimum sample."""
        if self.cases < (min_cases() if minimum is None else minimum) or not self.cases:
            return None
        return Decimal(self.recovered) / self.cases


@dataclass(frozen=True)
class Fees:
    """A partner's fees of one day (``PartnerFee``), or none (all zero)."""

    success_percent: Decimal = ZERO
    success_minimum: Decimal = ZERO
    withdrawal: Decimal = ZERO
    currency: str = "EUR"

    def success_fee(self, collected: Decimal) -> Decimal:
        """The agency's fee on an amount it collected: its percentage, at least its minimum."""
        if collected <= 0:
            return ZERO
        fee = (collected * self.success_percent / 100).quantize(CENT, ROUND_HALF_UP)
        return max(fee, self.success_minimum)


@dataclass(frozen=True)
class Estimate:
    """What a next step can be expected to bring the vendor, net of its costs."""

    route: str
    currency: str
    #: None: too few cases for a rate.
    rate: Decimal | None
    cases: int
    #: Which group the rate is of: (trigger, band) or (ALL, ALL) for the whole route.
    basis: tuple[str, str]
    costs: Decimal
    net: Decimal | None

    @property
    def name(self) -> str:
        return str(ROUTE_NAMES[self.route])


def expected_net(*, route: str, open_amount: Decimal, rate: Decimal | None, fees: Fees,
                 letter_cost: Decimal, withdrawing: bool = False
                 ) -> tuple[Decimal, Decimal | None]:
    """(costs, expected net recovery) of a step for a case: open amount × rate − costs.

    ``letter1``/``letter2``: the letter's cost, spent whatever comes of it. ``agency``: the
    success fee on the open amount, as often as the agency collects (rate × fee).
    ``vendor``: the partner's withdrawal fee when the case is already with the agency
    (``withdrawing``), spent whatever comes of it. No rate: the costs, no net."""
    if route in (LETTER1, LETTER2):
        costs = letter_cost
    elif route == AGENCY:
        fee = fees.success_fee(open_amount)
        costs = (fee * rate).quantize(CENT, ROUND_HALF_UP) if rate is not None else fee
    elif route == VENDOR:
        costs = fees.withdrawal if withdrawing else ZERO
    else:
        raise ValueError(route)
    if rate is None:
        return costs, None
    return costs, (open_amount * rate - costs).quantize(CENT, ROUND_HALF_UP)


# -- Reading the history (the database adds up) -------------------------------------------------


def _band_case(limits: tuple[Decimal, ...]) -> Case:
    whens = [When(debt__lt=limit, then=Value(band_of(limit - CENT, limits)))
             for limit in limits]
    return Case(*whens, default=Value(band_of(limits[-1] if limits else ZERO, limits)),
                output_field=CharField())


VENDOR_CODES = [why.CANCEL_REQUESTED, why.CANCEL_REQUESTED_SAYING, why.WITHDRAWN]


def with_steps(cases: QuerySet[DebtCase]) -> QuerySet[DebtCase]:
    """Cases with ``debt`` (the cycle's incident's amount), ``band`` and the days of the steps
    the case itself records (``on_letter1``, ``on_letter2``, ``incasso_date``); the days only
    the events record are ``step_events``'."""
    latest_incident = (Incident.objects.filter(order_id=OuterRef("order_id"))
                       .order_by("-occurred_at").values("open_amount")[:1])
    return cases.annotate(
        debt=Coalesce(Subquery(latest_incident), F("open_amount")),
    ).annotate(
        band=_band_case(amount_bands()),
        on_letter1=F("first_dunning_letter"), on_letter2=F("second_dunning_letter"),
    )


#: The columns of ``with_steps`` the outer queries read, in this order.
STEP_COLUMNS = ("id", "trigger", "band", "currency", "state", "debt", "on_letter1",
                "on_letter2", "incasso_date")


def step_events(cases: QuerySet[DebtCase]) -> QuerySet[CaseEvent]:
    """Per case, from the events of its current cycle (one pass over them, grouped): the
    latest day it was handed over (``agency_day``), the vendor asked for it back or took it
    (``vendor_day``), it became paid (``paid_day``)."""
    day = Coalesce("effective_on", Cast("at", DateField()))
    into_paid = Q(to_state=CaseState.PAID) & ~Q(from_state=CaseState.PAID)
    return (CaseEvent.objects
            .filter(Q(code__in=[why.HANDED_OVER, *VENDOR_CODES]) | into_paid,
                    case__in=cases.values("pk"),
                    at__gte=Coalesce(F("case__cycle_started_at"), F("case__opened_at")))
            .order_by().values("case_id")
            .annotate(agency_day=Max(Case(When(code=why.HANDED_OVER, then=day))),
                      vendor_day=Max(Case(When(code__in=VENDOR_CODES, then=day))),
                      paid_day=Max(Case(When(into_paid, then=day)))))


def _steps_sql(cases: QuerySet[DebtCase]) -> tuple[str, list]:
    """A row per case (``with_steps`` joined with ``step_events``) as SQL for a FROM clause:
    the day each step started (``on_letter1`` … ``on_vendor``, NULL: not reached),
    ``furthest`` (the last step reached) and ``paid_on``."""
    inner, inner_params = with_steps(cases).order_by().values(*STEP_COLUMNS).query \
        .sql_with_params()
    events, events_params = step_events(cases).query.sql_with_params()
    on_agency = "COALESCE(c.incasso_date, e.agency_day)"
    furthest = " ".join(f"WHEN {day} IS NOT NULL THEN '{route}'" for route, day in (
        (VENDOR, "e.vendor_day"), (AGENCY, on_agency), (LETTER2, "c.on_letter2"),
        (LETTER1, "c.on_letter1")))
    return (f"SELECT c.*, {on_agency} AS on_agency, e.vendor_day AS on_vendor, "
            f"e.paid_day AS paid_on, CASE {furthest} ELSE '' END AS furthest "
            f"FROM ({inner}) c LEFT JOIN ({events}) e ON e.case_id = c.id",
            [*inner_params, *events_params])


def _known_sql(route: str, today: date) -> tuple[str, list]:
    """Reached ``route`` and its outcome there is known: paid or closed, gone on to a further
    step, or the step is old enough (a condition on ``_steps_sql``'s columns)."""
    later = ROUTES[ROUTES.index(route) + 1:]
    old = today - timedelta(days=int(settings.MAHNWERK_ECONOMICS_MATURE_DAYS))
    closed = sorted(str(state) for state in CLOSED_STATES)
    conditions = [f"s.state IN ({', '.join(['%s'] * len(closed))})", f"s.on_{route} <= %s"]
    params: list = [*closed, connection.ops.adapt_datefield_value(old)]
    if later:
        conditions.insert(1, f"s.furthest IN ({', '.join(repr(r) for r in later)})")
    return f"(s.on_{route} IS NOT NULL AND ({' OR '.join(conditions)}))", params


def _days_sql() -> str:
    """Whole days from the step the case was paid at to its payment (``_steps_sql`` with
    ``paid_on``)."""
    start = "CASE " + " ".join(f"WHEN s.furthest = '{route}' THEN s.on_{route}"
                               for route in ROUTES) + " END"
    if connection.vendor == "sqlite":
        return f"CAST(julianday(s.paid_on) - julianday({start}) AS INTEGER)"
    return f"((s.paid_on)::date - ({start})::date)"


def _rows(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class RouteStatistics:
    """Every route's observations: per (route, trigger, band) and per route overall."""

    groups: dict[tuple[str, str, str], Observed]
    minimum: int
    #: Every partner's fees as of the reading, by (partner id, currency).
    fees: dict[tuple[int, str], Fees] = field(default_factory=dict)

    def fees_of(self, partner: CollectionPartner | None, currency: str) -> Fees:
        if partner is None:
            return Fees(currency=currency)
        return self.fees.get((partner.pk, currency), Fees(currency=currency))

    def observed(self, route: str, trigger: str = ALL, band: str = ALL) -> Observed:
        return self.groups.get((route, trigger, band)) or Observed(route=route, trigger=trigger,
                                                                    band=band)

    def best(self, route: str, trigger: str, band: str) -> Observed:
        """The group of the case's own trigger and band when it has enough cases, else the
        route's whole row (which may have too few as well)."""
        own = self.observed(route, trigger, band)
        if own.rate(self.minimum) is not None:
            return own
        return self.observed(route)


def _group(groups: dict, key: tuple[str, str, str]) -> dict:
    return groups.setdefault(key, {"cases": 0, "recovered": 0, "amounts": {}, "days": {}})


def median_of(histogram: dict[int, int]) -> Decimal | None:
    """The median of values given as {value: how often}; None when there are none."""
    total = sum(histogram.values())
    if not total:
        return None
    values: list[int] = []
    seen = 0
    wanted = {(total - 1) // 2, total // 2}  # the middle one, or the middle two
    for value in sorted(histogram):
        count = histogram[value]
        values += [value for index in wanted if seen <= index < seen + count]
        seen += count
    return Decimal(sum(values)) / len(values)


def route_statistics(*, vendor_id: str | None = None, today: date | None = None
                     ) -> RouteStatistics:
    """The observed recovery of each route per trigger and amount band, from the cases'
    history: one grouped query for the cases and the recovered, one for the days to payment
    (a histogram per group, whose median Python reads)."""
    today = today or timezone.localdate()
    cases = (DebtCase.objects.all() if not vendor_id
             else DebtCase.objects.filter(vendor_id=vendor_id))
    paid = f"s.state = '{CaseState.PAID.value}'"
    columns, params = [], []
    for route in ROUTES:
        known, known_params = _known_sql(route, today)
        columns += [f"SUM(CASE WHEN {known} THEN 1 ELSE 0 END) AS n_{route}",
                    f"SUM(CASE WHEN {known} AND {paid} AND s.furthest = '{route}' "
                    f"THEN 1 ELSE 0 END) AS r_{route}",
                    f"SUM(CASE WHEN {known} THEN s.debt END) AS d_{route}"]
        params += known_params * 3
    steps, steps_params = _steps_sql(cases)
    rows = _rows(f"SELECT s.\"trigger\", s.band, s.currency, {', '.join(columns)} "
                 f"FROM ({steps}) s WHERE s.furthest <> '' "
                 "GROUP BY s.\"trigger\", s.band, s.currency", [*params, *steps_params])
    groups: dict[tuple[str, str, str], dict] = {}
    for row in rows:
        for route in ROUTES:
            n, r = int(row[f"n_{route}"] or 0), int(row[f"r_{route}"] or 0)
            if not n:
                continue
            for key in ((route, row["trigger"], row["band"]), (route, ALL, ALL)):
                group = _group(groups, key)
                group["cases"] += n
                group["recovered"] += r
                amounts = group["amounts"]
                amounts[row["currency"]] = (amounts.get(row["currency"], ZERO)
                                            + Decimal(str(row[f"d_{route}"] or 0)).quantize(CENT))
    steps, steps_params = _steps_sql(cases.filter(state=CaseState.PAID))
    days = _rows(f"SELECT s.furthest AS step, s.\"trigger\", s.band, {_days_sql()} AS days, "
                 f"COUNT(*) AS n FROM ({steps}) s WHERE s.furthest <> '' "
                 "GROUP BY s.furthest, s.\"trigger\", s.band, days", steps_params)
    for row in days:
        if row["days"] is None:
            continue
        for key in ((row["step"], row["trigger"], row["band"]), (row["step"], ALL, ALL)):
            hist = _group(groups, key)["days"]
            day = max(int(row["days"]), 0)
            hist[day] = hist.get(day, 0) + row["n"]
    return RouteStatistics(groups={
        key: Observed(route=key[0], trigger=key[1], band=key[2], cases=g["cases"],
                      recovered=g["recovered"], median_days=median_of(g["days"]),
                      amounts=g["amounts"])
        for key, g in groups.items()}, minimum=min_cases(), fees=current_fees(today))


def current_fees(today: date) -> dict[tuple[int, str], Fees]:
    """Each partner's fees of the day in each currency (the latest row from that day or
    before), in one query."""
    found: dict[tuple[int, str], Fees] = {}
    for row in PartnerFee.objects.filter(valid_from__lte=today).order_by(
            "partner_id", "currency", "-valid_from"):
        found.setdefault((row.partner_id, row.currency), Fees(
            success_percent=row.success_fee_percent, success_minimum=row.success_fee_minimum,
            withdrawal=row.withdrawal_fee, currency=row.currency))
    return found


# -- A case's next steps -------------------------------------------------------------------------


def fees_of(partner: CollectionPartner | None, *, currency: str, on: date | None = None
            ) -> Fees:
    """The partner's fees on a day (the latest row from that day or before), in a currency;
    none set: all zero."""
    if partner is None:
        return Fees(currency=currency)
    row = (PartnerFee.objects.filter(partner=partner, currency=currency,
                                     valid_from__lte=on or timezone.localdate())
           .order_by("-valid_from").first())
    if row is None:
        return Fees(currency=currency)
    return Fees(success_percent=row.success_fee_percent, success_minimum=row.success_fee_minimum,
                withdrawal=row.withdrawal_fee, currency=currency)


def next_routes(case: DebtCase) -> list[str]:
    """The steps a case can take next: a letter while in dunning; at the vendor's approval
    the agency or the vendor; with the agency, staying or being withdrawn by the vendor."""
    state = case.state
    if state in (CaseState.OPEN, CaseState.DUNNING):
        if not case.first_dunning_letter:
            return [LETTER1]
        if not case.second_dunning_letter:
            return [LETTER2]
        return [AGENCY, VENDOR]
    if state in (CaseState.ON_HOLD, CaseState.APPROVED, CaseState.SENT_FOR_COLLECTION):
        return [AGENCY, VENDOR]
    return []


def letter_cost() -> Decimal:
    return Decimal(str(settings.MAHNWERK_LETTER_COST))


def needs_fees(case: DebtCase) -> bool:
    """Whether a partner's fees enter the case's next steps (a letter's do not)."""
    return any(route in (AGENCY, VENDOR) for route in next_routes(case))


def estimates(*, case: DebtCase, statistics: RouteStatistics,
              partner: CollectionPartner | None, fees: Fees | None = None
              ) -> list[Estimate]:
    """The expected net recovery of each next step of a case."""
    routes = next_routes(case)
    if not routes:
        return []
    if fees is None:
        fees = statistics.fees_of(partner, case.currency)
    band = band_of(case.open_amount)
    withdrawing = case.state == CaseState.SENT_FOR_COLLECTION
    found = []
    for route in routes:
        observed = statistics.best(route, case.trigger, band)
        rate = observed.rate(statistics.minimum)
        costs, net = expected_net(route=route, open_amount=case.open_amount, rate=rate,
                                  fees=fees, letter_cost=letter_cost(),
                                  withdrawing=withdrawing)
        found.append(Estimate(route=route, currency=case.currency, rate=rate,
                              cases=observed.cases, basis=(observed.trigger, observed.band),
                              costs=costs, net=net))
    return found


def withdrawal_fee(*, case: DebtCase, partner: CollectionPartner | None) -> Fees:
    """The fees that apply when the vendor takes back this case (its partner's, today)."""
    return fees_of(partner, currency=case.currency)


def partner_for(case: DebtCase) -> CollectionPartner | None:
    """The partner whose fees apply to the case's next steps: the agency holding it, else the
    one the routing rules would hand it to."""
    if case.state == CaseState.SENT_FOR_COLLECTION:
        found = selectors.agency_of(case)
        if found is not None:
            return found
    return selectors.route(rules=selectors.active_rules(), vendor_id=case.vendor_id,
                           country=case.order.country, trigger=case.trigger)


def case_estimates(*, case: DebtCase, statistics: RouteStatistics | None = None
                   ) -> list[Estimate]:
    """The expected net recovery of each next step of a case (the statistics read once per
    page or mail and passed in where many cases are shown)."""
    if not next_routes(case):
        return []
    statistics = statistics or kept_statistics()
    return estimates(case=case, statistics=statistics,
                     partner=partner_for(case) if needs_fees(case) else None)


def percent(rate: Decimal) -> str:
    """A rate 0..1 as the reader writes a percentage (German: 62,5 %)."""
    from django.utils.formats import number_format

    return f"{number_format((rate * 100).quantize(Decimal('0.1')), 1)} %"


def describe(estimate: Estimate) -> str:
    """One estimate in words: "agency: 85,20 € (62,5 % of 143 cases, costs 12,00 €)"."""
    from mahnwerk.money import format_money

    if estimate.net is None or estimate.rate is None:
        return _("%(route)s: too few cases (%(cases)d) for an estimate") % {
            "route": estimate.name, "cases": estimate.cases}
    return ngettext("%(route)s: %(net)s (%(rate)s of %(cases)d case paid, costs %(costs)s)",
                    "%(route)s: %(net)s (%(rate)s of %(cases)d cases paid, costs %(costs)s)",
                    estimate.cases) % {
        "route": estimate.name, "net": format_money(estimate.net, estimate.currency),
        "rate": percent(estimate.rate), "cases": estimate.cases,
        "costs": format_money(estimate.costs, estimate.currency)}


def expected_text(estimates_: list[Estimate]) -> str:
    """The line of the approval request: "expected: agency: …; vendor: …"."""
    if not estimates_:
        return ""
    return _("expected: %(steps)s") % {"steps": "; ".join(describe(e) for e in estimates_)}


#: How long the observed figures are kept between two readings (a case page or an approval
#: e-mail reads the kept ones).
KEEP_SECONDS = 600
#: The Übersicht's schedule (every minute) reads them afresh only when the kept ones are older
#: than this: they are the history of every case (recovery rates by route, trigger and band),
#: which a minute hardly changes, and they are the schedule's heaviest read (2 of its 2.2 s at
#: 100,000 cases on PostgreSQL, docs/scaling.md). Still inside KEEP_SECONDS, so that no
#: visitor finds them gone.
REFRESH_SECONDS = 300


def kept_statistics(*, vendor_id: str | None = None, today: date | None = None, fresh: bool = False,
                    fresh_after: int | None = None) -> RouteStatistics:
    """``route_statistics`` kept in the cache: a case page asks for them on every visit, and at
    100,000 cases they are two heavy grouped queries. ``fresh``: read them again, or with
    ``fresh_after`` (seconds) only if the kept ones are older than that."""
    from django.core.cache import cache

    today = today or timezone.localdate()
    key = f"mahnwerk:economics:2:{vendor_id or ''}:{today}:{min_cases()}"
    kept = cache.get(key)
    now = time.time()
    if kept is not None and not (fresh and (fresh_after is None or now - kept[0] > fresh_after)):
        return kept[1]
    found = route_statistics(vendor_id=vendor_id, today=today)
    cache.set(key, (now, found), KEEP_SECONDS)
    return found


def below_handover_minimum(*, case: DebtCase, minimum: Decimal) -> str:
    """The reason a case is not handed over for owing less than the policy's minimum, in the
    reader's language; "" when it owes enough or is not headed for the agency."""
    from mahnwerk.reasons import money_param, render

    if not minimum or case.open_amount >= minimum or case.state not in (
            CaseState.ON_HOLD, CaseState.APPROVED, CaseState.DUNNING, CaseState.OPEN):
        return ""
    return render(why.BELOW_HANDOVER_MINIMUM, {
        "amount": money_param(case.open_amount, case.currency),
        "minimum": money_param(minimum, case.currency)})


def many_estimates(*, cases: list[DebtCase], statistics: RouteStatistics | None = None
                   ) -> dict[int, list[Estimate]]:
    """``case_estimates`` for a list of cases (an approval request, the portal's waiting
    cases): the routing rules, partners and fees read once, not once per case."""
    statistics = statistics or kept_statistics()
    rules = selectors.active_rules()
    found: dict[int, list[Estimate]] = {}
    for case in cases:
        if not next_routes(case):
            found[case.pk] = []
            continue
        partner = selectors.agency_of(case) if case.state == CaseState.SENT_FOR_COLLECTION else None
        partner = partner or selectors.route(rules=rules, vendor_id=case.vendor_id,
                                             country=case.order.country, trigger=case.trigger)
        found[case.pk] = estimates(case=case, statistics=statistics, partner=partner)
    return found


def handover_minimums() -> tuple[Decimal, dict[str, Decimal]]:
    """The policies' minimum for the agency: the default one's, and each vendor's own policy's
    (one query)."""
    from mahnwerk.dunning.models import DunningPolicy

    default: Decimal | None = None
    by_vendor: dict[str, Decimal] = {}
    for vendor_id, minimum in (DunningPolicy.objects.order_by("pk")
                               .values_list("vendor_id", "handover_minimum_amount")):
        if vendor_id is not None:
            by_vendor[vendor_id] = minimum
        elif default is None:  # the first default policy, as dunning.selectors reads it
            default = minimum
    return default or ZERO, by_vendor
