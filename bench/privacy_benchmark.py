"""Benchmark: the retention run (``mahnwerk anonymise``) and a buyer's data export.

    .venv/bin/python bench/privacy_benchmark.py [--cases 100000] [--postgres URL]

1. builds a fresh database (plain inserts): ``--cases`` paid cases, each with its order, three
   timeline events (opened, an internal note quoting text, paid), one note and two letters of
   2018 (their keeping time is over, so their text goes too), spread over buyers of ten orders;
2. times ``anonymise_closed_cases(older_than_days=0)``: every case, its order, notes, event facts
   and letters anonymised, case by case conditional on its state, in batches of 500;
3. times ``buyer_data`` for one buyer (ten orders with their cases, letters and timeline) with
   the access log holding one export record per 1,000 cases.

Peak RSS is the process's high-water mark (it includes building the data).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import _common
from _common import peak_rss

DB = _common.OUT / "privacy.sqlite3"


def setup(postgres: str | None) -> None:
    """A fresh database: SQLite under bench/out/, or with ``postgres`` (a server's URL) a fresh
    database ``mahnwerk_bench`` on that server."""
    _common.setup(postgres, sqlite=DB, database="mahnwerk_bench")


def build(cases: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import AccessRecord, CaseEvent, CaseNote, DebtCase
    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import Buyer, Order, Product, Vendor

    now = timezone.now()
    created = datetime(2018, 1, 10, tzinfo=timezone.get_current_timezone())
    paid_at = created + timedelta(days=90)
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{"vendor_id": "V1", "name": "Akademie", "email": "a@b.de",
                                   "enrolled": True, "collection_mode": "approval",
                                   "dunning_by": "in_house", "relationship_manager": "",
                                   "escalation_channel": "", "content_hash": "",
                                   "updated_at": now}])
        bulk.insert_rows(Product, [{"product_id": "P1", "vendor_id": "V1", "name": "Kurs",
                                    "dunning_enabled": True, "checkout_url": "",
                                    "content_hash": "", "updated_at": now}])
        buyers = max(1, cases // 10)
        for start in range(0, buyers, 20000):
            bulk.insert_rows(Buyer, [{
                "buyer_id": f"B{b:07d}", "email": f"k{b}@example.org",
                "email_normalized": f"k{b}@example.org", "first_name": "Erika",
                "last_name": "Muster", "street": "Hauptstraße", "house_number": "1",
                "postcode": "50667", "city": "Köln", "country": "DE", "last_order_at": created,
                "content_hash": "", "updated_at": now}
                for b in range(start, min(buyers, start + 20000))])
        for start in range(0, cases, 20000):
            ids = range(start, min(cases, start + 20000))
            bulk.insert_rows(Order, [{
                "order_id": f"O{i:07d}", "vendor_id": "V1", "product_id": "P1",
                "buyer_id": f"B{i % buyers:07d}", "buyer_email": f"k{i % buyers}@example.org",
                "buyer_email_normalized": f"k{i % buyers}@example.org",
                "buyer_first_name": "Erika", "buyer_last_name": "Muster",
                "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                "city": "Köln", "country": "DE", "payment_type": "one_time",
                "amount_total": Decimal("300.00"), "currency": "EUR",
                "installments_total": None, "installments_paid": None, "created_at": created,
                "sales_agent": "", "first_invoice_number": f"R{i}", "content_hash": "",
                "updated_at": now} for i in ids])
            bulk.insert_rows(DebtCase, [{
                "order_id": f"O{i:07d}", "vendor_id": "V1", "state": "paid",
                "trigger": "one_time_chargeback", "open_amount": Decimal("0.00"),
                "currency": "EUR", "pursue": True, "first_invoice_number": f"R{i}",
                "cycle": 1, "cycle_started_at": created,
                "first_dunning_letter": date(2018, 2, 1),
                "second_dunning_letter": date(2018, 3, 1), "offer_link": "",
                "incasso_date": None, "reopened": False, "reopened_id": "",
                "invalid_address_computed": False, "address_problems": "",
                "invalid_address_override": None, "invalid_address_set_by": "",
                "block_reason": "", "blocked_from_state": "", "opened_at": created,
                "updated_at": now} for i in ids])
        pks = list(DebtCase.objects.values_list("pk", flat=True))
        for start in range(0, len(pks), 20000):
            chunk = pks[start:start + 20000]
            bulk.insert_rows(CaseEvent, [
                row for pk in chunk for row in (
                    {"case_id": pk, "at": created, "kind": "opened", "actor": "import",
                     "user_id": None, "from_state": "open", "to_state": "open",
                     "code": "case.opened", "params": {"kind": "one_time_chargeback",
                                                       "amount": {"amount": "300.00",
                                                                  "currency": "EUR"}},
                     "changes": {}},
                    {"case_id": pk, "at": created, "kind": "note", "actor": "anna",
                     "user_id": None, "from_state": "open", "to_state": "open",
                     "code": "case.note_internal",
                     "params": {"text": "Käuferin Muster ruft nie zurück"}, "changes": {}},
                    {"case_id": pk, "at": paid_at, "kind": "payment", "actor": "import",
                     "user_id": None, "from_state": "dunning", "to_state": "paid",
                     "code": "case.paid", "params": {"paid": {"amount": "300.00",
                                                              "currency": "EUR"}},
                     "changes": {"state": ["dunning", "paid"]}})])
            bulk.insert_rows(CaseNote, [{"case_id": pk, "visibility": "internal",
                                         "text": "Käuferin Muster ruft nie zurück",
                                         "author": "anna", "created_at": created}
                                        for pk in chunk])
            bulk.insert_rows(Letter, [{
                "case_id": pk, "cycle": 1, "level": level, "template": "first",
                "handover_column": "", "run_id": None,
                "letter_date": date(2018, level + 1, 1), "deadline": date(2018, level + 1, 15),
                "dispatched_on": date(2018, level + 1, 1), "language": "de",
                "principal": Decimal("300.00"), "fees": Decimal("0"), "interest": Decimal("0"),
                "currency": "EUR", "offer_link": "https://x.example", "subject": "Mahnung",
                "body_html": "<p>Frau Erika Muster, Hauptstraße 1</p>",
                "body_text": "Frau Erika Muster, Hauptstraße 1", "created_at": now}
                for pk in chunk for level in (1, 2)])
        bulk.insert_rows(AccessRecord, [{
            "at": now, "user_id": None, "actor": "anna", "kind": "export",
            "target": f"inkasso-{n}.xlsx", "via": "/inkasso.xlsx",
            "order_ids": [f"O{i:07d}" for i in range(n * 1000, min(cases, n * 1000 + 1000))]}
            for n in range(max(1, cases // 1000))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    setup(args.postgres)
    started = time.perf_counter()
    build(args.cases)
    print(f"built {args.cases:,} paid cases in {time.perf_counter() - started:.1f} s")

    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import Order
    from mahnwerk.ops.privacy import anonymise_closed_cases, buyer_data

    started = time.perf_counter()
    result = anonymise_closed_cases(older_than_days=0, actor="bench")
    took = time.perf_counter() - started
    assert len(result.cases) == args.cases, len(result.cases)
    assert not Order.objects.exclude(buyer_last_name="").exists()
    assert not Letter.objects.exclude(body_text="").exists()
    print(f"anonymise: {args.cases:,} cases, {result.buyers:,} buyers, {result.letters:,} "
          f"letters in {took:.1f} s ({args.cases / took:,.0f} cases/s); {peak_rss()}")

    started = time.perf_counter()
    data = buyer_data(buyer_id="B0000001", actor="bench")
    took = time.perf_counter() - started
    print(f"buyer export: {len(data['orders'])} orders, {len(data['exports'])} exports named, "
          f"in {took * 1000:.0f} ms; {peak_rss()}")


if __name__ == "__main__":
    main()
