"""Benchmark: CPU time per intake API request, and what the middleware costs (issue 12, item 4).

    nice -n 19 .venv/bin/python bench/api_cpu_benchmark.py \\
        --postgres postgres://postgres@127.0.0.1:5432/x [--database api_bench] [--keep] \\
        [--orders 20000] [--incidents 4000] [--requests 100] [--batch 50 10 1] [--only-posts]

The latencies of bench/load_benchmark.py say little on a shared machine; CPU time does. This
script seeds a database as load_benchmark.py does (the file import; ``--keep`` reuses the one an
earlier call built), then, in one process with Django's test client (the whole middleware
stack, no network):

1. **the key check and the stack**: ``--requests`` reads of an unknown order
   (``GET /api/v1/orders/<id>``, 404: the middleware, the API key, one query), and the same
   with an empty middleware stack, and with each middleware left out in turn: what each costs;
2. **posts**: for every ``--batch`` size K, ``--requests`` posts of K new orders, and then
   incidents for some of them (opening cases) in the locustfile's mix (one incident post per
   four order posts); for each: CPU time of this process per request and per record, the
   PostgreSQL backend's CPU time (from ``/proc``, when the server runs on this machine), and
   the wall time's 50th/95th/99th percentiles. After each request the connection is kept or
   closed as a real request's end does (``CONN_MAX_AGE``; ``--conn-max-age 0`` for a new
   connection per request).

3. with ``--pages N``: the case list (``/faelle/`` and ``/faelle/?state=open``) read N times
   each, signed in as support, CPU per page as above.

``--only-posts`` skips step 1, ``--only-pages`` steps 1 and 2 (for py-spy). The machine's
load and the calibration are printed
first; on a shared machine CPU time is the figure to compare, wall time is not.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import OUT, calibration, setup  # noqa: E402


def _cpu(pid: int, *, children: bool = False) -> tuple[float, int]:
    """CPU seconds of a process (with ``children``: of its ended children) and its parent."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[13]) + int(fields[14]) if children else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK"), int(fields[1])


