"""A run's decisions, the run preview, the outbox and *Inkasso* as lists (issue 10, point 2):
filters, sorting, pages, the count and the open sum; the preview filtered by action."""

import re
from datetime import date, datetime

import pytest
from django.urls import reverse

from mahnwerk.dunning import services
from mahnwerk.money import format_money
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 10, 1)


@pytest.fixture
def run(client, django_user_model):
    """Alpha: two debts due for the first letter and one too young; Beta: one due."""
    alpha = VendorFactory(vendor_id="VALPHA", name="Alpha Akademie")
    beta = VendorFactory(vendor_id="VBETA", name="Beta Coaching")
    old = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
    for order_id, vendor, amount, at, last in (
            ("O-A1", alpha, "300.00", old, "Zänker"), ("O-A2", alpha, "120.00", old, "Kaya"),
            ("O-A3", alpha, "80.00", datetime(2026, 9, 28, tzinfo=BERLIN), "Neu"),
            ("O-B1", beta, "999.00", old, "Berg")):
        incident(OrderFactory(order_id=order_id, product=ProductFactory(vendor=vendor),
                              buyer_last_name=last), open_amount=amount, at=at)
    ensure_demo_users(vendor_id=None)
    client.force_login(django_user_model.objects.get(username="support"))
    return services.start_run(as_of=AS_OF, actor="test")


def rows(client, url, **params) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200
    return re.findall(r'<tr data-order="([^"]+)"', response.content.decode())


def test_support_filters_a_runs_decisions_by_action_vendor_and_buyer(client, run):
    url = reverse("web:run", args=[run.pk])
    assert sorted(rows(client, url)) == ["O-A1", "O-A2", "O-A3", "O-B1"]
    assert sorted(rows(client, url, action="send")) == ["O-A1", "O-A2", "O-B1"]
    assert rows(client, url, action="skip") == ["O-A3"]
    assert sorted(rows(client, url, vendor="VALPHA", action="send")) == ["O-A1", "O-A2"]
    assert rows(client, url, q="zanker") == ["O-A1"]
    assert rows(client, url, executed="yes") == []


def test_a_runs_decisions_sort_by_amount_and_show_count_and_sum(client, run):
    url = reverse("web:run", args=[run.pk])
    assert rows(client, url, sort="-open_amount") == ["O-B1", "O-A1", "O-A2", "O-A3"]
    html = client.get(url, {"action": "send", "vendor": "VALPHA"}).content.decode()
    totals = html.split('id="decision-totals"', 1)[1].split("</p>", 1)[0]
    assert "2 Entscheidungen" in totals and format_money(420, "EUR") in totals
    assert len(rows(client, url, per_page=25, page=1)) == 4


def test_the_preview_is_filtered_by_action(client, run):
    url = reverse("web:runs")
    assert rows(client, url, as_of="2026-10-01", action="skip") == ["O-A3"]
    html = client.get(url, {"as_of": "2026-10-01", "action": "send"}).content.decode()
    assert "3 Entscheidungen aufgelistet" in html
    assert html.count('<tr data-order="') == 3


def test_the_outbox_lists_its_messages_filtered_sorted_and_counted(client, run):
    from mahnwerk.dunning.models import OutboxMessage

    services.execute_run(run=run, actor="test")
    url = reverse("web:outbox")
    assert OutboxMessage.objects.count() == 3
    assert sorted(rows(client, url)) == ["O-A1", "O-A2", "O-B1"]
    assert sorted(rows(client, url, vendor="VALPHA")) == ["O-A1", "O-A2"]
    assert rows(client, url, q="zänker") == ["O-A1"]
    assert rows(client, url, status="sent") == []
    queued = client.get(url, {"status": "queued"}).content.decode()
    assert "3 Nachrichten" in queued.split('id="outbox-count"', 1)[1].split("</p>", 1)[0]
    assert rows(client, url, sort="order_id") == ["O-A1", "O-A2", "O-B1"]
    assert rows(client, url, sort="-order_id") == ["O-B1", "O-A2", "O-A1"]
    html = client.get(url, {"level": "x"}).content.decode()
    assert "Bitte die Mahnstufe als ganze Zahl ab 1 angeben." in html


def test_the_collection_list_sorts_pages_and_sums(client, django_user_model):
    from tests.helpers import waiting

    vendor = VendorFactory(vendor_id="VINK", name="Inkasso Akademie")
    for order_id, amount in (("O-K1", "300.00"), ("O-K2", "1200.00"), ("O-K3", "45.50")):
        case = waiting(OrderFactory(order_id=order_id, product=ProductFactory(vendor=vendor)))
        case.__class__.objects.filter(pk=case.pk).update(open_amount=amount)
    ensure_demo_users(vendor_id=None)
    client.force_login(django_user_model.objects.get(username="support"))
    url = reverse("web:collection")

    def listed(**params):
        html = client.get(url, params).content.decode()
        table = html.split('<table id="collection">', 1)[1]
        return re.findall(r'data-order="([^"]+)"', table)

    assert listed(sort="-open_amount") == ["O-K2", "O-K1", "O-K3"]
    assert listed(sort="open_amount") == ["O-K3", "O-K1", "O-K2"]
    assert listed(sort="open_amount", per_page=25, page=1) == ["O-K3", "O-K1", "O-K2"]
    html = client.get(url, {"vendor": "VINK"}).content.decode()
    totals = html.split('id="collection-totals"', 1)[1].split("</p>", 1)[0]
    assert "3 Fälle" in totals and format_money(1545.5, "EUR") in totals
