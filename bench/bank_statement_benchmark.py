"""Benchmark: a bank statement of 100,000 credits matched against 100,000 open cases.

    .venv/bin/python bench/bank_statement_benchmark.py [--cases 100000] [--credits 100000]
    .venv/bin/python bench/bank_statement_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x

1. builds a fresh database (SQLite under bench/out/, or ``mahnwerk_bank_bench`` on the
   PostgreSQL server given) with ``--cases`` open cases (plain inserts: orders, incidents,
   cases), order ids ``O0000001``… and invoice numbers ``RE-2026-0000001``…, numbered densely
   as the platform numbers them;
2. writes a camt.053.001.08 statement of ``--credits`` credits, one per case, in this mix:
   83 % order id and invoice number as printed, 4 % lower case without dashes, 3 % the invoice
   number alone, 2 % the order id with two digits swapped beside the right invoice number,
   2 % more than the open amount, 2 % a part payment, 1 % no reference (the buyer's name and the
   exact amount: a suggestion), 1 % a reference naming two cases, 1 % in USD, 1 % debits;
3. times ``banking.services.import_statement`` on it, as ``mahnwerk import-bank-statement``
   runs it: the file parsed, every credit matched, the lines written, the payments booked
   through the intake with the cases following (paid cases moved, events written, the
   outbox asked for letters to cancel), and splits the time into parsing, loading the cases,
   matching, and the rest (writing and booking);
4. imports the same file again (nothing changes) and prints what the lines came to.

Peak RSS is the process's high-water mark (it includes building the data).

Target (issue 11): under 30 s on SQLite, memory under 500 MB.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import _common
from _common import OUT, calibration, peak_rss

DB = OUT / "bank.sqlite3"
DAY = date(2026, 11, 3)
IBAN = "DE02120300000000202051"


def build(cases: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.intake.models import Buyer, Incident, Order, Product, Vendor

    now = timezone.now()
    created = datetime(2026, 9, 1, tzinfo=timezone.get_current_timezone())
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{"vendor_id": "V1", "name": "Akademie", "email": "a@b.de",
                                   "enrolled": True, "collection_mode": "approval",
                                   "dunning_by": "in_house", "relationship_manager": "",
                                   "escalation_channel": "", "content_hash": "",
                                   "updated_at": now}])
        bulk.insert_rows(Product, [{"product_id": "P1", "vendor_id": "V1", "name": "Kurs",
                                    "dunning_enabled": True, "checkout_url": "",
                                    "content_hash": "", "updated_at": now}])
        bulk.insert_rows(Buyer, [{"buyer_id": "B1", "email": "b@c.de", "email_normalized": "",
                                  "first_name": "", "last_name": "", "street": "",
                                  "house_number": "", "postcode": "", "city": "",
                                  "country": "", "last_order_at": None, "content_hash": "",
                                  "updated_at": now}])
        for start in range(0, cases, 20000):
            ids = range(start + 1, min(cases, start + 20000) + 1)
            bulk.insert_rows(Order, [{
                "order_id": f"O{i:07d}", "vendor_id": "V1", "product_id": "P1",
                "buyer_id": "B1", "buyer_email": "b@c.de", "buyer_email_normalized": "b@c.de",
                "buyer_first_name": "Erika", "buyer_last_name": f"Muster{i}",
                "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                "city": "Köln", "country": "DE", "payment_type": "one_time",
                "amount_total": Decimal("300.00"), "currency": "EUR",
                "installments_total": None, "installments_paid": None, "created_at": created,
                "sales_agent": "", "first_invoice_number": f"RE-2026-{i:07d}",
                "content_hash": "", "updated_at": now} for i in ids])
            bulk.insert_rows(Incident, [{
                "incident_id": f"I{i:07d}", "order_id": f"O{i:07d}",
                "kind": "one_time_chargeback", "occurred_at": created,
                "open_amount": Decimal("300.00"), "currency": "EUR", "content_hash": "",
                "updated_at": now} for i in ids])
            bulk.insert_rows(DebtCase, [{
                "order_id": f"O{i:07d}", "vendor_id": "V1", "state": "dunning",
                "trigger": "one_time_chargeback", "open_amount": Decimal("300.00"),
                "currency": "EUR", "pursue": True, "first_invoice_number": f"RE-2026-{i:07d}",
                "first_dunning_letter": date(2026, 10, 1), "second_dunning_letter": None,
                "offer_link": "", "incasso_date": None, "reopened": False,
                "reopened_id": "", "invalid_address_computed": False, "address_problems": "",
                "invalid_address_override": None, "invalid_address_set_by": "",
                "block_reason": "", "blocked_from_state": "", "opened_at": created,
                "cycle": 1, "cycle_started_at": created, "updated_at": now,
                "fees": Decimal("0.00"), "interest": Decimal("0.00"), "charges": [],
                "search_text": "", "buyer_last_name": f"Muster{i}",
                "buyer_first_name": "Erika"} for i in ids])


def swapped(order_id: str) -> str:
    """Two neighbouring digits swapped (the last two that differ)."""
    chars = list(order_id)
    for at in range(len(chars) - 1, 1, -1):
        if chars[at] != chars[at - 1]:
            chars[at], chars[at - 1] = chars[at - 1], chars[at]
            break
    return "".join(chars)


def bookings(credits: int, cases: int) -> list[dict[str, Any]]:
    from mahnwerk.banking.camt import write  # noqa: F401 (Django is set up)

    out = []
    for n in range(credits):
        i = n % cases + 1
        order, invoice = f"O{i:07d}", f"RE-2026-{i:07d}"
        kind = n % 100
        booking: dict[str, Any] = {"amount": "300.00", "name": f"Erika Muster{i}",
                                   "text": f"{order} {invoice}"}
        if kind < 4:
            booking["text"] = f"{order} {invoice}".lower().replace("-", "")
        elif kind < 7:
            booking["text"] = f"Rechnung {invoice}"
        elif kind < 9:
            booking["text"] = f"{swapped(order)} {invoice}"
        elif kind < 11:
            booking["amount"] = "350.00"
        elif kind < 13:
            booking["amount"] = "100.00"
        elif kind < 14:
            booking["text"] = "Danke"
        elif kind < 15:
            booking["text"] = f"{order} {invoice} und O{(i % cases) + 1:07d}"
        elif kind < 16:
            booking["currency"] = "USD"
        elif kind < 17:
            booking["credit"] = False
            booking["text"] = "Lastschrift Entgelte"
        out.append(booking)
    return out


def run(cases: int, credits: int, postgres: str | None) -> None:
    _common.setup(postgres, sqlite=DB, database="mahnwerk_bank_bench")
    print(calibration())
    started = time.perf_counter()
    build(cases)
    print(f"built {cases:,} open cases in {time.perf_counter() - started:.1f} s; {peak_rss()}")

    from mahnwerk.banking import camt, matching, services
    from mahnwerk.banking.models import StatementLine
    from mahnwerk.cases.models import DebtCase

    data = camt.write(statement_id="BENCH-1", account=IBAN, bookings=bookings(credits, cases),
                      day=DAY)
    path = OUT / "bank-statement.xml"
    path.write_bytes(data)
    print(f"statement {path}: {len(data) / 1_048_576:.1f} MB, {credits:,} bookings")

    parts: dict[str, float] = Counter()

    def timed(module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                parts[name] += time.perf_counter() - start
        setattr(module, name, wrapper)

    timed(camt, "parse")
    timed(services, "load_matcher")
    timed(matching.Matcher, "decide")
    timed(services, "_book")
    started, cpu = time.perf_counter(), time.process_time()
    report = services.import_statement(data=data, name=path.name, actor="bench")
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    # On a shared machine the wall time includes waiting for a core; the process's CPU time
    # (SQLite works inside the process) is what the import costs.
    print(f"import: {took:.1f} s wall, {cpu:.1f} s CPU ({credits / took:,.0f} bookings/s); "
          f"{peak_rss()}; {calibration()}")
    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in parts.items())
          + f", the rest (lines written, transaction) "
            f"{took - sum(parts.values()):.1f} s")
    print(f"  {services.summary(report)}")
    print(f"  matched by: { {str(k): v for k, v in report.methods.items()} }")
    print(f"  cases paid: {DebtCase.objects.filter(state='paid').count():,}")
    started = time.perf_counter()
    again = services.import_statement(data=data, name=path.name, actor="bench")
    print(f"the same file again: {time.perf_counter() - started:.2f} s, already imported: "
          f"{again.already_imported}; lines {StatementLine.objects.count():,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--credits", type=int, default=100_000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    run(args.cases, args.credits, args.postgres)


if __name__ == "__main__":
    main()
