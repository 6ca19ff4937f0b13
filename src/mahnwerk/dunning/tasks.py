"""Celery tasks of the dunning cycle; the logic stays in the services."""

from celery import shared_task


@shared_task(name="mahnwerk.dunning.tasks.deliver_outbox")
def deliver_outbox() -> dict:
    from mahnwerk.dunning.outbox import deliver_due

    return deliver_due()


@shared_task(name="mahnwerk.dunning.tasks.monthly_run")
def monthly_run() -> int | None:
    """Daily: starts the month's run on the policy's run day (once a month)."""
    from mahnwerk.dunning.services import scheduled_run

    run = scheduled_run()
    return run.pk if run else None
