"""Benchmark: the dunning run's decide and execute steps, and PDF letters.

    .venv/bin/python bench/dunning_benchmark.py [--orders 1000000] [--cases 100000]
                                                [--letters 1000] [--pdfs 200]

1. builds a fresh SQLite database with 1,000,000 orders and 100,000 open cases (written with
   plain inserts: the intake's speed is bench/import_benchmark.py's business);
2. times the decide step (``services.plan`` over every case: the facts query and the pure
   ``decide``) and reads the peak RSS;
3. times one hand-written SQL query that makes the same decisions (the floor) and prints the
   ratio, checking that both decide the same;
4. executes a run over ``--letters`` due cases (letters composed, stored, queued in the outbox;
   no delivery) and prints letters per second;
5. renders ``--pdfs`` PDF letters and prints PDFs per second (one core).

Targets (issue 3): decide within 10 s and under 500 MB; execute at 1,000 letters/s or more;
PDF letters at 50 per second per core or more.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB = HERE / "out" / "dunning.sqlite3"


def setup_django(*, fresh: bool = True) -> None:
    DB.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if fresh:
            Path(f"{DB}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(orders: int, cases: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.intake.models import (
        Buyer,
        CollectionMode,
        DunningBy,
        Order,
        Product,
        Vendor,
    )

    rng = random.Random(7)
    now = timezone.now()
    vendors = max(10, orders // 1000)
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{
            "vendor_id": f"V{v}", "name": f"Vendor {v}", "email": f"v{v}@example.com",
            "enrolled": v % 10 != 0,
            "collection_mode": (CollectionMode.DIRECT if v % 7 == 0
                                else CollectionMode.APPROVAL).value,
            "dunning_by": (DunningBy.AGENCY if v % 9 == 0 else DunningBy.IN_HOUSE).value,
            "relationship_manager": "",
            "escalation_channel": "", "content_hash": "", "updated_at": now}
            for v in range(vendors)])
        bulk.insert_rows(Product, [{
            "product_id": f"P{p}", "vendor_id": f"V{p // 5}", "name": f"Kurs {p}",
            "dunning_enabled": p % 11 != 0, "checkout_url": f"https://checkout.example/p/P{p}",
            "content_hash": "", "updated_at": now} for p in range(vendors * 5)])
        buyers = orders // 3
        for start in range(0, buyers, 20000):
            bulk.insert_rows(Buyer, [{
                "buyer_id": f"B{b}", "email": f"b{b}@example.org",
                "email_normalized": f"b{b}@example.org", "first_name": "Erika",
                "last_name": "Muster", "street": "Hauptstraße", "house_number": "1",
                "postcode": "50667", "city": "Köln", "country": "DE", "last_order_at": None,
                "content_hash": "", "updated_at": now}
                for b in range(start, min(buyers, start + 20000))])
        base = datetime(2026, 1, 1, tzinfo=timezone.get_current_timezone())
        for start in range(0, orders, 20000):
            rows = []
            for o in range(start, min(orders, start + 20000)):
                p, b = rng.randrange(vendors * 5), rng.randrange(buyers)
                rows.append({
                    "order_id": f"O{o}", "vendor_id": f"V{p // 5}", "product_id": f"P{p}",
                    "buyer_id": f"B{b}", "buyer_email": f"b{b}@example.org",
                    "buyer_email_normalized": f"b{b}@example.org", "buyer_first_name": "Erika",
                    "buyer_last_name": "Muster", "street": "Hauptstraße", "house_number": "1",
                    "postcode": "50667", "city": "Köln", "country": "DE",
                    "payment_type": "installments", "amount_total": Decimal("600.00"),
                    "currency": "EUR", "installments_total": 6, "installments_paid": 2,
                    "created_at": base + timedelta(minutes=o % 400000), "sales_agent": "",
                    "first_invoice_number": f"RE{o}", "content_hash": "", "updated_at": now})
            bulk.insert_rows(Order, rows)
        states = ["open"] * 5 + ["dunning"] * 4 + ["blocked"]
        rows = []
        for c in range(cases):
            o = c * (orders // cases)
            p_vendor = None  # the vendor follows the order's product
            state = rng.choice(states)
            first = date(2026, 9, 1) + timedelta(days=rng.randrange(40)) \
                if state == "dunning" else None
            second = first + timedelta(days=20) if first and rng.random() < 0.5 else None
            rows.append({
                "order_id": f"O{o}", "vendor_id": None, "state": state,
                "trigger": "stopped_installments",
                "open_amount": Decimal(rng.choice(["3.00", "99.00", "300.00"])),
                "currency": "EUR", "pursue": True, "first_invoice_number": f"RE{o}",
                "first_dunning_letter": first, "second_dunning_letter": second,
                "offer_link": "", "incasso_date": None, "reopened": rng.random() < 0.03,
                "reopened_id": "", "invalid_address_computed": False, "address_problems": "",
                "invalid_address_override": None, "invalid_address_set_by": "",
                "block_reason": "Anwaltsschreiben" if state == "blocked" else "",
                "blocked_from_state": "dunning" if state == "blocked" else "",
                "opened_at": (opened := base + timedelta(days=200 + rng.randrange(60))),
                "cycle": 1, "cycle_started_at": opened, "updated_at": now})
            del p_vendor
        owner = dict(Order.objects.filter(
            order_id__in=[r["order_id"] for r in rows]).values_list("order_id", "vendor_id"))
        for row in rows:
            row["vendor_id"] = owner[row["order_id"]]
        for start in range(0, len(rows), 20000):
            bulk.insert_rows(DebtCase, rows[start:start + 20000])


FLOOR_SQL = """
SELECT c.order_id,
  CASE
    WHEN NOT v.enrolled THEN 'skip'
    WHEN v.dunning_by = 'agency' THEN 'skip'
    WHEN c.state = 'blocked' THEN 'skip'
    WHEN c.reopened THEN 'exclude'
    WHEN NOT p.dunning_enabled THEN 'hold'
    WHEN c.open_amount < %(minimum)s THEN 'skip'
    WHEN v.collection_mode = 'direct' AND COALESCE(s.pursue, 0) != 1 THEN 'skip'
    WHEN EXISTS (SELECT 1 FROM dunning_outboxmessage m WHERE m.case_id = c.id
                 AND m.channel = 'email' AND m.status IN ('failed', 'bounced')) THEN 'skip'
    WHEN c.first_dunning_letter IS NULL THEN
      CASE WHEN date(c.opened_at, 'localtime', '+' || %(l1)s || ' days') <= %(as_of)s
           THEN 'send1' ELSE 'skip' END
    WHEN c.second_dunning_letter IS NULL THEN
      CASE WHEN date(c.first_dunning_letter, '+' || %(l2)s || ' days') <= %(as_of)s
           THEN 'send2' ELSE 'skip' END
    WHEN date(c.second_dunning_letter, '+' || %(esc)s || ' days') <= %(as_of)s
      THEN 'escalate'
    ELSE 'skip'
  END
