"""What the *Übersicht* shows: the figures of ``web.figures`` arranged as tables, each figure
with its link to the list it counts, and the series its chart draws.

The links go to the case list (``web:cases``) with its parameters ``state`` (a state, or
``active`` for every open debt as the top bar counts them), ``vendor``, ``trigger``, ``age``
(``0-30``, ``31-60``, ``61-90``, ``90+``) and ``currency``; money recovered links to the
payments behind the figure (``web:overview-payments``); a run's rate to the run.

Only grouped rows pass through here (a few per state, month or vendor), never a case.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_currency, format_percent
from django.core.cache import cache
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.collection import economics
from mahnwerk.intake.models import IncidentKind, PaymentChannel, Vendor
from mahnwerk.money import format_money, locale_of
from mahnwerk.web import figures

ZERO = figures.ZERO
#: The value of the case list's ``state`` parameter for every open debt (``ACTIVE_STATES``).
ACTIVE = "active"


@dataclass(frozen=True)
class Filters:
    """The Übersicht's filter as parsed: a vendor or all, the period, and today."""

    vendor: Vendor | None
    since: date
    until: date
    today: date

    @property
    def vendor_id(self) -> str | None:
        return self.vendor.pk if self.vendor else None

    def query(self, **extra: str) -> str:
        """The filter as a query string (for the charts' images and the payments list)."""
        params = {"vendor": self.vendor_id or "", "since": self.since.isoformat(),
                  "until": self.until.isoformat(), **extra}
        return urlencode({k: v for k, v in params.items() if v})


def default_period(today: date) -> tuple[date, date]:
    """Twelve months: from the first day of the month eleven months ago to today."""
    month = today.month - 11
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1), today


# -- How figures read ---------------------------------------------------------------------------


def language() -> str:
    return (get_language() or "de").split("-")[0]


def count_text(count: int) -> str:
    return number_format(count, force_grouping=True)


