"""Is this process ready to serve? The checks of ``/readyz`` (``/healthz`` checks nothing: it
answers while the process runs).

Each check answers ``ok``, ``failed`` (with the reason) or ``not configured``: what the embedded
set-up does not use (no broker, the process's own cache, mail written to files) is reported,
never failed. Written here, about a hundred lines, rather than with django-health-check: its
database check writes and deletes a row of its own table (a migration and a write every few
seconds), its Celery check sends a task and waits for a worker to answer it (here: is the
broker reachable, so that the web can queue), it has no "not configured" state and no time per
check, and it answers 500 where a load balancer expects 503.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

OK, FAILED, NOT_CONFIGURED = "ok", "failed", "not configured"

#: Migrations found applied once stay applied for this code (a later release migrates ahead
#: of the processes still running, never back): asked once per process until green.
_migrations_green = False


class NotConfigured(Exception):
    """The set-up does not use this service."""


@dataclass
class Result:
    name: str
    status: str
    ms: float
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {"status": self.status, "ms": self.ms}
        if self.detail:
            answer["detail"] = self.detail
        return answer


def database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor}"


def migrations() -> str:
    global _migrations_green
    if _migrations_green:
        return "all applied"
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        more = f" and {len(plan) - 5} more" if len(plan) > 5 else ""
        raise RuntimeError(f"{len(plan)} migration(s) not applied: {names}{more}; run "
                           "`mahnwerk migrate` (the migrate service) before the processes")
    _migrations_green = True
    return "all applied"


def broker() -> str:
    if not settings.CELERY_BROKER_URL:
        raise NotConfigured("no CELERY_BROKER_URL: tasks run in the process")
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL,
                    connect_timeout=settings.MAHNWERK_READY_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.MAHNWERK_READY_TIMEOUT)
    return _without_credentials(settings.CELERY_BROKER_URL)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")
                          if parts.hostname else parts.netloc).geturl()


def cache() -> str:
    backend = settings.CACHES["default"]["BACKEND"]
    if not backend.endswith("RedisCache"):
        raise NotConfigured("the process's own memory (no MAHNWERK_CACHE_URL)")
    from django.core.cache import cache as default_cache

    key = "mahnwerk:readyz"
    default_cache.set(key, "1", timeout=30)
    if default_cache.get(key) != "1":
        raise RuntimeError("the cache did not give back what was written to it")
    return "redis"


def mail() -> str:
    if settings.EMAIL_BACKEND != "django.core.mail.backends.smtp.EmailBackend":
        raise NotConfigured(f"EMAIL_BACKEND is {settings.EMAIL_BACKEND} (no SMTP server)")
    timeout = settings.MAHNWERK_READY_TIMEOUT
    kind = smtplib.SMTP_SSL if settings.EMAIL_USE_SSL else smtplib.SMTP
    server = kind(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout)
    try:
        code, answer = server.ehlo()
        if code != 250:
            raise RuntimeError(f"EHLO answered {code} {answer.decode(errors='replace')}")
        code, answer = server.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code} {answer.decode(errors='replace')}")
    finally:
        try:
            server.quit()
        except smtplib.SMTPException:
            server.close()
    return f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"


CHECKS: dict[str, Callable[[], str]] = {
    "database": database,
    "migrations": migrations,
    "broker": broker,
    "cache": cache,
    "mail": mail,
}


def run_check(name: str, check: Callable[[], str]) -> Result:
    started = time.perf_counter()
    try:
        detail, status = check(), OK
    except NotConfigured as exc:
        detail, status = str(exc), NOT_CONFIGURED
    except Exception as exc:  # any failure is the answer, with its reason
        detail, status = f"{type(exc).__name__}: {exc}".strip(), FAILED
    return Result(name, status, round((time.perf_counter() - started) * 1000, 1), detail)


def readiness() -> tuple[bool, list[Result]]:
    """Every check (the migrations only once the database answered); ready when none failed."""
    results = [run_check("database", database)]
    if results[0].status == OK:
        results.append(run_check("migrations", migrations))
    else:
        results.append(Result("migrations", FAILED, 0.0, "the database did not answer"))
    results += [run_check(name, CHECKS[name]) for name in ("broker", "cache", "mail")]
    return all(result.status != FAILED for result in results), results
