"""The outbox: letters written in the same transaction as the case change, delivered by a worker.

``enqueue`` is called by the run inside the transaction that writes the letter and moves the
case; the message becomes visible to the worker only when that transaction commits, and only
then is the worker nudged: ``signals.letters_queued`` after the commit, which the tasks module
turns into a Celery task (so this module needs nothing of the tasks, and the tasks need nothing
of it but delivery). A letter goes by e-mail when the buyer has a valid address, else it waits
in the print queue (channel print, status queued) until it is posted.

Delivery by e-mail is ``dunning.delivery``; recording the day a letter left (accepted by the
mail server, posted), or that it did not arrive (failed, bounced), is ``dunning.dispatch``.
Every message keeps its status: queued, sending, sent, failed (with the error), bounced,
cancelled, or printed.

**Stopping.** A payment, a reorder, a cancellation, a block or the handover to the agency
cancels the case's queued letters (``cancel_for_case``, called from ``receivers``); the worker
also checks the case's state once more right before sending.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy

from mahnwerk.cases.claims import half_year_start
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning.models import BaseRate, Channel, DeliveryStatus, Letter, OutboxMessage
from mahnwerk.dunning.signals import letters_queued
from mahnwerk.intake.addresses import usable_email

#: Case states in which no letter may go out any more, and the reason stored on the message.
STOP_REASONS = {
    CaseState.PAID: gettext_lazy("The case is paid; the letter is no longer sent."),
    CaseState.REOPENED: gettext_lazy("The buyer ordered again; the letter is no longer sent."),
    CaseState.CANCELED: gettext_lazy("The case was cancelled; the letter is no longer sent."),
    CaseState.BLOCKED: gettext_lazy("The case was blocked; the letter is no longer sent."),
    CaseState.SENT_FOR_COLLECTION: gettext_lazy(
        "The case is with the collection agency; the letter is no longer sent."),
}


ACTOR = "outbox"


class OutboxError(ValueError):
    """An outbox action the message's status does not allow; the text says why."""


# -- Queueing --------------------------------------------------------------------------------------


def enqueue(*, letter: Letter) -> OutboxMessage:
    """Queue a letter: by e-mail when the buyer has a valid address, else for print and post.

    Call it inside the transaction that writes the letter; delivery is nudged once that
    transaction has committed (once per transaction, however many letters it queued)."""
    return enqueue_many(letters=[letter])[0]


def enqueue_many(*, letters: list[Letter]) -> list[OutboxMessage]:
    """``enqueue`` for a batch of letters written in the same transaction (a run's batch):
    one insert for all of them, one nudge after the commit."""
    dead = _dead_addresses(case_ids=[letter.case_id for letter in letters])
    messages = []
    for letter in letters:
        address = usable_email(letter.case.order.buyer_email)
        if (letter.case_id, address.lower()) in dead:
            address = ""  # it failed or bounced before: this letter goes by post at once
        messages.append(OutboxMessage(
            letter=letter, case=letter.case,
            channel=Channel.EMAIL if address else Channel.PRINT, to_address=address,
            status=DeliveryStatus.QUEUED,
            print_since=None if address else letter.letter_date))
    OutboxMessage.objects.bulk_create(messages)
    if any(message.channel == Channel.EMAIL for message in messages):
        _kick_after_commit()
    return messages


def _dead_addresses(*, case_ids: list[int]) -> set[tuple[int, str]]:
    """(case, e-mail address) pairs that failed for good or bounced for an earlier letter of
    the case (also one sent by post since): the next letter does not try them again."""
    dead: set[tuple[int, str]] = set()
    for start in range(0, len(case_ids), 900):
        rows = OutboxMessage.objects.filter(case_id__in=case_ids[start:start + 900]).filter(
            Q(status__in=[DeliveryStatus.FAILED, DeliveryStatus.BOUNCED])
            | Q(channel=Channel.PRINT)).exclude(to_address="")
        dead.update((case_id, address.lower())
                    for case_id, address in rows.values_list("case_id", "to_address"))
    return dead


def _kick() -> None:
    """Say that letters are waiting (after the commit); the tasks module asks a worker."""
    letters_queued.send(sender=OutboxMessage)


def _kick_after_commit() -> None:
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
            entry[1] is _kick for entry in getattr(connection, "run_on_commit", ())):
        return  # already nudged once this transaction
    transaction.on_commit(_kick, robust=True)


# -- Cancelling ------------------------------------------------------------------------------------


