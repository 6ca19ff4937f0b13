"""Demo data: a realistic marketplace, the same for the same seed, sent in through the intake."""

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.demo import marketplace as demo
from mahnwerk.intake.addresses import POSTCODE_MISMATCH, address_problems
from mahnwerk.intake.models import Buyer, Incident, Order, Payment, Product, Vendor
from mahnwerk.web.models import VendorAccount

pytestmark = pytest.mark.django_db

SMALL = {"vendors": 6, "orders": 300, "seed": 42}


def run_demo(*args: str, vendors: int = 6, orders: int = 300, seed: int = 42) -> str:
    out = StringIO()
    call_command("demo_data", "--vendors", str(vendors), "--orders", str(orders), "--seed",
                 str(seed), "--no-progress", "--no-month", *args, stdout=out)
    return out.getvalue()


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def snapshot() -> dict:
    """Everything the demo writes, with the moments of the last change."""
    return {
        "platform": [list(model.objects.order_by("pk").values())
                     for model in (Vendor, Product, Buyer, Order, Incident, Payment)],
        "cases": list(DebtCase.objects.order_by("pk").values()),
        "events": list(CaseEvent.objects.order_by("pk").values()),
        "notes": list(CaseNote.objects.order_by("pk").values()),
        "users": list(get_user_model().objects.order_by("pk").values("username", "password",
                                                                     "is_staff")),
        "accounts": list(VendorAccount.objects.values("user__username", "vendor_id")),
    }


# -- The generator -------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_records_and_another_seed_others():
    first = demo.generate(**SMALL)
    assert demo.generate(**SMALL) == first
    assert demo.generate(**{**SMALL, "seed": 43}) != first
    assert list(first) == list(demo.FEED_ORDER)
    assert len(first["vendors"]) == 6
    assert len(first["orders"]) == 300


def test_the_same_seed_gives_the_same_records_in_another_process(tmp_path):
    """Faker and Python's set order must not leak in: another hash seed, the same data."""
    script = ("import django, hashlib, json; django.setup(); "
              "from mahnwerk.demo.marketplace import generate; "
              "print(hashlib.sha256(json.dumps(generate(vendors=6, orders=300, seed=42), "
              "sort_keys=True).encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MAHNWERK_HOME": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "mahnwerk.settings"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True,
                            timeout=120)
    assert result.stdout.strip() == digest(demo.generate(**SMALL))


def test_the_dates_lie_in_the_half_year_before_the_anchor():
    as_of = date(2025, 3, 1)
    data = demo.generate(**SMALL, as_of=as_of)
    anchor = datetime.fromisoformat("2025-03-01T00:00:00+01:00")
    moments = ([datetime.fromisoformat(r["created_at"]) for r in data["orders"]]
               + [datetime.fromisoformat(r["occurred_at"]) for r in data["incidents"]]
               + [datetime.fromisoformat(r["paid_at"]) for r in data["payments"]])
    assert all(anchor - timedelta(days=184) < moment < anchor for moment in moments)
    assert data["orders"] != demo.generate(**SMALL)["orders"]


def test_only_a_fraction_of_the_orders_has_an_incident():
    data = demo.generate(vendors=12, orders=3000, seed=42)
    with_incident = {r["order_id"] for r in data["incidents"]}
    assert 0.10 <= len(with_incident) / len(data["orders"]) <= 0.20


# -- Writing -------------------------------------------------------------------------------------


def test_it_writes_through_the_intake_in_feed_order(monkeypatch):
    calls = []
    real = demo.apply_records

    def spy(*, feed, records, actor):
        calls.append((feed.name, actor))
        return real(feed=feed, records=records, actor=actor)

    monkeypatch.setattr(demo, "apply_records", spy)
    run_demo("--no-users", "--batch-size", "100")
    feeds = [name for name, _actor in calls]
    assert sorted(set(feeds), key=feeds.index) == list(demo.FEED_ORDER)
    assert feeds.count("orders") == 3  # 300 orders in batches of 100
    assert {actor for _name, actor in calls} == {"demo-data"}
    assert set(CaseEvent.objects.values_list("actor", flat=True)) == {"demo-data"}


