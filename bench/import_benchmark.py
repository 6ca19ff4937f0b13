"""Benchmark: the platform import against the floor of a plain sqlite3 ``executemany``.

    .venv/bin/python bench/import_benchmark.py [--orders 1000000] [--incidents 100000]
                                               [--payments 50000] [--keep] [--reuse-export]
    .venv/bin/python bench/import_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x \
                                               [--database intake_bench] [--reuse-export]

1. writes a synthetic platform export (bench/platform_export.py) to bench/out/export/;
2. imports it into a fresh SQLite database with ``mahnwerk import`` (one process per file, as
   support runs it), timing each file and reading each process's CPU time and peak RSS, and
   those of its second process (the reader of a large file) apart;
3. loads the same rows into the same tables of another fresh database with nothing but
   ``sqlite3.executemany`` (the floor: no checks, no buyers, no cases, no events); with
   ``--postgres``, the import goes into PostgreSQL and the floor is psycopg's plain ``COPY``;
4. prints rows per second, peak memory and the ratio to the floor.

Targets (issue 2, on the 2-core machine): the full import within 60 s, peak RSS under 300 MB,
within 3x of the floor. Results go into docs/benchmarks.md by hand, with this command.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
FEEDS = ["vendors", "products", "orders", "incidents", "payments"]
TABLES = {"vendors": "intake_vendor", "products": "intake_product", "orders": "intake_order",
          "incidents": "intake_incident", "payments": "intake_payment"}
sys.path.insert(0, str(HERE))

from platform_export import write  # noqa: E402

#: ``mahnwerk ARGS`` run so that it says its own CPU time and its children's (the second
#: process that reads a large file beside the writer) apart, in the file BENCH_CPU_FILE.
_TIMED = """
import os, resource, sys
from mahnwerk.cli import main
try:
    main(["mahnwerk", *sys.argv[1:]])
finally:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["BENCH_CPU_FILE"], "w") as out:
        out.write(f"{own.ru_utime + own.ru_stime} {kids.ru_utime + kids.ru_stime} "
                  f"{own.ru_maxrss} {kids.ru_maxrss}")
"""


class Run(NamedTuple):
    wall: float
    peak_mb: int  # the writer's peak RSS
    cpu: float  # the writer's CPU time (user + system)
    reader_cpu: float  # its children's: the reader of a large file
    reader_peak_mb: int


def mahnwerk(*args: str, env: dict[str, str]) -> Run:
    """Run ``mahnwerk ARGS``; return wall seconds, CPU times and peak RSS of the process and
    of its children (the reader process of a large file)."""
    cpu_file = OUT / "cpu.txt"
    cpu_file.parent.mkdir(parents=True, exist_ok=True)
    cpu_file.unlink(missing_ok=True)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", _TIMED, *args],
                               env={**env, "BENCH_CPU_FILE": str(cpu_file)},
                               stdout=subprocess.DEVNULL)
    _pid, status, _usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"mahnwerk {' '.join(args)} failed with status {status}")
    own, kids, own_rss, kids_rss = cpu_file.read_text().split()
    return Run(elapsed, int(own_rss) // 1024, float(own), float(kids), int(kids_rss) // 1024)


def fresh_database(path: Path) -> dict[str, str]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    mahnwerk("migrate", "-v0", env=env)
    return env


def fresh_postgres(server: str, name: str) -> dict[str, str]:
    """The database ``name`` on ``server`` (a PostgreSQL URL without database), dropped,
    created and migrated."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    env = {**os.environ, "DATABASE_URL": f"{server}/{name}"}
    mahnwerk("migrate", "-v0", env=env)
    return env


