"""What the benchmark scripts share: a fresh database, the machine's speed, peak memory and the
measuring of a page through Django's test client (times, CPU time and queries).

Not a test and not part of the application: ``bench/*.py`` import it as ``_common`` (the
scripts run as ``.venv/bin/python bench/<script>.py``, so bench/ is on the path).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SRC = HERE.parent / "src"


def peak_rss() -> str:
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"


def setup(postgres: str | None, *, sqlite: Path, database: str, fresh: bool = True) -> None:
    """Django on a fresh database, migrated: the SQLite file ``sqlite`` (its WAL files too), or
    with ``postgres`` (a server's URL; its database name is not used) the database ``database``
    on that server, dropped and created again. ``fresh=False`` keeps what is there (a database
    built by an earlier run of the script) and only migrates it."""
    OUT.mkdir(parents=True, exist_ok=True)
    if postgres:
        server = postgres.rstrip("/").rsplit("/", 1)[0]
        if fresh:
            import psycopg

            with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {database}")
        os.environ["DATABASE_URL"] = f"{server}/{database}"
    else:
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    import django
    from django.conf import settings

    if settings.configured:  # a second database in the same process (scaling_benchmark)
        from django.db import connections

        connections.close_all()
        name = database if postgres else str(sqlite)
        settings.DATABASES["default"]["NAME"] = name
        connections.settings["default"]["NAME"] = name
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def calibration() -> str:
    """How fast this machine runs Python now (``sum(range(10**7))`` takes about 100 ms on an
    idle current core): the figures scale with it, and a shared machine is slower."""
    started = time.perf_counter()
    sum(range(10**7))
    return (f"calibration: sum(range(10**7)) in {(time.perf_counter() - started) * 1000:.0f} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


class Figures(NamedTuple):
    """One page measured: median and slowest server time, median CPU time of this process (in
    ms), the queries of one request and the size of the answer (bytes)."""

    median: float
    slowest: float
    cpu: float
    queries: int
    size: int


def measure(client: Any, url: str, repeat: int, *,
            before: Callable[[], None] | None = None) -> Figures:
    """``repeat`` requests of ``url`` after one warm-up (whose queries are counted). ``before``
    runs before every request, outside the time (e.g. dropping the kept figures: a cold read)."""
    from django.db import connection

    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    if before:
        before()
    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times, cpu = [], []
    for _ in range(repeat):
        if before:
            before()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return Figures(statistics.median(times), max(times), statistics.median(cpu), len(queries),
                   len(response.content))


def support_client() -> Any:
    """Django's test client, logged in as the demo's support agent."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from mahnwerk.web.accounts import ensure_demo_users

    ensure_demo_users(vendor_id=None)
    client = Client()
    client.force_login(get_user_model().objects.get(username="support"))
    return client