def money_text(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def whole_money(amount: Decimal | float, currency: str) -> str:
    """An amount without cents, for a chart's axis: "12.346 €"."""
    locale = locale_of(language())
    pattern = locale.currency_formats["standard"].pattern.replace(".00", "")
    return format_currency(Decimal(str(amount)), currency, format=pattern, locale=locale,
                           currency_digits=False)


def percent_text(value: Decimal) -> str:
    """A rate given in percent (66.7) as the reader writes it: "66,7 %"."""
    locale = locale_of(language())
    pattern = locale.percent_formats[None].pattern.replace("0%", "0.0%").replace(
        "0 %", "0.0 %").replace("0\xa0%", "0.0\xa0%")
    return format_percent(value / 100, format=pattern, locale=locale)


def month_text(month: date, *, short: bool = False) -> str:
    return format_date(month, "MMM yy" if short else "MMMM yyyy", locale=locale_of(language()))


def state_text(state: str) -> str:
    try:
        return str(CaseState(state).label)
    except ValueError:
        return state


def trigger_text(trigger: str) -> str:
    try:
        return str(IncidentKind(trigger).label)
    except ValueError:
        return trigger


def age_text(key: str) -> str:
    if key.endswith("+"):
        return _("more than %(days)s days") % {"days": key[:-1]}
    return _("%(range)s days") % {"range": key.replace("-", "–")}


def route_text(route: str) -> str:
    """A route of recovered money in words: "nach der 2. Mahnung", "über den Angebotslink"."""
    level = figures.route_level(route)
    if level is not None:
        return _("after letter %(level)s") % {"level": level}
    return {
        PaymentChannel.OFFER_LINK: _("through the offer link"),
        PaymentChannel.AGENCY: _("through the agency"),
        PaymentChannel.VENDOR: _("by the vendor"),
        figures.NO_LETTER: _("before any letter"),
    }.get(route, route)


def route_order(route: str) -> tuple[int, int]:
    """Letters by level first, then offer link, agency, vendor; before any letter last."""
    level = figures.route_level(route)
    if level is not None:
        return (0, level)
    rest = [*figures.CHANNEL_ROUTES, figures.NO_LETTER]
    return (1, rest.index(route) if route in rest else len(rest))


# -- Links ----------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _path(name: str, prefix: str, *args: str | int) -> str:
    return reverse(name, args=args or None)


def path(name: str, *args: str | int) -> str:
    """``reverse`` once per page name (and script prefix): a page links a thousand figures."""
    return _path(name, get_script_prefix(), *args)


def cases_url(**params: str | None) -> str:
    """The case list filtered: ``state``, ``vendor``, ``trigger``, ``age``, ``currency``."""
    query = urlencode({k: v for k, v in params.items() if v})
    return path("web:cases") + (f"?{query}" if query else "")


def payments_url(filters: Filters, *, since: date | None = None, until: date | None = None,
                 route: str = "", currency: str = "", vendor_id: str | None = None) -> str:
    params = {"vendor": vendor_id or filters.vendor_id or "",
              "since": (since or filters.since).isoformat(),
              "until": (until or filters.until).isoformat(),
              "route": route, "currency": currency}
    return path("web:overview-payments") + "?" + urlencode(
        {k: v for k, v in params.items() if v})


def chart_url(figure: str, filters: Filters, currency: str = "") -> str:
    query = filters.query(currency=currency)
    return path("web:overview-chart", figure) + (f"?{query}" if query else "")


# -- The figures as tables ------------------------------------------------------------------------


@dataclass
class Cell:
    """One figure: how many and how much, with the link to what it counts."""

    count: int
    amount: Decimal
    currency: str
    url: str = ""

    @property
    def count_text(self) -> str:
        return count_text(self.count)

    @property
    def amount_text(self) -> str:
        return money_text(self.amount, self.currency)


@dataclass
class GroupRow:
    key: str
    label: str
    cells: list[Cell]  # one per currency of the table


@dataclass
class GroupTable:
    """Cases by state, trigger or age: a row per group, a pair of columns per currency."""

    figure: str
    currencies: list[str]
    rows: list[GroupRow]
    totals: list[Cell]
    #: The chart of each currency: (currency, image URL), and the charts' height.
    charts: list[tuple[str, str]] = field(default_factory=list)
    chart_height: int = 0

    def series(self, currency: str) -> tuple[list[str], list[Decimal]]:
        """The chart's labels and the open amount of each group in one currency."""
        index = self.currencies.index(currency)
        return [row.label for row in self.rows], [row.cells[index].amount for row in self.rows]


def currencies_of(rows: Iterable) -> list[str]:
    """The currencies of some rows, EUR first, then alphabetically."""
    return sorted({row.currency for row in rows}, key=lambda c: (c != "EUR", c))


def group_table(figure: str, groups: list[figures.Group], *, keys: list[str],
                label, url, total_url) -> GroupTable:
    currencies = currencies_of(groups)
    found = {(g.key, g.currency): g for g in groups}
    present = [key for key in keys if any((key, c) in found for c in currencies)]
    present += sorted({g.key for g in groups} - set(keys))  # a code no longer known
    rows = []
    for key in present:
        cells = []
        for currency in currencies:
            group = found.get((key, currency))
            cells.append(Cell(count=group.count if group else 0,
                              amount=group.amount if group else ZERO, currency=currency,
                              url=url(key, currency)))
        rows.append(GroupRow(key=key, label=label(key), cells=cells))
    totals = [Cell(count=sum(g.count for g in groups if g.currency == c),
                   amount=sum((g.amount for g in groups if g.currency == c), ZERO),
                   currency=c, url=total_url(c)) for c in currencies]
    return GroupTable(figure=figure, currencies=currencies, rows=rows, totals=totals)


def state_table(groups: list[figures.Group], filters: Filters) -> GroupTable:
    vendor = filters.vendor_id
    return group_table(
        "state", groups, keys=list(CaseState.values), label=state_text,
        url=lambda key, c: cases_url(state=key, vendor=vendor, currency=c),
        total_url=lambda c: cases_url(vendor=vendor, currency=c))


def trigger_table(groups: list[figures.Group], filters: Filters) -> GroupTable:
    vendor = filters.vendor_id
    return group_table(
        "trigger", groups, keys=list(IncidentKind.values), label=trigger_text,
        url=lambda key, c: cases_url(state=ACTIVE, trigger=key, vendor=vendor, currency=c),
        total_url=lambda c: cases_url(state=ACTIVE, vendor=vendor, currency=c))


def age_table(groups: list[figures.Group], filters: Filters) -> GroupTable:
    vendor = filters.vendor_id
    return group_table(
        "age", groups, keys=[key for key, _first, _last in figures.AGE_GROUPS], label=age_text,
        url=lambda key, c: cases_url(state=ACTIVE, age=key, vendor=vendor, currency=c),
        total_url=lambda c: cases_url(state=ACTIVE, vendor=vendor, currency=c))


@dataclass
class Summary:
    """The figures at the head of the page, per currency."""

    currency: str
    open: Cell
    agency: Cell
    recovered: Cell


def summary(states: GroupTable, routes: list[RouteTable], filters: Filters) -> list[Summary]:
    currencies = sorted({*states.currencies, *(t.currency for t in routes)},
                        key=lambda c: (c != "EUR", c))
    result = []
    for currency in currencies:
        open_count, open_amount, agency = 0, ZERO, Cell(0, ZERO, currency)
        if currency in states.currencies:
            index = states.currencies.index(currency)
            for row in states.rows:
                cell = row.cells[index]
                if row.key in ACTIVE_STATES:
                    open_count += cell.count
                    open_amount += cell.amount
                if row.key == CaseState.SENT_FOR_COLLECTION:
                    agency = cell
        route = next((t for t in routes if t.currency == currency), None)
        result.append(Summary(
            currency=currency,
            open=Cell(open_count, open_amount, currency,
                      cases_url(state=ACTIVE, vendor=filters.vendor_id, currency=currency)),
            agency=Cell(agency.count, agency.amount, currency,
                        cases_url(state=CaseState.SENT_FOR_COLLECTION,
                                  vendor=filters.vendor_id, currency=currency)),
            recovered=route.total if route else Cell(
                0, ZERO, currency, payments_url(filters, currency=currency))))
    return result


# -- Money recovered by route and month -----------------------------------------------------------


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


@dataclass
class MonthRow:
    month: date
    label: str
    cells: list[Cell]  # one per route of the table
    total: Cell


@dataclass
class RouteTable:
    """The money recovered in one currency: a row per month, a column per route."""

    currency: str
    routes: list[tuple[str, str]]  # (key, label)
    months: list[MonthRow]
    totals: list[Cell]  # per route, the whole period
    total: Cell
    chart: str = ""  # the chart's image URL

    def series(self) -> tuple[list[str], list[tuple[str, list[Decimal]]]]:
        labels = [month_text(row.month, short=True) for row in self.months]
        return labels, [(label, [row.cells[i].amount for row in self.months])
                        for i, (_key, label) in enumerate(self.routes)]


def route_tables(recovered: list[figures.Recovered], filters: Filters) -> list[RouteTable]:
    tables = []
    for currency in currencies_of(recovered):
        rows = [r for r in recovered if r.currency == currency]
        routes = sorted({r.route for r in rows}, key=route_order)
        found = {(r.month, r.route): r for r in rows}
        months = []
        for month in figures.months_between(filters.since, filters.until):
            first, last = max(month, filters.since), min(month_end(month), filters.until)
            cells = []
            for route in routes:
                hit = found.get((month, route))
                cells.append(Cell(hit.count if hit else 0, hit.amount if hit else ZERO,
                                  currency, payments_url(filters, since=first, until=last,
                                                         route=route, currency=currency)))
            months.append(MonthRow(
                month=month, label=month_text(month), cells=cells,
                total=Cell(sum(c.count for c in cells), sum((c.amount for c in cells), ZERO),
                           currency, payments_url(filters, since=first, until=last,
                                                  currency=currency))))
        totals = [Cell(sum(r.count for r in rows if r.route == route),
                       sum((r.amount for r in rows if r.route == route), ZERO), currency,
                       payments_url(filters, route=route, currency=currency))
                  for route in routes]
        tables.append(RouteTable(
            currency=currency, routes=[(route, route_text(route)) for route in routes],
            months=months, totals=totals,
            total=Cell(sum(c.count for c in totals), sum((c.amount for c in totals), ZERO),
                       currency, payments_url(filters, currency=currency))))
    return tables


# -- The runs -------------------------------------------------------------------------------------


@dataclass
class RunRow:
    rate: figures.RunRate
    url: str
    letters_url: str
    complete: bool

    @property
    def label(self) -> str:
        return _("Run #%(number)s") % {"number": self.rate.run_id}

    @property
    def rate_text(self) -> str:
        return percent_text(self.rate.rate)


def run_rows(rates: list[figures.RunRate], filters: Filters) -> list[RunRow]:
    rows = []
    for rate in rates:
        url = path("web:run", rate.run_id)
        rows.append(RunRow(rate=rate, url=url, letters_url=f"{url}?action=send",
                           complete=rate.complete(filters.today)))
    return rows


# -- Per vendor -----------------------------------------------------------------------------------


@dataclass
class VendorRow:
    figures: figures.VendorFigures
    url: str  # the Übersicht of this vendor
    open: Cell
    agency: Cell
    recovered: Cell

    @property
    def cells(self) -> list[Cell]:
        return [self.open, self.agency, self.recovered]


@dataclass
class VendorTable:
    currency: str
    rows: list[VendorRow] = field(default_factory=list)
    chart: str = ""  # the chart's image URL
    chart_height: int = 0
    #: The table shows this many vendors (the most open first), unless asked for all.
    limit: int | None = None
    total: int = 0  # the vendors of this currency, shown or not

    @property
    def shown(self) -> list[VendorRow]:
        return self.rows

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)

    #: The chart draws the vendors with the most open first, at most this many.
    CHART_ROWS = 10

    def series(self) -> tuple[list[str], list[tuple[str, list[Decimal]]]]:
        rows = self.rows[:self.CHART_ROWS]
        return [row.figures.name for row in rows], [
            (_("open"), [row.open.amount for row in rows]),
            (_("of it with the agency"), [row.agency.amount for row in rows]),
            (_("recovered in the period"), [row.recovered.amount for row in rows])]


