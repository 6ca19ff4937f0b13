"""Benchmark: the Übersicht (dashboard) at 100,000 cases and 1,000,000 orders.

    .venv/bin/python bench/dashboard_benchmark.py [--cases 100000] [--orders 1000000]
                                                  [--vendors 200] [--repeat 15]
                                                  [--postgres URL]

1. builds a fresh database (plain inserts, as bench/privacy_benchmark.py): ``--vendors``
   vendors with a product each; ``--orders`` orders, the first ``--cases`` of them with a debt
   case in a master-list mix of states (open, dunning, waiting, approved, with the agency,
   blocked, paid, cancelled, reordered), the three triggers, EUR and 8 % CHF, incidents over
   the last 400 days (5 % in a second cycle); a run on the 1st of each of the last 12 months,
   the letters of the cases in dunning and beyond (level 1, and level 2 for those further on),
   about 0.4 payments per case (paid in full after a letter, partly paid, the agency's), over
   every channel; then ``ANALYZE``;
2. asks the pages as a support agent through Django's test client, ``--repeat`` times each
   after one warm-up, and prints the median and the slowest server time and the number of
   queries: the Übersicht (all vendors, the default twelve months) and the Übersicht of one
   vendor, each "cold" (the figures read from the database: the first request of a minute)
   and "kept" (the figures of the last minute, as every later request and the page's chart
   images get them); three chart images; the first page of payments behind a figure; then
   each figure's query alone.

Target (issue 10): the Übersicht under 150 ms median and under 20 queries, on SQLite and on
PostgreSQL (``--postgres postgres://user@host:5432/anything``: a fresh database
``mahnwerk_bench_dashboard`` on that server).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import _common
from _common import calibration, peak_rss

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DB = OUT / "dashboard.sqlite3"
BENCH_DB = "mahnwerk_bench_dashboard"
#: A master list's states, in proportion (the vendor's whole list, not only the open ones).
STATES = (["open"] * 30 + ["dunning"] * 20 + ["on_hold"] * 5 + ["approved"] * 3
          + ["sent_for_collection"] * 7 + ["blocked"] * 2 + ["paid"] * 20 + ["canceled"] * 3
          + ["reopened"] * 10)
TRIGGERS = ("chargeback", "stopped_installments", "one_time_chargeback")
#: Buyers' names (umlauts, so that a search without accents finds them), as *Fälle* shows them.
FIRST = ["Jürgen", "Anna", "Özlem", "Lukas", "Marie", "Sören", "Zoë", "Karl", "Bärbel", "Jan"]
LAST = ["Zänker", "Müller", "Schäfer", "Weiß", "Öztürk", "Kühn", "Becker", "Groß", "Lange",
        "Fuchs", "Jäger", "Hoffmann", "Brügge", "Nowak", "Ahrens"]
LETTERED = {"dunning", "on_hold", "approved", "sent_for_collection", "blocked", "paid"}
SECOND = {"on_hold", "approved", "sent_for_collection"}


def setup(postgres: str | None) -> None:
    _common.setup(postgres, sqlite=DB, database=BENCH_DB)


def build(*, cases: int, orders: int, vendors: int, seed: int = 10) -> dict[str, int]:
    from django.db import connection, transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.cases.search import search_text
    from mahnwerk.dunning.models import DunningRun, Letter
    from mahnwerk.intake.models import Buyer, Order, Payment, Product, Vendor

    rng = random.Random(seed)
    zone = timezone.get_current_timezone()
    now = timezone.now()
    today = timezone.localdate()
    first_run = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    run_days = []
    for _ in range(12):
        run_days.append(first_run)
        first_run = (first_run - timedelta(days=1)).replace(day=1)
    run_days.reverse()
    buyers = max(1, orders // 5)
    counts = {"letters": 0, "payments": 0}
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{
            "vendor_id": f"V{v:04d}", "name": f"Akademie {v:04d}", "email": "a@b.de",
            "enrolled": True, "collection_mode": "approval", "dunning_by": "in_house",
            "relationship_manager": "", "escalation_channel": "", "content_hash": "",
            "updated_at": now} for v in range(vendors)])
        bulk.insert_rows(Product, [{
            "product_id": f"P{v:04d}", "vendor_id": f"V{v:04d}", "name": "Kurs",
            "dunning_enabled": True, "checkout_url": "", "content_hash": "", "updated_at": now}
            for v in range(vendors)])
        for start in range(0, buyers, 50_000):
            bulk.insert_rows(Buyer, [{
                "buyer_id": f"B{b:07d}", "email": f"k{b}@example.org",
                "email_normalized": f"k{b}@example.org", "first_name": FIRST[b % 10],
                "last_name": LAST[b % 15], "street": "Hauptstraße", "house_number": "1",
                "postcode": "50667", "city": "Köln", "country": "DE", "last_order_at": now,
                "content_hash": "", "updated_at": now}
                for b in range(start, min(buyers, start + 50_000))])
        runs = []
        for day in run_days:
            run = DunningRun.objects.create(as_of=day, state="done", started_by="bench",
                                            lock=None)
            runs.append((day, run.pk))
        for start in range(0, orders, 50_000):
            ids = range(start, min(orders, start + 50_000))
            currency = {i: "CHF" if i % 100 < 8 else "EUR" for i in ids}
            bulk.insert_rows(Order, [{
                "order_id": f"O{i:07d}", "vendor_id": f"V{i % vendors:04d}",
                "product_id": f"P{i % vendors:04d}", "buyer_id": f"B{i % buyers:07d}",
                "buyer_email": f"k{i % buyers}@example.org",
                "buyer_email_normalized": f"k{i % buyers}@example.org",
                "buyer_first_name": FIRST[i % buyers % 10],
                "buyer_last_name": LAST[i % buyers % 15],
                "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                "city": "Köln", "country": "DE", "payment_type": "installments",
                "amount_total": Decimal("600.00"), "currency": currency[i],
                "installments_total": 6, "installments_paid": 2,
                "created_at": now - timedelta(days=500), "sales_agent": "",
                "first_invoice_number": f"R{i}", "content_hash": "", "updated_at": now}
                for i in ids])
            case_ids = [i for i in ids if i < cases]
            if not case_ids:
                continue
            rows, plans = [], {}
            for i in case_ids:
                state = STATES[rng.randrange(len(STATES))]
                opened = datetime.combine(today - timedelta(days=rng.randrange(400)),
                                          datetime.min.time(), tzinfo=zone) + timedelta(
                    hours=rng.randrange(8, 20))
                started = opened
                cycle = 1
                if rng.random() < 0.05 and (today - opened.date()).days > 60:
                    cycle, started = 2, opened + timedelta(days=rng.randrange(30, 60))
                principal = Decimal(rng.randrange(2000, 200000)) / 100
                amount = Decimal("0.00") if state == "paid" else principal
                if state in ("open", "dunning") and rng.random() < 0.2:
                    amount = (principal / 2).quantize(Decimal("0.01"))
                plans[i] = (state, started, principal, amount, currency[i])
                rows.append({
                    "order_id": f"O{i:07d}", "vendor_id": f"V{i % vendors:04d}",
                    "state": state, "trigger": TRIGGERS[i % 3], "open_amount": amount,
                    "currency": currency[i], "pursue": state not in ("paid", "canceled",
                                                                     "reopened"),
                    "first_invoice_number": f"R{i}", "cycle": cycle,
                    "cycle_started_at": started, "first_dunning_letter": None,
                    "second_dunning_letter": None, "offer_link": "", "incasso_date": None,
                    "reopened": state == "reopened", "reopened_id": "",
                    "invalid_address_computed": False, "address_problems": "",
                    "invalid_address_override": None, "invalid_address_set_by": "",
                    "block_reason": "", "blocked_from_state": "", "opened_at": opened,
                    "updated_at": now, "search_text": search_text(
                        order_id=f"O{i:07d}", first_invoice_number=f"R{i}",
                        buyer_first_name=FIRST[i % buyers % 10],
                        buyer_last_name=LAST[i % buyers % 15],
                        buyer_email=f"k{i % buyers}@example.org",
                        case_invoice_number=f"R{i}"),
                    "buyer_first_name": FIRST[i % buyers % 10],
                    "buyer_last_name": LAST[i % buyers % 15]})
            bulk.insert_rows(DebtCase, rows)
            pks = dict(DebtCase.objects.filter(order_id__in=[f"O{i:07d}" for i in case_ids])
                       .values_list("order_id", "pk"))
            letters, payments = [], []
            for i in case_ids:
                state, started, principal, amount, cur = plans[i]
                pk = pks[f"O{i:07d}"]
                later = [(day, run) for day, run in runs if day >= started.date()
                         + timedelta(days=7)]
                sent = []
                if state in LETTERED and later:
                    sent.append((1,) + later[0])
                    if (state in SECOND or (state == "paid" and rng.random() < 0.4)) \
                            and len(later) > 1:
                        sent.append((2,) + later[1])
                for level, day, run in sent:
                    letters.append({
                        "case_id": pk, "cycle": 1, "level": level,
                        "template": ("first", "second")[level - 1], "handover_column": "",
                        "run_id": run, "letter_date": day, "deadline": day + timedelta(14),
                        "dispatched_on": day, "language": "de", "principal": principal,
                        "fees": Decimal("0"), "interest": Decimal("0"), "currency": cur,
                        "offer_link": "https://x.example", "subject": "Mahnung",
                        "body_html": "<p>Mahnung</p>", "body_text": "Mahnung",
                        "created_at": now})
                after = datetime.combine(sent[-1][1], datetime.min.time(), tzinfo=zone) \
                    if sent else started
                paid = None
                if state == "paid":
                    paid = principal
                elif state == "sent_for_collection" and rng.random() < 0.3:
                    paid = (principal / 3).quantize(Decimal("0.01"))
                elif amount != principal:
                    paid = principal - amount
                if paid:
                    channel = ("agency" if state == "sent_for_collection" else
                               rng.choice(("offer_link", "offer_link", "other", "other",
                                           "vendor")))
                    at = after + timedelta(days=rng.randrange(1, 40), hours=10)
                    payments.append({
                        "payment_id": f"PAY{i:07d}", "order_id": f"O{i:07d}", "amount": paid,
                        "currency": cur, "paid_at": min(at, now), "channel": channel,
                        "content_hash": "", "updated_at": now})
            bulk.insert_rows(Letter, letters)
            bulk.insert_rows(Payment, payments)
            counts["letters"] += len(letters)
            counts["payments"] += len(payments)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return counts


def measure(client, url: str, repeat: int, *, cold: bool) -> _common.Figures:
    """``cold``: the kept figures are dropped before each request (the first request of a
    minute); otherwise they are kept (every other request of that minute, and a page's
    charts)."""
    from django.core.cache import cache

    cache.clear()
    if not cold:
        client.get(url)  # the figures read once, as the page's first request does
    return _common.measure(client, url, repeat, before=cache.clear if cold else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--vendors", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    orders = max(args.orders, args.cases)
    setup(args.postgres)
    started = time.perf_counter()
    counts = build(cases=args.cases, orders=orders, vendors=args.vendors)
    print(f"built {args.cases:,} cases, {orders:,} orders, {counts['letters']:,} letters, "
          f"{counts['payments']:,} payments, {args.vendors} vendors in "
          f"{time.perf_counter() - started:.0f} s; {peak_rss()}")

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from mahnwerk.web.accounts import ensure_demo_users

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    ensure_demo_users(vendor_id="V0001")
    client = Client()
    client.force_login(get_user_model().objects.get(username="support"))
    pages = [  # (name, URL, cold)
        ("Übersicht, all vendors, 12 months: cold", "/uebersicht/", True),
        ("Übersicht, all vendors, 12 months: kept", "/uebersicht/", False),
        ("Übersicht of one vendor: cold", "/uebersicht/?vendor=V0001", True),
        ("Übersicht of one vendor: kept", "/uebersicht/?vendor=V0001", False),
        ("chart: cases by state (EUR), kept", "/uebersicht/grafik/state.svg?currency=EUR",
         False),
        ("chart: recovered by route (EUR), kept",
         "/uebersicht/grafik/routes.svg?currency=EUR", False),
        ("chart: per vendor (EUR), kept", "/uebersicht/grafik/vendors.svg?currency=EUR",
         False),
        ("payments behind a figure, page 1",
         "/uebersicht/zahlungen/?route=letter1&currency=EUR", False),
    ]
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(calibration())
    print(f"{database}, median / slowest of {args.repeat} after one warm-up, median CPU time of "
          "this process (with SQLite: the database's work too):")
    for name, url, cold in pages:
        median, slowest, cpu, queries, size = measure(client, url, args.repeat, cold=cold)
        print(f"  {name:42} {median:7.1f} ms  {slowest:7.1f} ms  CPU {cpu:7.1f} ms  "
              f"{queries:3} queries  {size / 1024:6.1f} KiB")

    from django.utils import timezone

    from mahnwerk.collection import economics
    from mahnwerk.web import figures
    from mahnwerk.web.overview import default_period

    today = timezone.localdate()
    since, until = default_period(today)
    print("each figure's query alone (median of 3, ms):")
    for name, read in (
            ("stock (state, trigger, age)", lambda: figures.stock(today=today)),
            ("recovered by route and month",
             lambda: figures.recovered_by_route(since=since, until=until)),
            ("run rates", lambda: figures.run_rates(since=since, until=until)),
            ("per vendor", lambda: figures.by_vendor(since=since, until=until)),
            # issue 11: the route economics (two grouped queries, kept with the figures)
            ("route economics (collection.economics)",
             lambda: economics.route_statistics(today=today))):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            read()
            times.append((time.perf_counter() - started) * 1000)
        print(f"  {name:42} {statistics.median(times):7.1f} ms")
    print(calibration())
    print(peak_rss())


if __name__ == "__main__":
    main()
