"""Benchmark: *Fälle* (the workspace's case list) at 100,000 cases, as support asks it.

    .venv/bin/python bench/case_list_benchmark.py [--cases 100000] [--orders N]
        [--runs 15] [--postgres URL]

1. builds a fresh database (plain inserts, as bench/privacy_benchmark.py): ``--cases`` cases of
   20 vendors in every state, two currencies, ages up to 400 days, letters, reorders, invalid
   addresses, each with its order and buyer (names with umlauts, e-mail, invoice number) and its
   search column as the services write it; ``--orders`` (at least ``--cases``) adds orders
   without a debt, as the platform sends a million;
2. asks the list through Django's test client, logged in as support, ``--runs`` times each:
   the first page, a filtered and sorted page, sorting by buyer name (a join), a deep page, a
   search by name without accents, a search by e-mail, the top bar's "open cases";
3. prints per page the median and the slowest server time, the median CPU time of this process
   and the number of queries.

Server time is the whole request in the test client (middleware, session, template), not the
network. The CPU time is what the request cost this process: on SQLite (in the process) the
whole work, database included, and barely touched by other programs competing for the cores;
on PostgreSQL without the database server's share. Not a test: the figures go into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timedelta
from decimal import Decimal

import _common

DB = _common.OUT / "case_list.sqlite3"

FIRST = ["Jürgen", "Anna", "Özlem", "Lukas", "Marie", "Sören", "Zoë", "Karl", "Bärbel", "Jan"]
LAST = ["Zänker", "Müller", "Schäfer", "Weiß", "Öztürk", "Kühn", "Becker", "Groß", "Lange",
        "Fuchs", "Jäger", "Hoffmann", "Brügge", "Nowak", "Ahrens"]
STATES = ["open"] * 5 + ["dunning"] * 6 + ["on_hold", "approved", "sent_for_collection",
                                           "blocked", "paid", "paid", "canceled", "reopened"]
TRIGGERS = ["chargeback", "stopped_installments", "one_time_chargeback"]


def setup(postgres: str | None) -> None:
    _common.setup(postgres, sqlite=DB, database="mahnwerk_bench_lists")


def build(cases: int, orders: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.cases.search import search_text
    from mahnwerk.intake.models import Buyer, Order, Product, Vendor

    now = timezone.now()
    zone = timezone.get_current_timezone()
    today = timezone.localdate()
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{
            "vendor_id": f"V{v:02d}", "name": f"Akademie {v:02d}", "email": f"v{v}@b.de",
            "enrolled": True, "collection_mode": "approval", "dunning_by": "in_house",
            "relationship_manager": "", "escalation_channel": "", "content_hash": "",
            "updated_at": now} for v in range(20)])
        bulk.insert_rows(Product, [{
            "product_id": f"P{v:02d}", "vendor_id": f"V{v:02d}", "name": f"Kurs {v:02d}",
            "dunning_enabled": True, "checkout_url": "", "content_hash": "", "updated_at": now}
            for v in range(20)])
        buyers = max(1, orders // 3)
        for start in range(0, buyers, 20000):
            bulk.insert_rows(Buyer, [{
                "buyer_id": f"B{b:07d}", "email": f"k{b}@example.org",
                "email_normalized": f"k{b}@example.org", "first_name": FIRST[b % 10],
                "last_name": LAST[b % 15], "street": "Hauptstraße", "house_number": "1",
                "postcode": "50667", "city": "Köln", "country": "DE", "last_order_at": now,
                "content_hash": "", "updated_at": now}
                for b in range(start, min(buyers, start + 20000))])
        for start in range(0, orders, 20000):
            ids = range(start, min(orders, start + 20000))
            rows = []
            for i in ids:
                b = i % buyers
                rows.append({
                    "order_id": f"O{i:07d}", "vendor_id": f"V{i % 20:02d}",
                    "product_id": f"P{i % 20:02d}", "buyer_id": f"B{b:07d}",
                    "buyer_email": f"k{b}@example.org",
                    "buyer_email_normalized": f"k{b}@example.org",
                    "buyer_first_name": FIRST[b % 10], "buyer_last_name": LAST[b % 15],
                    "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                    "city": "Köln", "country": "DE", "payment_type": "installments",
                    "amount_total": Decimal("600.00"), "currency": "EUR",
                    "installments_total": 6, "installments_paid": 2,
                    "created_at": now - timedelta(days=400), "sales_agent": "",
                    "first_invoice_number": f"RE-{i:08d}", "content_hash": "",
                    "updated_at": now})
            bulk.insert_rows(Order, rows)
            case_rows = []
            for row in rows:
                i = int(row["order_id"][1:])
                if i >= cases:
                    continue
                state = STATES[i % len(STATES)]
                age = i % 400
                incident = datetime.combine(today - timedelta(days=age), datetime.min.time(),
                                            tzinfo=zone)
                letters = state not in ("open",) and age > 14
                chf = i % 10 == 0
                case_rows.append({
                    "order_id": row["order_id"], "vendor_id": row["vendor_id"],
                    "state": state, "trigger": TRIGGERS[i % 3],
                    "open_amount": Decimal("0.00") if state == "paid"
                    else Decimal(50 + (i * 37) % 2000) + Decimal("0.50"),
                    "currency": "CHF" if chf else "EUR",
                    "pursue": state not in ("paid", "canceled", "reopened") and i % 13 != 0,
                    "first_invoice_number": row["first_invoice_number"], "cycle": 1 + (i % 50 == 0),
                    "cycle_started_at": incident,
                    "first_dunning_letter": (incident + timedelta(days=14)).date()
                    if letters else None,
                    "second_dunning_letter": (incident + timedelta(days=28)).date()
                    if letters and age > 28 else None,
                    "offer_link": "", "incasso_date": None,
                    "reopened": state == "reopened",
                    "reopened_id": f"O{i + 1:07d}" if state == "reopened" else "",
                    "invalid_address_computed": i % 17 == 0,
                    "address_problems": "postcode" if i % 17 == 0 else "",
                    "invalid_address_override": None, "invalid_address_set_by": "",
                    "block_reason": "Anwalt" if state == "blocked" else "",
                    "blocked_from_state": "dunning" if state == "blocked" else "",
                    "opened_at": incident, "updated_at": now, "anonymised_at": None,
                    "buyer_first_name": row["buyer_first_name"],
                    "buyer_last_name": row["buyer_last_name"],
                    "search_text": search_text(
                        order_id=row["order_id"],
                        first_invoice_number=row["first_invoice_number"],
                        buyer_first_name=row["buyer_first_name"],
                        buyer_last_name=row["buyer_last_name"],
                        buyer_email=row["buyer_email"],
                        case_invoice_number=row["first_invoice_number"])})
            bulk.insert_rows(DebtCase, case_rows)
    with connection.cursor() as cursor:
        # What autovacuum does on a live PostgreSQL (index-only scans need the visibility map).
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


PAGES = [
    ("first page", ""),
    ("filtered and sorted", "?state=active&vendor=V03&age=31-60&sort=-open_amount"),
    ("sorted by buyer", "?sort=buyer"),
    ("page 200 (offset 9,950)", "?page=200"),
    ("search by name", "?q=zanker"),
    ("search by e-mail", "?q=k12345@example"),
    ("top bar: open cases", "?state=active"),
]


def measure(runs: int) -> list[tuple[str, float, float, float, int]]:
    client = _common.support_client()
    results = []
    for name, query in PAGES:
        figures = _common.measure(client, "/faelle/" + query, runs)
        results.append((name, figures.median, figures.slowest, figures.cpu, figures.queries))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=0,
                        help="orders in all (default: one per case)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    orders = max(args.orders, args.cases)
    setup(args.postgres)
    started = time.perf_counter()
    build(args.cases, orders)
    print(f"built {args.cases:,} cases and {orders:,} orders in "
          f"{time.perf_counter() - started:.1f} s "
          f"({'PostgreSQL' if args.postgres else 'SQLite'})")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'page':<28} {'median':>9} {'slowest':>9} {'CPU':>9} {'queries':>8}")
    for name, median, slowest, cpu, queries in measure(args.runs):
        print(f"{name:<28} {median:>7.0f} ms {slowest:>6.0f} ms {cpu:>6.0f} ms {queries:>8}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()


