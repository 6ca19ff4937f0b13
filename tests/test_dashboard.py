"""The Übersicht (issue 10, point 1): the figures support reads first thing in the morning.

A small hand-made marketplace, as of 15 November 2026: Alpha Akademie (EUR) with six debts in
every kind of state, one of them back in a second cycle, and Beta Coaching (CHF) with one. Each
figure is checked against what a person counts by hand.
"""

import re
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.urls import reverse

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning.models import DunningRun, Letter, RunState
from mahnwerk.web import figures
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.views import overview as overview_views
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, payment

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 15)
SINCE, UNTIL = date(2026, 6, 1), TODAY
EUR, CHF = "EUR", "CHF"


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=BERLIN)


def d(text: str) -> Decimal:
    return Decimal(text)


def run(as_of: date) -> DunningRun:
    return DunningRun.objects.create(as_of=as_of, state=RunState.DONE, started_by="test",
                                     lock=None)


def letter(case, level: int, left: date | None, the_run: DunningRun | None = None,
           principal: str | None = None, cycle: int | None = None) -> Letter:
    """A letter of ``the_run`` that left on ``left`` (None: it has not left)."""
    return Letter.objects.create(
        case=case, cycle=cycle or case.cycle, level=level, letter_date=left or the_run.as_of,
        deadline=left or the_run.as_of, dispatched_on=left, run=the_run,
        template=("first", "second")[level - 1], principal=Decimal(principal or case.open_amount),
        currency=case.currency, offer_link="https://checkout.example/p/1?token=x",
        subject="Mahnung", body_html="<p>x</p>", body_text="x")


def move(case, *states: str):
    for state in states:
        case.refresh_from_db()
        case_services.change_case(case=case, actor="test", reason="test", to_state=state)
    case.refresh_from_db()
    return case


@pytest.fixture
def market():
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    course = ProductFactory(vendor=alpha, name="Yoga-Kurs")
    swiss = ProductFactory(vendor=beta, name="Coaching Zürich")
    orders = {name: OrderFactory(order_id=name, product=course) for name in
              ("O-A1", "O-A2", "O-A3", "O-A4", "O-A5", "O-A6")}
    orders["O-B1"] = OrderFactory(order_id="O-B1", product=swiss, currency=CHF)
    run1, run2, run3 = run(date(2026, 9, 8)), run(date(2026, 9, 22)), run(date(2026, 10, 8))

    # O-A1: a fresh debt, 5 days old; an instalment paid before the debt is no recovery.
    incident(orders["O-A1"], open_amount="300.00", at=at(date(2026, 11, 10)))
    payment(orders["O-A1"], amount="50.00", at=at(date(2026, 10, 1)), channel="other")
    # O-A2: 45 days old, first letter in run 3 (unpaid), 50 paid to the vendor.
    a2 = incident(orders["O-A2"], open_amount="200.00", kind="chargeback",
                  at=at(date(2026, 10, 1)))
    move(a2, CaseState.DUNNING)
    letter(a2, 1, date(2026, 10, 8), run3)
    letter(a2, 2, None, run3)  # still in the print queue: counts nowhere
    payment(orders["O-A2"], amount="50.00", at=at(date(2026, 10, 20)), channel="vendor")
    # O-A3: 106 days old, both letters unpaid, with the agency, which recovered 200.
    a3 = incident(orders["O-A3"], open_amount="500.00", kind="one_time_chargeback",
                  at=at(date(2026, 8, 1)))
    letter(a3, 1, date(2026, 9, 8), run1)
    letter(a3, 2, date(2026, 9, 22), run2)
    move(a3, CaseState.SENT_FOR_COLLECTION)
    payment(orders["O-A3"], amount="200.00", at=at(date(2026, 11, 2)), channel="agency")
    # O-A4: paid in full after the second letter (a bank transfer: channel "other").
    a4 = incident(orders["O-A4"], open_amount="100.00", at=at(date(2026, 9, 1)))
    move(a4, CaseState.DUNNING)
    letter(a4, 1, date(2026, 9, 8), run1)
    letter(a4, 2, date(2026, 9, 22), run2)
    payment(orders["O-A4"], amount="100.00", at=at(date(2026, 9, 25)), channel="other")
    # O-A5: paid in full through the offer link two days after the first letter.
    a5 = incident(orders["O-A5"], open_amount="150.00", at=at(date(2026, 9, 1)))
    move(a5, CaseState.DUNNING)
    letter(a5, 1, date(2026, 9, 8), run1)
    payment(orders["O-A5"], amount="150.00", at=at(date(2026, 9, 10)), channel="offer_link")
    # O-A6: cycle 1 paid after the second letter in June; charged back again on 10 October
    # (cycle 2, 36 days old), 20 paid before any letter of the new cycle.
    a6 = incident(orders["O-A6"], open_amount="100.00", kind="chargeback",
                  at=at(date(2026, 6, 1)))
    move(a6, CaseState.DUNNING)
    letter(a6, 1, date(2026, 6, 8))
    letter(a6, 2, date(2026, 6, 22))
    payment(orders["O-A6"], amount="100.00", at=at(date(2026, 6, 25)), channel="other")
    a6 = incident(orders["O-A6"], open_amount="120.00", kind="chargeback",
                  at=at(date(2026, 10, 10)))
    assert a6.cycle == 2 and a6.state == CaseState.OPEN
    payment(orders["O-A6"], amount="20.00", at=at(date(2026, 10, 12)), channel="other")
    # O-B1: a Swiss debt of 26 days, 30 CHF paid before any letter.
    incident(orders["O-B1"], open_amount="80.00", at=at(date(2026, 10, 20)))
    payment(orders["O-B1"], amount="30.00", at=at(date(2026, 10, 25)), channel="other")
    return {"alpha": alpha, "beta": beta, "runs": (run1, run2, run3)}


