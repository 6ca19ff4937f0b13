"""The Übersicht (dashboard): the figures at a glance, each chart an image of its own, each
figure a link to the list it counts; the payments behind the money recovered."""

from __future__ import annotations

from datetime import date

from csp.decorators import csp
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.web import access, charts, figures
from mahnwerk.web import overview as present
from mahnwerk.web.forms import OverviewFilterForm, OverviewPaymentsForm
from mahnwerk.web.views.common import page_of, render_workspace


def today() -> date:
    """The day the figures are as of (the site's time zone)."""
    return timezone.localdate()


def _filters(form: OverviewFilterForm) -> present.Filters:
    """The filter as asked, or the whole default where the form found a mistake (the page
    says which)."""
    today_ = today()
    since, until = present.default_period(today_)
    data = form.cleaned_data if form.is_valid() else {}
    return present.Filters(vendor=data.get("vendor"), since=data.get("since") or since,
                           until=data.get("until") or until, today=today_)


@access.workspace_view
def overview(request: HttpRequest) -> HttpResponse:
    form = OverviewFilterForm(request.GET or None)
    filters = _filters(form)
    if not form.is_bound:  # show the period the figures cover
        form = OverviewFilterForm(initial={"since": filters.since, "until": filters.until})
    all_vendors = request.GET.get("vendors") == "all"
    page = present.build(filters, all_vendors=all_vendors)
    for table in (page.states, page.triggers, page.ages):
        table.charts = [(currency, present.chart_url(table.figure, filters, currency))
                        for currency in table.currencies]
        table.chart_height = charts.amounts_height(len(table.rows),
                                                   horizontal=table.figure != "age")
    for table in page.routes:
        table.chart = present.chart_url("routes", filters, table.currency)
    for table in page.vendors:
        table.chart = present.chart_url("vendors", filters, table.currency)
        table.chart_height = charts.grouped_height(min(len(table.rows), table.CHART_ROWS))
    return render_workspace(request, "web/overview.html", {
        "form": form, "filters": filters, "page": page,
        "groups": [(page.states, _("Cases by state"), _("state")),
                   (page.triggers, _("Open debts by trigger"), _("trigger")),
                   (page.ages, _("Open debts by age"), _("days since the incident"))],
        "runs_chart": present.chart_url("runs", filters),
        "economics_chart": present.chart_url("economics", filters),
        "economics_value_charts": [
            (currency, present.chart_url("economics-value", filters, currency))
            for currency in present.economics_currencies(page.economics)],
        "all_vendors_url": "?" + filters.query(vendors="all") + "#figure-vendors",
    }, section="overview")


#: Each chart: how its figure is read and drawn.
CHART_TITLES = {
    "state": lambda: _("Open amount by state"),
    "trigger": lambda: _("Open debts by trigger"),
    "age": lambda: _("Open debts by age"),
    "routes": lambda: _("Recovered by route and month"),
    "runs": lambda: _("Recovery rate of each run"),
    "vendors": lambda: _("Per vendor"),
    "economics": lambda: _("Recovery rate of each route"),
    "economics-value": lambda: _("Expected value of an average case per route"),
}
#: The charts of no currency (rates).
RATE_CHARTS = ("runs", "economics")


def _chart(figure: str, filters: present.Filters, currency: str) -> charts.Chart:
    found = present.read(filters)
    title = f"{CHART_TITLES[figure]()} ({currency})" if currency else CHART_TITLES[figure]()
    if figure in ("state", "trigger", "age"):
        table = {"state": lambda: present.state_table(figures.by_state(found.stock), filters),
                 "trigger": lambda: present.trigger_table(figures.by_trigger(found.stock),
                                                          filters),
                 "age": lambda: present.age_table(figures.by_age(found.stock), filters),
                 }[figure]()
        labels, values = table.series(currency) if currency in table.currencies else ([], [])
        return charts.amounts_chart(title, labels, values, currency,
                                    horizontal=figure != "age")
    if figure == "routes":
        tables = present.route_tables(found.recovered, filters)
        table = next((t for t in tables if t.currency == currency), None)
        labels, series = table.series() if table else ([], [])
        colours = [charts.route_colour(key) for key, _label in table.routes] if table else None
        return charts.stacked_chart(title, labels, series, currency, colours=colours)
    if figure == "vendors":
        tables = present.vendor_tables(found.vendors, filters)
        table = next((t for t in tables if t.currency == currency), None)
        labels, series = table.series() if table else ([], [])
        return charts.grouped_chart(title, labels, series, currency)
    if figure in ("economics", "economics-value"):
        tables = present.economics_tables(found.economics, filters)
        if figure == "economics":
            return charts.rates_chart(title, *present.economics_rates(tables))
        return charts.amounts_chart(title, *present.economics_values(tables, currency),
                                    currency, horizontal=False)
    rows = present.run_rows(found.runs, filters)
    return charts.rates_chart(title, [row.label for row in rows],
                              [row.rate.rate for row in rows])


@access.workspace_view
def overview_chart(request: HttpRequest, figure: str) -> HttpResponse:
    """One chart of the Übersicht as an SVG image, for the same filter as the page."""
    if figure not in CHART_TITLES:
        raise Http404(_("There is no such chart."))
    form = OverviewPaymentsForm(request.GET or None)
    if request.GET and not form.is_valid():
        raise Http404(_("There is no such chart."))
    currency = (form.cleaned_data.get("currency", "") if request.GET else "") or "EUR"
    chart = _chart(figure, _filters(form), "" if figure in RATE_CHARTS else currency)
    response = HttpResponse(chart.svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, max-age=60"
    return csp(chart.policy)(lambda: response)()


@access.workspace_view
def overview_payments(request: HttpRequest) -> HttpResponse:
    """The payments behind a figure of money recovered: a route, a period, a currency."""
    form = OverviewPaymentsForm(request.GET or None)
    filters = _filters(form)
    data = form.cleaned_data if form.is_valid() else {}
    route, currency = data.get("route") or "", data.get("currency") or ""
    payments = figures.payments_of_route(route=route, since=filters.since,
                                         until=filters.until, vendor_id=filters.vendor_id,
                                         currency=currency or None)
    page = page_of(request, payments)
    for payment in page:  # the 50 rows on the page: their route in words
        payment.route_text = present.route_text(figures.route_of(payment.channel,
                                                                 payment.level))
    return render_workspace(request, "web/overview_payments.html", {
        "form": form, "filters": filters, "page": page, "route": route,
        "route_text": present.route_text(route) if route else "", "currency": currency,
        "back": "?" + filters.query(),
    }, section="overview")