#: Vendors shown per currency on the Übersicht before "show all".
VENDOR_ROWS = 20


def vendor_tables(vendors: list[figures.VendorFigures], filters: Filters,
                  *, limit: int | None = None) -> list[VendorTable]:
    tables: dict[str, VendorTable] = {}
    for v in vendors:  # the most open first in each currency (figures.by_vendor)
        table = tables.setdefault(v.currency, VendorTable(currency=v.currency, limit=limit))
        table.total += 1
        if limit is not None and len(table.rows) >= limit:
            continue  # counted, not shown: no links to make
        table.rows.append(VendorRow(
            figures=v,
            url=path("web:overview") + "?" + urlencode(
                {"vendor": v.vendor_id, "since": filters.since.isoformat(),
                 "until": filters.until.isoformat()}),
            open=Cell(v.open_count, v.open_amount, v.currency,
                      cases_url(state=ACTIVE, vendor=v.vendor_id, currency=v.currency)),
            agency=Cell(v.agency_count, v.agency_amount, v.currency,
                        cases_url(state=CaseState.SENT_FOR_COLLECTION, vendor=v.vendor_id,
                                  currency=v.currency)),
            recovered=Cell(v.recovered_count, v.recovered_amount, v.currency,
                           payments_url(filters, vendor_id=v.vendor_id,
                                        currency=v.currency))))
    return [tables[c] for c in sorted(tables, key=lambda c: (c != "EUR", c))]