def table(groups) -> dict[tuple[str, str], tuple[int, Decimal]]:
    return {(g.key, g.currency): (g.count, g.amount) for g in groups}


# -- The figures -----------------------------------------------------------------------------


def test_support_reads_how_many_cases_and_how_much_is_open_in_each_state(market):
    assert table(figures.cases_by_state()) == {
        ("open", EUR): (2, d("400.00")),  # O-A1 300, O-A6 100 (cycle 2)
        ("dunning", EUR): (1, d("150.00")),  # O-A2
        ("sent_for_collection", EUR): (1, d("300.00")),  # O-A3 after the agency's 200
        ("paid", EUR): (2, d("0.00")),  # O-A4, O-A5
        ("open", CHF): (1, d("50.00")),  # O-B1: never added to the euros
    }
    assert table(figures.cases_by_state(vendor_id="VBETA")) == {("open", CHF): (1, d("50.00"))}


def test_support_reads_the_open_debts_by_trigger(market):
    assert table(figures.open_by_trigger()) == {
        ("stopped_installments", EUR): (1, d("300.00")),
        ("chargeback", EUR): (2, d("250.00")),
        ("one_time_chargeback", EUR): (1, d("300.00")),
        ("stopped_installments", CHF): (1, d("50.00")),
    }


def test_support_reads_the_open_debts_by_age_since_the_incident_of_their_cycle(market):
    """O-A6 was opened in June, but its current debt arose on 10 October: 36 days old."""
    assert table(figures.open_by_age(today=TODAY)) == {
        ("0-30", EUR): (1, d("300.00")),
        ("31-60", EUR): (2, d("250.00")),
        ("90+", EUR): (1, d("300.00")),
        ("0-30", CHF): (1, d("50.00")),
    }


@pytest.mark.parametrize(("days", "group"), [
    (0, "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"),
    (91, "90+"), (400, "90+")])
def test_a_debt_is_as_old_as_the_whole_days_since_its_incident(days, group):
    """Counted in German days: an incident at half past midnight belongs to its own day."""
    day = date.fromordinal(TODAY.toordinal() - days)
    incident(OrderFactory(order_id="O-AGE"), open_amount="10.00",
             at=datetime(day.year, day.month, day.day, 0, 30, tzinfo=BERLIN))
    assert [g.key for g in figures.open_by_age(today=TODAY)] == [group]


def recovered(**filters) -> dict[tuple[str, str, str], Decimal]:
    return {(f"{r.month:%Y-%m}", r.route, r.currency): r.amount
            for r in figures.recovered_by_route(**filters)}


def test_money_recovered_by_route_month_by_month(market):
    """A payment's channel names its route; any other payment counts after the last letter
    of its cycle that had left before it."""
    assert recovered(since=SINCE, until=UNTIL) == {
        ("2026-06", "letter2", EUR): d("100.00"),  # O-A6, cycle 1, after its 2nd letter
        ("2026-09", "offer_link", EUR): d("150.00"),  # O-A5
        ("2026-09", "letter2", EUR): d("100.00"),  # O-A4, a transfer after the 2nd letter
        ("2026-10", "vendor", EUR): d("50.00"),  # O-A2
        ("2026-10", "no_letter", EUR): d("20.00"),  # O-A6 cycle 2: no letter of it yet
        ("2026-10", "no_letter", CHF): d("30.00"),  # O-B1
        ("2026-11", "agency", EUR): d("200.00"),  # O-A3
    }