def _floor_rows(export: Path, feed: str, now: str) -> tuple[list[str], list[list]]:
    """The columns and rows the floor writes for a feed: the file's values as they are, an
    empty digest and one time (and for orders the e-mail in lower case)."""
    with (export / f"{feed}.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = [*header, "content_hash", "updated_at"]
        if feed == "orders":
            columns.append("buyer_email_normalized")
        nullable = {i for i, name in enumerate(header)
                    if name in ("installments_total", "installments_paid")}
        rows = []
        for row in reader:
            values = [None if (i in nullable and v == "") else v for i, v in enumerate(row)]
            values.extend(("", now))
            if feed == "orders":
                values.append(row[4].lower())
            rows.append(values)
    return columns, rows


def floor_postgres(url: str, export: Path) -> dict[str, float]:
    """The same rows into the same tables with psycopg's COPY alone, one transaction."""
    import psycopg

    now = "2026-01-01 00:00:00+00"
    timings = {}
    with psycopg.connect(url) as con, con.cursor() as cursor:
        with (export / "orders.csv").open(encoding="utf-8", newline="") as handle:
            buyers = {row["buyer_id"] for row in csv.DictReader(handle)}
        start = time.perf_counter()
        with cursor.copy("COPY intake_buyer (buyer_id, email, email_normalized, first_name, "
                         "last_name, street, house_number, postcode, city, country, "
                         "content_hash, updated_at) FROM STDIN") as copy:
            for buyer in buyers:
                copy.write_row((buyer, "", "", "", "", "", "", "", "", "", "", now))
        timings["buyers"] = time.perf_counter() - start
        for feed in FEEDS:
            start = time.perf_counter()  # reading the file counts, as in the SQLite floor
            columns, rows = _floor_rows(export, feed, now)
            with cursor.copy(f"COPY {TABLES[feed]} ({', '.join(columns)}) FROM STDIN") as copy:
                for values in rows:
                    copy.write_row(values)
            timings[feed] = time.perf_counter() - start
        start = time.perf_counter()
        con.commit()
        timings["commit"] = time.perf_counter() - start
    return timings


def floor(path: Path, export: Path) -> dict[str, float]:
    """The same rows into the same tables with sqlite3 alone, one transaction."""
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536",
                   "foreign_keys=ON"):
        con.execute(f"PRAGMA {pragma}")
    now = "2026-01-01 00:00:00"
    timings = {}
    con.execute("BEGIN")
    if True:  # buyers must exist for the orders' foreign key; the floor writes them plainly
        with (export / "orders.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            seen = {row["buyer_id"] for row in reader}
        start = time.perf_counter()
        con.executemany("INSERT INTO intake_buyer (buyer_id, email, email_normalized, "
                        "first_name, last_name, street, house_number, postcode, city, country, "
                        "content_hash, updated_at) "
                        "VALUES (?, '', '', '', '', '', '', '', '', '', '', ?)",
                        ((b, now) for b in seen))
        timings["buyers"] = time.perf_counter() - start
    for feed in FEEDS:
        start = time.perf_counter()
        with (export / f"{feed}.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            columns = [*header, "content_hash", "updated_at"]
            if feed == "orders":
                columns.append("buyer_email_normalized")
            sql = (f"INSERT INTO {TABLES[feed]} ({', '.join(columns)}) "
                   f"VALUES ({', '.join('?' * len(columns))})")
            nullable = {i for i, name in enumerate(header)
                        if name in ("installments_total", "installments_paid")}
            batch = []
            for row in reader:
                values = [None if (i in nullable and v == "") else v for i, v in enumerate(row)]
                values.extend(("", now))
                if feed == "orders":
                    values.append(row[4].lower())
                batch.append(values)
                if len(batch) >= 2000:
                    con.executemany(sql, batch)
                    batch = []
            con.executemany(sql, batch)
        timings[feed] = time.perf_counter() - start
    con.execute("COMMIT")
    con.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep bench/out afterwards")
    parser.add_argument("--floor-only", action="store_true",
                        help="only time the floor, on the export left by --keep")
    parser.add_argument("--postgres", default="",
                        help="a PostgreSQL server's URL: import into --database there, and "
                             "time the floor with COPY (the SQLite import is not run)")
    parser.add_argument("--database", default="intake_bench")
    parser.add_argument("--export", type=Path, help="where the export is (bench/out/export)")
    parser.add_argument("--reuse-export", action="store_true",
                        help="use the export bench/out/export left by --keep")
    args = parser.parse_args()
    server = args.postgres.rstrip("/").rsplit("/", 1)[0] if args.postgres else ""

    export = args.export or OUT / "export"
    if args.floor_only:
        floor_db = OUT / "floor.sqlite3"
        fresh_database(floor_db)
        for feed, seconds in floor(floor_db, export).items():
            print(f"  {feed:<10} {seconds:8.1f} s", flush=True)
        return
    print(f"calibration: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
          flush=True)
    if args.reuse_export:
        counts = {feed: sum(1 for _ in (export / f"{feed}.csv").open()) - 1 for feed in FEEDS}
    else:
        print(f"writing the export to {export} ...", flush=True)
        counts = write(export, args.orders, args.incidents, args.payments, seed=1)

    where = f"PostgreSQL ({args.database})" if server else "SQLite"
    print(f"importing into {where} with mahnwerk import ...", flush=True)
    env = (fresh_postgres(server, args.database) if server
           else fresh_database(OUT / "import.sqlite3"))
    ours: dict[str, Run] = {}
    for feed in FEEDS:
        run = ours[feed] = mahnwerk("import", feed, str(export / f"{feed}.csv"),
                                    "--no-progress", env=env)
        reader = (f" + reader {run.reader_cpu:5.1f} s, peak {run.reader_peak_mb} MB"
                  if run.reader_cpu else "")
        print(f"  {feed:<10} {counts[feed]:>9,} rows {run.wall:8.1f} s (CPU {run.cpu:6.1f} s"
              f"{reader}) {counts[feed] / run.wall:>10,.0f} rows/s  peak {run.peak_mb} MB",
              flush=True)

    if server:
        print("floor: plain COPY into the same tables ...", flush=True)
        fresh_postgres(server, args.database)
        plain = floor_postgres(f"{server}/{args.database}", export)
    else:
        print("floor: plain sqlite3 executemany into the same tables ...", flush=True)
        floor_db = OUT / "floor.sqlite3"
        fresh_database(floor_db)
        plain = floor(floor_db, export)
    for feed, seconds in plain.items():
        print(f"  {feed:<10} {seconds:8.1f} s", flush=True)

    total = sum(run.wall for run in ours.values())
    floor_total = sum(plain.values())
    rows = sum(counts[f] for f in FEEDS)
    peak = max(run.peak_mb for run in ours.values())
    cpu = sum(run.cpu for run in ours.values())
    reader_cpu = sum(run.reader_cpu for run in ours.values())
    print()
    print(f"import: {rows:,} rows in {total:.1f} s ({rows / total:,.0f} rows/s; CPU time "
          f"{cpu:.1f} s, readers {reader_cpu:.1f} s), peak RSS {peak} MB; load average now "
          f"{os.getloadavg()[0]:.1f}")
    print(f"floor:  {floor_total:.1f} s; ratio {total / floor_total:.2f}x")
    print(f"targets: within 60 s {'met' if total <= 60 else 'MISSED'}; "
          f"under 300 MB {'met' if peak < 300 else 'MISSED'}; "
          f"within 3x {'met' if total <= 3 * floor_total else 'MISSED'}")
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
