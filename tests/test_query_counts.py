"""The workspace's pages ask the database a fixed number of questions (issue 10: under 20 a page,
whatever the number of rows), so the counts measured at 100,000 cases (docs/benchmarks.md,
bench/workspace_benchmark.py) cannot creep back. Counts only, no times: a realistic small
workspace (vendors asked and reminded about waiting cases, lettered cases with payments, notes
and timelines, a buyer with many orders), then the pages support opens most.

The schedule keeps the default Übersicht's figures every minute (``web.tasks.keep_overview``),
so that nobody waits for the whole platform's cold read: the page then reads them from the
cache, not from the database.
"""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals, economics
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.dunning import services as dunning
from mahnwerk.dunning.models import DunningRun
from mahnwerk.web import tasks
from mahnwerk.web.accounts import ensure_demo_users
from mahnwerk.web.models import SavedFilter
from tests.factories import BuyerFactory, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered, payment

pytestmark = pytest.mark.django_db

#: Issue 10's bound: under 20 queries a page.
MOST = 19


@pytest.fixture(autouse=True)
def _nothing_kept():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def workspace():
    """Three vendors; per vendor cases in dunning (lettered by a run, some partly paid, with
    notes), cases waiting for approval (asked, then reminded and escalated), a paid case; one
    buyer with thirty orders."""
    vendors = [VendorFactory(vendor_id=f"V{n}", name=f"Akademie {n}",
                             relationship_manager="dom", escalation_channel="WhatsApp")
               for n in range(3)]
    buyer = BuyerFactory(last_name="Zänker")
    started = timezone.now() - timedelta(days=40)
    for v, vendor in enumerate(vendors):
        product = ProductFactory(vendor=vendor)
        for n in range(8):
            order = OrderFactory(order_id=f"O-{v}-D{n}", product=product,
                                 buyer=buyer if n == 0 else BuyerFactory())
            case = incident(order, open_amount="300.00", at=started)
            if n % 2:
                payment(order, amount="50.00", at=started + timedelta(days=5))
            case_services.add_note(case=case, text=f"Käufer angerufen {n}", actor="support",
                                   shared=bool(n % 3))
        for n in range(12):
            case = lettered(incident(OrderFactory(order_id=f"O-{v}-W{n}", product=product),
                                     open_amount="120.00", at=started))
            case_services.change_case(case=case, actor="run", reason="eskaliert",
                                      to_state=CaseState.ON_HOLD)
        paid = OrderFactory(order_id=f"O-{v}-P", product=product)
        incident(paid, open_amount="80.00", at=started)
        payment(paid, amount="80.00", at=started + timedelta(days=3))
    for number in range(30):
        OrderFactory(order_id=f"O-MORE-{number}", buyer=buyer,
                     product=ProductFactory(vendor=vendors[0]))
    dunning.run_month(as_of=timezone.localdate(), actor="test")
    asked = timezone.now() - timedelta(days=20)
    approvals.request_approvals(actor="test", now=asked)
    approvals.follow_up_approvals(actor="test", now=asked + timedelta(days=8))
    approvals.follow_up_approvals(actor="test", now=asked + timedelta(days=16))
    return vendors


@pytest.fixture
def support(client, workspace, django_user_model):
    ensure_demo_users(vendor_id=workspace[0].pk)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def queries_of(client, url: str, params: dict | None = None) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200, url
    return [query["sql"] for query in queries]


def test_the_workspace_is_as_realistic_as_the_counts_need(workspace):
    assert ApprovalRequest.objects.filter(escalated_at__isnull=False).count() == 3
    assert ApprovalRequest.objects.get(vendor=workspace[0]).cases.count() == 12


def test_the_case_page_of_a_lettered_partly_paid_case_with_notes(support):
    html = support.get(reverse("web:case", args=["O-0-D1"])).content.decode()
    assert "Käufer angerufen 1" in html and "Mahnung" in html
    assert len(queries_of(support, reverse("web:case", args=["O-0-D1"]))) <= MOST


def test_the_case_page_of_a_buyer_with_many_orders(support):
    assert len(queries_of(support, reverse("web:case", args=["O-0-D0"]))) <= MOST


def test_the_case_page_of_a_case_waiting_for_the_vendor(support):
    html = support.get(reverse("web:case", args=["O-1-W3"])).content.decode()
    assert "an dom (WhatsApp) eskaliert am" in html
    assert len(queries_of(support, reverse("web:case", args=["O-1-W3"]))) <= MOST


@pytest.mark.parametrize("params", [
    {}, {"state": "active", "vendor": "V1", "age": "31-60", "sort": "-open_amount"},
    {"sort": "buyer"}, {"q": "zanker"}, {"q": "o-2-w"}, {"state": "on_hold", "per_page": 100}])
def test_the_case_list(support, params):
    assert len(queries_of(support, reverse("web:cases"), params)) <= MOST