def test_the_period_and_the_vendor_narrow_the_money_recovered(market):
    assert recovered(since=date(2026, 10, 1), until=date(2026, 10, 31), vendor_id="VALPHA") == {
        ("2026-10", "vendor", EUR): d("50.00"),
        ("2026-10", "no_letter", EUR): d("20.00"),
    }
    # The instalment paid on 1 October before O-A1's debt arose is not in it.
    assert not figures.payments_of_route(route="", since=date(2026, 10, 1),
                                         until=date(2026, 10, 1)).exists()


def test_a_payment_on_the_day_a_letter_left_counts_after_that_letter(market):
    order = OrderFactory(order_id="O-SAMEDAY", product=ProductFactory(
        vendor=market["alpha"]))
    case = incident(order, open_amount="70.00", at=at(date(2026, 11, 1)))
    letter(case, 1, date(2026, 11, 9))
    payment(order, amount="70.00", at=at(date(2026, 11, 9), hour=23), channel="other")
    assert recovered(since=date(2026, 11, 9), until=date(2026, 11, 9)) == {
        ("2026-11", "letter1", EUR): d("70.00")}


def test_the_recovery_rate_of_each_run(market):
    """Run 1 wrote three letters (O-A3, O-A4, O-A5): two cases paid within 30 days. Run 2
    (O-A3, O-A4): one. Run 3: O-A2's first letter, unpaid; its second has not left."""
    rates = figures.run_rates(since=SINCE, until=UNTIL)
    run1, run2, run3 = market["runs"]
    assert [(r.run_id, r.letters, r.paid, r.rate) for r in rates] == [
        (run1.pk, 3, 2, d("66.7")), (run2.pk, 2, 1, d("50.0")), (run3.pk, 1, 0, d("0.0"))]
    assert all(r.complete(TODAY) for r in rates)
    assert not rates[2].complete(date(2026, 11, 7))  # payments until 7 November still count


def test_a_payment_after_the_window_or_short_of_the_letter_does_not_count_as_paid(market):
    run4 = run(date(2026, 11, 1))
    late = OrderFactory(order_id="O-LATE", product=ProductFactory(vendor=market["alpha"]))
    case = incident(late, open_amount="90.00", at=at(date(2026, 10, 1)))
    letter(case, 1, date(2026, 7, 1), run4)  # left long before: the payment is too late
    payment(late, amount="90.00", at=at(date(2026, 11, 3)), channel="other")
    short = OrderFactory(order_id="O-SHORT", product=ProductFactory(vendor=market["alpha"]))
    case = incident(short, open_amount="90.00", at=at(date(2026, 10, 1)))
    letter(case, 1, date(2026, 11, 2), run4)
    payment(short, amount="89.99", at=at(date(2026, 11, 3)), channel="other")
    [rate] = figures.run_rates(since=date(2026, 11, 1), until=UNTIL)
    assert (rate.letters, rate.paid) == (2, 0)


def test_the_runs_of_one_vendor_count_only_its_letters(market):
    assert figures.run_rates(since=SINCE, until=UNTIL, vendor_id="VBETA") == []
    rates = figures.run_rates(since=date(2026, 9, 20), until=UNTIL, vendor_id="VALPHA")
    assert [(r.as_of, r.letters) for r in rates] == [(date(2026, 9, 22), 2),
                                                     (date(2026, 10, 8), 1)]


def test_per_vendor_open_with_the_agency_and_recovered(market):
    rows = {(v.vendor_id, v.currency): v for v in figures.by_vendor(since=SINCE, until=UNTIL)}
    alpha, beta = rows[("VALPHA", EUR)], rows[("VBETA", CHF)]
    assert (alpha.open_count, alpha.open_amount) == (4, d("850.00"))
    assert (alpha.agency_count, alpha.agency_amount) == (1, d("300.00"))
    assert (alpha.recovered_count, alpha.recovered_amount) == (6, d("620.00"))
    assert (beta.open_count, beta.open_amount, beta.agency_count) == (1, d("50.00"), 0)
    assert (beta.recovered_count, beta.recovered_amount) == (1, d("30.00"))
    assert len(rows) == 2
    only = figures.by_vendor(since=date(2026, 11, 1), until=UNTIL, vendor_id="VALPHA")
    assert [(v.vendor_id, v.recovered_amount) for v in only] == [("VALPHA", d("200.00"))]


# -- The page --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_figures():
    """The page keeps its figures a minute; each test reads its own."""
    cache.clear()