# -- The route economics --------------------------------------------------------------------------


@dataclass
class EconomicsRow:
    """One group of a route (a trigger and an amount band, or the route's whole row)."""

    label: str
    band: str
    observed: economics.Observed
    minimum: int
    #: The expected value of an average case of the group, per currency (none: no rate).
    values: dict[str, Decimal] = field(default_factory=dict)
    recovered_url: str = ""

    @property
    def expected(self) -> str:
        return " · ".join(money_text(amount, currency)
                          for currency, amount in sorted(self.values.items())) or "–"

    @property
    def rate(self) -> Decimal | None:
        return self.observed.rate(self.minimum)

    @property
    def rate_text(self) -> str:
        rate = self.rate
        return economics.percent(rate) if rate is not None else _("too few cases")

    @property
    def days_text(self) -> str:
        days = self.observed.median_days
        return number_format(days, 1 if days % 1 else 0) if days is not None else "–"


@dataclass
class EconomicsTable:
    route: str
    name: str
    rows: list[EconomicsRow]
    total: EconomicsRow


def expected_values(observed: economics.Observed, rate: Decimal | None, route: str,
                    agency_fees: Callable[[str], economics.Fees]) -> dict[str, Decimal]:
    """What an average case of the group can be expected to bring at this step, net of the
    step's own cost (letter: its cost; agency: the default partner's success fee), per
    currency; none without a rate."""
    if rate is None or not observed.cases:
        return {}
    found = {}
    for currency, amount in sorted(observed.amounts.items()):
        mean = (amount / observed.cases).quantize(Decimal("0.01"))
        fees = (agency_fees(currency) if route == economics.AGENCY
                else economics.Fees(currency=currency))
        _costs, net = economics.expected_net(route=route, open_amount=mean, rate=rate,
                                             fees=fees, letter_cost=economics.letter_cost())
        found[currency] = net or ZERO
    return found


