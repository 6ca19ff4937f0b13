"""Delivering the e-mail letters of the outbox (``deliver_due``), through Django's e-mail
backends: SMTP, or a provider through django-anymail.

**Never sent twice.** A worker claims a *chunk* of due messages (queued -> sending) in one
transaction before it renders and sends them (``claim_chunk``: on PostgreSQL under ``FOR UPDATE
SKIP LOCKED``, so two workers claiming at once get different messages); only the worker that
claimed a message sends it. A message left in "sending" by a worker that died is *not* retried
on its own: nobody can know whether the mail server took it before the worker died (the SMTP
conversation may have ended after the server accepted the data). ``stuck`` lists such messages
for support, with the Message-ID that was used, so they can look it up in the mail server's
log; ``release_stuck`` puts one back in the queue once a person has checked it was not sent.
While a message is in "sending", ``next_attempt_at`` holds the time it was claimed.

**Chunks, over workers.** ``deliver_chunk`` sends a chunk (``MAHNWERK_OUTBOX_CHUNK``) over one
SMTP connection, the postal addresses of its PDFs read at once, and records the outcome of the
whole chunk in one transaction (statuses, the letters' dates, the cases' events: a few
statements whatever its size). The Celery task ``tasks.deliver_outbox`` hands out one task per
chunk of due messages to any number of workers; ``deliver_due`` is one pass of chunks and
``deliver_all`` pass after pass until nothing is due (``mahnwerk deliver-outbox``). A worker
killed in the middle of a chunk leaves at most that chunk in "sending" (the messages it had
already recorded as sent are sent).

**Errors.** A refused or temporarily failing delivery (4xx and 5xx replies, refused connection,
timeout) goes back to the queue with a growing pause (``BACKOFF``) and the error; after
``MAHNWERK_OUTBOX_MAX_ATTEMPTS`` attempts it is failed with its error. A recipient the mail
server refuses permanently as an address problem (5xx with an enhanced status 5.1.x, e.g.
"550 5.1.1 no such mailbox") fails at once: asking again will not create the mailbox. Other 5xx
replies (relaying denied, 554 at DATA) are retried, because they usually mean our own set-up is
wrong and would fail every letter for good. A connection-level error (the server cannot be
reached, times out, drops the line) also stops the current pass: the remaining letters wait
for the next pass instead of each waiting for its own timeout. A letter that cannot be built
(its PDF fails) is retried the same way: nothing was sent, and the cause is more often a broken
set-up than a broken letter. A letter that fails for good also writes a line into the case's
timeline, and so does a bounce.

A letter the mail server accepted is recorded as left (``dispatch.record_left``) in the
same transaction as its status.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any, NamedTuple

from anymail.exceptions import AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk import bulk
from mahnwerk.cases import selectors
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.selectors import KnownAddress
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.dispatch import note_on_case, record_left_many
from mahnwerk.dunning.models import Channel, DeliveryStatus, Letter, OutboxMessage
from mahnwerk.dunning.outbox import STOP_REASONS
from mahnwerk.reasons import Reason

log = logging.getLogger(__name__)

#: The pause after the 1st, 2nd, ... failed attempt.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))


COUNT_KEYS = ("sent", "retry", "failed")

#: Errors of the mail server or the line to it: retried later.
DELIVERY_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError,
                                                    TimeoutError, AnymailError)
#: Errors that concern this one message; the connection stays usable for the next one.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, AnymailRecipientsRefused,
    AnymailInvalidAddress)


_ADDRESS_PROBLEM = re.compile(r"^\s*5\.1\.\d+")


def _domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "mahnwerk.invalid"


def _new_message_id(pk: int) -> str:
    return f"<mahnwerk.{pk}.{secrets.token_hex(8)}@{_domain()}>"


def _claim(message_id: int, *, header_id: str = "") -> bool:
    """Take a queued message for sending; True only for the one caller that changed the row."""
    changes: dict[str, Any] = {"status": DeliveryStatus.SENDING,
                               "next_attempt_at": timezone.now()}
    if header_id:
        changes["message_id"] = header_id
    return OutboxMessage.objects.filter(
        pk=message_id, status=DeliveryStatus.QUEUED).update(**changes) == 1


def attachment_name(letter: Letter) -> str:
    order = re.sub(r"[^A-Za-z0-9._-]+", "_", letter.case.order_id)
    return f"Mahnung-{order}-{letter.level}.pdf"


class _LetterEmail(EmailMultiAlternatives):
    """An e-mail whose MIME message is built once: the check before sending builds it, and the
    SMTP backend's ``send_messages`` would build it (base64 of the PDF and all) once more."""

    _built: Any = None

    def message(self, *args: Any, **kwargs: Any) -> Any:
        if self._built is None:
            self._built = super().message(*args, **kwargs)
        return self._built


