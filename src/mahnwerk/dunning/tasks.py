"""Celery tasks of the dunning cycle; the logic stays in the services.

Nothing in the app imports this module but its ``AppConfig.ready``: the outbox announces queued
letters (``signals.letters_queued``) and ``deliver_soon`` below asks a worker to deliver them.
"""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.dispatch import receiver

from mahnwerk.dunning.signals import letters_queued

log = logging.getLogger(__name__)

#: With a broker, nudge the worker at most this often per process: a run writes hundreds of
#: letters a second, and one pass delivers them all (beat's pass every minute catches the rest).
KICK_INTERVAL_SECONDS = 5.0
_last_kick = 0.0


@shared_task(name="mahnwerk.dunning.tasks.deliver_outbox", max_retries=0)
def deliver_outbox() -> dict[str, int]:
    """Deliver the due e-mail letters (every minute from beat, and after letters are queued).

    Not retried by Celery: a pass is idempotent (messages are claimed before sending) and the
    next pass picks up whatever this one left; errors are kept on the messages themselves."""
    from mahnwerk.dunning.delivery import deliver_due

    return deliver_due()


@shared_task(name="mahnwerk.dunning.tasks.monthly_run")
def monthly_run() -> int | None:
    """Daily: finishes an interrupted run, and starts the month's run from the policy's run
    day on (once a month)."""
    from mahnwerk.dunning.services import scheduled_run

    run = scheduled_run()
    return run.pk if run else None


@receiver(letters_queued, dispatch_uid="mahnwerk.dunning.deliver_soon")
def deliver_soon(sender: object, **kwargs: object) -> None:
    """Ask a worker to deliver now; never fails the caller (beat delivers every minute)."""
    global _last_kick
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if not settings.MAHNWERK_DELIVER_EAGERLY:
            return  # embedded: `mahnwerk deliver-outbox` delivers (the run stays fast)
    else:
        if time.monotonic() - _last_kick < KICK_INTERVAL_SECONDS:
            return
        _last_kick = time.monotonic()
    try:
        deliver_outbox.delay()
    except Exception:  # the broker is down: the letters stay queued for the next pass
        log.exception("could not ask the outbox worker to deliver; the next pass will")
