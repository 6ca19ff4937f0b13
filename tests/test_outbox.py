"""The outbox delivers dunning letters to a real SMTP server on loopback, never twice
(issue 3, items 4 and 5)."""

from __future__ import annotations

import base64
import email
import json
import socket
from datetime import date, timedelta
from decimal import Decimal
from email.message import Message
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from anymail.signals import AnymailTrackingEvent, tracking
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from mahnwerk.cases.models import CaseEvent, DebtCase, EventKind
from mahnwerk.cases.services import block_case
from mahnwerk.dunning import delivery, dispatch, outbox, tasks
from mahnwerk.dunning.models import Letter, OutboxMessage
from mahnwerk.dunning.tasks import deliver_outbox
from tests.factories import OrderFactory
from tests.helpers import incident, payment

pytestmark = pytest.mark.django_db


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses as told."""

    def __init__(self, *, rcpt_reply: str = "", data_reply: str = ""):
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[Message]:
        return [email.message_from_bytes(e.content) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_smtp(settings, port: int, *, timeout: int = 5) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = timeout


@pytest.fixture
def smtp(settings):
    """Start an SMTP server on 127.0.0.1 and point Django's SMTP backend at it."""
    controllers = []

    def start(**replies: str) -> Inbox:
        inbox = Inbox(**replies)
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        use_smtp(settings, controller.port)
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_server(settings):
    """A server that accepts the connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    use_smtp(settings, server.getsockname()[1], timeout=1)
    yield server
    server.close()


def queued_letter(*, level: int = 1, **order_fields) -> OutboxMessage:
    case = incident(OrderFactory(**order_fields), open_amount="300.00")
    letter = Letter.objects.create(
        case=case, level=level, letter_date=date(2025, 7, 1), deadline=date(2025, 7, 15),
        language="de", principal=Decimal("300.00"), currency="EUR",
        offer_link=f"https://checkout.example/offer/{case.order_id}",
        subject=f"Zahlungserinnerung zur Bestellung {case.order_id}",
        body_html=f"<p>Bitte zahlen Sie <a href='https://checkout.example/offer/"
                  f"{case.order_id}'>hier</a>.</p>",
        body_text=f"Bitte zahlen Sie hier: https://checkout.example/offer/{case.order_id}")
    return outbox.enqueue(letter=letter)


def parts_of(message: Message) -> dict[str, Message]:
    return {part.get_content_type(): part for part in message.walk()}


# -- Delivery ------------------------------------------------------------------------------


def test_a_queued_letter_is_delivered_once_with_text_html_pdf_and_headers(smtp, settings):
    inbox = smtp()
    settings.MAHNWERK_OUTBOX_REPLY_TO = "antworten@checkout.example"
    queued = queued_letter(buyer_email="erika@example.org")
    case = queued.case
    assert (queued.channel, queued.status, queued.to_address) == ("email", "queued",
                                                                 "erika@example.org")

    assert delivery.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}

    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["erika@example.org"]
    assert envelope.mail_from == "forderungen@checkout.example"
    [message] = inbox.messages
    assert message["To"] == "erika@example.org"
    assert message["Subject"] == f"Zahlungserinnerung zur Bestellung {case.order_id}"
    assert message["X-Mahnwerk-Case"] == case.order_id
    assert message["X-Mahnwerk-Letter"] == "1"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Reply-To"] == "antworten@checkout.example"
    assert message.get_content_type() == "multipart/mixed"
    parts = parts_of(message)
    assert "multipart/alternative" in parts
    assert case.order_id in parts["text/plain"].get_payload(decode=True).decode()
    assert "<a href=" in parts["text/html"].get_payload(decode=True).decode()
    pdf = parts["application/pdf"]
    assert pdf.get_filename() == f"Mahnung-{case.order_id}-1.pdf"
    assert pdf.get_payload(decode=True).startswith(b"%PDF")

    stored = OutboxMessage.objects.get(pk=queued.pk)
    assert stored.status == "sent" and stored.attempts == 1 and stored.sent_at
    assert stored.message_id == message["Message-ID"]
    assert stored.message_id.startswith("<") and stored.message_id.endswith(
        "@checkout.example>")
    assert stored.next_attempt_at is None and stored.last_error == ""


def test_delivering_twice_sends_once(smtp):
    inbox = smtp()
    queued_letter()
    assert delivery.deliver_due()["sent"] == 1
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(inbox.envelopes) == 1


def test_two_claimers_send_once(smtp, monkeypatch):
    """Worker A is about to claim a chunk; worker B is quicker and claims and sends it. A
    gets nothing of it: the chunk is claimed in one statement that only one of them wins.
    (tests/test_delivery_workers.py has them race for real on PostgreSQL.)"""
    inbox = smtp()
    queued = queued_letter()
    real_claim = delivery.claim_chunk
    calls = []

    def claim_after_the_other_worker(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:  # worker A is about to claim: worker B is quicker
            monkeypatch.setattr(delivery, "claim_chunk", real_claim)
            assert delivery.deliver_due()["sent"] == 1
        return real_claim(**kwargs)

    monkeypatch.setattr(delivery, "claim_chunk", claim_after_the_other_worker)
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(inbox.envelopes) == 1
    assert delivery._claim(queued.pk) is False, "a sent message cannot be claimed again"
    assert delivery.claim_chunk(now=timezone.now(), size=10) == []


def test_a_server_refusing_for_now_is_retried_with_back_off_then_failed(smtp, settings):
    inbox = smtp(rcpt_reply="451 4.3.0 Mailbox temporarily unavailable")
    settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS = 3
    queued = queued_letter()
    now = timezone.now()

    assert delivery.deliver_due(now=now) == {"sent": 0, "retry": 1, "failed": 0}
    message = OutboxMessage.objects.get(pk=queued.pk)
    assert message.status == "queued" and message.attempts == 1
    assert "451" in message.last_error and "temporarily unavailable" in message.last_error
    assert message.next_attempt_at == now + timedelta(minutes=1)

    assert delivery.deliver_due(now=now + timedelta(seconds=30))["retry"] == 0, "not yet due"
    later = now + timedelta(minutes=1)
    assert delivery.deliver_due(now=later)["retry"] == 1
    message.refresh_from_db()
    assert message.attempts == 2 and message.next_attempt_at == later + timedelta(minutes=5)

    assert delivery.deliver_due(now=later + timedelta(minutes=5))["failed"] == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 3)
    assert "451" in message.last_error and message.next_attempt_at is None
    assert inbox.envelopes == []
    event = CaseEvent.objects.filter(case=message.case, kind=EventKind.LETTER).last()
    assert "451" in event.reason and event.actor == "outbox"
    assert delivery.deliver_due(now=later + timedelta(days=1))["failed"] == 0, "failed stays"


def test_a_refusal_after_data_is_retried_not_failed_at_once(smtp):
    smtp(data_reply="550 5.7.1 Message refused by policy")
    queued = queued_letter()
    assert delivery.deliver_due()["retry"] == 1
    message = OutboxMessage.objects.get(pk=queued.pk)
    assert message.status == "queued" and "550 5.7.1" in message.last_error


def test_a_mailbox_that_does_not_exist_fails_at_once(smtp):
    """A permanent refusal of the address (5xx, status 5.1.x) will not pass on a later try."""
    smtp(rcpt_reply="550 5.1.1 No such mailbox")
    queued = queued_letter()
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 1}
    message = OutboxMessage.objects.get(pk=queued.pk)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "550" in message.last_error and "No such mailbox" in message.last_error


def test_a_letter_whose_email_failed_for_good_holds_the_case_until_it_goes_by_post(smtp):
    smtp(rcpt_reply="550 5.1.1 No such mailbox")
    queued = queued_letter()
    delivery.deliver_due()
    message = OutboxMessage.objects.get(pk=queued.pk)
    from mahnwerk.dunning.selectors import run_facts

    [facts] = [f for f in run_facts() if f.case_id == message.case_id]
    assert [(f.level, f.status) for f in facts.letters] == [(1, "failed")], "the case is held"
    dispatch.send_by_post(message=message, actor="anna")
    message.refresh_from_db()
    assert (message.channel, message.status) == ("print", "queued")
    assert "550" in message.last_error and "anna" in message.last_error
    assert list(outbox.print_queue()) == [message]
    assert message.case.events.filter(code="letter.by_post", params__who="anna").exists()
    with pytest.raises(outbox.OutboxError):  # only once, and never for a sent e-mail
        dispatch.send_by_post(message=message, actor="anna")

    from mahnwerk.dunning.selectors import run_facts

    [facts] = [f for f in run_facts() if f.case_id == message.case_id]
    assert [(f.level, f.status) for f in facts.letters] == [(1, "print")], \
        "it waits for the print; it counts once it is posted"
    dispatch.mark_printed(message=message, actor="anna", on=timezone.localdate())
    [facts] = [f for f in run_facts() if f.case_id == message.case_id]
    assert [(f.level, f.status) for f in facts.letters] == [(1, "left")]


def test_a_server_that_times_out_gets_a_retry_and_stops_the_pass(silent_server):
    first, second = queued_letter(), queued_letter()
    now = timezone.now()
    assert delivery.deliver_due(now=now) == {"sent": 0, "retry": 1, "failed": 0}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "queued" and first.attempts == 1
    assert "timed out" in first.last_error
    assert first.next_attempt_at == now + timedelta(minutes=1)
    # The server is the problem, not the letter: the second one waits for the next pass
    # instead of waiting for its own timeout, and loses no attempt.
    assert (second.status, second.attempts, second.last_error) == ("queued", 0, "")


def test_a_refused_connection_gets_a_retry(settings):
    use_smtp(settings, free_port())
    queued = queued_letter()
    assert delivery.deliver_due()["retry"] == 1
    queued.refresh_from_db()
    assert queued.status == "queued" and "refused" in queued.last_error.lower()


def test_a_letter_whose_pdf_fails_is_retried_and_nothing_is_sent(smtp, monkeypatch):
    from mahnwerk.dunning import letters

    inbox = smtp()
    queued = queued_letter()

    def broken(letter, **kwargs):
        raise letters.LetterPdfError("typst: unknown font")

    monkeypatch.setattr(letters, "render_pdf", broken)
    assert delivery.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    queued.refresh_from_db()
    assert queued.status == "queued" and "unknown font" in queued.last_error
    assert inbox.envelopes == []
    monkeypatch.undo()
    assert delivery.deliver_due(now=timezone.now() + timedelta(minutes=2))["sent"] == 1


# -- The print queue ---------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["", "keine-angabe"])
def test_a_buyer_without_an_email_address_goes_to_the_print_queue(smtp, address):
    inbox = smtp()
    queued = queued_letter(buyer_email=address)
    assert (queued.channel, queued.status, queued.to_address) == ("print", "queued", "")
    assert list(outbox.print_queue()) == [queued]
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert inbox.envelopes == []

    dispatch.mark_printed(message=queued, actor="anna")
    queued.refresh_from_db()
    assert queued.status == "printed" and queued.sent_at and "anna" in queued.last_error
    assert list(outbox.print_queue()) == []
    with pytest.raises(outbox.OutboxError):
        dispatch.mark_printed(message=queued, actor="anna")


def test_an_email_letter_cannot_be_marked_printed():
    queued = queued_letter()
    with pytest.raises(outbox.OutboxError):
        dispatch.mark_printed(message=queued, actor="anna")


# -- Stopping --------------------------------------------------------------------------------


def test_a_payment_in_full_before_delivery_cancels_the_letter(smtp):
    inbox = smtp()
    queued = queued_letter()
    case = payment(queued.case.order, amount="300.00")
    assert case.state == "paid"
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert queued.last_error == "The case is paid; the letter is no longer sent." or \
        "bezahlt" in queued.last_error
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert inbox.envelopes == []


def test_a_part_payment_does_not_cancel_the_letter():
    queued = queued_letter()
    payment(queued.case.order, amount="100.00")
    queued.refresh_from_db()
    assert queued.status == "queued"


def test_blocking_the_case_cancels_its_print_letter_too():
    queued = queued_letter(buyer_email="")
    block_case(case=queued.case, reason="Anwaltsschreiben eingegangen", actor="anna")
    queued.refresh_from_db()
    assert queued.status == "cancelled"


def test_a_case_paid_behind_the_outbox_back_is_not_sent(smtp):
    """Belt and braces: the worker looks at the case once more before it sends."""
    inbox = smtp()
    queued = queued_letter()
    DebtCase.objects.filter(pk=queued.case_id).update(state="paid")
    assert delivery.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    queued.refresh_from_db()
    assert queued.status == "cancelled" and inbox.envelopes == []


# -- A worker that died mid-send ---------------------------------------------------------------


def test_a_message_left_sending_is_not_resent_but_listed_for_support(smtp):
    inbox = smtp()
    queued = queued_letter()
    assert delivery._claim(queued.pk, header_id="<crashed.1@checkout.example>")  # then it died

    assert delivery.deliver_due(now=timezone.now() + timedelta(days=1)) == {
        "sent": 0, "retry": 0, "failed": 0}
    assert inbox.envelopes == []
    assert outbox.stuck(older_than=timedelta(minutes=15)) == [], "just claimed: still working"
    [stuck] = outbox.stuck(older_than=timedelta(0))
    assert stuck.pk == queued.pk and stuck.message_id == "<crashed.1@checkout.example>"

    dispatch.release_stuck(message=stuck, actor="anna")
    stuck.refresh_from_db()
    assert stuck.status == "queued" and "anna" in stuck.last_error
    with pytest.raises(outbox.OutboxError):
        dispatch.release_stuck(message=stuck, actor="anna")
    assert delivery.deliver_due()["sent"] == 1
    [message] = inbox.messages
    assert message["Message-ID"] == "<crashed.1@checkout.example>", "same id on the retry"


# -- Bounces ---------------------------------------------------------------------------------


def test_a_bounce_reported_by_the_provider_marks_the_message(smtp):
    smtp()
    queued = queued_letter()
    delivery.deliver_due()
    queued.refresh_from_db()
    event = AnymailTrackingEvent(event_type="bounced", message_id=queued.message_id,
                                 mta_response="550 5.1.1 user unknown")
    tracking.send(sender=object, event=event, esp_name="Postmark")
    queued.refresh_from_db()
    assert queued.status == "bounced" and "user unknown" in queued.last_error
    assert "user unknown" in CaseEvent.objects.filter(case=queued.case,
                                                      kind=EventKind.LETTER).last().reason
    assert dispatch.record_bounce(message_id="<unknown@x>", reason="?") is False
    assert dispatch.record_bounce(message_id="", reason="?") is False


def test_through_a_provider_the_providers_id_is_kept_for_its_bounce_webhook(settings, mailoutbox):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    queued = queued_letter()
    assert delivery.deliver_due()["sent"] == 1
    [sent] = mailoutbox
    queued.refresh_from_db()
    assert queued.message_id == str(sent.anymail_status.message_id)
    assert sent.attachments[0][0] == f"Mahnung-{queued.case.order_id}-1.pdf"
    tracking.send(sender=object, esp_name="Test", event=AnymailTrackingEvent(
        event_type="rejected", message_id=queued.message_id, reject_reason="invalid"))
    queued.refresh_from_db()
    assert queued.status == "bounced"


def test_a_providers_bounce_webhook_through_the_url_marks_the_message(settings, client):
    """django-anymail's tracking webhook is routed (/anymail/…) and only takes signed calls."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "mahnwerk:s3cret"}
    queued = queued_letter()
    OutboxMessage.objects.filter(pk=queued.pk).update(status="sent",
                                                      message_id="b7bc2f4a-e38e-4336")
    bounce = {"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1,
              "MessageID": "b7bc2f4a-e38e-4336", "Email": "erika@example.org",
              "Description": "The server was unable to deliver your message.",
              "Details": "smtp;550 5.1.1 user unknown", "BouncedAt": "2026-10-02T10:00:00Z"}
    url = "/anymail/postmark/tracking/"
    assert client.post(url, bounce, content_type="application/json").status_code in (400, 401)
    queued.refresh_from_db()
    assert queued.status == "sent", "an unsigned call changes nothing"
    auth = "Basic " + base64.b64encode(b"mahnwerk:s3cret").decode()
    response = client.post(url, bounce, content_type="application/json",
                           HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    queued.refresh_from_db()
    assert queued.status == "bounced" and "user unknown" in queued.last_error


# -- After commit, the task, the commands --------------------------------------------------------


def test_queueing_nudges_delivery_once_per_transaction(smtp, settings,
                                                       django_capture_on_commit_callbacks):
    inbox = smtp()
    settings.MAHNWERK_DELIVER_EAGERLY = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        queued_letter()
        queued_letter()
        assert inbox.envelopes == [], "nothing leaves before the commit"
    assert len(callbacks) == 1
    assert len(inbox.envelopes) == 2
    assert outbox.status_counts()["sent"] == 2


def test_a_broker_that_is_down_does_not_fail_the_caller(settings, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(tasks, "_last_kick", 0.0)

    def broker_down():
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(deliver_outbox, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        queued = queued_letter()
    assert OutboxMessage.objects.get(pk=queued.pk).status == "queued"


def test_the_celery_task_runs_the_same_delivery(smtp):
    inbox = smtp()
    queued_letter()
    assert deliver_outbox.delay().get() == 1, "one chunk handed out, run here without a broker"
    assert len(inbox.envelopes) == 1
    assert outbox.status_counts()["sent"] == 1


def test_the_commands_deliver_and_list(smtp):
    inbox = smtp()
    queued = queued_letter()
    queued_letter(buyer_email="")
    out = StringIO()
    call_command("deliver_outbox", stdout=out, stderr=StringIO())
    assert "1" in out.getvalue() and len(inbox.envelopes) == 1

    out = StringIO()
    call_command("outbox", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["counts"]["sent"] == 1 and data["counts"]["queued"] == 1
    sent = next(m for m in data["messages"] if m["id"] == queued.pk)
    assert sent["order_id"] == queued.case.order_id and sent["status"] == "sent"

    out = StringIO()
    call_command("outbox", "--status", "queued", stdout=out, stderr=StringIO())
    table = out.getvalue()
    assert queued.case.order_id not in table and "–" in table
