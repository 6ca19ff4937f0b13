"""Benchmark: the handover export, the validator and the agency report.

    .venv/bin/python bench/collection_benchmark.py [--cases 100000] [--rows 1000000]

1. builds a fresh SQLite database with one vendor and ``--cases`` cases (plain inserts), half of
   them approved with two letters on record;
2. times ``export_handover`` for that vendor (file written, checked, kept; cases handed over);
3. writes a handover file of ``--rows`` rows and times the validator (``check_file``) on it;
4. times the import of an agency report with a row for every handed-over case.

Targets (issue 4): export of 100,000 cases within 2 s; the validator at 1,000,000 rows within
5 s; the report of 100,000 rows applied within 30 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DB = OUT / "collection.sqlite3"


def setup() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(cases: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import Buyer, Order, Product, Vendor

    now = timezone.now()
    created = datetime(2025, 5, 1, tzinfo=timezone.get_current_timezone())
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{"vendor_id": "48213", "name": "Akademie", "email": "a@b.de",
                                   "enrolled": True, "collection_mode": "approval",
                                   "dunning_by": "in_house", "relationship_manager": "",
                                   "escalation_channel": "", "content_hash": "",
                                   "updated_at": now}])
        bulk.insert_rows(Product, [{"product_id": "P1", "vendor_id": "48213", "name": "Kurs",
                                    "dunning_enabled": True, "checkout_url": "",
                                    "content_hash": "", "updated_at": now}])
        bulk.insert_rows(Buyer, [{"buyer_id": "B1", "email": "b@c.de", "email_normalized": "",
                                  "first_name": "", "last_name": "", "street": "",
                                  "house_number": "", "postcode": "", "city": "", "country": "",
                                  "last_order_at": None, "content_hash": "", "updated_at": now}])
        for start in range(0, cases, 20000):
            ids = range(start, min(cases, start + 20000))
            bulk.insert_rows(Order, [{
                "order_id": f"O{i:07d}", "vendor_id": "48213", "product_id": "P1",
                "buyer_id": "B1", "buyer_email": "b@c.de", "buyer_email_normalized": "b@c.de",
                "buyer_first_name": "Erika", "buyer_last_name": "Muster",
                "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                "city": "Köln", "country": "DE", "payment_type": "one_time",
                "amount_total": Decimal("300.00"), "currency": "EUR",
                "installments_total": None, "installments_paid": None, "created_at": created,
                "sales_agent": "", "first_invoice_number": "", "content_hash": "",
                "updated_at": now} for i in ids])
            bulk.insert_rows(DebtCase, [{
                "order_id": f"O{i:07d}", "vendor_id": "48213",
                "state": "approved" if i % 2 == 0 else "dunning",
                "trigger": "one_time_chargeback", "open_amount": Decimal("300.00"),
                "currency": "EUR", "pursue": True, "first_invoice_number": "",
                "first_dunning_letter": date(2025, 7, 1),
                "second_dunning_letter": date(2025, 8, 1) if i % 2 == 0 else None,
                "offer_link": "https://checkout.example/p/1?token=x", "incasso_date": None,
                "reopened": False, "reopened_id": "", "invalid_address_computed": False,
                "address_problems": "", "invalid_address_override": None,
                "invalid_address_set_by": "", "block_reason": "", "blocked_from_state": "",
                "opened_at": created + timedelta(days=30), "updated_at": now} for i in ids])
        pks = dict(DebtCase.objects.values_list("order_id", "pk"))
        rows = []
        for order_id, pk in pks.items():
            if int(order_id[1:]) % 2 == 0:
                for level, day in ((1, date(2025, 7, 1)), (2, date(2025, 8, 1))):
                    rows.append({"case_id": pk, "level": level, "run_id": None,
                                 "letter_date": day, "deadline": day, "language": "de",
                                 "principal": Decimal("300.00"), "fees": Decimal("0"),
                                 "interest": Decimal("0"), "currency": "EUR",
                                 "offer_link": "https://x.example", "subject": "Mahnung",
                                 "body_html": "", "body_text": "", "created_at": now})
        for start in range(0, len(rows), 20000):
            bulk.insert_rows(Letter, rows[start:start + 20000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    setup()
    from mahnwerk.collection import reports, services
    from mahnwerk.collection.handover_format import check_file, format_row, write_csv
    from mahnwerk.collection.models import CollectionPartner

    print(f"building {args.cases:,} cases ...", flush=True)
    build(args.cases)

    start = time.perf_counter()
    result = services.export_handover(vendor_id="48213", actor="bench")
    seconds = time.perf_counter() - start
    print(f"export: {result.handover.rows:,} rows, {len(result.handed_over):,} handed over in "
          f"{seconds:.2f} s", flush=True)

    rows = (format_row(vendor_id="48213", order_id=f"X{i:07d}",
                       first_dunning_letter=date(2025, 7, 1),
                       second_dunning_letter=date(2025, 8, 1), incasso_date=date(2025, 9, 1),
                       support_comment="Käufer hat nicht reagiert", status_support="Freigabe",
                       offer_link="https://checkout.example/p/1?token=abc",
                       incasso_state="sent_for_collection", reopened=False,
                       invalid_address=False) for i in range(args.rows))
    big = OUT / "48213.csv"
    big.write_bytes(write_csv(rows))
    start = time.perf_counter()
    report = check_file(big)
    seconds = time.perf_counter() - start
    print(f"validator: {report.rows:,} rows in {seconds:.2f} s "
          f"({report.rows / seconds:,.0f} rows/s); problems: {len(report.problems)}",
          flush=True)

    path = OUT / "diagonal-report.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("order_id,agency_reference,takeover_date,status,collected_amount,"
                     "collected_at,comment\n")
        for i, order_id in enumerate(result.handed_over):
            amount = "100.00" if i % 3 == 0 else "0.00"
            handle.write(f"{order_id},AZ-{i},2025-09-01,open,{amount},2025-09-20,\n")
    start = time.perf_counter()
    applied = reports.import_report(path=path, partner=CollectionPartner.objects.get(
        name="Diagonal"), actor="bench")
    seconds = time.perf_counter() - start
    print(f"agency report: {applied.report.rows:,} rows, {applied.applied:,} applied in "
          f"{seconds:.2f} s", flush=True)


if __name__ == "__main__":
    main()
