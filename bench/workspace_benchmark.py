"""Benchmark: the workspace at 100,000 cases and 1,000,000 orders (issue 10's targets).

    .venv/bin/python bench/workspace_benchmark.py [--quick] [--cases 100000] [--orders 1000000]
        [--vendors 200] [--repeat 15] [--reuse] [--postgres postgres://user@host:5432/DBNAME]

1. builds a fresh database with ``dashboard_benchmark.build`` (``--vendors`` vendors, the
   orders, the cases in a master list's mix of states with their search column, a run on the
   1st of each of the last twelve months with its letters, payments over every channel), then
   adds what the case page and *Freigaben* show: a timeline (the case opened, each letter, each
   payment) for every case, a request to the vendor for every two cases waiting for approval
   (some reminded, some escalated) and a few notes on the case measured; ``--reuse`` keeps the
   database of an earlier run (only migrating it) to measure again after a change;
2. asks the pages as support through Django's test client, ``--repeat`` times each after one
   warm-up: the Übersicht cold (the figures read from the database, the first request of a
   minute when the schedule has not kept them) and kept; *Fälle* (the first page, a filtered
   and sorted page, sorted by buyer, a search by name and by e-mail); a case page (a case in
   dunning with a letter, a payment, its timeline and notes); *Freigaben* (the first page);
   then the route economics the Übersicht reads cold, alone;
3. prints per page the median and the slowest server time, the median CPU time of this process
   (with SQLite the database's work too, with PostgreSQL without the server's) and the queries
   of one request, with the machine's calibration and load before and after.

Target (issue 10): each page under 150 ms median server time and under 20 queries, on SQLite
and on PostgreSQL. ``--postgres``: the database named in the URL (dropped and built again
unless ``--reuse``); SQLite: bench/out/workspace.sqlite3. ``--quick``: 2,000 cases and 20,000
orders, 5 repeats: a smoke run of the script itself, no figures to keep.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta

import _common
from _common import calibration, peak_rss

DB = _common.OUT / "workspace.sqlite3"


def build_workspace(*, cases: int, orders: int, vendors: int) -> dict[str, int]:
    """The dashboard's data, then timelines, approval requests and notes."""
    from dashboard_benchmark import build
    from django.db import connection, transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase
    from mahnwerk.collection.models import ApprovalRequest
    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import Payment

    counts = build(cases=cases, orders=orders, vendors=vendors)
    rng = random.Random(11)
    now = timezone.now()
    with transaction.atomic():
        events = 0
        rows = []

        def flush() -> None:
            nonlocal rows, events
            bulk.insert_rows(CaseEvent, rows)
            events += len(rows)
            rows = []

        def event(case_id: int, at, kind: str, to_state: str, code: str, params: dict,
                  from_state: str = "") -> None:
            rows.append({"case_id": case_id, "at": at, "effective_on": at.date(), "kind": kind,
                         "actor": "bench", "user_id": None, "from_state": from_state,
                         "to_state": to_state, "code": code, "params": params, "changes": {}})
            if len(rows) >= 20_000:
                flush()

        for pk, opened in DebtCase.objects.values_list("pk", "opened_at"
                                                        ).iterator(chunk_size=20_000):
            event(pk, opened, "opened", "open", "text", {"text": "Fall eröffnet"})
        for case_id, level, day in Letter.objects.values_list("case_id", "level", "letter_date"
                                                              ).iterator(chunk_size=20_000):
            at = timezone.make_aware(datetime.combine(day, datetime.min.time()))
            event(case_id, at, "letter", "dunning", "text", {"text": f"Mahnung {level}"},
                  from_state="open" if level == 1 else "dunning")
        for case_id, paid_at, amount in Payment.objects.filter(
                order__debt_case__isnull=False).values_list(
                "order__debt_case__pk", "paid_at", "amount").iterator(chunk_size=20_000):
            event(case_id, paid_at, "payment", "dunning", "text", {"text": f"Zahlung {amount}"})
        flush()
        # Freigaben: the vendors asked about every two waiting cases, some reminded, some
        # escalated to the relationship manager.
        waiting = list(DebtCase.objects.filter(state="on_hold").order_by("vendor_id", "pk")
                       .values_list("pk", "vendor_id"))
        links = []
        for start in range(0, len(waiting), 2):
            pair = waiting[start:start + 2]
            sent = now - timedelta(days=rng.randrange(1, 60))
            request = ApprovalRequest.objects.create(
                vendor_id=pair[0][1], sent_at=sent,
                reminded_at=sent + timedelta(days=7) if rng.random() < 0.5 else None,
                escalated_at=sent + timedelta(days=14) if rng.random() < 0.2 else None)
            links += [{"approvalrequest_id": request.pk, "debtcase_id": pk}
                      for pk, vendor in pair if vendor == pair[0][1]]
        bulk.insert_rows(ApprovalRequest.cases.through, links)
        counts["approval requests"] = len(range(0, len(waiting), 2))
        case = featured_case()
        for number in range(5):
            CaseNote.objects.create(case=case, visibility="shared" if number % 2 else "internal",
                                    text=f"Käufer angerufen ({number})", author="support",
                                    created_at=now - timedelta(days=number))
    counts["events"] = events
    counts["cases with their steps' days"] = fill_steps()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return counts


