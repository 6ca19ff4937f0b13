"""Celery tasks of the dunning cycle; the logic stays in the services.

Nothing in the app imports this module but its ``AppConfig.ready``: the outbox announces queued
letters (``signals.letters_queued``) and ``deliver_soon`` below asks a worker to deliver them.
The workspace (an app to the right) hands a run to ``execute_in_background``.
"""

import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import connections
from django.dispatch import receiver

from mahnwerk import telemetry
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

    counts = deliver_due()
    # Every minute: a pass that did nothing is no moment of the domain.
    (telemetry.log.info if any(counts.values()) else telemetry.log.debug)(
        "outbox pass", **counts)
    return counts


@shared_task(name="mahnwerk.dunning.tasks.monthly_run")
def monthly_run() -> int | None:
    """Daily: finishes an interrupted run, and starts the month's run from the policy's run
    day on (once a month)."""
    from mahnwerk.dunning.services import scheduled_run

    run = scheduled_run()
    if run is not None:
        telemetry.log.info("run executed", run_id=run.pk, as_of=run.as_of.isoformat(),
                           state=run.state, done=run.done, total=run.total, counts=run.counts,
                           outcomes=run.outcomes, source="schedule")
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


@shared_task(name="mahnwerk.dunning.tasks.execute_run", max_retries=0)
def execute_run(*, run_id: int, worker: str, actor: str, user_id: int | None = None) -> str:
    """Execute a run under the claim the caller took (``services.claim_execution``).

    Not retried: a failure is kept on the run (its page shows the case and the error) and a
    person resumes it, or the schedule does. Returns the run's state."""
    from django.contrib.auth import get_user_model

    from mahnwerk.dunning.models import DunningRun
    from mahnwerk.dunning.services import RunError
    from mahnwerk.dunning.services import execute_run as execute

    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        return "gone"
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        execute(run=run, actor=actor, user=user, worker=worker)
        run.refresh_from_db(fields=["state", "counts", "outcomes", "done", "total"])
        telemetry.log.info("run executed", run_id=run.pk, state=run.state, done=run.done,
                           total=run.total, outcomes=run.outcomes)
    except RunError as exc:
        log.warning("run #%s was not executed: %s", run_id, exc)
    except Exception:
        log.exception("run #%s stopped; its page shows where and why", run_id)
    return str(run.state)


@shared_task(name="mahnwerk.dunning.tasks.decide_run", max_retries=0)
def decide_run(*, run_id: int, worker: str) -> str:
    """Decide a new run (or one interrupted while deciding) under the claim the caller took.

    Not retried: a failure is kept on the run (its page shows the error and what to do).
    Returns the run's state."""
    from mahnwerk.dunning.models import DunningRun
    from mahnwerk.dunning.services import RunError
    from mahnwerk.dunning.services import decide_run as decide

    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        return "gone"
    try:
        decide(run=run, worker=worker)
        run.refresh_from_db(fields=["state", "counts", "total"])
        telemetry.log.info("run decided", run_id=run.pk, as_of=run.as_of.isoformat(),
                           state=run.state, total=run.total, counts=run.counts)
    except RunError as exc:
        log.warning("run #%s was not decided: %s", run_id, exc)
    except Exception:
        log.exception("run #%s stopped deciding; its page shows why", run_id)
    return str(run.state)


def _in_thread(**kwargs: object) -> None:
    try:
        execute_run.apply(kwargs=kwargs)
    finally:
        connections.close_all()  # the thread's own database connection


def _decide_in_thread(**kwargs: object) -> None:
    try:
        decide_run.apply(kwargs=kwargs)
    finally:
        connections.close_all()


def _hand_over(task, thread_target, *, name: str, kwargs: dict) -> str:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(kwargs=kwargs)
        return "worker"
    if settings.MAHNWERK_RUN_IN_THREAD:
        threading.Thread(target=thread_target, kwargs=kwargs, name=name, daemon=True).start()
        return "thread"
    task.apply(kwargs=kwargs)
    return "here"


def execute_in_background(*, run_id: int, worker: str, actor: str,
                          user_id: int | None = None) -> str:
    """Hand a claimed run to a worker (with a broker), a thread of this process (embedded,
    MAHNWERK_RUN_IN_THREAD) or execute it here and now; says which: "worker", "thread",
    "here". Raises if the broker cannot be reached (the caller gives the claim back)."""
    return _hand_over(execute_run, _in_thread, name=f"mahnwerk-run-{run_id}",
                      kwargs={"run_id": run_id, "worker": worker, "actor": actor,
                              "user_id": user_id})


def decide_in_background(*, run_id: int, worker: str) -> str:
    """Hand a claimed run in state deciding to be decided, as ``execute_in_background``
    does with executing; says where ("worker", "thread", "here")."""
    return _hand_over(decide_run, _decide_in_thread, name=f"mahnwerk-decide-{run_id}",
                      kwargs={"run_id": run_id, "worker": worker})