def _domestic_partner():
    """The partner a case goes to by default (the first active domestic one): its fees make
    the agency's expected value."""
    from mahnwerk.collection.models import CollectionPartner

    return (CollectionPartner.objects.filter(kind="domestic", active=True).order_by("pk")
            .first())


def economics_tables(found: economics.RouteStatistics | None, filters: Filters
                     ) -> list[EconomicsTable]:
    """A table per route: its groups by trigger and amount band, and its whole row; the
    recovered of a whole row links to the payments of that route."""
    if found is None:
        return []
    tables = []
    bands = economics.band_keys()
    partner = _domestic_partner()

    def agency_fees(currency: str) -> economics.Fees:
        """The domestic partner's fees (as kept with the figures)."""
        return found.fees_of(partner, currency)

    for route in economics.ROUTES:
        total = found.observed(route)
        groups = sorted((o for (r, t, b), o in found.groups.items() if r == route and t),
                        key=lambda o: (o.trigger, bands.index(o.band) if o.band in bands
                                       else len(bands)))
        rows = [EconomicsRow(label=trigger_text(o.trigger), band=band_text(o.band),
                             observed=o, minimum=found.minimum) for o in groups]
        whole = EconomicsRow(label=_("all"), band="", observed=total, minimum=found.minimum,
                             recovered_url=payments_url(filters, route=route))
        for row in [*rows, whole]:
            row.values = expected_values(row.observed, row.rate, route, agency_fees)
        tables.append(EconomicsTable(route=route, name=str(economics.ROUTE_NAMES[route]),
                                     rows=rows, total=whole))
    return tables


def economics_currencies(tables: list[EconomicsTable]) -> list[str]:
    """The currencies of the routes' expected values (a chart each), EUR first."""
    found = {currency for table in tables for currency in table.total.values}
    return sorted(found, key=lambda c: (c != "EUR", c))


def economics_rates(tables: list[EconomicsTable]) -> tuple[list[str], list[Decimal | None]]:
    """The chart of the routes' recovery rates: each route's whole row, in percent (None: too
    few cases)."""
    return [table.name for table in tables], [
        table.total.rate * 100 if table.total.rate is not None else None for table in tables]


def economics_values(tables: list[EconomicsTable], currency: str
                     ) -> tuple[list[str], list[Decimal | None]]:
    """The chart of the routes' expected values in one currency: each route's whole row."""
    return [table.name for table in tables], [table.total.values.get(currency)
                                              for table in tables]


def band_text(key: str) -> str:
    """An amount band in words: "50–200 €"-like ranges, without a currency (a band holds the
    debts of every currency)."""
    if key.endswith("+"):
        return _("%(amount)s and more") % {"amount": number_format(Decimal(key[:-1]))}
    low, _sep, high = key.partition("-")
    return _("%(low)s to under %(high)s") % {"low": number_format(Decimal(low)),
                                             "high": number_format(Decimal(high))}

