"""When a letter left, or that it did not: the day a letter counts from.

An e-mail counts from the run's date when the mail server took it at the first attempt, else
from the day it took it (``delivery.dispatch_day``); a paper letter from the day it was posted,
and if that is later than its run it is dated that day and its deadline set from it
(``post_letters``), so the buyer always gets the policy's full period. A letter that bounced no
longer counts. Each of these writes the letter's date, the case's handover column for its level
and the line on the case's timeline in one transaction with the outbox message's status.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.dunning import reasons as why
from mahnwerk.dunning.models import Channel, DeliveryStatus, Letter, OutboxMessage
from mahnwerk.dunning.outbox import ACTOR, STOP_REASONS, OutboxError, print_queue
from mahnwerk.formats import format_day
from mahnwerk.reasons import Reason

# -- The case's timeline and letter dates ----------------------------------------------------------


def note_on_case(*, case: DebtCase, reason: Reason, changes: dict[str, Any] | None = None,
                 effective: date | None = None) -> None:
    """A line on the case's timeline (and the case's letter dates), written on the case as it
    is now: the row is locked first, so the event records the state it really is in.
    ``effective``: the business date (the day a letter left), if not the moment recorded."""
    from mahnwerk.cases.services import change_case

    current = DebtCase.objects.select_for_update().get(pk=case.pk)
    change_case(case=current, actor=ACTOR, reason=reason, kind=EventKind.LETTER,
                changes=changes, effective=effective)


def record_left(*, letter: Letter, on: date, reason: Reason,
                claim: dict[str, Any] | None = None) -> None:
    """The letter left on ``on``: it counts from that day, and so does the handover file's
    column of its level, if the letter belongs to the case's current cycle. Call inside the
    transaction that changes the outbox message."""
    Letter.objects.filter(pk=letter.pk).update(dispatched_on=on)
    letter.dispatched_on = on
    case = DebtCase.objects.select_for_update().get(pk=letter.case_id)
    changes: dict[str, Any] = dict(claim or {})
    if letter.handover_column and letter.cycle == case.cycle:
        changes[letter.handover_column] = on
    note_on_case(case=case, reason=reason, changes=changes, effective=on)


def record_left_many(*, items: Sequence[tuple[Letter, date, Reason]]) -> None:
    """``record_left`` for many letters in a few statements (a chunk of the outbox): one
    update of the letters per day, the cases locked in one query (in id order, so two workers
    never wait for each other in a circle), one ``change_cases`` for their events. Call
    inside the transaction that changes the outbox messages."""
    from mahnwerk.cases.services import CaseChange, change_cases

    if not items:
        return
    by_day: dict[date, list[int]] = defaultdict(list)
    for letter, on, _reason in items:
        by_day[on].append(letter.pk)
        letter.dispatched_on = on
    for on, pks in by_day.items():
        Letter.objects.filter(pk__in=pks).update(dispatched_on=on)
    cases = {case.pk: case for case in DebtCase.objects.select_for_update().filter(
        pk__in={letter.case_id for letter, _on, _reason in items}).order_by("pk")}
    # A case appears once per call of change_cases: its second letter in the chunk (rare)
    # waits for the next round.
    rounds: list[list[CaseChange]] = []
    seen: dict[int, int] = defaultdict(int)
    for letter, on, reason in items:
        case = cases[letter.case_id]
        changes: dict[str, Any] = {}
        if letter.handover_column and letter.cycle == case.cycle:
            changes[letter.handover_column] = on
        number = seen[case.pk]
        seen[case.pk] += 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(CaseChange(case=case, reason=reason, kind=EventKind.LETTER,
                                         changes=changes, effective=on))
    for changes_of_round in rounds:
        change_cases(items=changes_of_round, actor=ACTOR)


def record_not_arrived(*, letter: Letter, reason: Reason) -> None:
    """A letter that was counted as left bounced: it no longer counts (nor does its date in the
    handover file's column, if it filled it), and the case waits until it goes by post.

    Unless a later letter of the same cycle has left already (a bounce that comes late): that
    letter reached the buyer and the waits count from it, so the earlier one stays counted, its
    date stays in the handover file (whose dates must follow one another), and it is not sent
    again."""
    case = DebtCase.objects.select_for_update().get(pk=letter.case_id)
    if later_letter_left(letter=letter):
        note_on_case(case=case, reason=reason)
        return
    left = letter.dispatched_on
    Letter.objects.filter(pk=letter.pk).update(dispatched_on=None)
    letter.dispatched_on = None
    # A later letter of the cycle that has not left either was written too early: it is
    # withdrawn, and the levels follow one another again from this one with their waits.
    later = Letter.objects.filter(case_id=letter.case_id, cycle=letter.cycle,
                                  level__gt=letter.level, withdrawn_at__isnull=True,
                                  dispatched_on__isnull=True)
    OutboxMessage.objects.filter(letter__in=later, status__in=[
        DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None)
    later.update(withdrawn_at=timezone.now())
    changes: dict[str, Any] = {}
    if (letter.handover_column and letter.cycle == case.cycle and left is not None
            and getattr(case, letter.handover_column) == left):
        changes[letter.handover_column] = None
    note_on_case(case=case, reason=reason, changes=changes)


def later_letter_left(*, letter: Letter) -> Letter | None:
    """A letter of a higher level of the same case and cycle that left, if any."""
    return (Letter.objects.filter(case_id=letter.case_id, cycle=letter.cycle,
                                  level__gt=letter.level, withdrawn_at__isnull=True,
                                  dispatched_on__isnull=False).order_by("level").first())


# -- Paper -----------------------------------------------------------------------------------------


def check_post_day(*, letter: Letter, on: date) -> None:
    """A letter can be posted from its run's date up to today, not before and not later."""
    earliest = letter.run.as_of if letter.run_id and letter.run else letter.letter_date
    today = timezone.localdate()
    if on < earliest:
        raise OutboxError(_("Letter %(level)s of order %(order)s belongs to a run as of "
                            "%(run)s; it cannot have been posted on %(on)s. Give %(run)s or "
                            "later.") % {"level": letter.level, "order": letter.case.order_id,
                                         "run": format_day(earliest), "on": format_day(on)})
    if on > today:
        raise OutboxError(_("%(on)s is in the future: a letter is marked posted on the day it "
                            "went out (today is %(today)s).")
                          % {"on": format_day(on), "today": format_day(today)})


def _redate(*, letter: Letter, on: date) -> dict[str, Any]:
    """A paper letter posted later than its run is dated that day and gets the policy's full
    period to pay from it: its words are composed again (with the amount open now, and the
    interest up to that day). Returns what changes on the case's claim (its charge)."""
    from mahnwerk.cases.claims import with_charge
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
    if composed.charge is None or letter.cycle != case.cycle:
        return {}
    return {"charges": with_charge(case.charges, composed.charge), "fees": composed.fees,
            "interest": composed.interest}


def post_letters(*, messages: Iterable[OutboxMessage], on: date, actor: str
                 ) -> list[OutboxMessage]:
    """Paper letters of the print queue were printed and posted on ``on``: each is dated that
    day if its run was earlier, counts from that day, and the case's timeline says so. All or
    nothing: one letter that cannot be posted on that day refuses the whole batch."""
    messages = list(messages)
    for message in messages:
        check_post_day(letter=message.letter, on=on)
    note = _("posted on %(on)s by %(who)s") % {"on": format_day(on), "who": actor}
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
            claim: dict[str, Any] = {}
            if on > letter.letter_date:
                claim = _redate(letter=letter, on=on)
                reason = Reason(why.LETTER_REDATED, {"level": letter.level,
                                                     "date": on.isoformat(),
                                                     "deadline": letter.deadline.isoformat()})
            else:
                reason = Reason(why.LETTER_POSTED, {"level": letter.level,
                                                    "date": on.isoformat()})
            record_left(letter=letter, on=on, reason=reason, claim=claim)
            message.status, message.sent_at, message.last_error = \
                DeliveryStatus.PRINTED, done, note
    return messages


def mark_printed(*, message: OutboxMessage, actor: str, on: date | None = None) -> None:
    """One letter of the print queue was printed and posted (today unless ``on`` says when)."""
    if message.channel != Channel.PRINT or message.status != DeliveryStatus.QUEUED:
        raise OutboxError(_("Only a queued letter of the print queue can be marked printed."))
    post_letters(messages=[message], on=on or timezone.localdate(), actor=actor)


def print_queue_pdf(*, messages: Iterable[OutboxMessage],
                    progress: Callable[[int, int], None] | None = None) -> bytes:
    """One PDF with every letter, one after the other (each starts on a new sheet);
    ``progress(done, total)`` after each letter."""

    from pypdf import PdfWriter

    from mahnwerk.dunning.letters import render_pdf

    messages = list(messages)
    writer = PdfWriter()
    for done, message in enumerate(messages, start=1):
        message.letter.case = message.case
        writer.append(io.BytesIO(render_pdf(message.letter)))
        if len(writer.pages) % 2:  # duplex printing: the next letter starts on a new sheet
            writer.add_blank_page()
        if progress is not None:
            progress(done, len(messages))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def print_and_post(*, on: date, actor: str, save: Callable[[bytes], None],
                   progress: Callable[[int, int], None] | None = None) -> list[OutboxMessage]:
    """The print queue as one job: every waiting letter is posted on ``on`` (dated that day if
    its run was earlier, ``post_letters``), then all of them go into one PDF as they are now,
    which is handed to ``save`` (write it to a file, keep it for a download).

    All or nothing: posting, rendering and ``save`` happen in one transaction, so a letter that
    cannot be posted that day, a PDF that cannot be made or a file that cannot be written
    leaves every letter waiting. An empty queue posts nothing and calls ``save`` not at all;
    the letters posted are returned."""
    with transaction.atomic():
        # Locked, so that a second job at the same time waits and then finds them posted.
        messages = list(print_queue().select_for_update(of=("self",)))
        if not messages:
            return []
        posted = post_letters(messages=messages, on=on, actor=actor)
        save(print_queue_pdf(messages=posted, progress=progress))
    return posted


# -- When e-mail did not work ----------------------------------------------------------------------


def send_by_post(*, message: OutboxMessage, actor: str) -> None:
    """An e-mail that failed for good or bounced goes to the print queue instead: the buyer
    must receive the letter before the case may go on; it counts from the day it is posted."""
    note = _("moved to the print queue by %(who)s after: %(error)s") % {
        "who": actor, "error": message.last_error or message.get_status_display()}
    state, cycle = DebtCase.objects.filter(pk=message.case_id).values_list(
        "state", "cycle").get()
    if state in STOP_REASONS:  # paid (or blocked ...) since: the letter must not go out
        raise OutboxError(str(STOP_REASONS[state]))
    letter = message.letter
    if letter.withdrawn_at is not None or letter.cycle != cycle:
        raise OutboxError(_("Letter %(level)s of order %(order)s belongs to a debt that was "
                            "settled or to a letter that was withdrawn; it is not sent any more.")
                          % {"level": letter.level, "order": message.case.order_id})
    later = later_letter_left(letter=letter)
    if later is not None:
        raise OutboxError(_("Letter %(later)s of order %(order)s reached the buyer on %(on)s, "
                            "after this one; letter %(level)s is not sent again.")
                          % {"later": later.level, "order": message.case.order_id,
                             "on": format_day(later.dispatched_on), "level": letter.level})
    with transaction.atomic():
        if not OutboxMessage.objects.filter(
                pk=message.pk, channel=Channel.EMAIL,
                status__in=[DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]).update(
                channel=Channel.PRINT, status=DeliveryStatus.QUEUED, next_attempt_at=None,
                last_error=note[:2000], print_since=timezone.localdate()):
            raise OutboxError(_("Only an e-mail that failed or bounced can go to the print "
                                "queue."))
        note_on_case(case=message.case, reason=Reason(why.LETTER_BY_POST, {
            "level": message.letter.level, "who": actor}))
    message.channel, message.status, message.last_error = Channel.PRINT, \
        DeliveryStatus.QUEUED, note


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


def confirm_stuck_sent(*, message: OutboxMessage, actor: str) -> None:
    """Record a stuck message as sent, after a person found its Message-ID in the mail
    server's log (the worker died after the server took it, before it wrote that down).

    The other half of ``release_stuck``: without it such a letter would never count as left
    and its case would wait for ever. It counts from the run's date if this was its first
    attempt, else from the day it was claimed (as ``delivery.dispatch_day``)."""
    with transaction.atomic():
        current = (OutboxMessage.objects.select_for_update().select_related("letter", "case")
                   .filter(pk=message.pk, status=DeliveryStatus.SENDING).first())
        if current is None:
            raise OutboxError(_("Only a message stuck in sending can be confirmed as sent."))
        claimed = current.next_attempt_at or timezone.now()
        letter = current.letter
        on = letter.letter_date if current.attempts == 0 else max(
            letter.letter_date, timezone.localdate(claimed))
        OutboxMessage.objects.filter(pk=current.pk).update(
            status=DeliveryStatus.SENT, sent_at=claimed, attempts=current.attempts + 1,
            next_attempt_at=None,
            last_error=(_("confirmed as sent by %(who)s from the mail server's log")
                        % {"who": actor})[:2000])
        record_left(letter=letter, on=on, reason=Reason(why.LETTER_LEFT, {
            "level": letter.level, "to": current.to_address, "date": on.isoformat()}))
    message.status = DeliveryStatus.SENT


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
            record_not_arrived(letter=message.letter, reason=Reason(why.LETTER_BOUNCED, {
                "level": message.letter.level, "to": message.to_address, "reason": reason}))
    return bool(messages) or OutboxMessage.objects.filter(
        message_id__in=candidates, status=DeliveryStatus.BOUNCED).exists()