def test_the_marketplace_holds_every_kind_the_process_knows():
    out = run_demo()
    vendors = Vendor.objects.all()
    assert {v.collection_mode for v in vendors} == {"approval", "direct"}
    assert {v.dunning_by for v in vendors} == {"in_house", "agency"}
    assert {v.enrolled for v in vendors} == {True, False}
    assert vendors.exclude(relationship_manager="").exists()
    assert vendors.filter(escalation_channel__startswith="WhatsApp: ").exists()

    products = Product.objects.all()
    assert {p.dunning_enabled for p in products} == {True, False}
    assert all(p.checkout_url == f"https://checkout.example/p/{p.product_id}"
               for p in products)

    orders = Order.objects.all()
    assert orders.count() == 300
    assert set(orders.values_list("payment_type", flat=True)) == {
        "one_time", "installments", "subscription"}
    assert set(Incident.objects.values_list("kind", flat=True)) == {
        "chargeback", "stopped_installments", "one_time_chargeback"}

    # Full and partial payments.
    assert DebtCase.objects.filter(state=CaseState.PAID).exists()
    partly = DebtCase.objects.filter(order__payments__isnull=False, open_amount__gt=0)
    assert partly.exclude(state=CaseState.PAID).exists()

    # Reorders, and re-closes through a sales agent.
    reopened = DebtCase.objects.filter(reopened=True)
    new_orders = Order.objects.filter(pk__in=reopened.values("reopened_id"))
    assert new_orders.filter(sales_agent="").exists()
    assert new_orders.exclude(sales_agent="").exists()
    for case in reopened.select_related("order"):
        new = Order.objects.get(pk=case.reopened_id)
        assert new.product_id == case.order.product_id
        assert new.created_at > case.order.created_at
        assert (new.buyer_id == case.order.buyer_id
                or new.buyer_email_normalized == case.order.buyer_email_normalized)
    assert reopened.filter(state=CaseState.REOPENED, pursue=False).exists()

    # Addresses: incomplete ones, postcodes that do not fit the country, and foreign ones.
    problems = {code for o in orders for code in address_problems(
        street=o.street, house_number=o.house_number, postcode=o.postcode, city=o.city,
        country=o.country)}
    assert {"street", "house_number", POSTCODE_MISMATCH} <= problems
    assert DebtCase.objects.filter(invalid_address_computed=True).exists()
    assert DebtCase.objects.exclude(order__country__in=["DE", ""]).exists()
    assert len(set(orders.values_list("country", flat=True))) >= 5

    # The summary: counts per feed and cases by state.
    assert "orders: 300" in out
    assert str(CaseState.PAID.label) in out


def test_the_demo_logins_are_made_once(django_user_model):
    out = run_demo()
    support = django_user_model.objects.get(username="support")
    manager = django_user_model.objects.get(username="manager")
    admin = django_user_model.objects.get(username="admin")
    vendor = django_user_model.objects.get(username="vendor")
    assert list(support.groups.values_list("name", flat=True)) == ["Support-Team"]
    assert list(manager.groups.values_list("name", flat=True)) == ["Relationship Manager"]
    assert admin.is_superuser and admin.groups.filter(name="Administrator").exists()
    assert vendor.groups.filter(name="Vendor").exists() and not vendor.is_staff
    first_vendor = demo.generate(**SMALL)["vendors"][0]["vendor_id"]
    assert vendor.vendor_account.vendor_id == first_vendor
    assert all(user.check_password("demo") for user in (support, manager, admin, vendor))
    assert support.is_staff and support.has_perm("cases.change_debtcase")
    assert "support / demo" in out

    run_demo()
    assert django_user_model.objects.count() == 4
    assert VendorAccount.objects.count() == 1


def test_no_users_makes_no_logins(django_user_model):
    run_demo("--no-users")
    assert not django_user_model.objects.exists()


def test_running_it_twice_into_the_same_database_changes_nothing():
    run_demo()
    before = snapshot()
    run_demo()
    assert snapshot() == before
    results = demo.write_demo_data(data=demo.generate(**SMALL))
    for feed in demo.FEED_ORDER:
        assert results[feed].created == results[feed].updated == 0
        assert results[feed].unchanged > 0
    assert snapshot() == before


def test_another_seed_adds_a_second_marketplace_beside_the_first():
    run_demo("--no-users")
    first = snapshot()["platform"]
    run_demo("--no-users", seed=43, orders=100)
    assert Order.objects.count() == 400
    assert [list(model.objects.filter(pk__in=[row[model._meta.pk.attname] for row in rows])
                 .order_by("pk").values())
            for model, rows in zip((Vendor, Product, Buyer, Order, Incident, Payment), first,
                                   strict=True)] == first


@pytest.mark.parametrize("other", [{"orders": 200}, {"vendors": 5}])
def test_the_same_seed_with_other_sizes_is_refused_and_writes_nothing(other):
    run_demo()
    before = snapshot()
    with pytest.raises(CommandError) as error:
        run_demo(**other)
    assert "--seed" not in str(error.value)  # a sentence, not a usage line
    assert snapshot() == before


def test_the_same_seed_with_another_anchor_is_refused():
    run_demo("--no-users")
    with pytest.raises(CommandError):
        run_demo("--no-users", "--as-of", "2026-10-01")


@pytest.mark.parametrize("args", [["--as-of", "2026-13-01"], ["--orders", "-5"],
                                  ["--vendors", "0"]])
def test_bad_arguments_are_refused(args):
    with pytest.raises(CommandError):
        call_command("demo_data", "--no-progress", "--no-month", *args)
    assert not Vendor.objects.exists()