@pytest.fixture
def support(client, market, django_user_model, monkeypatch):
    ensure_demo_users(vendor_id="VALPHA")
    monkeypatch.setattr(overview_views, "today", lambda: TODAY)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def page(client, **params):
    response = client.get(reverse("web:overview"), params)
    assert response.status_code == 200
    return response.content.decode()


def links(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', html)]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def row(html: str, attribute: str, value: str) -> str:
    match = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {attribute}={value}"
    return match.group(1)


def test_support_logs_in_and_lands_on_the_overview(client, market, django_user_model,
                                                  monkeypatch):
    ensure_demo_users(vendor_id="VALPHA")
    response = client.post(reverse("web:login"), {"username": "support", "password": "demo"})
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == reverse("web:overview")
    html = client.get(reverse("web:overview")).content.decode()
    assert '<a href="/uebersicht/" class="active">Übersicht</a>' in html


def test_the_page_shows_each_figure_with_its_link_to_the_list_it_counts(support):
    html = page(support, since="2026-06-01", until="2026-11-15")
    # By state: the count and the amount link to the cases in that state and currency.
    state = row(html, "data-key", "sent_for_collection")
    assert "Beim Inkasso" in state and "300,00\xa0€" in state
    assert [query(url) for url in links(state)] == [
        {"state": "sent_for_collection", "currency": "EUR"}] * 2  # none in CHF: no link
    # By trigger and by age: the open debts ("active"), in that group and currency.
    urls = links(html)
    assert "/faelle/?state=active&trigger=chargeback&currency=EUR" in urls
    assert "/faelle/?state=active&age=31-60&currency=EUR" in urls
    assert "/faelle/?state=active&age=0-30&currency=CHF" in urls
    # Recovered: the payments of that route and month.
    june = row(html, "data-month", "2026-06")
    [url] = [u for u in links(june) if "route=letter2" in u]
    assert query(url) == {"since": "2026-06-01", "until": "2026-06-30", "route": "letter2",
                          "currency": "EUR"}
    assert "nach der 2. Mahnung" in html and "über den Angebotslink" in html
    # Runs: the rate links to the run.
    run1 = DunningRun.objects.get(as_of=date(2026, 9, 8))
    assert "66,7\xa0%" in row(html, "data-run", str(run1.pk))
    assert reverse("web:run", args=[run1.pk]) in links(row(html, "data-run", str(run1.pk)))
    # Per vendor: open, with the agency, recovered.
    alpha = row(html, "data-vendor", "VALPHA")
    assert re.findall(r"\d+,\d\d\xa0€", alpha) == ["850,00\xa0€", "300,00\xa0€", "620,00\xa0€"]
    assert "/faelle/?state=sent_for_collection&vendor=VALPHA&currency=EUR" in links(alpha)
    # Every chart has its table beside it: an image with an alternative text.
    images = re.findall(r'<img src="([^"]+)"[^>]*alt="([^"]+)"', html)
    assert {urlsplit(src).path for src, _alt in images} == {
        f"/uebersicht/grafik/{figure}.svg"
        for figure in ("state", "trigger", "age", "routes", "runs", "vendors", "economics")}
    # seven figures, five of them in EUR and in CHF; the routes' expected values need a rate,
    # which this handful of cases is too few for
    assert len(images) == 12
    assert all("Tabelle daneben" in alt for _src, alt in images)


def test_the_vendor_filter_narrows_every_figure_and_every_link(support):
    html = page(support, vendor="VBETA", since="2026-06-01", until="2026-11-15")
    figures_part = html.split('id="scope"', 1)[1]  # below the filter
    assert "Alpha Akademie" not in figures_part and "€" not in figures_part
    figure_links = [u for u in links(figures_part) if "?" in u]
    assert figure_links
    for url in figure_links:
        assert query(url).get("vendor") == "VBETA", url
    assert "Keine Mahnläufe mit versandten Briefen im Zeitraum." in html


def test_the_period_narrows_the_money_and_the_runs_not_the_open_debts(support):
    html = page(support, since="2026-11-01", until="2026-11-15")
    assert 'data-month="2026-10"' not in html and 'data-month="2026-11"' in html
    assert "data-run=" not in html
    assert "850,00\xa0€" in row(html, "data-vendor", "VALPHA")  # open: as of today


def test_a_period_that_ends_before_it_begins_is_refused_with_the_reason(support):
    html = page(support, since="2026-11-15", until="2026-06-01")
    assert "Zeitraum: Der erste Tag (15.11.2026) liegt nach dem letzten (01.06.2026)." in html
    html = page(support, since="15.13.2026")
    assert "Zeitraum von: Geben Sie den Tag als 2026-12-01 oder 01.12.2026 an." in html


def test_the_payments_behind_a_figure_are_exactly_those_it_counts(support):
    response = support.get(reverse("web:overview-payments"), {
        "since": "2026-06-01", "until": "2026-11-15", "route": "letter2", "currency": "EUR"})
    html = response.content.decode()
    assert re.findall(r'data-payment="[^"]+"', html) and set(
        re.findall(r'/faelle/(O-[A-Z0-9]+)/', html)) == {"O-A4", "O-A6"}
    assert "2 Zahlungen" in html
    response = support.get(reverse("web:overview-payments"), {
        "since": "2026-10-01", "until": "2026-10-31", "route": "no_letter"})
    assert set(re.findall(r'/faelle/(O-[A-Z0-9]+)/', response.content.decode())) == {
        "O-A6", "O-B1"}
    response = support.get(reverse("web:overview-payments"), {"route": "drop table"})
    assert "Weg: unbekannt" in response.content.decode()


def test_each_chart_is_an_svg_image_whose_policy_allows_only_its_own_style(support):
    response = support.get(reverse("web:overview-chart", args=["state"]),
                           {"currency": "EUR", "since": "2026-06-01", "until": "2026-11-15"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = response.content.decode()
    assert "<script" not in svg and "Beim Inkasso" in svg
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "style-src 'sha256-" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy
    for figure in ("trigger", "age", "routes", "vendors"):
        assert support.get(reverse("web:overview-chart", args=[figure]),
                           {"currency": "CHF"}).status_code == 200
    assert support.get(reverse("web:overview-chart", args=["runs"])).status_code == 200
    assert support.get(reverse("web:overview-chart", args=["nothing"]),
                       {"currency": "EUR"}).status_code == 404
    assert support.get(reverse("web:overview-chart", args=["state"]),
                       {"currency": "euro"}).status_code == 404


def test_the_style_hash_in_the_policy_is_that_of_the_charts_style_sheet(support):
    import base64
    import hashlib

    response = support.get(reverse("web:overview-chart", args=["age"]), {"currency": "EUR"})
    style = re.search(r"<style[^>]*>(.*?)</style>", response.content.decode(), re.S).group(1)
    style = style.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response["Content-Security-Policy"]


def test_the_page_has_no_inline_script_or_style(support):
    response = support.get(reverse("web:overview"))
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_a_vendor_cannot_open_the_overview_its_charts_or_its_payments(client, market,
                                                                      django_user_model):
    ensure_demo_users(vendor_id="VALPHA")
    client.force_login(django_user_model.objects.get(username="vendor"))
    for url in (reverse("web:overview"), reverse("web:overview-payments"),
                reverse("web:overview-chart", args=["state"]) + "?currency=EUR"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("web:portal")
    assert client.get("/")["Location"] == reverse("web:portal")


def test_the_relationship_manager_reads_the_overview(client, market, django_user_model):
    ensure_demo_users(vendor_id="VALPHA")
    client.force_login(django_user_model.objects.get(username="manager"))
    assert client.get(reverse("web:overview")).status_code == 200


def test_the_overview_asks_the_database_under_twenty_queries(support,
                                                             django_assert_max_num_queries):
    with django_assert_max_num_queries(19):
        support.get(reverse("web:overview"))


def test_its_charts_draw_the_figures_the_page_read_without_asking_again(support):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    support.get(reverse("web:overview"))
    with CaptureQueriesContext(connection) as queries:
        response = support.get(reverse("web:overview-chart", args=["routes"]),
                               {"currency": "EUR"})
    assert response.status_code == 200
    tables = ("intake_payment", "cases_debtcase", "dunning_letter")
    assert not [q["sql"] for q in queries if any(t in q["sql"] for t in tables)]


def test_the_vendor_table_shows_the_most_open_first_and_the_others_on_request(support,
                                                                               monkeypatch):
    from mahnwerk.web import overview as present

    monkeypatch.setattr(present, "VENDOR_ROWS", 1)
    gamma = VendorFactory(vendor_id="VGAMMA", name="Gamma Kurse")
    incident(OrderFactory(order_id="O-G1", product=ProductFactory(vendor=gamma)),
             open_amount="10.00", at=at(date(2026, 11, 1)))
    html = page(support)
    assert 'data-vendor="VALPHA"' in html and 'data-vendor="VGAMMA"' not in html
    assert "1 weiteren Vendor zeigen" in html
    html = page(support, vendors="all")
    assert 'data-vendor="VGAMMA"' in html and "weiteren Vendor zeigen" not in html
