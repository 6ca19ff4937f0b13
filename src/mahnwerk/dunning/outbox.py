"""The outbox: letters written in the same transaction as the case change, delivered by a worker.

Delivery goes through Django's e-mail backends (SMTP, or a provider through django-anymail).
Each message keeps its status: queued, sending, sent, failed (with the error), bounced,
cancelled, or printed for letters that go by post. A message is never sent twice: a worker
claims it (queued -> sending) with one conditional UPDATE before talking to the mail server, so
two workers cannot both send it; a message left in "sending" by a worker that died is not
retried on its own, because nobody knows whether the server took it (``stuck``,
``release_stuck``). Failures are retried with growing pauses; after the last attempt the
message is failed with its error.
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase
from mahnwerk.dunning.models import Channel, DeliveryStatus, Letter, OutboxMessage

#: Pauses before the 2nd, 3rd, ... attempt.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))


def enqueue(*, letter: Letter) -> OutboxMessage:
    """Queue a letter: by e-mail when the buyer has an address, else for print and post."""
    address = (letter.case.order.buyer_email or "").strip()
    message = OutboxMessage.objects.create(
        letter=letter, case=letter.case, channel=Channel.EMAIL if address else Channel.PRINT,
        to_address=address)
    if address:
        from mahnwerk.dunning.tasks import deliver_outbox

        transaction.on_commit(_deliver_soon(deliver_outbox))
    return message


def _deliver_soon(task):
    def run() -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER and not settings.MAHNWERK_DELIVER_EAGERLY:
            return  # the embedded set-up delivers with `mahnwerk deliver-outbox`
        task.delay()

    return run


def _claim(message_id: int) -> bool:
    return OutboxMessage.objects.filter(pk=message_id, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SENDING) == 1


def _email(message: OutboxMessage) -> EmailMultiAlternatives:
    from mahnwerk.dunning.letters import render_pdf

    letter = message.letter
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ")
    message_id = make_msgid(idstring=f"mahnwerk.{message.pk}", domain=domain)
    email = EmailMultiAlternatives(
        subject=letter.subject, body=letter.body_text, to=[message.to_address],
        reply_to=[settings.MAHNWERK_CREDITOR["email"]],
        headers={"Message-ID": message_id, "X-Mahnwerk-Case": letter.case.order_id,
                 "X-Mahnwerk-Letter": str(letter.level), "Auto-Submitted": "auto-generated"})
    email.attach_alternative(letter.body_html, "text/html")
    email.attach(f"Mahnung-{letter.case.order_id}-{letter.level}.pdf", render_pdf(letter),
                 "application/pdf")
    return email


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Send the e-mail letters that are due; returns how many were sent, retried, failed."""
    now = now or timezone.now()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    due = list(OutboxMessage.objects.filter(channel=Channel.EMAIL, status=DeliveryStatus.QUEUED)
               .exclude(next_attempt_at__gt=now).order_by("id").values_list("id", flat=True)
               [:limit])
    for message_id in due:
        if not _claim(message_id):
            continue  # another worker has it
        message = OutboxMessage.objects.select_related(
            "letter", "letter__case", "letter__case__order", "letter__case__order__product",
            "letter__case__vendor").get(pk=message_id)
        try:
            email = _email(message)
        except Exception as exc:  # the letter cannot be built: nothing was sent, keep it
            message.status = DeliveryStatus.FAILED
            message.attempts += 1
            message.last_error = _("the letter could not be built: %(error)s") % {
                "error": f"{type(exc).__name__}: {exc}"}
            message.save(update_fields=["status", "attempts", "last_error"])
            counts["failed"] += 1
            continue
        try:
            email.send(fail_silently=False)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            permanent = isinstance(exc, smtplib.SMTPRecipientsRefused) and all(
                code >= 500 for code, _msg in exc.recipients.values())
            if permanent or message.attempts >= settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS:
                message.status = DeliveryStatus.FAILED
                counts["failed"] += 1
            else:
                message.status = DeliveryStatus.QUEUED
                message.next_attempt_at = now + BACKOFF[min(message.attempts - 1,
                                                            len(BACKOFF) - 1)]
                counts["retry"] += 1
            message.save(update_fields=["attempts", "last_error", "status",
                                        "next_attempt_at"])
            continue
        message.attempts += 1
        message.status = DeliveryStatus.SENT
        message.sent_at = timezone.now()
        message.message_id = email.extra_headers["Message-ID"]
        message.last_error = ""
        message.save(update_fields=["attempts", "status", "sent_at", "message_id",
                                    "last_error"])
        counts["sent"] += 1
    return counts


def cancel_for_case(*, case: DebtCase, reason: str) -> int:
    """A letter not yet sent is cancelled when the case no longer needs it."""
    return OutboxMessage.objects.filter(case=case, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.CANCELLED, last_error=reason[:2000])


def mark_printed(*, message: OutboxMessage, actor: str) -> None:
    if message.channel != Channel.PRINT or message.status != DeliveryStatus.QUEUED:
        raise ValueError(_("Only a queued letter of the print queue can be marked printed."))
    message.status = DeliveryStatus.PRINTED
    message.sent_at = timezone.now()
    message.last_error = _("printed by %(who)s") % {"who": actor}
    message.save(update_fields=["status", "sent_at", "last_error"])


def stuck(*, older_than: timedelta = timedelta(minutes=15)) -> list[OutboxMessage]:
    """Messages a worker claimed and never finished: maybe sent, maybe not."""
    limit = timezone.now() - older_than
    return list(OutboxMessage.objects.filter(status=DeliveryStatus.SENDING,
                                             created_at__lte=limit).select_related("case"))


def release_stuck(*, message: OutboxMessage, actor: str) -> None:
    """Put a stuck message back in the queue, after a person checked it was not delivered."""
    if message.status != DeliveryStatus.SENDING:
        raise ValueError(_("Only a message stuck in sending can be released."))
    message.status = DeliveryStatus.QUEUED
    message.last_error = _("released by %(who)s after checking it was not delivered") % {
        "who": actor}
    message.save(update_fields=["status", "last_error"])


def record_bounce(*, message_id: str, reason: str) -> bool:
    return OutboxMessage.objects.filter(message_id=message_id).update(
        status=DeliveryStatus.BOUNCED, last_error=reason[:2000]) > 0


def status_counts() -> dict[str, int]:
    return dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")))