def _cancel(*, case_ids: Iterable[int], reason: str) -> int:
    ids = list(case_ids)
    if len(ids) > 900:
        # Many cases at once (a handover, an import): only those with a letter still queued
        # need a statement; the queue is read once through its status index. The cases are
        # locked by the caller's change, so no letter can be queued for them meanwhile.
        queued = set(OutboxMessage.objects.filter(
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED])
            .values_list("case_id", flat=True))
        ids = [case_id for case_id in ids if case_id in queued]
    cancelled = 0
    now = timezone.now()
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        # A letter that never left is withdrawn with its message: it does not count, and the
        # same level may be written again in the cycle (after an unblock, say). Letters whose
        # e-mail failed or bounced never reached the buyer either.
        waiting = OutboxMessage.objects.filter(
            case_id__in=chunk, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED,
                                           DeliveryStatus.BOUNCED])
        Letter.objects.filter(pk__in=waiting.values("letter_id"),
                              dispatched_on__isnull=True).update(withdrawn_at=now)
        # A failed or bounced e-mail is cancelled too: it must not go by post any more.
        cancelled += OutboxMessage.objects.filter(
            case_id__in=chunk, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED,
                                           DeliveryStatus.BOUNCED]).update(
            status=DeliveryStatus.CANCELLED, last_error=reason[:2000], next_attempt_at=None)
    return cancelled


def cancel_for_case(*, case: DebtCase, reason: str) -> int:
    """Cancel the case's letters not yet sent (e-mail and print); returns how many."""
    return _cancel(case_ids=[case.pk], reason=reason)


def cancel_for_cases(*, cases: Iterable[DebtCase], reason: str) -> int:
    """``cancel_for_case`` for many cases in a few queries (imports change thousands)."""
    return _cancel(case_ids=[case.pk for case in cases], reason=reason)


# -- Selectors -------------------------------------------------------------------------------------


def stuck(*, older_than: timedelta = timedelta(minutes=15)) -> list[OutboxMessage]:
    """Messages a worker claimed longer ago than ``older_than`` and never finished: maybe sent,
    maybe not. Look each one's ``message_id`` up in the mail server's log before releasing."""
    limit = timezone.now() - older_than
    return list(OutboxMessage.objects.filter(status=DeliveryStatus.SENDING)
                .exclude(next_attempt_at__gt=limit)
                .select_related("case", "letter").order_by("id"))


def status_counts() -> dict[str, int]:
    """How many messages are in each status (every status present, zero included)."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    counts.update(OutboxMessage.objects.order_by().values_list("status")
                  .annotate(n=Count("id")))
    return counts


def case_and_message_counts(*, today: date | None = None,
                            states: Collection[str] | None = None,
                            statuses: Collection[str] | None = None
                            ) -> tuple[dict[str, int], dict[str, int], bool]:
    """How many cases are in each state (``cases.selectors.count_by_state``), how many
    messages in each status (``status_counts``), and whether the base-rate table has a rate for
    the current half-year (``today``'s), in one query: the line under every workspace page's
    navigation and its warning. ``states`` and ``statuses`` count only those: the closed cases
    and the sent messages only grow, and the navigation shows neither (at a million cases the
    counting was most of every page, docs/scaling.md)."""
    kind = CharField()
    cases = DebtCase.objects.order_by()
    if states is not None:
        cases = cases.filter(state__in=sorted(states))
    cases = cases.values("state").annotate(
        n=Count("id"), side=Value("case", output_field=kind)).values_list("side", "state", "n")
    messages = OutboxMessage.objects.order_by()
    if statuses is not None:
        messages = messages.filter(status__in=sorted(statuses))
    messages = (messages.values("status").annotate(
        n=Count("id"), side=Value("message", output_field=kind))
        .values_list("side", "status", "n"))
    half_year = half_year_start(today or timezone.localdate())
    rate = (BaseRate.objects.order_by().filter(valid_from=half_year).values("valid_from")
            .annotate(n=Count("id"), side=Value("rate", output_field=kind),
                      key=Value("", output_field=kind)).values_list("side", "key", "n"))
    states: dict[str, int] = {}
    statuses = dict.fromkeys(DeliveryStatus.values, 0)
    has_rate = False
    for side, key, n in cases.union(messages, rate, all=True):
        if side == "rate":
            has_rate = n > 0
        else:
            (states if side == "case" else statuses)[key] = n
    return states, statuses, has_rate


def print_queue() -> QuerySet[OutboxMessage]:
    """Letters waiting to be printed and posted (buyers without an e-mail address)."""
    return (OutboxMessage.objects.filter(channel=Channel.PRINT, status=DeliveryStatus.QUEUED)
            .select_related("letter", "letter__run", "case", "case__order").order_by("id"))


def message_list(*, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    """The newest messages, of one status or all, for support's list."""
    messages = OutboxMessage.objects.select_related("letter", "case").order_by("-id")
    if status:
        messages = messages.filter(status=status)
    return list(messages[:limit])


def message_to_dict(message: OutboxMessage) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return timezone.localtime(value).isoformat() if value else None

    sending = message.status == DeliveryStatus.SENDING
    return {"id": message.pk, "order_id": message.case.order_id, "level": message.letter.level,
            "channel": message.channel, "to": message.to_address, "status": message.status,
            "attempts": message.attempts,
            "next_attempt_at": None if sending else iso(message.next_attempt_at),
            "claimed_at": iso(message.next_attempt_at) if sending else None,
            "sent_at": iso(message.sent_at), "message_id": message.message_id,
            "last_error": message.last_error, "created_at": iso(message.created_at)}
