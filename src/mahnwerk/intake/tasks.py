"""Celery tasks of the intake: the import page's check and apply, and the clean-up of its
uploads; the logic stays in ``import_jobs``. Without a broker (the embedded set-up) they run at
once, in the request that asks for them."""

from celery import shared_task

from mahnwerk.intake import import_jobs


@shared_task(name="mahnwerk.intake.tasks.check_import")
def check_import(token: str) -> str:
    """Check an uploaded file: the whole import, rolled back."""
    return import_jobs.check(token=token).state


@shared_task(name="mahnwerk.intake.tasks.apply_import")
def apply_import(token: str) -> str:
    """Import an uploaded file that was checked: one transaction, all or nothing."""
    return import_jobs.apply(token=token).state


@shared_task(name="mahnwerk.intake.tasks.clean_imports")
def clean_imports() -> int:
    """Daily: remove uploads and reports older than MAHNWERK_IMPORT_KEEP_HOURS."""
    return import_jobs.clean_up()