def build_email(*, message: OutboxMessage,
                address: KnownAddress | None = None) -> EmailMultiAlternatives:
    """The e-mail of a queued message: text, HTML alternative, the letter as PDF, headers.
    ``address``: the postal address the PDF prints, if the caller read it already (a chunk
    reads its letters' addresses at once)."""
    from mahnwerk.dunning.letters import render_pdf

    letter = message.letter
    email = _LetterEmail(
        subject=letter.subject, body=letter.body_text, to=[message.to_address],
        from_email=settings.DEFAULT_FROM_EMAIL,
        reply_to=[settings.MAHNWERK_OUTBOX_REPLY_TO] if settings.MAHNWERK_OUTBOX_REPLY_TO
        else None,
        headers={"Message-ID": message.message_id or _new_message_id(message.pk),
                 "X-Mahnwerk-Case": letter.case.order_id,
                 "X-Mahnwerk-Letter": str(letter.level),
                 "Auto-Submitted": "auto-generated"})
    email.attach_alternative(letter.body_html, "text/html")
    email.attach(attachment_name(letter), render_pdf(letter, address=address),
                 "application/pdf")
    return email


def _error_text(exc: BaseException) -> str:
    """The error as support reads it, with the server's reply code and words."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{address}: {code} {_text(reply)}"
                         for address, (code, reply) in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    else:
        text = str(exc)
    return f"{type(exc).__name__}: {text}".rstrip(": ")[:2000]


def _permanent(exc: BaseException) -> bool:
    """A recipient refused for good: 5xx with an address status (5.1.x), or the provider's
    own refusal. Everything else may pass on a later attempt."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        return all(code >= 500 and _ADDRESS_PROBLEM.match(_text(reply))
                   for code, reply in exc.recipients.values())
    return False


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _backoff(attempts: int) -> timedelta:
    return BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]


# -- Chunks: claimed at once, sent over one connection, recorded at once ---------------------------
#
# A worker takes a *chunk* of due messages (``MAHNWERK_OUTBOX_CHUNK``, 100) in one statement:
# queued -> sending, on PostgreSQL under ``SELECT ... FOR UPDATE SKIP LOCKED`` so that two workers
# claiming at the same moment get different messages and neither waits for the other (SQLite has
# one writer at a time: the claim's IMMEDIATE transaction serialises it). It sends them over one
# SMTP connection and writes what happened to all of them in one transaction at the end. What a
# worker killed mid-chunk leaves: the messages it recorded as sent are sent; those it had
# claimed and not recorded stay in "sending" and are listed as stuck (never sent twice, see the
# module's docstring), at most one chunk.


#: Messages whose case state is read again before they are sent: a payment that arrives while a
#: chunk is on its way stops the letters not yet sent, as it did when every message was read
#: right before sending (one query per group, not one per message).
RECHECK_EVERY = 20


class ChunkResult(NamedTuple):
    """What one chunk did: the counts (``COUNT_KEYS``), how many messages it claimed, and
    whether the mail server could not be reached (the rest of the chunk went back to the
    queue, so the pass should stop instead of waiting for the next timeout)."""

    counts: dict[str, int]
    claimed: int
    stopped: bool


@dataclass
class _Outcome:
    message: OutboxMessage
    kind: str  # sent, retry, failed, cancelled
    stop: bool = False


