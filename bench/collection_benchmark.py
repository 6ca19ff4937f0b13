"""Benchmark: the handover export, the validator and the agency report.

    .venv/bin/python bench/collection_benchmark.py [--cases 100000] [--approved 10]
                                                   [--rows 1000000] [--report-rows 100000]

1. builds a fresh SQLite database (plain inserts) with one vendor (48213) whose ``--cases``
   cases are a master-list mix: ``--approved`` percent approved (two letters on record), the
   rest spread over dunning, open, on_hold, sent_for_collection (handed over in an earlier
   export), paid, canceled and blocked; some shared and internal notes, some flagged
   addresses. ``--approved 50`` is the old worst case (every other case approved);
2. times ``export_handover`` for that vendor (file written, checked, kept; approved cases moved
   to sent_for_collection with an event each) and prints how that time splits into reading,
   writing, checking the file, the handover rows and the case changes;
3. writes a handover file of ``--rows`` rows and times the validator (``check_file``) on it;
4. times the import of an agency report with ``--report-rows`` rows: every case with the agency
   (earlier and just handed over), filled up with a second vendor (48299) whose cases were all
   handed over earlier.

Peak RSS is the process's high-water mark after each step (it includes building the data).

Targets (issue 4): export of 100,000 cases within 2 s; the validator at 1,000,000 rows within
5 s; the report of 100,000 rows applied within 30 s.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import _common
from _common import OUT, peak_rss

DB = OUT / "collection.sqlite3"
VENDOR = "48213"
FILLER = "48299"  # only cases already with the agency, to give the report its rows
FIRST, SECOND, TAKEN = date(2025, 7, 1), date(2025, 8, 1), date(2025, 9, 1)
#: The states besides approved, in the proportions of a vendor's master list.
OTHERS = (["dunning"] * 5 + ["open"] + ["on_hold"] * 2 + ["sent_for_collection"] * 5
          + ["paid"] * 3 + ["canceled"] + ["blocked"])


def setup(postgres: str | None = None) -> None:
    """A fresh database: SQLite under bench/out/, or with ``postgres`` (a server's URL) a fresh
    database ``mahnwerk_bench`` on that server."""
    _common.setup(postgres, sqlite=DB, database="mahnwerk_bench")


def state_of(i: int, approved_percent: int) -> str:
    return "approved" if i % 100 < approved_percent else OTHERS[i % len(OTHERS)]


def build(cases: int, approved_percent: int, report_rows: int) -> dict[str, int]:
    """The vendor's master list, and the filler vendor; returns how many cases per state."""
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.collection.models import CollectionPartner

    now = timezone.now()
    states = [state_of(i, approved_percent) for i in range(cases)]
    counts: dict[str, int] = defaultdict(int)
    for state in states:
        counts[state] += 1
    with_agency = counts["approved"] + counts["sent_for_collection"]
    partner = CollectionPartner.objects.get(name="Diagonal")
    with transaction.atomic():
        for vendor_id, prefix, vendor_states in (
                (VENDOR, "O", states),
                (FILLER, "F", ["sent_for_collection"] * max(0, report_rows - with_agency))):
            if vendor_states:
                _build_vendor(bulk, now, partner, vendor_id, prefix, vendor_states)
    return dict(counts)


def _build_vendor(bulk: Any, now: datetime, partner: Any, vendor_id: str, prefix: str,
                  states: list[str]) -> None:
    from django.utils import timezone

    from mahnwerk.cases.models import CaseNote, DebtCase
    from mahnwerk.collection.models import Handover, HandoverItem
    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import (
        Buyer,
        CollectionMode,
        DunningBy,
        Order,
        Product,
        Vendor,
    )

    created = datetime(2025, 5, 1, tzinfo=timezone.get_current_timezone())
    bulk.insert_rows(Vendor, [{"vendor_id": vendor_id, "name": f"Akademie {vendor_id}",
                               "email": "a@b.de", "enrolled": True,
                               "collection_mode": CollectionMode.APPROVAL.value,
                               "dunning_by": DunningBy.IN_HOUSE.value,
                               "relationship_manager": "", "escalation_channel": "",
                               "content_hash": "", "updated_at": now}])
    bulk.insert_rows(Product, [{"product_id": f"P{vendor_id}", "vendor_id": vendor_id,
                                "name": "Kurs", "dunning_enabled": True, "checkout_url": "",
                                "content_hash": "", "updated_at": now}])
    bulk.insert_rows(Buyer, [{"buyer_id": f"B{vendor_id}", "email": "b@c.de",
                              "email_normalized": "", "first_name": "", "last_name": "",
                              "street": "", "house_number": "", "postcode": "", "city": "",
                              "country": "", "last_order_at": None, "content_hash": "",
                              "updated_at": now}])

    def letters(state: str) -> tuple[date | None, date | None]:
        if state in ("on_hold", "approved", "sent_for_collection"):
            return FIRST, SECOND
        if state in ("dunning", "paid", "blocked"):
            return FIRST, None
        return None, None

    for start in range(0, len(states), 20000):
        ids = range(start, min(len(states), start + 20000))
        bulk.insert_rows(Order, [{
            "order_id": f"{prefix}{i:07d}", "vendor_id": vendor_id,
            "product_id": f"P{vendor_id}", "buyer_id": f"B{vendor_id}",
            "buyer_email": "b@c.de", "buyer_email_normalized": "b@c.de",
            "buyer_first_name": "Erika", "buyer_last_name": "Muster",
            "street": "" if i % 97 == 0 else "Hauptstraße", "house_number": "1",
            "postcode": "50667", "city": "Köln", "country": "DE", "payment_type": "one_time",
            "amount_total": Decimal("300.00"), "currency": "EUR",
            "installments_total": None, "installments_paid": None, "created_at": created,
            "sales_agent": "", "first_invoice_number": "", "content_hash": "",
            "updated_at": now} for i in ids])
        bulk.insert_rows(DebtCase, [{
            "order_id": f"{prefix}{i:07d}", "vendor_id": vendor_id, "state": states[i],
            "trigger": "one_time_chargeback",
            "open_amount": Decimal("0.00") if states[i] == "paid" else Decimal("300.00"),
            "currency": "EUR", "pursue": True, "first_invoice_number": "",
            "first_dunning_letter": letters(states[i])[0],
            "second_dunning_letter": letters(states[i])[1],
            "offer_link": "https://checkout.example/p/1?token=x",
            "incasso_date": TAKEN if states[i] == "sent_for_collection" else None,
            "reopened": False, "reopened_id": "", "invalid_address_computed": i % 97 == 0,
            "address_problems": "street" if i % 97 == 0 else "",
            "invalid_address_override": None, "invalid_address_set_by": "",
            "block_reason": "Anwaltsschreiben" if states[i] == "blocked" else "",
            "blocked_from_state": "dunning" if states[i] == "blocked" else "",
            "opened_at": created + timedelta(days=30), "cycle": 1,
            "cycle_started_at": created + timedelta(days=30), "updated_at": now} for i in ids])
    pks = dict(DebtCase.objects.filter(vendor_id=vendor_id).values_list("order_id", "pk"))
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    earlier: list[int] = []
    for order_id, pk in pks.items():
        i = int(order_id[1:])
        for level, day in enumerate(letters(states[i]), start=1):
            if day:
                rows.append({"case_id": pk, "cycle": 1, "level": level, "run_id": None,
                             "template": ("first", "second")[level - 1],
                             "handover_column": ("first_dunning_letter",
                                                 "second_dunning_letter")[level - 1],
                             "dispatched_on": day,
                             "letter_date": day, "deadline": day, "language": "de",
                             "principal": Decimal("300.00"), "fees": Decimal("0"),
                             "interest": Decimal("0"), "currency": "EUR",
                             "offer_link": "https://x.example", "subject": "Mahnung",
                             "body_html": "", "body_text": "", "created_at": now})
        if i % 25 == 0:
            notes.append({"case_id": pk, "visibility": "shared", "author": "anna",
                          "text": "Käufer hat angerufen, zahlt nach Gehaltseingang",
                          "created_at": now})
        if i % 40 == 0:
            notes.append({"case_id": pk, "visibility": "internal", "author": "anna",
                          "text": "nur intern: Vendor ist schwierig", "created_at": now})
        if states[i] == "sent_for_collection":
            earlier.append(pk)
    for start in range(0, len(rows), 20000):
        bulk.insert_rows(Letter, rows[start:start + 20000])
    bulk.insert_rows(CaseNote, notes)
    if earlier:
        handover = Handover.objects.create(
            vendor_id=vendor_id, partner=partner, file_name=f"{vendor_id}.csv", content=b"",
            sha256="", rows=len(pks), handed_over=len(earlier), created_by="bench")
        bulk.insert_rows(HandoverItem, [{"handover_id": handover.pk, "case_id": pk,
                                         "handed_over": True,
                                         "incasso_state": "sent_for_collection"}
                                        for pk in earlier])


def timed_parts(module: Any, names: tuple[str, ...], parts: dict[str, float]) -> None:
    """Wrap ``module.<name>`` so that its wall time adds up in ``parts[name]``."""
    for name in names:
        original: Callable[..., Any] | None = getattr(module, name, None)
        if original is None:  # another version of the module
            continue

        def wrapper(*args: Any, _original: Callable[..., Any] = original, _name: str = name,
                    **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                parts[_name] = parts.get(_name, 0.0) + time.perf_counter() - start

        setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000,
                        help="cases of the exported vendor's master list (default 100,000)")
    parser.add_argument("--approved", type=int, default=10, choices=range(0, 101),
                        metavar="PERCENT",
                        help="share of those cases that are approved and handed over "
                             "(default 10; 50 is the old every-other-case mix)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the file the validator checks (default 1,000,000)")
    parser.add_argument("--report-rows", type=int, default=100_000,
                        help="rows of the agency report (default 100,000)")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on a fresh database mahnwerk_bench on this PostgreSQL server "
                             "(e.g. postgres://postgres@127.0.0.1:5432/test) instead of SQLite")
    args = parser.parse_args()
    setup(args.postgres)
    from mahnwerk import bulk
    from mahnwerk.collection import reports, services
    from mahnwerk.collection.handover_format import check_file, format_row, write_csv
    from mahnwerk.collection.models import CollectionPartner, HandoverItem

    print(f"building {args.cases:,} cases ({args.approved} % approved) and the filler for a "
          f"report of {args.report_rows:,} rows ...", flush=True)
    start = time.perf_counter()
    counts = build(args.cases, args.approved, args.report_rows)
    print(f"built in {time.perf_counter() - start:.0f} s: "
          + ", ".join(f"{state} {count:,}" for state, count in sorted(counts.items())),
          flush=True)

    parts: dict[str, float] = {}
    timed_parts(services, ("_plain_rows", "_shared_notes", "_file_rows", "write_csv",
                           "check_bytes", "_lock_unchanged", "change_cases"), parts)
    insert_rows = bulk.insert_rows

    def insert_timed(model: Any, rows: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        insert_rows(model, rows, **kwargs)
        if model is HandoverItem:
            parts["items"] = parts.get("items", 0.0) + time.perf_counter() - start

    bulk.insert_rows = insert_timed  # type: ignore[assignment]
    start = time.perf_counter()
    result = services.export_handover(vendor_id=VENDOR, actor="bench")
    seconds = time.perf_counter() - start
    print(f"export: {result.handover.rows:,} rows, {len(result.handed_over):,} handed over, "
          f"{len(result.held_back):,} held back in {seconds:.2f} s "
          f"({result.handover.rows / seconds:,.0f} rows/s); {peak_rss()}", flush=True)
    file_part = sum(parts.get(n, 0.0) for n in ("_plain_rows", "_shared_notes", "_file_rows",
                                                "write_csv", "check_bytes"))
    state_part = parts.get("_lock_unchanged", 0.0) + parts.get("change_cases", 0.0)
    items_part = parts.get("items", 0.0)
    print(f"  reading, writing and checking the file {file_part:.2f} s "
          f"(read {parts.get('_plain_rows', 0.0) + parts.get('_shared_notes', 0.0):.2f}, "
          f"rows {parts.get('_file_rows', 0.0):.2f}, csv {parts.get('write_csv', 0.0):.2f}, "
          f"check {parts.get('check_bytes', 0.0):.2f}); handover rows {items_part:.2f} s; "
          f"case changes (lock, update, events) {state_part:.2f} s; "
          f"other {seconds - file_part - state_part - items_part:.2f} s", flush=True)

    rows = (format_row(vendor_id=VENDOR, order_id=f"X{i:07d}",
                       first_dunning_letter=FIRST, second_dunning_letter=SECOND,
                       incasso_date=TAKEN, support_comment="Käufer hat nicht reagiert",
                       status_support="Freigabe",
                       offer_link="https://checkout.example/p/1?token=abc",
                       incasso_state="sent_for_collection", reopened=False,
                       invalid_address=False) for i in range(args.rows))
    big = OUT / f"{VENDOR}.csv"
    big.write_bytes(write_csv(rows))
    start = time.perf_counter()
    report = check_file(big)
    seconds = time.perf_counter() - start
    print(f"validator: {report.rows:,} rows in {seconds:.2f} s "
          f"({report.rows / seconds:,.0f} rows/s); problems: {len(report.problems)}; "
          f"{peak_rss()}", flush=True)

    partner = CollectionPartner.objects.get(name="Diagonal")
    with_agency = list(HandoverItem.objects.filter(handed_over=True, handover__partner=partner)
                       .order_by("case__order_id")
                       .values_list("case__order_id", flat=True)[:args.report_rows])
    path = OUT / "diagonal-report.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("order_id,agency_reference,takeover_date,status,collected_amount,"
                     "collected_at,comment\n")
        for i, order_id in enumerate(with_agency):
            amount = "100.00" if i % 3 == 0 else "0.00"
            handle.write(f"{order_id},AZ-{i},{TAKEN.isoformat()},open,{amount},2025-09-20,\n")
    start = time.perf_counter()
    applied = reports.import_report(path=path, partner=partner, actor="bench")
    seconds = time.perf_counter() - start
    print(f"agency report: {applied.report.rows:,} rows, {applied.applied:,} applied in "
          f"{seconds:.2f} s ({applied.report.rows / seconds:,.0f} rows/s); {peak_rss()}",
          flush=True)


if __name__ == "__main__":
    main()
