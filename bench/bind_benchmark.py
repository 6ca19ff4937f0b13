"""Benchmark: 50 upserts of buyers on PostgreSQL, bound on the client or on the server.

    .venv/bin/python bench/bind_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x \\
        [--database bind_bench] [--rows 50] [--repeat 100]

Why ``mahnwerk.bulk`` sends its ``executemany`` through a server-binding cursor (Django's
psycopg cursors bind on the client): builds a fresh database with Mahnwerk's tables, then runs
the same ``INSERT ... ON CONFLICT ... DO UPDATE`` of ``--rows`` buyers ``--repeat`` times through
psycopg's ``ClientCursor`` and its ``Cursor``, three rounds each, in one transaction that is
rolled back, and prints the wall time and the server backend's CPU time (from ``/proc``: the
server must run on this machine) per ``executemany``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

COLUMNS = ["buyer_id", "email", "email_normalized", "first_name", "last_name", "street",
           "house_number", "postcode", "city", "country", "last_order_at", "content_hash",
           "updated_at"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a PostgreSQL server's URL")
    parser.add_argument("--database", default="bind_bench")
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    import psycopg

    server = args.postgres.rstrip("/").rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database}")
        admin.execute(f"CREATE DATABASE {args.database}")
    url = f"{server}/{args.database}"
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "mahnwerk", "migrate", "-v0"], check=True,
                   env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(root / "src")})
    sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    sql = (f"INSERT INTO intake_buyer ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (buyer_id) DO UPDATE "
           f"SET {sets} WHERE intake_buyer.last_order_at IS NULL "
           "OR excluded.last_order_at >= intake_buyer.last_order_at")
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]

        def server_cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        for round_ in range(3):
            for label, cursor in (("bound on the client", psycopg.ClientCursor(connection)),
                                  ("bound on the server", psycopg.Cursor(connection))):
                cpu, started = server_cpu(), time.perf_counter()
                for k in range(args.repeat):
                    cursor.executemany(sql, [
                        (f"{label[9]}{round_}-{k}-{i}", "a@example.org", "a@example.org",
                         "Erika", "Mustermann", "Heidestraße", "17", "51147", "Köln", "DE",
                         now, "digest", now) for i in range(args.rows)])
                wall = (time.perf_counter() - started) * 1000 / args.repeat
                used = (server_cpu() - cpu) * 1000 / args.repeat
                print(f"round {round_ + 1}, {label}: {wall:5.2f} ms wall, "
                      f"{used:5.2f} ms of the server's CPU per {args.rows} upserts", flush=True)
        connection.rollback()


if __name__ == "__main__":
    main()
