"""Benchmark: the intake API and the workspace's case list under load (issue 12, item 4).

    .venv/bin/python bench/load_benchmark.py --postgres postgres://postgres@127.0.0.1:5432/x \\
        [--database intake_bench] [--orders 50000] [--incidents 10000] [--workers 4] \\
        [--api-users 8] [--batch 50] [--rate 1100] [--arrivals independent|fixed] \\
        [--agents 20] [--run-time 30]

1. builds a fresh PostgreSQL database (``--database`` on the server of ``--postgres``) and fills
   it through the file import with a synthetic platform export (bench/platform_export.py): the
   vendors, products, ``--orders`` orders and ``--incidents`` incidents (each opens a case);
   makes an API client (its key is handed to locust) and the demo logins;
2. starts gunicorn with ``--workers`` web processes on a free loopback port (the cache in Redis
   when ``--redis`` is given, as in production), and waits until it answers;
3. runs locust headless twice, each bounded by ``--run-time`` seconds and a fixed number of
   users (bench/locustfile.py): ``--api-users`` API clients posting batches of ``--batch``
   orders (and the incidents of some of them) without a pause, or with ``--rate`` paced to
   send that many records a second together (the target is a latency *at* 1,000 records a
   second: without a pause, the users queue up and the percentiles measure the queue), as
   independent senders (``--arrivals independent``, a Poisson process each) or at fixed
   intervals (``fixed``), then
   ``--agents`` support agents signed in to the workspace reading the case list;
4. prints requests and records per second, the 50th/95th/99th percentiles, the failures, the
   web processes' and their PostgreSQL backends' CPU time and the machine's load, and stops
   everything it started.

Targets (issue 12): at least 1,000 records a second through the API with its 99th percentile
under 50 ms and no error; the case list with 20 concurrent users at a 95th percentile under
200 ms. Results go into docs/benchmarks.md by hand, with this command.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import OUT, SRC, calibration, setup  # noqa: E402
from platform_export import write  # noqa: E402

FEEDS = ["vendors", "products", "orders", "incidents"]


def seed(export: Path, orders: int, incidents: int) -> str:
    """The marketplace through the file import; returns a new API client's key."""
    from mahnwerk.intake.api_clients import create_api_client
    from mahnwerk.intake.feeds import FEEDS as SPECS
    from mahnwerk.intake.importing import import_file
    from mahnwerk.web.accounts import ensure_demo_users

    write(export, orders, incidents, 0, seed=1)
    for feed in FEEDS:
        started = time.perf_counter()
        report = import_file(path=export / f"{feed}.csv", feed=SPECS[feed], actor="bench")
        if not report.ok:
            sys.exit(f"seeding {feed} failed: {report.problems[:3]}")
        print(f"  seeded {feed:<10} {report.rows:>9,} rows in "
              f"{time.perf_counter() - started:6.1f} s", flush=True)
    ensure_demo_users(vendor_id=None)
    _client, key = create_api_client(name=f"load-{os.getpid()}")
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web(env: dict[str, str], workers: int, port: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "mahnwerk.wsgi:application", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "60"],
        env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn stopped at start with status {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/anmelden/", timeout=2)
            return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    sys.exit("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    """The gunicorn master and its workers (its own process group), and nothing else."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cpu_seconds(root: int) -> float:
    """User and system CPU time of a process and its children (the web workers) so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [root]
    children = Path(f"/proc/{root}/task/{root}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def database_cpu(server: str, database: str) -> float:
    """CPU time so far of the PostgreSQL backends connected to ``database`` (the web processes
    keep theirs, so they live through a run; read from ``/proc``, so only for a server on this
    machine: 0 otherwise)."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def locust(user: str, users: int, run_time: int, host: str, env: dict[str, str],
           prefix: Path) -> dict[str, dict[str, str]]:
    """One headless locust run; returns its statistics by request name."""
    command = [str(Path(sys.executable).parent / "locust"), "-f", str(HERE / "locustfile.py"),
               "--headless", "--users", str(users), "--spawn-rate", str(users),
               "--run-time", f"{run_time}s", "--host", host, "--csv", str(prefix),
               "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10", user]
    completed = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, timeout=run_time + 120)
    stats = {}
    with Path(f"{prefix}_stats.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = row
    if completed.returncode not in (0, 1):  # 1: some requests failed (reported below)
        sys.exit(f"locust failed ({completed.returncode}): {completed.stderr[-2000:]}")
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with failures.open(newline="") as handle:
            for row in list(csv.DictReader(handle))[:5]:
                print(f"    failure: {row['Name']}: {row['Error'][:200]} ({row['Occurrences']})")
    return stats


def show(stats: dict[str, dict[str, str]], seconds: float) -> None:
    for name, row in stats.items():
        print(f"  {name:<28} {int(row['Request Count']):>7,} requests "
              f"{float(row['Requests/s']):7.1f}/s  failures {int(row['Failure Count']):>4}  "
              f"p50 {row['50%']:>5} ms  p95 {row['95%']:>5} ms  p99 {row['99%']:>5} ms  "
              f"max {float(row['Max Response Time']):7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a PostgreSQL server's URL")
    parser.add_argument("--database", default="intake_bench")
    parser.add_argument("--redis", default="", help="the cache's URL, e.g. redis://.../9")
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--api-users", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=int, default=0,
                        help="records a second the API users send together, paced (0: as "
                             "fast as the server answers)")
    parser.add_argument("--arrivals", choices=["independent", "fixed"], default="independent",
                        help="with --rate: each user's requests as a Poisson process "
                             "(independent senders) or at fixed intervals (locust's "
                             "constant_throughput)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--run-time", type=int, default=30)
    args = parser.parse_args()

    print(calibration(), flush=True)
    print(f"seeding {args.database} ...", flush=True)
    setup(args.postgres, sqlite=OUT / "unused.sqlite3", database=args.database)
    key = seed(OUT / "load-export", args.orders, args.incidents)
    from django.db import connections

    connections.close_all()  # the web processes open their own

    env = {**os.environ, "PYTHONPATH": str(SRC), "DJANGO_SETTINGS_MODULE": "mahnwerk.settings",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "MAHNWERK_LOAD_API_KEY": key,
           "MAHNWERK_LOAD_BATCH": str(args.batch),
           "MAHNWERK_LOAD_VENDORS": str(max(10, args.orders // 1000))}
    if args.rate:  # each user starts its requests at its share of the rate
        env["MAHNWERK_LOAD_PACE"] = str(args.rate / args.batch / args.api_users)
        env["MAHNWERK_LOAD_ARRIVALS"] = args.arrivals
    if args.redis:
        env["MAHNWERK_CACHE_URL"] = args.redis
    server = args.postgres.rstrip("/").rsplit("/", 1)[0]
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    web = start_web(env, args.workers, port)
    ok = True
    try:
        for user, users, label in (("IntakeClient", args.api_users, "intake API"),
                                   ("SupportAgent", args.agents, "case list")):
            if users == 0:  # --api-users 0 or --agents 0: that run is left out
                print(f"{label}: no users, not run", flush=True)
                continue
            print(f"{label}: {users} users for {args.run_time} s against {args.workers} "
                  f"web processes ...", flush=True)
            cpu_before, load_before = cpu_seconds(web.pid), os.getloadavg()[0]
            db_before = database_cpu(server, args.database)
            stats = locust(user, users, args.run_time, host, env, OUT / f"locust-{user}")
            cpu = cpu_seconds(web.pid) - cpu_before
            db_cpu = database_cpu(server, args.database) - db_before
            show(stats, args.run_time)
            total = stats["Aggregated"]
            requests = int(total["Request Count"])
            signed = " (and the agents' sign-ins)" if user == "SupportAgent" else ""
            print(f"  web processes' CPU time {cpu:.1f} s for {requests:,} requests{signed} "
                  f"({1000 * cpu / max(requests, 1):.1f} ms each); load average "
                  f"{load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"  PostgreSQL backends' CPU time {db_cpu:.1f} s "
                  f"({1000 * db_cpu / max(requests, 1):.1f} ms a request; backends that "
                  "ended during the run are not counted)")
            failures = int(total["Failure Count"])
            if user == "IntakeClient":
                records = (requests - failures) * args.batch
                # Over the figures' own time (locust's), which starts after the warm-up.
                rate = float(total["Requests/s"]) * args.batch * records / max(
                    requests * args.batch, 1)
                p99 = float(total["99%"])
                met = rate >= 1000 and p99 < 50 and failures == 0
                print(f"  records applied: {records:,} ({rate:,.0f}/s); target 1,000/s, "
                      f"p99 < 50 ms, no error: {'met' if met else 'MISSED'}")
            else:
                lists = [row for name, row in stats.items() if name.startswith("GET /faelle")]
                p95 = max(float(row["95%"]) for row in lists)
                met = p95 < 200 and failures == 0
                print(f"  case list p95 {p95:.0f} ms; target < 200 ms with {users} users: "
                      f"{'met' if met else 'MISSED'}")
            ok = ok and met
    finally:
        stop(web)
    print("all targets met" if ok else "some targets MISSED")


if __name__ == "__main__":
    main()
