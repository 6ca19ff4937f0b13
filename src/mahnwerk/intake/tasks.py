"""Celery tasks of the intake: the import page's check and apply, and the clean-up of its
uploads; the logic stays in ``import_jobs``. Without a broker (the embedded set-up) they run at
once, in the request that asks for them."""

from celery import shared_task

from mahnwerk import telemetry
from mahnwerk.celery import app  # noqa: F401  (the configured app: mahnwerk/__init__.py)
from mahnwerk.intake import import_jobs


@shared_task(name="mahnwerk.intake.tasks.check_import")
def check_import(token: str) -> str:
    """Check an uploaded file: the whole import, rolled back."""
    return import_jobs.check(token=token).state


@shared_task(name="mahnwerk.intake.tasks.apply_import")
def apply_import(token: str) -> str:
    """Import an uploaded file that was checked: one transaction, all or nothing."""
    job = import_jobs.apply(token=token)
    if job.state in (import_jobs.JobState.APPLIED, import_jobs.JobState.FAILED):
        counts = job.counts or {}
        telemetry.import_finished(
            feed=job.feed, file=job.file_name, created=counts.get("created", 0),
            updated=counts.get("updated", 0), unchanged=counts.get("unchanged", 0),
            refused=job.problem_count, committed=job.state == import_jobs.JobState.APPLIED,
            source="import page")
    return job.state


@shared_task(name="mahnwerk.intake.tasks.clean_imports")
def clean_imports() -> int:
    """Daily: remove uploads and reports older than MAHNWERK_IMPORT_KEEP_HOURS."""
    return import_jobs.clean_up()