def backend_pid() -> int | None:
    """The PostgreSQL backend serving this process, if the server runs on this machine."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None  # SQLite runs in this process: its time is in ours
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return pid if Path(f"/proc/{pid}").exists() else None


class DatabaseClock:
    """CPU time of the PostgreSQL backends this process used, also those that ended meanwhile
    (a connection per request): the server's ended children are counted, so backends of other
    clients that end meanwhile count too (a shared machine: a small error)."""

    def __init__(self) -> None:
        self.pid = backend_pid()
        if self.pid is None:
            return
        self.own, self.server = _cpu(self.pid)
        self.ended = _cpu(self.server, children=True)[0]

    def seconds(self) -> float:
        if self.pid is None:
            return 0.0
        ended = _cpu(self.server, children=True)[0] - self.ended
        if Path(f"/proc/{self.pid}").exists():
            ended = 0.0  # the same backend still serves us: nothing of ours ended
            spent = _cpu(self.pid)[0] - self.own
        else:  # our first backend ended (its whole life is in ``ended``)
            spent = -self.own
        now = backend_pid()
        if now is not None and now != self.pid:
            spent += _cpu(now)[0]
        return spent + ended


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(requests: int, call: Callable[[int], Any]) -> tuple[float, float, list[float]]:
    """CPU ms of this process and of the database backend per call, and each call's wall ms.
    After each call the connections are handled as at the end of a real request (the test
    client leaves that out): closed if ``CONN_MAX_AGE`` says so."""
    from django.db import close_old_connections

    walls = []
    cpu, db = time.process_time(), DatabaseClock()
    for n in range(requests):
        started = time.perf_counter()
        call(n)
        close_old_connections()
        walls.append((time.perf_counter() - started) * 1000)
    return ((time.process_time() - cpu) * 1000 / requests, db.seconds() * 1000 / requests,
            walls)


#: Middleware that cannot run without another one.
NEEDS = {
    "django.contrib.sessions.middleware.SessionMiddleware": (
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware", "axes.middleware.AxesMiddleware"),
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        "axes.middleware.AxesMiddleware",),
}


def stack_costs(key: str, requests: int) -> None:
    from django.conf import settings
    from django.test import Client, override_settings

    headers = {"Authorization": f"Bearer {key}"}
    logging.getLogger("django.request").setLevel(logging.ERROR)  # no "Not Found" line each

    def reads(middleware: list[str]) -> float:
        with override_settings(MIDDLEWARE=middleware):
            client = Client()  # loads the stack on its first request

            def read(n: int) -> None:
                response = client.get(f"/api/v1/orders/no-such-order-{n}", headers=headers)
                assert response.status_code == 404, response.content

            read(-1)
            return min(timed(requests, read)[0] for _ in range(3))

    full = list(settings.MIDDLEWARE)
    whole = reads(full)
    bare = reads([])
    print(f"GET of an unknown order (404), CPU per request, best of 3 x {requests}:")
    print(f"  whole middleware stack  {whole:6.2f} ms")
    print(f"  no middleware           {bare:6.2f} ms  (the stack: {whole - bare:.2f} ms)")
    for name in full:
        # What needs the left-out middleware goes with it (authentication needs the session).
        gone = {name, *NEEDS.get(name, ())}
        without = reads([m for m in full if m not in gone])
        also = f" (and {', '.join(n.rsplit('.', 1)[1] for n in NEEDS[name])})" \
            if name in NEEDS else ""
        print(f"  without {name.rsplit('.', 1)[1]}{also}: {without:6.2f} ms  "
              f"({whole - without:+.2f} ms)")

    from mahnwerk.intake import api_clients

    def check(n: int) -> None:
        assert api_clients.authenticate(key=key) is not None

    check(0)
    print(f"  the key check alone (api_clients.authenticate): "
          f"{min(timed(requests, check)[0] for _ in range(3)):.3f} ms")


def posts(key: str, requests: int, batch: int, vendors: int) -> None:
    from django.test import Client

    client = Client()
    headers = {"Authorization": f"Bearer {key}"}
    prefix = f"C{os.getpid()}-{batch}-{time.time_ns() % 10**9}"
    sent: list[str] = []

    def order(n: int, i: int) -> dict[str, Any]:
        product = (n * batch + i) * 7919 % (vendors * 5)
        buyer = (n * batch + i) * 104729 % 100_000
        return {"order_id": f"{prefix}-O{n}-{i}", "vendor_id": f"V{product // 5}",
                "product_id": f"P{product}", "buyer_id": f"B{buyer}",
                "buyer_email": f"buyer{buyer}@example.org", "buyer_first_name": "Erika",
                "buyer_last_name": "Mustermann", "street": "Heidestraße", "house_number": "17",
                "postcode": "51147", "city": "Köln", "country": "DE",
                "payment_type": "one_time", "amount_total": "99.00", "currency": "EUR",
                "created_at": "2026-01-15T10:00:00+01:00",
                "first_invoice_number": f"RE-{n}-{i}"}

    def post(path: str, records: list[dict[str, Any]]) -> None:
        response = client.post(path, {"records": records}, content_type="application/json",
                               headers=headers)
        assert response.status_code == 200, response.content[:500]

    def post_orders(n: int) -> None:
        records = [order(n, i) for i in range(batch)]
        post("/api/v1/orders", records)
        sent.extend(r["order_id"] for r in records[: max(1, batch // 5)])

    def post_incidents(n: int) -> None:
        chosen = sent[:batch]
        del sent[:batch]
        post("/api/v1/incidents", [
            {"incident_id": f"{order_id}-I", "order_id": order_id, "kind": "chargeback",
             "occurred_at": "2026-02-15T09:00:00+01:00", "open_amount": "99.00",
             "currency": "EUR"} for order_id in chosen])

    post_orders(-1)  # warm-up
    cpu, db, walls = timed(requests, post_orders)
    incident_posts = max(1, requests // 4)
    while len(sent) < incident_posts * batch:  # enough orders for the incidents
        post_orders(len(sent) + requests)
    icpu, idb, iwalls = timed(incident_posts, post_incidents)
    for label, count, c, d, w in (("orders", requests, cpu, db, walls),
                                  ("incidents", incident_posts, icpu, idb, iwalls)):
        print(f"  {count:>4} posts of {batch:>3} {label:<9}: web CPU {c:7.2f} ms a request "
              f"({c / batch:5.2f} ms a record), PostgreSQL CPU {d:6.2f} ms; wall p50 "
              f"{statistics.median(w):6.1f} p95 {percentile(w, .95):6.1f} p99 "
              f"{percentile(w, .99):6.1f} ms", flush=True)


def pages(repeat: int) -> None:
    """The case list as the locustfile's agents read it, signed in as support."""
    from _common import support_client

    from mahnwerk.cases.models import DebtCase

    client = support_client()
    print(f"case list ({DebtCase.objects.count():,} cases), {repeat} reads each:")
    for url in ("/faelle/", "/faelle/?state=open"):
        client.get(url)  # warm-up
        cpu, db, walls = timed(repeat, lambda n, url=url: client.get(url))
        print(f"  {url:<22} web CPU {cpu:6.1f} ms, PostgreSQL CPU {db:5.1f} ms; wall p50 "
              f"{statistics.median(walls):6.1f} p95 {percentile(walls, .95):6.1f} ms",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=None,
                        help="a PostgreSQL server's URL (default: a SQLite file)")
    parser.add_argument("--database", default="api_bench")
    parser.add_argument("--keep", action="store_true", help="reuse the seeded database")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--incidents", type=int, default=4_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--batch", type=int, nargs="+", default=[50, 10, 1])
    parser.add_argument("--only-posts", action="store_true")
    parser.add_argument("--pages", type=int, default=0,
                        help="then read the case list this many times, as support")
    parser.add_argument("--only-pages", action="store_true", help="no posts (for py-spy)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="override CONN_MAX_AGE (0: a new connection per request, as "
                             "before 2026-11-29)")
    args = parser.parse_args()

    print(calibration(), flush=True)
    setup(args.postgres, sqlite=OUT / "api_bench.sqlite3", database=args.database,
          fresh=not args.keep)
    from mahnwerk.intake.api_clients import create_api_client

    if not args.keep:
        from load_benchmark import seed

        print(f"seeding {args.orders:,} orders, {args.incidents:,} incidents ...", flush=True)
        seed(OUT / "api-export", args.orders, args.incidents)
    if args.conn_max_age is not None:
        from django.db import connection

        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = args.conn_max_age
    from django.db import connection

    print(f"CONN_MAX_AGE {connection.settings_dict['CONN_MAX_AGE']}", flush=True)
    _client, key = create_api_client(name=f"cpu-{os.getpid()}-{time.time_ns()}")
    vendors = max(10, args.orders // 1000)
    if not args.only_posts and not args.only_pages:
        stack_costs(key, args.requests)
    if not args.only_pages:
        print(f"posts ({'PostgreSQL' if args.postgres else 'SQLite'}):", flush=True)
        for batch in args.batch:
            posts(key, args.requests, batch, vendors)
    if args.pages:
        pages(args.pages)
    print(calibration())


if __name__ == "__main__":
    main()
