"""The outbox: letters written in the same transaction as the case change, delivered by a worker.

``enqueue`` is called by the run inside the transaction that writes the letter and moves the
case; the message becomes visible to the worker only when that transaction commits, and only
then is the worker nudged (``transaction.on_commit``). A letter goes by e-mail when the buyer
has a valid address, else it waits in the print queue (channel print, status queued) until
support marks it printed.

Delivery (``deliver_due``) goes through Django's e-mail backends: SMTP, or a provider through
django-anymail. Every message keeps its status: queued, sending, sent, failed (with the error),
bounced, cancelled, or printed.

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

**Stopping.** A payment, a reorder, a cancellation, a block or the handover to the agency
cancels the case's queued letters (``cancel_for_case``, called from ``receivers``); the worker
also checks the case's state once more right before sending.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from anymail.exceptions import AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.models import Channel, DeliveryStatus, Letter, OutboxMessage
from mahnwerk.intake.addresses import usable_email
from mahnwerk.reasons import Reason

log = logging.getLogger(__name__)

#: The pause after the 1st, 2nd, ... failed attempt.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12))

#: With a broker, nudge the worker at most this often per process: a run writes hundreds of
#: letters a second, and one pass delivers them all (beat's pass every minute catches the rest).
KICK_INTERVAL_SECONDS = 5.0

#: Case states in which no letter may go out any more, and the reason stored on the message.
STOP_REASONS = {
    CaseState.PAID: gettext_lazy("The case is paid; the letter is no longer sent."),
    CaseState.REOPENED: gettext_lazy("The buyer ordered again; the letter is no longer sent."),
    CaseState.CANCELED: gettext_lazy("The case was cancelled; the letter is no longer sent."),
    CaseState.BLOCKED: gettext_lazy("The case was blocked; the letter is no longer sent."),
    CaseState.SENT_FOR_COLLECTION: gettext_lazy(
        "The case is with the collection agency; the letter is no longer sent."),
}

COUNT_KEYS = ("sent", "retry", "failed")
ACTOR = "outbox"

#: Errors of the mail server or the line to it: retried later.
DELIVERY_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError,
                                                    TimeoutError, AnymailError)
#: Errors that concern this one message; the connection stays usable for the next one.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, AnymailRecipientsRefused,
    AnymailInvalidAddress)
_ADDRESS_PROBLEM = re.compile(r"^\s*5\.1\.\d+")


class OutboxError(ValueError):
    """An outbox action the message's status does not allow; the text says why."""


# -- Queueing ------------------------------------------------------------------------------


def enqueue(*, letter: Letter) -> OutboxMessage:
    """Queue a letter: by e-mail when the buyer has a valid address, else for print and post.

    Call it inside the transaction that writes the letter; delivery is nudged once that
    transaction has committed (once per transaction, however many letters it queued)."""
    return enqueue_many(letters=[letter])[0]


def enqueue_many(*, letters: list[Letter]) -> list[OutboxMessage]:
    """``enqueue`` for a batch of letters written in the same transaction (a run's batch):
    one insert for all of them, one nudge after the commit."""
    messages = []
    for letter in letters:
        address = usable_email(letter.case.order.buyer_email)
        messages.append(OutboxMessage(
            letter=letter, case=letter.case,
            channel=Channel.EMAIL if address else Channel.PRINT, to_address=address,
            status=DeliveryStatus.QUEUED))
    OutboxMessage.objects.bulk_create(messages)
    if any(message.channel == Channel.EMAIL for message in messages):
        _kick_after_commit()
    return messages


_last_kick = 0.0


def _kick() -> None:
    """Ask a worker to deliver now; never fails the caller (beat delivers every minute)."""
    global _last_kick
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if not settings.MAHNWERK_DELIVER_EAGERLY:
            return  # embedded: `mahnwerk deliver-outbox` delivers (the run stays fast)
    else:
        if time.monotonic() - _last_kick < KICK_INTERVAL_SECONDS:
            return
        _last_kick = time.monotonic()
    from mahnwerk.dunning.tasks import deliver_outbox

    try:
        deliver_outbox.delay()
    except Exception:  # the broker is down: the letters stay queued for the next pass
        log.exception("could not ask the outbox worker to deliver; the next pass will")