def claim_chunk(*, now: datetime, size: int) -> list[int]:
    """Take up to ``size`` due e-mail messages for sending (queued -> sending, the oldest first)
    and give each its Message-ID; returns their ids, which only this caller holds."""
    with transaction.atomic():
        rows = list(OutboxMessage.objects.select_for_update(skip_locked=True)
                    .filter(channel=Channel.EMAIL, status=DeliveryStatus.QUEUED)
                    .exclude(next_attempt_at__gt=now).order_by("id")
                    .values_list("id", "message_id")[:size])
        if not rows:
            return []
        ids = [pk for pk, _header in rows]
        claimed = OutboxMessage.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.SENDING, next_attempt_at=timezone.now())
        if claimed != len(ids):  # cannot happen under the lock; never send what is not ours
            raise RuntimeError(f"claimed {claimed} of {len(ids)} outbox messages")
        fresh = [{"id": pk, "message_id": _new_message_id(pk)} for pk, header in rows
                 if not header]
        bulk.update_rows(OutboxMessage, fresh, ["message_id"])
    return ids


def _load(ids: list[int]) -> tuple[list[OutboxMessage], dict[int, KnownAddress]]:
    """The claimed messages with their letters, cases, orders, products and vendors (one
    query), and the postal address each letter prints (two queries for the chunk)."""
    messages = list(OutboxMessage.objects.filter(pk__in=ids).select_related(
        "letter", "case", "case__order", "case__order__product", "case__vendor").order_by("id"))
    for message in messages:
        message.letter.case = message.case
    cases = list({message.case_id: message.case for message in messages}.values())
    return messages, selectors.newest_addresses(cases=cases)


def _states(messages: list[OutboxMessage]) -> dict[int, str]:
    return dict(DebtCase.objects.filter(pk__in={m.case_id for m in messages})
                .values_list("pk", "state"))


def deliver_chunk(*, now: datetime | None = None, size: int | None = None) -> ChunkResult:
    """Claim one chunk of due e-mail messages, send them over one connection and record the
    outcome of all of them in one transaction. Safe in any number of workers at once."""
    now = now or timezone.now()
    counts = dict.fromkeys(COUNT_KEYS, 0)
    ids = claim_chunk(now=now, size=size or settings.MAHNWERK_OUTBOX_CHUNK)
    if not ids:
        return ChunkResult(counts, 0, False)
    outcomes: list[_Outcome] = []
    reached = 0  # messages taken in hand; the one being sent when something broke stays stuck
    stopped = False
    connection = None
    try:
        messages, addresses = _load(ids)
        connection = get_connection(fail_silently=False)
        for start in range(0, len(messages), RECHECK_EVERY):
            group = messages[start:start + RECHECK_EVERY]
            states = _states(group)
            for message in group:
                reached += 1
                outcome = _attempt(message=message, state=states[message.case_id], now=now,
                                   connection=connection,
                                   address=addresses.get(message.case_id))
                outcomes.append(outcome)
                if outcome.stop:
                    stopped = True
                    break
            if stopped:
                break
    finally:
        if connection is not None:
            try:
                connection.close()
            except Exception:  # the line is dead already
                log.debug("closing the mail connection failed", exc_info=True)
        # What was never taken in hand goes back to the queue; a message being sent when an
        # unexpected error struck (reached, without an outcome) stays in "sending": stuck.
        _record(outcomes=outcomes, unattempted=ids[reached:], counts=counts)
    return ChunkResult(counts, len(ids), stopped)


