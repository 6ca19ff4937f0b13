"""Celery tasks of operations; the logic stays in ``ops.privacy``."""

from celery import shared_task
from django.conf import settings

from mahnwerk.celery import app  # noqa: F401  (the configured app: mahnwerk/__init__.py)


@shared_task(name="mahnwerk.ops.tasks.retention")
def retention() -> dict[str, int]:
    """Daily: anonymise the cases closed longer than ``MAHNWERK_RETENTION_DAYS`` ago (and the
    letter copies whose keeping time is over) and the bank credits that never found a case,
    and prune the access log (the same as ``mahnwerk anonymise --older-than DAYS``)."""
    from mahnwerk.ops.privacy import (
        anonymise_closed_cases,
        anonymise_unplaced_statement_lines,
        prune_access_log,
    )

    days = settings.MAHNWERK_RETENTION_DAYS
    result = {"cases": 0, "buyers": 0, "letters": 0, "statement_lines": 0}
    if days is not None:
        done = anonymise_closed_cases(older_than_days=days, actor="schedule")
        result = {"cases": len(done.cases), "buyers": done.buyers, "letters": done.letters,
                  "statement_lines": anonymise_unplaced_statement_lines(older_than_days=days)}
    result["access_records_pruned"] = prune_access_log(
        older_than_days=settings.MAHNWERK_ACCESS_LOG_DAYS)
    return result