FROM cases_debtcase c
JOIN intake_vendor v ON v.vendor_id = c.vendor_id
JOIN intake_order o ON o.order_id = c.order_id
JOIN intake_product p ON p.product_id = o.product_id
LEFT JOIN dunning_directselection s ON s.case_id = c.id
WHERE c.state IN ('open', 'dunning', 'reopened')
   OR (c.state = 'blocked' AND c.blocked_from_state IN ('open', 'dunning'))
"""


def decide_only() -> None:
    setup_django(fresh=False)
    from mahnwerk.dunning import services

    start, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in services.plan(as_of=date(2026, 11, 2)))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"decide: {count:,} cases in {seconds:.2f} s ({count / seconds:,.0f} cases/s; "
          f"CPU {cpu:.2f} s of this process); peak RSS of the process {peak_mb()} MB (Django, "
          f"the facts and the decisions); load {os.getloadavg()[0]:.1f}")


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--pdfs", type=int, default=200)
    parser.add_argument("--decide-only", action="store_true",
                        help="(internal) time the decide step on the built database and exit")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    if args.decide_only:
        decide_only()
        return
    setup_django()
    from django.db import connection

    from mahnwerk.dunning import letters, selectors, services
    from mahnwerk.dunning.models import Letter

    print(f"building {args.orders:,} orders and {args.cases:,} cases ...", flush=True)
    start = time.perf_counter()
    build(args.orders, args.cases)
    print(f"  built in {time.perf_counter() - start:.1f} s; peak {peak_mb()} MB", flush=True)

    as_of = date(2026, 11, 2)
    # The decide step in a fresh process, so that its peak RSS is its own, not the build's.
    child = subprocess.run([sys.executable, __file__, "--decide-only"], check=True,
                           capture_output=True, text=True)
    print(child.stdout.strip(), flush=True)
    decide_seconds = float(child.stdout.split(" in ", 1)[1].split(" s", 1)[0])
    decide_cpu = float(child.stdout.split("CPU ", 1)[1].split(" s", 1)[0])
    planned = {p.facts.order_id: f"{p.decision.action}{p.decision.level or ''}"
               for p in services.plan(as_of=as_of)}
    policy = selectors.default_policy()
    rules = selectors.rules_of(policy)
    start, cpu = time.perf_counter(), time.process_time()
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, {
            "minimum": str(rules.minimum_amount), "l1": rules.level(1).days_after_previous,
            "l2": rules.level(2).days_after_previous, "esc": rules.escalate_after_days,
            "as_of": as_of.isoformat()})
        floor = dict(cursor.fetchall())
    floor_seconds, floor_cpu = time.perf_counter() - start, time.process_time() - cpu
    differ = sum(1 for k, v in planned.items() if floor.get(k) != v)
    print(f"floor (one SQL query): {floor_seconds:.2f} s (CPU {floor_cpu:.2f} s); ratio "
          f"{decide_seconds / floor_seconds:.1f}x (CPU {decide_cpu / floor_cpu:.1f}x); "
          f"decisions that differ: {differ}; load {os.getloadavg()[0]:.1f}", flush=True)

    due = [order for order, action in planned.items() if action == "send1"][:args.letters]
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning.models import RunDecision

    run = services.DunningRun.objects.create(as_of=as_of, started_by="bench")
    RunDecision.objects.bulk_create([
        RunDecision(run=run, case_id=pk, action="send", level=1, code="text",
                    params={"text": "bench"})
        for pk in DebtCase.objects.filter(order_id__in=due).values_list("pk", flat=True)])
    start = time.perf_counter()
    services.execute_run(run=run, actor="bench")
    execute_seconds = time.perf_counter() - start
    made = Letter.objects.filter(run=run).count()
    print(f"execute: {made:,} letters in {execute_seconds:.2f} s "
          f"({made / execute_seconds:,.0f} letters/s, composed, stored and queued)", flush=True)

    sample = list(Letter.objects.select_related("case", "case__order", "case__order__product",
                                                "case__vendor")[:args.pdfs])
    start = time.perf_counter()
    for letter in sample:
        letters.render_pdf(letter)
    pdf_seconds = time.perf_counter() - start
    print(f"pdf: {len(sample)} letters in {pdf_seconds:.2f} s "
          f"({len(sample) / pdf_seconds:,.0f} PDFs/s on one core)", flush=True)
    print(f"peak RSS of the whole benchmark: {peak_mb()} MB")


if __name__ == "__main__":
    main()
