"""Celery tasks of the dunning cycle; the logic stays in the services.

Nothing imports this module at a process's start (it loads Celery): the ``dunning-run`` command
does (it hands a run's batches to ``enqueue_batches``), and so does the receiver of the outbox's
``signals.letters_queued`` (``receivers.deliver_soon``) when letters were queued, for
``deliver_soon`` below to ask a worker to deliver them.
The workspace (an app to the right) hands a run to ``execute_in_background``; executing it is
one task per batch of its decisions (``execute_batch``, ``enqueue_batches``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from celery import group, shared_task
from django.conf import settings
from django.db import connections

from mahnwerk import telemetry
from mahnwerk.celery import app  # noqa: F401  (the configured app: mahnwerk/__init__.py)

if TYPE_CHECKING:
    from mahnwerk.dunning.models import DunningRun

log = logging.getLogger(__name__)

#: With a broker, nudge the worker at most this often per process: a run writes hundreds of
#: letters a second, and one pass delivers them all (beat's pass every minute catches the rest).
KICK_INTERVAL_SECONDS = 5.0
_last_kick = 0.0


#: The shared cache's count of chunk tasks handed out and not yet started (``deliver_outbox``).
#: It expires so that a task lost with a worker holds delivery back at most this long.
PENDING_KEY = "mahnwerk:outbox:chunks-pending"
PENDING_SECONDS = 300


def _pending(change: int = 0) -> int:
    """The chunk tasks waiting in the queue, changed by ``change`` (never below 0). Counted
    only in a cache that beat and the workers share (Redis); each process's own memory would
    count wrong, so there every due chunk is handed out (a surplus task finds nothing)."""
    from django.core.cache import cache

    if "locmem" in settings.CACHES["default"]["BACKEND"].lower():
        return 0
    try:
        cache.add(PENDING_KEY, 0, timeout=PENDING_SECONDS)
        value = cache.incr(PENDING_KEY, change) if change else cache.get(PENDING_KEY, 0)
    except Exception:  # no shared cache (or it is away): hand out every chunk, harmless
        log.debug("the outbox's pending count could not be read", exc_info=True)
        return 0
    if int(value or 0) < 0:  # a task counted before the key expired started after it
        cache.set(PENDING_KEY, 0, timeout=PENDING_SECONDS)
    return max(int(value or 0), 0)


@shared_task(name="mahnwerk.dunning.tasks.deliver_outbox", max_retries=0)
def deliver_outbox() -> int:
    """Hand out the due e-mail letters to the workers (every minute from beat, and after
    letters are queued): one ``deliver_chunk`` task per chunk of ``MAHNWERK_OUTBOX_CHUNK``
    due messages, less the chunk tasks still waiting in the queue. Returns how many it handed
    out. Without a broker the chunks run here, one after the other (the same code).

    Not retried by Celery: handing out is idempotent (each chunk task claims its messages
    when it starts) and the next minute's call hands out whatever this one left."""
    from mahnwerk.dunning.delivery import due_count

    chunk = settings.MAHNWERK_OUTBOX_CHUNK
    due = due_count()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        wanted = -(-due // chunk)
    else:
        wanted = max(-(-due // chunk) - _pending(), 0)
        if wanted:
            _pending(wanted)
    for _number in range(wanted):
        deliver_chunk.delay()
    return wanted


@shared_task(name="mahnwerk.dunning.tasks.deliver_chunk", max_retries=0)
def deliver_chunk() -> dict[str, int]:
    """Claim one chunk of due e-mail letters, send it over one connection, record it; any
    number of workers run these at once (a message is claimed by one of them only)."""
    from mahnwerk.dunning import delivery

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _pending(-1)
    counts = delivery.deliver_chunk().counts
    # Every minute: a pass that did nothing is no moment of the domain.
    (telemetry.log.info if any(counts.values()) else telemetry.log.debug)(
        "outbox pass", **counts)
    return counts


@shared_task(name="mahnwerk.dunning.tasks.monthly_run")
def monthly_run() -> int | None:
    """Daily: finishes an interrupted run (its pending batches enqueued again), and starts the
    month's run from the policy's run day on (once a month), its batches enqueued."""
    from mahnwerk.dunning.services import scheduled_run

    run = scheduled_run(enqueue=enqueue_batches)
    if run is not None:
        # Its batches are with the workers now (without a broker: done already); the batch
        # that finishes the run logs "run executed" (execute_batch below).
        telemetry.log.info("run started", run_id=run.pk, as_of=run.as_of.isoformat(),
                           state=run.state, done=run.done, total=run.total,
                           source="schedule")
    return run.pk if run else None


@shared_task(name="mahnwerk.dunning.tasks.resume_runs", max_retries=0)
def resume_runs() -> int | None:
    """Every few minutes: an executing run whose claim went stale (a batch task lost with its
    worker, or with Redis) gets its pending batches enqueued again."""
    from mahnwerk.dunning.services import resume_interrupted_run

    run = resume_interrupted_run(enqueue=enqueue_batches)
    if run is not None:
        telemetry.log.info("run resumed", run_id=run.pk, state=run.state,
                           done=run.done, total=run.total, source="schedule")
    return run.pk if run else None


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
    """Start executing a run under the claim the caller took (``services.claim_execution``):
    the run moves to executing and each batch of its pending decisions becomes a task of its
    own (``execute_batch``, ``enqueue_batches``), for any number of workers.

    Not retried: a failure is kept on the run (its page shows the case and the error) and a
    person resumes it, or the schedule does. Returns the run's state (without a broker the
    batches ran here already: done, or stopped at a failure)."""
    from django.contrib.auth import get_user_model

    from mahnwerk.dunning.models import DunningRun
    from mahnwerk.dunning.services import RunError
    from mahnwerk.dunning.services import execute_run as execute

    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        return "gone"
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        execute(run=run, actor=actor, user=user, worker=worker, enqueue=enqueue_batches)
        run.refresh_from_db(fields=["state", "done", "total"])
        telemetry.log.info("run started", run_id=run.pk, state=run.state, done=run.done,
                           total=run.total)
    except RunError as exc:
        log.warning("run #%s was not executed: %s", run_id, exc)
    except Exception:
        log.exception("run #%s stopped; its page shows where and why", run_id)
    return str(run.state)


# Why one task per batch and no chord: a chord's callback waits for every member's result in
# the result backend, and a member lost with its worker leaves the callback waiting for ever.
# Here no task waits for another: each batch is one transaction that adds its counts to the
# run, and the batch that leaves no decision pending finishes the run (services._count_batch).
# A lost batch leaves its decisions pending and the run's claim unrenewed; the run then shows
# as interrupted, and resume, *Fortsetzen* or the schedule enqueue only the pending batches
# again. acks_late with reject_on_worker_lost also hands a batch whose worker was killed to
# another worker (Redis: after its visibility timeout); done twice, a batch changes nothing.
@shared_task(name="mahnwerk.dunning.tasks.execute_batch", max_retries=0, acks_late=True,
             reject_on_worker_lost=True)
def execute_batch(*, run_id: int, worker: str, decision_ids: list[int], actor: str,
                  user_id: int | None = None) -> str:
    """Apply one batch of a run's decisions under the execution's claim; says what became of
    it: "finished" (this batch finished the run), "done", "stopped" (the claim was gone: the
    run was taken over, stopped or finished; nothing written), "failed" (a case failed: the
    run keeps it and stops), "gone" (no such run)."""
    from django.contrib.auth import get_user_model

    from mahnwerk.dunning import services
    from mahnwerk.dunning.models import DunningRun

    run = DunningRun.objects.filter(pk=run_id).first()
    if run is None:
        return "gone"
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        finished = services.execute_batch(run=run, worker=worker, decision_ids=decision_ids,
                                          actor=actor, user=user)
    except services.RunError as exc:
        log.info("run #%s: a batch was not executed: %s", run_id, exc)
        return "stopped"
    except Exception:
        log.exception("run #%s stopped at a case; its page shows where and why", run_id)
        return "failed"
    if finished:
        run.refresh_from_db(fields=["state", "counts", "outcomes", "done", "total"])
        telemetry.log.info("run executed", run_id=run.pk, state=run.state, done=run.done,
                           total=run.total, outcomes=run.outcomes,
                           source="schedule" if actor == "schedule" else "person", actor=actor)
    return "finished" if finished else "done"


def enqueue_batches(run: DunningRun, worker: str, batches: list[list[int]], actor: str,
                    user_id: int | None) -> None:
    """Hand each batch to ``execute_batch``: with a broker one message each (a group, no
    chord), taken by whichever worker is free; without one (CELERY_TASK_ALWAYS_EAGER) the
    same tasks run here, in order, and stop at the first that does not go through."""
    signatures = [execute_batch.s(run_id=run.pk, worker=worker, decision_ids=batch,
                                  actor=actor, user_id=user_id) for batch in batches]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        queue = {"queue": settings.MAHNWERK_RUN_QUEUE} if settings.MAHNWERK_RUN_QUEUE else {}
        group(signatures).apply_async(**queue)
        return
    for signature in signatures:
        if signature.apply().get() in ("stopped", "failed", "gone"):
            return


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