# -- The whole page -------------------------------------------------------------------------------

#: How long the figures of one filter are kept (Django's cache), so that the page and its
#: charts (each an image of its own) ask the database once, not a dozen times.
CACHE_SECONDS = 60
#: How long the schedule keeps the default Übersicht's figures (``keep_default``, every
#: minute): longer than a minute, so that the next pass renews them before they go.
KEPT_BY_SCHEDULE_SECONDS = 150


@dataclass(frozen=True)
class Figures:
    """The grouped rows of every figure for one filter, as the database gave them."""

    stock: list[figures.Stock]
    recovered: list[figures.Recovered]
    runs: list[figures.RunRate]
    vendors: list[figures.VendorFigures]
    at: datetime  # when they were read
    #: The route economics (collection.economics), per route, trigger and amount band.
    economics: economics.RouteStatistics | None = None


def _key(filters: Filters) -> str:
    return (f"mahnwerk:overview:2:{filters.vendor_id or ''}:{filters.since}:{filters.until}:"
            f"{filters.today}")


def read(filters: Filters, *, fresh: bool = False, keep_seconds: int = CACHE_SECONDS
         ) -> Figures:
    """Every figure of the Übersicht for a filter: five grouped queries (and the vendors'
    names), kept for ``keep_seconds``; ``fresh``: read again even if kept."""
    key = _key(filters)
    found = None if fresh else cache.get(key)
    if found is None:
        vendor, since, until = filters.vendor_id, filters.since, filters.until
        found = Figures(
            stock=figures.stock(today=filters.today, vendor_id=vendor),
            recovered=figures.recovered_by_route(since=since, until=until, vendor_id=vendor),
            runs=figures.run_rates(since=since, until=until, vendor_id=vendor),
            vendors=figures.by_vendor(since=since, until=until, vendor_id=vendor),
            economics=economics.kept_statistics(vendor_id=vendor, today=filters.today,
                                                fresh=fresh,
                                                fresh_after=economics.REFRESH_SECONDS),
            at=timezone.now())
        cache.set(key, found, keep_seconds)
    return found


def default_filters(today: date) -> Filters:
    """The Übersicht as it opens: all vendors, the default period."""
    since, until = default_period(today)
    return Filters(vendor=None, since=since, until=until, today=today)


def keep_default(*, today: date | None = None) -> Figures:
    """The schedule's step (every minute): read the default Übersicht's figures afresh and keep
    them, so that nobody waits for the whole platform's cold read (about a second at 100,000
    cases, docs/benchmarks.md). Needs a cache the web processes share (``CACHES``)."""
    return read(default_filters(today or timezone.localdate()), fresh=True,
                keep_seconds=KEPT_BY_SCHEDULE_SECONDS)


@dataclass
class Overview:
    filters: Filters
    states: GroupTable
    triggers: GroupTable
    ages: GroupTable
    routes: list[RouteTable]
    runs: list[RunRow]
    vendors: list[VendorTable]
    summary: list[Summary]
    at: datetime
    economics: list[EconomicsTable] = field(default_factory=list)


def build(filters: Filters, *, all_vendors: bool = False) -> Overview:
    """Every figure of the Übersicht as tables (the vendors with the most open first, the
    first ``VENDOR_ROWS`` of them unless ``all_vendors``)."""
    found = read(filters)
    states = state_table(figures.by_state(found.stock), filters)
    routes = route_tables(found.recovered, filters)
    return Overview(
        filters=filters, states=states,
        triggers=trigger_table(figures.by_trigger(found.stock), filters),
        ages=age_table(figures.by_age(found.stock), filters),
        routes=routes, runs=run_rows(found.runs, filters),
        vendors=vendor_tables(found.vendors, filters,
                              limit=None if all_vendors else VENDOR_ROWS),
        summary=summary(states, routes, filters), at=found.at,
        economics=economics_tables(found.economics, filters))