def _attempt(*, message: OutboxMessage, state: str, now: datetime, connection: Any,
             address: KnownAddress | None) -> _Outcome:
    """Send one claimed message; the outcome is written later with the chunk's."""
    stop = STOP_REASONS.get(state)
    if stop is not None:  # the receiver missed it (or it raced): do not send
        message.last_error = str(stop)
        log.info("outbox message %s cancelled before sending: %s", message.pk, stop)
        return _Outcome(message, "cancelled")
    message.attempts += 1
    try:
        email = build_email(message=message, address=address)
        email.message()  # a bad header or address shows here, before anything is sent
    except Exception as exc:  # nothing was sent; maybe a broken set-up (PDF), so retried
        log.exception("outbox message %s: the letter could not be built", message.pk)
        return _retry_or_fail(message=message, now=now, error=_(
            "the letter could not be built: %(error)s") % {"error": _error_text(exc)})
    try:
        connection.open()
        if connection.send_messages([email]) != 1:
            raise smtplib.SMTPException(_("the mail backend did not send the message"))
    except DELIVERY_ERRORS as exc:
        error = _error_text(exc)
        log.warning("outbox message %s: delivery failed: %s", message.pk, error)
        outcome = _retry_or_fail(message=message, now=now, error=error,
                                 permanent=_permanent(exc))
        if not isinstance(exc, MESSAGE_ERRORS):
            # The line or the server is the problem: drop it; the others wait for next pass.
            outcome.stop = True
            try:
                connection.close()
            except Exception:
                log.debug("closing the mail connection failed", exc_info=True)
        return outcome
    # A provider's own id is what its tracking webhook reports (bounces); else our header.
    provider_id = getattr(getattr(email, "anymail_status", None), "message_id", None)
    single = provider_id is not None and not isinstance(provider_id, set | frozenset)
    if single and str(provider_id):
        message.message_id = str(provider_id)[:255]
    message.status = DeliveryStatus.SENT
    message.sent_at = timezone.now()
    message.next_attempt_at = None
    message.last_error = ""
    return _Outcome(message, "sent")


def _retry_or_fail(*, message: OutboxMessage, now: datetime, error: str,
                   permanent: bool = False) -> _Outcome:
    message.last_error = error
    if permanent or message.attempts >= settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS:
        message.status = DeliveryStatus.FAILED
        message.next_attempt_at = None
        return _Outcome(message, "failed")
    message.status = DeliveryStatus.QUEUED
    message.next_attempt_at = now + _backoff(message.attempts)
    return _Outcome(message, "retry")


def _record(*, outcomes: list[_Outcome], unattempted: list[int],
            counts: dict[str, int]) -> None:
    """Write the chunk's outcomes in one transaction; should that fail (a case that cannot take
    its event), each message alone, so that one bad case holds back no other. A message whose
    outcome cannot be written at all stays in "sending" (listed as stuck)."""
    for outcome in outcomes:
        if outcome.kind in counts:
            counts[outcome.kind] += 1
    try:
        with transaction.atomic():
            _write(outcomes=outcomes, unattempted=unattempted)
        return
    except Exception:
        if len(outcomes) <= 1:
            log.exception("the outcome of an outbox message could not be recorded; it stays "
                          "in sending")
            raise
        log.exception("the outbox chunk could not be recorded at once; one by one now")
    for outcome in outcomes:
        try:
            with transaction.atomic():
                _write(outcomes=[outcome], unattempted=[])
        except Exception:
            log.exception("outbox message %s: its outcome could not be recorded; it stays in "
                          "sending", outcome.message.pk)
    with transaction.atomic():
        _write(outcomes=[], unattempted=unattempted)


def _write(*, outcomes: list[_Outcome], unattempted: list[int]) -> None:
    sending = DeliveryStatus.SENDING
    if unattempted:
        OutboxMessage.objects.filter(pk__in=unattempted, status=sending).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=None)
    by_kind: dict[str, list[OutboxMessage]] = {"sent": [], "retry": [], "failed": [],
                                               "cancelled": []}
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome.message)
    for message in by_kind["cancelled"]:
        if OutboxMessage.objects.filter(pk=message.pk, status=sending).update(
                status=DeliveryStatus.CANCELLED, last_error=message.last_error,
                next_attempt_at=None):
            # Withdrawn like every cancelled letter: it does not count, and after an unblock
            # the same level is written again.
            Letter.objects.filter(pk=message.letter_id, dispatched_on__isnull=True).update(
                withdrawn_at=timezone.now())
    for message in by_kind["retry"] + by_kind["failed"]:
        changed = OutboxMessage.objects.filter(pk=message.pk, status=sending).update(
            status=message.status, attempts=message.attempts, last_error=message.last_error,
            next_attempt_at=message.next_attempt_at)
        if changed and message.status == DeliveryStatus.FAILED:
            note_on_case(case=message.case, reason=Reason(why.LETTER_FAILED, {
                "level": message.letter.level, "to": message.to_address,
                "error": message.last_error}))
    sent = by_kind["sent"]
    if not sent:
        return
    # Only from "sending": a bounce reported while the mail server was still talking (a
    # provider can be that quick) wins, and the letter is not counted as left.
    still = set(OutboxMessage.objects.select_for_update().filter(
        pk__in=[m.pk for m in sent], status=sending).values_list("pk", flat=True))
    sent = [m for m in sent if m.pk in still]
    bulk.update_rows(OutboxMessage, [
        {"id": m.pk, "status": m.status, "attempts": m.attempts, "sent_at": m.sent_at,
         "message_id": m.message_id, "next_attempt_at": None, "last_error": ""} for m in sent],
        ["status", "attempts", "sent_at", "message_id", "next_attempt_at", "last_error"])
    left = []
    for message in sent:
        on = dispatch_day(letter=message.letter, attempts=message.attempts,
                          accepted=timezone.localdate(message.sent_at))
        left.append((message.letter, on, Reason(why.LETTER_LEFT, {
            "level": message.letter.level, "to": message.to_address,
            "date": on.isoformat()})))
    record_left_many(items=left)