def test_freigaben_asks_the_same_few_questions_for_36_waiting_cases_as_for_one(support):
    """Each row says where the vendor's answer stands (asked, reminded, escalated): read with
    the page's other facts, not one question per row."""
    many = queries_of(support, reverse("web:approvals"))
    html = support.get(reverse("web:approvals")).content.decode()
    assert html.count("an dom (WhatsApp) eskaliert am") == 36
    one = queries_of(support, reverse("web:approvals"), {"vendor": "V2"})
    assert len(many) <= MOST
    assert len(many) <= len(one) + 1  # the vendor filter's form may read its vendor


def test_the_overview_cold_and_kept(support):
    cold = queries_of(support, reverse("web:overview"))
    kept = queries_of(support, reverse("web:overview"))
    assert len(cold) <= MOST
    assert len(kept) < len(cold) <= MOST


FIGURE_TABLES = ("intake_payment", "dunning_letter", "intake_incident")


def figure_queries(sql: list[str]) -> list[str]:
    return [query for query in sql if any(table in query for table in FIGURE_TABLES)]


def test_the_schedule_keeps_the_default_overview_so_nobody_waits_for_its_figures(
        support, settings):
    assert settings.CELERY_BEAT_SCHEDULE["keep-overview"] == {
        "task": "mahnwerk.web.tasks.keep_overview", "schedule": 60.0}
    tasks.keep_overview.delay()
    assert figure_queries(queries_of(support, reverse("web:overview"))) == []


def test_the_schedule_reads_the_figures_afresh_every_minute(support):
    support.get(reverse("web:overview"))  # kept by a visit
    with CaptureQueriesContext(connection) as queries:
        tasks.keep_overview()
    assert figure_queries([query["sql"] for query in queries])


def economics_queries(sql: list[str]) -> list[str]:
    return [query for query in sql if "on_letter1" in query]


def test_the_schedule_reads_the_route_economics_afresh_only_every_five_minutes(support):
    """The economics are the history of every case (a minute hardly changes them) and the
    schedule's heaviest read; it reads them again once the kept ones are five minutes old, and
    a visitor never finds them gone."""
    cache.clear()
    with CaptureQueriesContext(connection) as first:
        tasks.keep_overview()
    assert economics_queries([query["sql"] for query in first])
    with CaptureQueriesContext(connection) as next_minute:
        tasks.keep_overview()
    assert figure_queries([query["sql"] for query in next_minute]), "the other figures: yes"
    assert not economics_queries([query["sql"] for query in next_minute])
    later = time.time() + economics.REFRESH_SECONDS + 1
    with mock.patch("mahnwerk.collection.economics.time.time", return_value=later), \
            CaptureQueriesContext(connection) as five_minutes_later:
        tasks.keep_overview()
    assert economics_queries([query["sql"] for query in five_minutes_later])
    assert economics.REFRESH_SECONDS < economics.KEEP_SECONDS


def test_without_the_schedule_the_first_visit_reads_the_figures(support):
    assert figure_queries(queries_of(support, reverse("web:overview")))


def lists_of_the_workspace(workspace) -> list[tuple[str, dict, dict]]:
    """Each list with a filter of many rows and one of a single row (issue 10, point 2)."""
    run = DunningRun.objects.latest("pk")
    return [
        (reverse("web:run", args=[run.pk]), {"sort": "-outcome"}, {"q": "O-0-D1"}),
        (reverse("web:outbox"), {"sort": "error"}, {"q": "O-0-D1"}),
        (reverse("web:collection"), {"sort": "-open_amount"}, {"q": "O-0-W1"}),
        (reverse("web:approvals"), {"sort": "waiting"}, {"q": "O-0-W1"}),
    ]


def test_every_list_asks_a_fixed_number_of_questions_however_many_rows(support, workspace):
    """A run's decisions, the outbox, *Inkasso* and *Freigaben*, with their saved filters, sums
    and bulk forms: under 20 queries a page, and no more for 36 or 50 rows than for one."""
    user = support.session["_auth_user_id"]
    for list_name in ("run_decisions", "outbox", "collection", "approvals"):
        SavedFilter.objects.create(user_id=user, list=list_name, name="Alle", query="q=O")
    for url, many_params, one_params in lists_of_the_workspace(workspace):
        many = queries_of(support, url, many_params)
        one = queries_of(support, url, one_params)
        assert len(many) <= MOST, url
        assert len(many) <= len(one) + 1, url  # no question per row


def test_the_run_preview_reads_the_cases_once_whatever_its_filter(support):
    as_of = timezone.localdate().isoformat()
    plain = queries_of(support, reverse("web:runs"), {"as_of": as_of})
    filtered = queries_of(support, reverse("web:runs"),
                          {"as_of": as_of, "trigger": "chargeback", "sort": "-open_amount"})
    assert len(filtered) <= len(plain) + 1  # the trigger filter reads the cases' triggers once


@pytest.mark.django_db
def test_postgresql_does_not_compile_the_workspace_queries_on_the_fly():
    """Found by the scaling benchmark: once the tables had their statistics, PostgreSQL's
    planner costed the route economics above its JIT thresholds and spent 711 ms compiling a
    query that ran in 5 ms (the Übersicht's cold read at 10,000 cases went from 0.13 to 0.75 s).
    Mahnwerk's queries are short; its connections run without JIT."""
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
