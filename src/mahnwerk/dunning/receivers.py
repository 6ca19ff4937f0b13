"""What the dunning app does when others announce something.

- A payment, a reorder, a cancellation, a block or the handover to the agency stops the dunning
  at once: a letter still in the outbox for that case is cancelled, not sent (issue 3, item 5).
  The cancellation happens inside the transaction that changed the case, so it commits or rolls
  back with it.
- Letters were queued (``signals.letters_queued``, after the commit): a worker is asked to
  deliver them (``tasks.deliver_soon``). The tasks module, and Celery with it, is loaded then,
  not at every process's start.
- A mail provider reports a bounce through django-anymail's tracking webhook: the message is
  marked bounced (set ``EMAIL_BACKEND`` to an anymail backend and the ``ANYMAIL`` settings with
  the webhook's secret; dunning.webhooks mounts it, see settings.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from anymail.signals import EventType, tracking
from django.db.models.signals import post_save
from django.dispatch import receiver

from mahnwerk import telemetry
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.signals import cases_changed
from mahnwerk.dunning.signals import letters_queued

#: Provider events that mean the message did not reach the buyer.
UNDELIVERED = frozenset({EventType.BOUNCED, EventType.REJECTED, EventType.FAILED})


@receiver(cases_changed, dispatch_uid="mahnwerk.dunning.stop_letters")
def stop_letters(sender: Any, changes: list[tuple[DebtCase, str, str]], **kwargs: Any) -> None:
    from mahnwerk.dunning.outbox import STOP_REASONS, cancel_for_cases

    by_state: dict[str, list[DebtCase]] = defaultdict(list)
    for case, _from_state, to_state in changes:
        if to_state in STOP_REASONS:
            by_state[to_state].append(case)
    for to_state, cases in by_state.items():
        cancel_for_cases(cases=cases, reason=str(STOP_REASONS[to_state]))


@receiver(letters_queued, dispatch_uid="mahnwerk.dunning.deliver_soon")
def deliver_soon(sender: Any, **kwargs: Any) -> None:
    from mahnwerk.dunning import tasks

    tasks.deliver_soon(sender, **kwargs)


@receiver(tracking, dispatch_uid="mahnwerk.dunning.record_bounces")
def record_bounces(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    from mahnwerk.dunning.dispatch import record_bounce

    if event.event_type not in UNDELIVERED or not event.message_id:
        return
    detail = event.mta_response or event.description or event.reject_reason or ""
    record_bounce(message_id=str(event.message_id),
                  reason=f"{esp_name}: {event.event_type}: {detail}".rstrip(": "))


@receiver(post_save, sender="dunning.DunningRun", dispatch_uid="mahnwerk.dunning.run_created")
def run_created(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A moment of the domain in the log: a run was created (its decisions follow)."""
    if created:
        telemetry.log.info("run created", run_id=instance.pk, as_of=str(instance.as_of),
                           vendor=instance.vendor_id, started_by=instance.started_by)