def _kick_after_commit() -> None:
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
            entry[1] is _kick for entry in getattr(connection, "run_on_commit", ())):
        return  # already nudged once this transaction
    transaction.on_commit(_kick, robust=True)


# -- Delivery ------------------------------------------------------------------------------


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


def _note_on_case(*, case: DebtCase, reason: Reason, changes: dict[str, Any] | None = None
                  ) -> None:
    """A line on the case's timeline (and the case's letter dates), written on the case as it
    is now: the row is locked first, so the event records the state it really is in."""
    from mahnwerk.cases.services import change_case

    current = DebtCase.objects.select_for_update().get(pk=case.pk)
    change_case(case=current, actor=ACTOR, reason=reason, kind=EventKind.LETTER,
                changes=changes)


def _letter_left(*, letter: Letter, on: date, reason: Reason) -> None:
    """The letter left on ``on``: it counts from that day, and so does the handover file's
    column of its level, if the letter belongs to the case's current cycle. Call inside the
    transaction that changes the outbox message."""
    Letter.objects.filter(pk=letter.pk).update(dispatched_on=on)
    letter.dispatched_on = on
    case = DebtCase.objects.select_for_update().get(pk=letter.case_id)
    changes: dict[str, Any] = {}
    if letter.handover_column and letter.cycle == case.cycle:
        changes[letter.handover_column] = on
    _note_on_case(case=case, reason=reason, changes=changes)


def _letter_did_not_arrive(*, letter: Letter, reason: Reason) -> None:
    """A letter that was counted as left bounced: it no longer counts (nor does its date in the
    handover file's column, if it filled it)."""
    left = letter.dispatched_on
    Letter.objects.filter(pk=letter.pk).update(dispatched_on=None)
    letter.dispatched_on = None
    case = DebtCase.objects.select_for_update().get(pk=letter.case_id)
    changes: dict[str, Any] = {}
    if (letter.handover_column and letter.cycle == case.cycle and left is not None
            and getattr(case, letter.handover_column) == left):
        changes[letter.handover_column] = None
    _note_on_case(case=case, reason=reason, changes=changes)


