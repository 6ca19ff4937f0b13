"""Benchmark: how Mahnwerk grows, on PostgreSQL, at 100,000, 1,000,000 and 10,000,000 orders.

    .venv/bin/python bench/scaling_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x
        [--sizes 100000 1000000 10000000] [--execute 20000] [--repeat 5] [--keep]

For each size N (orders; 10 % of them with a debt, half of those with a part payment, as the
platform's export looks):

1. writes the platform export (bench/platform_export.py: N orders, N/10 incidents, N/20
   payments) to bench/out/scale-N/;
2. builds the database ``mahnwerk_scale_N`` afresh and imports the five files with
   ``mahnwerk import`` as support runs it, one process per file (wall and CPU time of each);
3. decides: ``dunning.services.plan`` over every open case (the facts query and the pure
   ``decide``), then a run created and decided (``start_run``: the decisions written);
4. executes ``--execute`` of that run's decisions in this process, without a broker (the same
   batch code a Celery worker runs: bench/run_workers_benchmark.py measures the workers), and
   prints letters per second: the part of execute that could grow with the size of the tables;
5. asks the case list (first page, filtered and sorted, a search) and the Übersicht (cold and
   kept) as support through Django's test client, ``--repeat`` times each after a warm-up;
6. prints a row per size and writes every figure to bench/out/scaling.json.

The curve, with the load and calibration of the machine, goes into docs/benchmarks.md by hand;
docs/scaling.md reads it. ``--keep`` keeps the databases (a 10,000,000-order database takes
about 10 GB). Only PostgreSQL: SQLite is the embedded set-up for one person, not what grows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import _common
from _common import OUT, calibration

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ["vendors", "products", "orders", "incidents", "payments"]
AS_OF = date(2026, 11, 2)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_files(export: Path, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """``mahnwerk import FEED FILE`` for each feed, as support runs it: wall and CPU seconds."""
    figures = {}
    for feed in FEEDS:
        started, cpu = time.perf_counter(), children_cpu()
        subprocess.run([sys.executable, "-m", "mahnwerk", "import", feed,
                        str(export / f"{feed}.csv")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        figures[feed] = {"wall": time.perf_counter() - started, "cpu": children_cpu() - cpu}
        print(f"  import {feed}: {figures[feed]['wall']:.1f} s wall, "
              f"{figures[feed]['cpu']:.1f} s CPU", flush=True)
    return figures


def timed(label: str, work) -> tuple[float, float, object]:
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU of this process", flush=True)
    return wall, cpu, result


def measure_size(orders: int, *, server: str, execute: int, repeat: int) -> dict:
    from platform_export import write

    export = OUT / f"scale-{orders}"
    if not (export / "payments.csv").exists():
        started = time.perf_counter()
        write(export, orders=orders, incidents=orders // 10, payments=orders // 20, seed=1)
        print(f"  export written in {time.perf_counter() - started:.0f} s", flush=True)
    database = f"mahnwerk_scale_{orders}"
    _common.setup(server, sqlite=OUT / "unused.sqlite3", database=database)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MAHNWERK_LOG_LEVEL": "WARNING"}
    figures: dict = {"orders": orders, "import": import_files(export, env)}
    figures["import_total"] = sum(f["wall"] for f in figures["import"].values())

    from django.db import connection

    from mahnwerk.cases.models import CaseEvent, DebtCase
    from mahnwerk.dunning import reasons as why
    from mahnwerk.dunning import services

    figures["cases"] = DebtCase.objects.count()
    figures["events"] = CaseEvent.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        figures["database_bytes"] = cursor.fetchone()[0]
    print(f"  {figures['cases']:,} cases, {figures['events']:,} events, database "
          f"{figures['database_bytes'] / 2**30:.1f} GiB", flush=True)

    wall, cpu, planned = timed("decide (plan over every open case)",
                               lambda: sum(1 for _ in services.plan(as_of=AS_OF)))
    figures["decide"] = {"wall": wall, "cpu": cpu, "cases": planned}
    wall, cpu, run = timed("run created and decided (decisions written)",
                           lambda: services.start_run(as_of=AS_OF, actor="bench"))
    figures["run_decided"] = {"wall": wall, "cpu": cpu, "decisions": run.total}
    sending = run.decisions.filter(action="send").count()
    limit = min(execute, run.total)
    wall, cpu, _ = timed(f"execute {limit:,} of {run.total:,} decisions ({sending:,} letters "
                         "in the run)",
                         lambda: services.execute_run(run=run, actor="bench", stop_after=limit))
    run.refresh_from_db()
    letters = run.decisions.filter(executed_at__isnull=False, outcome_code=why.QUEUED).count()
    figures["execute"] = {"wall": wall, "cpu": cpu, "decisions": limit, "letters": letters,
                          "letters_per_second": letters / wall if wall else 0}
    print(f"  execute: {letters:,} letters, {letters / wall:,.0f} letters/s", flush=True)

    from django.core.cache import cache

    client = _common.support_client()
    pages = [("Übersicht, cold", "/uebersicht/", cache.clear),
             ("Übersicht, kept", "/uebersicht/", None),
             ("Fälle, first page", "/faelle/", None),
             ("Fälle, filtered and sorted", "/faelle/?state=active&sort=-open_amount", None),
             ("Fälle, search by name", "/faelle/?q=fischer", None)]
    figures["pages"] = {}
    for title, url, before in pages:
        if before is None:
            client.get(url)
        page = _common.measure(client, url, repeat, before=before)
        figures["pages"][title] = page._asdict()
        print(f"  {title:<28} {page.median:>6.0f} ms median, {page.slowest:>6.0f} ms slowest, "
              f"{page.queries} queries", flush=True)
    connection.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", required=True,
                        help="a PostgreSQL server's URL (its database name is not used)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--execute", type=int, default=20_000,
                        help="decisions of each run to execute (default 20,000)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    results = []
    for orders in args.sizes:
        print(f"{orders:,} orders; {calibration()}", flush=True)
        results.append(measure_size(orders, server=args.postgres, execute=args.execute,
                                    repeat=args.repeat))
        results[-1]["calibration"] = calibration()
        if not args.keep:
            import psycopg

            server = args.postgres.rstrip("/").rsplit("/", 1)[0]
            with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS mahnwerk_scale_{orders} WITH (FORCE)")
    (OUT / "scaling.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\n{'orders':>11} {'cases':>9} {'import':>8} {'decide':>8} {'letters/s':>9} "
          f"{'Fälle':>7} {'Übersicht cold':>14} {'kept':>6}")
    for row in results:
        pages = row["pages"]
        print(f"{row['orders']:>11,} {row['cases']:>9,} {row['import_total']:>7.0f}s "
              f"{row['decide']['wall']:>7.1f}s {row['execute']['letters_per_second']:>9,.0f} "
              f"{pages['Fälle, first page']['median']:>5.0f}ms "
              f"{pages['Übersicht, cold']['median']:>12.0f}ms "
              f"{pages['Übersicht, kept']['median']:>4.0f}ms")
    print(f"figures in {OUT / 'scaling.json'}")


if __name__ == "__main__":
    main()
