"""Benchmark: executing a run over Celery workers against its floor (issue 12, point 3).

    .venv/bin/python bench/run_workers_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x
                     [--cases 100000] [--workers 1 2] [--redis redis://127.0.0.1:6379/7]
    .venv/bin/python bench/run_workers_benchmark.py            # the same on SQLite (bench/out/)

1. builds a fresh database (PostgreSQL ``runs_bench``, or bench/out/run_workers.sqlite3) with
   ``--cases`` open debts whose first letter is due (5 % of the buyers without e-mail: the print
   queue), and decides a run over them (``services.start_run``; its time is
   bench/dunning_benchmark.py's business);
2. executes the run with 1, then 2 ``celery -A mahnwerk worker --pool solo`` processes against
   Redis (a queue of the benchmark's own): the clock runs from handing the batches over
   (``services.execute_run(enqueue=tasks.enqueue_batches)``) until the run is done;
3. the floor: the same rows (offer-link code, letter, outbox message, case event; the case's
   update and the decision's mark, the run's progress per batch) written with plain
   ``executemany`` in batches of MAHNWERK_RUN_BATCH, one transaction each, from the rows the
   real execute wrote (their texts included), in this process;
4. prints wall time, letters per second, the CPU time of the workers (and of this process for
   the floor) and each execute's ratio to the floor. Between the measurements every row the
   execute wrote is removed and the cases are put back as they were (the run decided again).

Target (issue 12): execute within 3 times the floor. The machine is shared: note the load.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _common import OUT, SRC, calibration, setup

AS_OF = date(2026, 11, 2)
QUEUE = "mahnwerk-bench-runs"
TABLES = ("cases_linkcode", "dunning_letter", "dunning_outboxmessage", "cases_caseevent",
          "cases_casenote", "dunning_vendortask")


def build(cases: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from mahnwerk import bulk
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.intake.models import Buyer, CollectionMode, DunningBy, Order, Product, Vendor

    rng = random.Random(12)
    now = timezone.now()
    vendors = max(10, cases // 1000)
    base = datetime(2026, 6, 1, tzinfo=timezone.get_current_timezone())
    with transaction.atomic():
        bulk.insert_rows(Vendor, [{
            "vendor_id": f"V{v}", "name": f"Vendor {v}", "email": f"v{v}@example.com",
            "enrolled": True, "collection_mode": CollectionMode.APPROVAL.value,
            "dunning_by": DunningBy.IN_HOUSE.value, "relationship_manager": "",
            "escalation_channel": "", "content_hash": "", "updated_at": now}
            for v in range(vendors)])
        bulk.insert_rows(Product, [{
            "product_id": f"P{p}", "vendor_id": f"V{p // 5}", "name": f"Kurs {p}",
            "dunning_enabled": True, "checkout_url": f"https://checkout.example/p/P{p}",
            "content_hash": "", "updated_at": now} for p in range(vendors * 5)])
        for start in range(0, cases, 20000):
            bulk.insert_rows(Buyer, [{
                "buyer_id": f"B{b}", "email": "" if b % 20 == 0 else f"b{b}@example.org",
                "email_normalized": "" if b % 20 == 0 else f"b{b}@example.org",
                "first_name": "Erika", "last_name": f"Muster{b}", "street": "Hauptstraße",
                "house_number": "1", "postcode": "50667", "city": "Köln", "country": "DE",
                "last_order_at": None, "content_hash": "", "updated_at": now}
                for b in range(start, min(cases, start + 20000))])
            orders, debts = [], []
            for o in range(start, min(cases, start + 20000)):
                p = rng.randrange(vendors * 5)
                email = "" if o % 20 == 0 else f"b{o}@example.org"
                orders.append({
                    "order_id": f"O{o}", "vendor_id": f"V{p // 5}", "product_id": f"P{p}",
                    "buyer_id": f"B{o}", "buyer_email": email, "buyer_email_normalized": email,
                    "buyer_first_name": "Erika", "buyer_last_name": f"Muster{o}",
                    "street": "Hauptstraße", "house_number": "1", "postcode": "50667",
                    "city": "Köln", "country": "DE", "payment_type": "installments",
                    "amount_total": Decimal("600.00"), "currency": "EUR",
                    "installments_total": 6, "installments_paid": 2,
                    "created_at": base + timedelta(minutes=o % 40000), "sales_agent": "",
                    "first_invoice_number": f"RE{o}", "content_hash": "", "updated_at": now})
                opened = base + timedelta(days=60 + rng.randrange(60))
                debts.append({
                    "order_id": f"O{o}", "vendor_id": f"V{p // 5}", "state": "open",
                    "trigger": "stopped_installments",
                    "open_amount": Decimal(rng.choice(["49.00", "99.00", "300.00"])),
                    "currency": "EUR", "pursue": True, "first_invoice_number": f"RE{o}",
                    "first_dunning_letter": None, "second_dunning_letter": None,
                    "offer_link": "", "incasso_date": None, "reopened": False,
                    "reopened_id": "", "invalid_address_computed": False,
                    "address_problems": "", "invalid_address_override": None,
                    "invalid_address_set_by": "", "block_reason": "",
                    "blocked_from_state": "", "opened_at": opened, "cycle": 1,
                    "cycle_started_at": opened, "updated_at": now,
                    "buyer_last_name": f"Muster{o}", "buyer_first_name": "Erika",
                    "search_text": f"o{o} re{o} erika muster{o}"})
            bulk.insert_rows(Order, orders)
            bulk.insert_rows(DebtCase, debts)


class Baseline:
    """What the database held once the run was decided: the rows an execute writes are
    removed again, the cases and the run put back."""

    def __init__(self, run) -> None:
        from django.db import connection

        self.run = run
        with connection.cursor() as cursor:
            self.max_ids = {}
            for table in TABLES:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                self.max_ids[table] = cursor.fetchone()[0]
            cursor.execute("DROP TABLE IF EXISTS bench_case_snapshot")
            cursor.execute("CREATE TABLE bench_case_snapshot AS SELECT * FROM cases_debtcase")

    def restore(self) -> None:
        from django.db import connection, transaction

        from mahnwerk.cases.models import DebtCase
        from mahnwerk.dunning.models import DunningRun, RunDecision, RunState

        columns = [f.column for f in DebtCase._meta.concrete_fields if not f.primary_key]
        with transaction.atomic(), connection.cursor() as cursor:
            for table in ("dunning_outboxmessage", "dunning_letter", "cases_linkcode",
                          "cases_caseevent", "cases_casenote", "dunning_vendortask"):
                cursor.execute(f"DELETE FROM {table} WHERE id > %s", [self.max_ids[table]])
            sets = ", ".join(f"{c} = s.{c}" for c in columns)
            cursor.execute(f"UPDATE cases_debtcase SET {sets} FROM bench_case_snapshot s "
                           "WHERE cases_debtcase.id = s.id")
            RunDecision.objects.filter(run=self.run).update(executed_at=None, outcome_code="",
                                                           outcome_params={})
            DunningRun.objects.filter(pk=self.run.pk).update(
                state=RunState.DECIDED, done=0, outcomes={}, worker="", heartbeat_at=None,
                lock="active", finished_at=None, executed_at=None, failed_at=None,
                failed_order="", failure="")
        vacuum()
        self.run.refresh_from_db()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_workers(count: int, redis: str) -> list[subprocess.Popen]:
    env = {**os.environ, "CELERY_BROKER_URL": redis, "PYTHONPATH": str(SRC),
           "MAHNWERK_RUN_QUEUE": QUEUE}
    workers = []
    for n in range(count):
        log = OUT / f"run-worker-{n}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mahnwerk", "worker", "-n", f"bench{n}@%h",
             "-Q", QUEUE, "--pool", "solo", "--prefetch-multiplier", "1", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "warning"],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=SRC.parent)
        workers.append(process)
    time.sleep(1)
    from mahnwerk.celery import app

    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1.0)) < count:
        for process in workers:
            assert process.poll() is None, "a worker stopped; see bench/out/run-worker-*.log"
        assert time.monotonic() < deadline, "the workers never answered"
    return workers


def execute_with_workers(run, count: int, redis: str) -> tuple[float, float, int]:
    """Wall seconds from handing the batches over until the run is done, the workers' CPU
    seconds, and the letters written."""
    from mahnwerk.dunning import services, tasks
    from mahnwerk.dunning.models import DunningRun, Letter, RunState

    workers = start_workers(count, redis)
    try:
        cpu_before = sum(cpu_seconds(w.pid) for w in workers)
        started, started_cpu = time.perf_counter(), time.process_time()
        services.execute_run(run=run, actor="bench", enqueue=tasks.enqueue_batches)
        last = -1
        while True:
            state, done, failure = DunningRun.objects.filter(pk=run.pk).values_list(
                "state", "done", "failure").get()
            if state == RunState.DONE:
                break
            if failure:
                raise SystemExit(f"the run failed: {failure}")
            if done // 10000 != last:
                last = done // 10000
                print(f"    {done:,} of {run.total:,} decisions executed "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before \
            + time.process_time() - started_cpu
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=60)
    return seconds, cpu, Letter.objects.filter(run=run).count()


def floor(run, batch_size: int) -> tuple[float, float, int]:
    """The same rows as the real execute wrote, written back with plain executemany: read them
    first (outside the clock), put the database back, then write them batch by batch."""
    from django.db import connection, transaction
    from django.utils import timezone

    from mahnwerk.cases.models import CaseEvent, DebtCase, LinkCode
    from mahnwerk.dunning.models import DunningRun, Letter, OutboxMessage, RunDecision

    def rows(model, **where):
        fields = [f for f in model._meta.concrete_fields]
        values = []
        for obj in model.objects.filter(**where).order_by("pk").iterator(chunk_size=5000):
            values.append([f.get_db_prep_save(getattr(obj, f.attname), connection)
                           for f in fields])
        return [f.column for f in fields], values

    base = RESTORE.max_ids
    tables = {}
    for model, table in ((LinkCode, "cases_linkcode"), (Letter, "dunning_letter"),
                         (OutboxMessage, "dunning_outboxmessage"),
                         (CaseEvent, "cases_caseevent")):
        tables[table] = rows(model, pk__gt=base[table])
    decisions = list(RunDecision.objects.filter(run=run).order_by("id").values_list(
        "id", "case_id", "outcome_code", "outcome_params"))
    changed = {c.pk: c for c in DebtCase.objects.filter(
        pk__in=[d[1] for d in decisions])}
    case_rows = [[c.state, c.offer_link, c.pursue, c.updated_at] for c in changed.values()]
    RESTORE.restore()
    by_case = {table: {} for table in tables}
    for table, (columns, values) in tables.items():
        at = columns.index("case_id")
        for row in values:
            by_case[table].setdefault(row[at], []).append(row)
    cases_of = {case.pk: row for case, row in zip(changed.values(), case_rows, strict=True)}

    def insert(cursor, table: str, columns: list[str], values: list) -> None:
        if values:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                               f"({', '.join(['%s'] * len(columns))})", values)

    written = 0
    started, started_cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(decisions), batch_size):
        batch = decisions[start:start + batch_size]
        with transaction.atomic(), connection.cursor() as cursor:
            for table in ("cases_linkcode", "dunning_letter", "dunning_outboxmessage",
                          "cases_caseevent"):
                columns, _values = tables[table]
                values = [row for d in batch for row in by_case[table].get(d[1], ())]
                insert(cursor, table, columns, values)
                written += len(values) if table == "dunning_letter" else 0
            cursor.executemany(
                "UPDATE cases_debtcase SET state = %s, offer_link = %s, pursue = %s, "
                "updated_at = %s WHERE id = %s",
                [[*[DebtCase._meta.get_field(n).get_db_prep_save(v, connection) for n, v in
                    zip(("state", "offer_link", "pursue", "updated_at"), cases_of[d[1]],
                        strict=True)], d[1]] for d in batch])
            now = timezone.now()
            field = RunDecision._meta.get_field
            cursor.executemany(
                "UPDATE dunning_rundecision SET executed_at = %s, outcome_code = %s, "
                "outcome_params = %s WHERE id = %s",
                [[field("executed_at").get_db_prep_save(now, connection), d[2],
                  field("outcome_params").get_db_prep_save(d[3], connection), d[0]]
                 for d in batch])
            DunningRun.objects.filter(pk=run.pk).update(done=start + len(batch),
                                                        heartbeat_at=now)
    return time.perf_counter() - started, time.process_time() - started_cpu, written


RESTORE: Baseline


def main() -> None:
    global RESTORE
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL server's URL (its database name is "
                                           "not used: the benchmark's is runs_bench)")
    parser.add_argument("--database", default="runs_bench")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--in-process", action="store_true",
                        help="execute in this process instead of workers (to profile it: "
                             "py-spy record -f raw -o out.txt -- .venv/bin/python ...)")
    args = parser.parse_args()
    os.environ["CELERY_BROKER_URL"] = args.redis
    os.environ["MAHNWERK_RUN_QUEUE"] = QUEUE
    setup(args.postgres, sqlite=OUT / "run_workers.sqlite3", database=args.database)
    from django.conf import settings
    from django.db import connection

    from mahnwerk.dunning import services

    print(calibration(), flush=True)
    print(f"building {args.cases:,} due cases on {connection.vendor} ...", flush=True)
    started = time.perf_counter()
    build(args.cases)
    vacuum()
    print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    run = services.start_run(as_of=AS_OF, actor="bench")
    print(f"  decided in {time.perf_counter() - started:.1f} s: {run.counts}", flush=True)
    RESTORE = Baseline(run)
    import redis

    broker = redis.Redis.from_url(args.redis)
    results = {}
    if args.in_process:
        started, started_cpu = time.perf_counter(), time.process_time()
        services.execute_run(run=run, actor="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        results[0] = seconds
        print(f"  in this process: {run.total:,} decisions in {seconds:.1f} s "
              f"({run.total / seconds:,.0f}/s); CPU {cpu:.1f} s", flush=True)
        args.workers = []
    for count in args.workers:
        broker.delete(QUEUE, "celery")
        print(f"execute with {count} worker(s) ...", flush=True)
        seconds, cpu, letters = execute_with_workers(run, count, args.redis)
        results[count] = seconds
        print(f"  {letters:,} letters in {seconds:.1f} s ({letters / seconds:,.0f} letters/s); "
              f"CPU of the workers {cpu:.1f} s; {os.getloadavg()[0]:.1f} load", flush=True)
        if count != args.workers[-1]:
            RESTORE.restore()
    broker.delete(QUEUE, "celery")
    print("floor (plain executemany of the same rows) ...", flush=True)
    seconds, cpu, letters = floor(run, settings.MAHNWERK_RUN_BATCH)
    print(f"  {letters:,} letters in {seconds:.1f} s ({letters / seconds:,.0f} letters/s); "
          f"CPU of this process {cpu:.1f} s; {os.getloadavg()[0]:.1f} load", flush=True)
    for count, taken in results.items():
        print(f"execute with {count or 'no'} worker(s): {taken / seconds:.1f} times the floor")
    print(calibration())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