def fill_steps() -> int:
    """The days of each case's steps, as the route economics reads them: the first and second
    letter from the letters that left, the handover (``incasso_date``) of a case with the
    agency 14 days after its last letter. Returns the cases changed."""
    from django.db.models import OuterRef, Subquery

    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning.models import Letter

    def left(level: int) -> Subquery:
        return Subquery(Letter.objects.filter(case_id=OuterRef("pk"), level=level,
                                              dispatched_on__isnull=False)
                        .order_by("dispatched_on").values("dispatched_on")[:1])

    changed = DebtCase.objects.update(first_dunning_letter=left(1),
                                      second_dunning_letter=left(2))
    for pk, day in (DebtCase.objects.filter(state="sent_for_collection")
                    .values_list("pk", "second_dunning_letter")):
        if day:
            DebtCase.objects.filter(pk=pk).update(incasso_date=day + timedelta(days=14))
    return changed


def featured_case():
    """The case page measured: a case in dunning with a letter and a payment."""
    from django.db.models import Exists, OuterRef

    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning.models import Letter
    from mahnwerk.intake.models import Payment

    return (DebtCase.objects.filter(state="dunning")
            .filter(Exists(Letter.objects.filter(case=OuterRef("pk"))),
                    Exists(Payment.objects.filter(order=OuterRef("order"))))
            .order_by("pk").first())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 cases, 20,000 orders, 5 repeats (a smoke run)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--vendors", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database an earlier run built (no new build)")
    parser.add_argument("--postgres", help="a PostgreSQL URL naming the benchmark's database "
                                           "(default: SQLite)")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.orders, args.vendors, args.repeat = 2_000, 20_000, 20, 5
    orders = max(args.orders, args.cases)
    database = args.postgres.rstrip("/").rsplit("/", 1)[1] if args.postgres else ""
    reuse = args.reuse and (bool(args.postgres) or DB.exists())
    _common.setup(args.postgres, sqlite=DB, database=database, fresh=not reuse)
    if not reuse:
        started = time.perf_counter()
        counts = build_workspace(cases=args.cases, orders=orders, vendors=args.vendors)
        print(f"built {args.cases:,} cases, {orders:,} orders, "
              + ", ".join(f"{n:,} {name}" for name, n in counts.items())
              + f", {args.vendors} vendors in {time.perf_counter() - started:.0f} s; "
              f"{peak_rss()}", flush=True)

    from django.core.cache import cache
    from django.db import connection

    client = _common.support_client()
    case = featured_case()
    vendor = "V0003"
    pages = [  # (name, URL, before each request)
        ("Übersicht, cold", "/uebersicht/", cache.clear),
        ("Übersicht, kept", "/uebersicht/", None),
        ("Fälle, first page", "/faelle/", None),
        ("Fälle, filtered and sorted",
         f"/faelle/?state=active&vendor={vendor}&age=31-60&sort=-open_amount", None),
        ("Fälle, sorted by buyer", "/faelle/?sort=buyer", None),
        ("Fälle, search by name", "/faelle/?q=zanker", None),
        ("Fälle, search by e-mail", "/faelle/?q=k12345@example", None),
        (f"case page ({case.order_id})", f"/faelle/{case.order_id}/", None),
        ("Freigaben, first page", "/freigaben/", None),
    ]
    name = (f"PostgreSQL {connection.pg_version // 10000}" if connection.vendor == "postgresql"
            else "SQLite")
    print(f"{name}; {calibration()}", flush=True)
    print(f"median / slowest of {args.repeat} after one warm-up; CPU: median of this process "
          "(SQLite: with the database's work)")
    print(f"{'page':<36} {'median':>9} {'slowest':>9} {'CPU':>9} {'queries':>8}")
    for title, url, before in pages:
        if before is None:
            client.get(url)  # kept figures and warm caches, as the page's earlier visitors left
        figures = _common.measure(client, url, args.repeat, before=before)
        print(f"{title:<36} {figures.median:>6.0f} ms {figures.slowest:>6.0f} ms "
              f"{figures.cpu:>6.0f} ms {figures.queries:>8}", flush=True)
    measure_economics(args.repeat)
    print(calibration())
    print(peak_rss())


def measure_economics(repeat: int) -> None:
    """The route economics the Übersicht reads cold (``economics.route_statistics``, the whole
    platform), alone: ``repeat`` times after one warm-up."""
    import statistics

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mahnwerk.collection import economics

    economics.route_statistics()
    times, cpu = [], []
    for _number in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            economics.route_statistics()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    print(f"{'route economics, read alone':<36} {statistics.median(times):>6.0f} ms "
          f"{max(times):>6.0f} ms {statistics.median(cpu):>6.0f} ms {len(queries):>8}",
          flush=True)


if __name__ == "__main__":
    main()
