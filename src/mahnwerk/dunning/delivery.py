"""Delivering the e-mail letters of the outbox (``deliver_due``), through Django's e-mail
backends: SMTP, or a provider through django-anymail.

**Never sent twice.** A worker claims a message (queued -> sending) with one conditional UPDATE
before it renders and sends it; only the worker whose UPDATE changed the row goes on, so two
workers cannot both send it. A message left in "sending" by a worker that died is *not* retried
on its own: nobody can know whether the mail server took it before the worker died (the SMTP
conversation may have ended after the server accepted the data). ``stuck`` lists such messages
for support, with the Message-ID that was used, so they can look it up in the mail server's
log; ``release_stuck`` puts one back in the queue once a person has checked it was not sent.
While a message is in "sending", ``next_attempt_at`` holds the time it was claimed.

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
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from anymail.exceptions import AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.dispatch import note_on_case, record_left
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


def build_email(*, message: OutboxMessage) -> EmailMultiAlternatives:
    """The e-mail of a queued message: text, HTML alternative, the letter as PDF, headers."""
    from mahnwerk.dunning.letters import render_pdf

    letter = message.letter
    email = EmailMultiAlternatives(
        subject=letter.subject, body=letter.body_text, to=[message.to_address],
        from_email=settings.DEFAULT_FROM_EMAIL,
        reply_to=[settings.MAHNWERK_OUTBOX_REPLY_TO] if settings.MAHNWERK_OUTBOX_REPLY_TO
        else None,
        headers={"Message-ID": message.message_id or _new_message_id(message.pk),
                 "X-Mahnwerk-Case": letter.case.order_id,
                 "X-Mahnwerk-Letter": str(letter.level),
                 "Auto-Submitted": "auto-generated"})
    email.attach_alternative(letter.body_html, "text/html")
    email.attach(attachment_name(letter), render_pdf(letter), "application/pdf")
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


def _failed(*, message: OutboxMessage, error: str, counts: dict[str, int]) -> None:
    with transaction.atomic():
        message.status = DeliveryStatus.FAILED
        message.last_error = error
        message.next_attempt_at = None
        message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        note_on_case(case=message.case, reason=Reason(why.LETTER_FAILED, {
            "level": message.letter.level, "to": message.to_address, "error": error}))
    counts["failed"] += 1


def _retry_or_fail(*, message: OutboxMessage, now: datetime, error: str,
                   counts: dict[str, int], permanent: bool = False) -> None:
    if permanent or message.attempts >= settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS:
        _failed(message=message, counts=counts, error=error)
        return
    message.status = DeliveryStatus.QUEUED
    message.last_error = error
    message.next_attempt_at = now + _backoff(message.attempts)
    message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
    counts["retry"] += 1


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Send the e-mail letters that are due; returns how many were sent, retried, failed.

    Safe to run in several workers at once and as often as wanted: each message is claimed
    before it is sent."""
    now = now or timezone.now()
    counts = dict.fromkeys(COUNT_KEYS, 0)
    due = list(OutboxMessage.objects.filter(channel=Channel.EMAIL, status=DeliveryStatus.QUEUED)
               .exclude(next_attempt_at__gt=now).order_by("id")
               .values_list("id", "message_id")[:limit])
    if not due:
        return counts
    connection = get_connection(fail_silently=False)
    try:
        for pk, header_id in due:
            if not _deliver_one(pk=pk, header_id=header_id or _new_message_id(pk), now=now,
                                connection=connection, counts=counts):
                break
    finally:
        try:
            connection.close()
        except Exception:  # the line is dead already
            log.debug("closing the mail connection failed", exc_info=True)
    return counts


def _deliver_one(*, pk: int, header_id: str, now: datetime, connection: Any,
                 counts: dict[str, int]) -> bool:
    """Deliver one message if this worker gets it; False when the pass should stop."""
    if not _claim(pk, header_id=header_id):
        return True  # another worker has it, or it was cancelled meanwhile
    message = OutboxMessage.objects.select_related(
        "letter", "case", "case__order", "case__vendor").get(pk=pk)
    message.letter.case = message.case
    stop = STOP_REASONS.get(message.case.state)
    if stop is not None:  # the receiver missed it (or it raced): do not send
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.CANCELLED, last_error=str(stop), next_attempt_at=None)
            # Withdrawn like every cancelled letter: it does not count, and after an unblock
            # the same level is written again.
            Letter.objects.filter(pk=message.letter_id, dispatched_on__isnull=True).update(
                withdrawn_at=timezone.now())
        log.info("outbox message %s cancelled before sending: %s", pk, stop)
        return True
    message.attempts += 1
    try:
        email = build_email(message=message)
        email.message()  # a bad header or address shows here, before anything is sent
    except Exception as exc:  # nothing was sent; maybe a broken set-up (PDF), so retried
        log.exception("outbox message %s: the letter could not be built", pk)
        _retry_or_fail(message=message, now=now, counts=counts, error=_(
            "the letter could not be built: %(error)s") % {"error": _error_text(exc)})
        return True
    try:
        connection.open()
        if connection.send_messages([email]) != 1:
            raise smtplib.SMTPException(_("the mail backend did not send the message"))
    except DELIVERY_ERRORS as exc:
        error = _error_text(exc)
        log.warning("outbox message %s: delivery failed: %s", pk, error)
        _retry_or_fail(message=message, now=now, counts=counts, error=error,
                       permanent=_permanent(exc))
        if isinstance(exc, MESSAGE_ERRORS):
            return True
        try:  # the line or the server is the problem: drop it; the others wait for next pass
            connection.close()
        except Exception:
            log.debug("closing the mail connection failed", exc_info=True)
        return False
    # A provider's own id is what its tracking webhook reports (bounces); else our header.
    provider_id = getattr(getattr(email, "anymail_status", None), "message_id", None)
    message.status = DeliveryStatus.SENT
    message.sent_at = timezone.now()
    single = provider_id is not None and not isinstance(provider_id, set | frozenset)
    message.message_id = (str(provider_id) if single and str(provider_id) else header_id)[:255]
    message.next_attempt_at = None
    message.last_error = ""
    left = dispatch_day(letter=message.letter, attempts=message.attempts,
                        accepted=timezone.localdate(message.sent_at))
    with transaction.atomic():
        # Only from "sending": a bounce reported while the mail server was still talking (a
        # provider can be that quick) wins, and the letter is not counted as left.
        if OutboxMessage.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
                status=message.status, attempts=message.attempts, sent_at=message.sent_at,
                message_id=message.message_id, next_attempt_at=None, last_error=""):
            record_left(letter=message.letter, on=left, reason=Reason(why.LETTER_LEFT, {
                "level": message.letter.level, "to": message.to_address,
                "date": left.isoformat()}))
    counts["sent"] += 1
    return True


def dispatch_day(*, letter: Letter, attempts: int, accepted: date) -> date:
    """The day an e-mail letter counts from: the run's date when the mail server took it at the
    first attempt, else the day it took it (never before the date printed on the letter)."""
    if attempts <= 1:
        return letter.letter_date
    return max(letter.letter_date, accepted)
