"""Celery tasks of the dunning cycle; the logic stays in the services."""

from celery import shared_task


@shared_task(name="mahnwerk.dunning.tasks.deliver_outbox", max_retries=0)
def deliver_outbox() -> dict[str, int]:
    """Deliver the due e-mail letters (every minute from beat, and after letters are queued).

    Not retried by Celery: a pass is idempotent (messages are claimed before sending) and the
    next pass picks up whatever this one left; errors are kept on the messages themselves."""
    from mahnwerk.dunning.outbox import deliver_due

    return deliver_due()


@shared_task(name="mahnwerk.dunning.tasks.monthly_run")
def monthly_run() -> int | None:
    """Daily: starts the month's run on the policy's run day (once a month)."""
    from mahnwerk.dunning.services import scheduled_run

    run = scheduled_run()
    return run.pk if run else None