# -- Passes ----------------------------------------------------------------------------------------


def _merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for key in COUNT_KEYS:
        into[key] += counts[key]


def _pass(*, now: datetime, limit: int) -> ChunkResult:
    """Up to ``limit`` messages, chunk after chunk; the counts, how many were claimed, and
    whether the mail server could not be reached."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    taken = 0
    while taken < limit:
        size = min(settings.MAHNWERK_OUTBOX_CHUNK, limit - taken)
        result = deliver_chunk(now=now, size=size)
        _merge(counts, result.counts)
        taken += result.claimed
        if result.stopped:
            return ChunkResult(counts, taken, True)
        if result.claimed < size:
            break
    return ChunkResult(counts, taken, False)


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """One pass: send up to ``limit`` e-mail letters that are due, chunk by chunk; returns how
    many were sent, retried, failed.

    Safe to run in several workers at once and as often as wanted: each chunk is claimed
    before it is sent. A mail server that cannot be reached ends the pass."""
    return _pass(now=now or timezone.now(), limit=limit).counts


def due_count(*, now: datetime | None = None) -> int:
    """How many e-mail letters are due now (queued, and not waiting for a later attempt)."""
    return (OutboxMessage.objects.filter(channel=Channel.EMAIL, status=DeliveryStatus.QUEUED)
            .exclude(next_attempt_at__gt=now or timezone.now()).count())


class PassReport(NamedTuple):
    """After one pass of ``deliver_all``: its number, the counts so far, how many are still
    due, and whether the mail server could not be reached (the passes end)."""

    number: int
    counts: dict[str, int]
    still_due: int
    stopped: bool


def deliver_all(*, pass_size: int = 500, limit: int | None = None,
                now: datetime | None = None,
                progress: Callable[[PassReport], None] | None = None) -> PassReport:
    """Send everything due, pass after pass of ``pass_size``, at most ``limit`` messages in all;
    ``progress`` hears about every pass. Ends when nothing is due, the limit is reached or the
    mail server cannot be reached. A letter put back for a later attempt is not tried again
    in the same call (its next attempt is after ``now``, the moment the call started)."""
    now = now or timezone.now()
    counts = dict.fromkeys(COUNT_KEYS, 0)
    taken = number = 0
    report = PassReport(0, counts, due_count(now=now), False)
    while report.still_due and (limit is None or taken < limit):
        size = pass_size if limit is None else min(pass_size, limit - taken)
        done = _pass(now=now, limit=size)
        _merge(counts, done.counts)
        number += 1
        taken += done.claimed
        report = PassReport(number, dict(counts), due_count(now=now), done.stopped)
        if progress is not None:
            progress(report)
        if done.stopped or not done.claimed:
            break  # the server is away, or the rest is claimed by other workers
    return report

def dispatch_day(*, letter: Letter, attempts: int, accepted: date) -> date:
    """The day an e-mail letter counts from: the run's date when the mail server took it at the
    first attempt, else the day it took it (never before the date printed on the letter)."""
    if attempts <= 1:
        return letter.letter_date
    return max(letter.letter_date, accepted)