def _failed(*, message: OutboxMessage, error: str, counts: dict[str, int]) -> None:
    with transaction.atomic():
        message.status = DeliveryStatus.FAILED
        message.last_error = error
        message.next_attempt_at = None
        message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        _note_on_case(case=message.case, reason=Reason(why.LETTER_FAILED, {
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
        OutboxMessage.objects.filter(pk=pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.CANCELLED, last_error=str(stop), next_attempt_at=None)
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
        message.save(update_fields=["status", "attempts", "sent_at", "message_id",
                                    "next_attempt_at", "last_error"])
        _letter_left(letter=message.letter, on=left, reason=Reason(why.LETTER_LEFT, {
            "level": message.letter.level, "to": message.to_address, "date": left.isoformat()}))
    counts["sent"] += 1
    return True


def dispatch_day(*, letter: Letter, attempts: int, accepted: date) -> date:
    """The day an e-mail letter counts from: the run's date when the mail server took it at the
    first attempt, else the day it took it (never before the date printed on the letter)."""
    if attempts <= 1:
        return letter.letter_date
    return max(letter.letter_date, accepted)


# -- Support's actions -----------------------------------------------------------------------


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
        cancelled += OutboxMessage.objects.filter(
            case_id__in=chunk, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.CANCELLED, last_error=reason[:2000], next_attempt_at=None)
    return cancelled


def cancel_for_case(*, case: DebtCase, reason: str) -> int:
    """Cancel the case's letters not yet sent (e-mail and print); returns how many."""
    return _cancel(case_ids=[case.pk], reason=reason)


def cancel_for_cases(*, cases: Iterable[DebtCase], reason: str) -> int:
    """``cancel_for_case`` for many cases in a few queries (imports change thousands)."""
    return _cancel(case_ids=[case.pk for case in cases], reason=reason)


def check_post_day(*, letter: Letter, on: date) -> None:
    """A letter can be posted from its run's date up to today, not before and not later."""
    earliest = letter.run.as_of if letter.run_id and letter.run else letter.letter_date
    today = timezone.localdate()
    if on < earliest:
        raise OutboxError(_("Letter %(level)s of order %(order)s belongs to a run as of "
                            "%(run)s; it cannot have been posted on %(on)s. Give %(run)s or "
                            "later.") % {"level": letter.level, "order": letter.case.order_id,
                                         "run": earliest.isoformat(), "on": on.isoformat()})
    if on > today:
        raise OutboxError(_("%(on)s is in the future: a letter is marked posted on the day it "
                            "went out (today is %(today)s).")
                          % {"on": on.isoformat(), "today": today.isoformat()})


def _redate(*, letter: Letter, on: date) -> None:
    """A paper letter posted later than its run is dated that day and gets the policy's full
    period to pay from it: its words are composed again (with the amount open now)."""
    from mahnwerk.dunning.letters import compose
    from mahnwerk.dunning.selectors import policy_for

    case = DebtCase.objects.select_related("order", "order__product", "vendor").get(
        pk=letter.case_id)
    policy = policy_for(vendor_id=case.vendor_id)
    composed = compose(case=case, level=letter.level, letter_date=on, policy=policy,
                       offer_link=letter.offer_link, language=letter.language)
    for name in ("letter_date", "deadline", "principal", "fees", "interest", "subject",
                 "body_html", "body_text"):
        setattr(letter, name, getattr(composed, name))
    letter.save(update_fields=["letter_date", "deadline", "principal", "fees", "interest",
                               "subject", "body_html", "body_text"])


def post_letters(*, messages: Iterable[OutboxMessage], on: date, actor: str
                 ) -> list[OutboxMessage]:
    """Paper letters of the print queue were printed and posted on ``on``: each is dated that
    day if its run was earlier, counts from that day, and the case's timeline says so. All or
    nothing: one letter that cannot be posted on that day refuses the whole batch."""
    messages = list(messages)
    for message in messages:
        check_post_day(letter=message.letter, on=on)
    note = _("posted on %(on)s by %(who)s") % {"on": on.isoformat(), "who": actor}
    done = timezone.now()
    with transaction.atomic():
        for message in messages:
            if not OutboxMessage.objects.filter(pk=message.pk, channel=Channel.PRINT,
                                                status=DeliveryStatus.QUEUED).update(
                    status=DeliveryStatus.PRINTED, sent_at=done, last_error=note):
                raise OutboxError(_("Letter %(level)s of order %(order)s is no longer waiting "
                                    "in the print queue; nothing was marked posted.")
                                  % {"level": message.letter.level,
                                     "order": message.case.order_id})
            letter = message.letter
            if on > letter.letter_date:
                _redate(letter=letter, on=on)
                reason = Reason(why.LETTER_REDATED, {"level": letter.level,
                                                     "date": on.isoformat(),
                                                     "deadline": letter.deadline.isoformat()})
            else:
                reason = Reason(why.LETTER_POSTED, {"level": letter.level,
                                                    "date": on.isoformat()})
            _letter_left(letter=letter, on=on, reason=reason)
            message.status, message.sent_at, message.last_error = \
                DeliveryStatus.PRINTED, done, note
    return messages


def mark_printed(*, message: OutboxMessage, actor: str, on: date | None = None) -> None:
    """One letter of the print queue was printed and posted (today unless ``on`` says when)."""
    if message.channel != Channel.PRINT or message.status != DeliveryStatus.QUEUED:
        raise OutboxError(_("Only a queued letter of the print queue can be marked printed."))
    post_letters(messages=[message], on=on or timezone.localdate(), actor=actor)


def print_queue_pdf(*, messages: Iterable[OutboxMessage]) -> bytes:
    """One PDF with every letter, one after the other (each starts on a new sheet)."""
    import io

    from pypdf import PdfWriter

    from mahnwerk.dunning.letters import render_pdf

    writer = PdfWriter()
    for message in messages:
        message.letter.case = message.case
        writer.append(io.BytesIO(render_pdf(message.letter)))
        if len(writer.pages) % 2:  # duplex printing: the next letter starts on a new sheet
            writer.add_blank_page()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def print_waiting_too_long(*, message: OutboxMessage, allowed_working_days: int,
                           today: date | None = None) -> bool:
    """Has a paper letter waited for printing longer than the policy allows (working days,
    German public holidays excluded)?"""
    if message.channel != Channel.PRINT or message.status != DeliveryStatus.QUEUED:
        return False
    return working_days_between(message.letter.letter_date,
                                today or timezone.localdate()) > allowed_working_days


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (Monday to Friday, German
    public holidays excluded, by the holidays library)."""
    import holidays

    if end <= start:
        return 0
    closed = holidays.country_holidays("DE", years=range(start.year, end.year + 1))
    days = 0
    day = start + timedelta(days=1)
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            days += 1
        day += timedelta(days=1)
    return days


def send_by_post(*, message: OutboxMessage, actor: str) -> None:
    """An e-mail that failed for good or bounced goes to the print queue instead: the buyer
    must receive the letter before the case may go on; it counts from the day it is posted."""
    note = _("moved to the print queue by %(who)s after: %(error)s") % {
        "who": actor, "error": message.last_error or message.get_status_display()}
    with transaction.atomic():
        if not OutboxMessage.objects.filter(
                pk=message.pk, channel=Channel.EMAIL,
                status__in=[DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]).update(
                channel=Channel.PRINT, status=DeliveryStatus.QUEUED, next_attempt_at=None,
                last_error=note[:2000]):
            raise OutboxError(_("Only an e-mail that failed or bounced can go to the print "
                                "queue."))
        _note_on_case(case=message.case, reason=Reason(why.LETTER_BY_POST, {
            "level": message.letter.level, "who": actor}))
    message.channel, message.status, message.last_error = Channel.PRINT, \
        DeliveryStatus.QUEUED, note


def stuck(*, older_than: timedelta = timedelta(minutes=15)) -> list[OutboxMessage]:
    """Messages a worker claimed longer ago than ``older_than`` and never finished: maybe sent,
    maybe not. Look each one's ``message_id`` up in the mail server's log before releasing."""
    limit = timezone.now() - older_than
    return list(OutboxMessage.objects.filter(status=DeliveryStatus.SENDING)
                .exclude(next_attempt_at__gt=limit)
                .select_related("case", "letter").order_by("id"))


def release_stuck(*, message: OutboxMessage, actor: str) -> None:
    """Put a stuck message back in the queue, after a person checked it was not delivered.

    Never automatic: only the mail server's log can tell whether it took the message before the
    worker died. The retry uses the same Message-ID, so a receiver may recognise a double."""
    note = _("released by %(who)s after checking it was not delivered") % {"who": actor}
    if not OutboxMessage.objects.filter(pk=message.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.QUEUED, next_attempt_at=None, last_error=note):
        raise OutboxError(_("Only a message stuck in sending can be released."))
    message.status, message.next_attempt_at, message.last_error = \
        DeliveryStatus.QUEUED, None, note


def record_bounce(*, message_id: str, reason: str) -> bool:
    """The mail provider reports a sent message as bounced (or rejected); False if unknown.

    The letter no longer counts as left (the case is held until it goes by post); the status
    and the line on the case's timeline commit together."""
    message_id = (message_id or "").strip()
    if not message_id:
        return False
    candidates = {message_id, message_id.strip("<>"), f"<{message_id.strip('<>')}>"}
    messages = list(OutboxMessage.objects.filter(
        message_id__in=candidates,
        status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING]).select_related("letter",
                                                                                 "case"))
    for message in messages:
        with transaction.atomic():
            if not OutboxMessage.objects.filter(
                    pk=message.pk, status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING]
            ).update(status=DeliveryStatus.BOUNCED, last_error=reason[:2000]):
                continue
            _letter_did_not_arrive(letter=message.letter, reason=Reason(why.LETTER_BOUNCED, {
                "level": message.letter.level, "to": message.to_address, "reason": reason}))
    return bool(messages) or OutboxMessage.objects.filter(
        message_id__in=candidates, status=DeliveryStatus.BOUNCED).exists()


# -- Selectors ---------------------------------------------------------------------------------


def status_counts() -> dict[str, int]:
    """How many messages are in each status (every status present, zero included)."""
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    counts.update(OutboxMessage.objects.order_by().values_list("status")
                  .annotate(n=Count("id")))
    return counts


def print_queue() -> QuerySet[OutboxMessage]:
    """Letters waiting to be printed and posted (buyers without an e-mail address)."""
    return (OutboxMessage.objects.filter(channel=Channel.PRINT, status=DeliveryStatus.QUEUED)
            .select_related("letter", "case", "case__order").order_by("id"))


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
