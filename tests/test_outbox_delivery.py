"""The outbox delivers letters to a real SMTP server on loopback (issue 3, item 4)."""

import email
import socket
import threading
from datetime import date, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from mahnwerk.dunning import outbox, services
from mahnwerk.dunning.models import Letter, OutboxMessage
from mahnwerk.dunning.tasks import deliver_outbox
from tests.factories import BERLIN, OrderFactory
from tests.helpers import incident, payment

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self, refuse: str = ""):
        self.messages = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    def start(refuse: str = ""):
        inbox = Inbox(refuse)
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_TIMEOUT = 5
        return inbox

    started = []
    yield start
    for controller in started:
        controller.stop()


def lettered_case(**order_fields):
    case = incident(OrderFactory(**order_fields), open_amount="300.00",
                    at=datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN))
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    case.refresh_from_db()
    return case


def test_a_queued_letter_is_delivered_once_with_text_html_pdf_and_headers(smtp):
    inbox = smtp()
    case = lettered_case(buyer_email="erika@example.org")
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "erika@example.org"
    assert message["X-Mahnwerk-Case"] == case.order_id
    assert message["X-Mahnwerk-Letter"] == "1"
    assert message["Subject"].startswith("Zahlungserinnerung")
    parts = {part.get_content_type(): part for part in message.walk()}
    assert case.offer_link in parts["text/plain"].get_payload(decode=True).decode()
    assert "Jetzt bezahlen" in parts["text/html"].get_payload(decode=True).decode()
    pdf = parts["application/pdf"]
    assert pdf.get_filename() == f"Mahnung-{case.order_id}-1.pdf"
    assert pdf.get_payload(decode=True).startswith(b"%PDF")
    stored = OutboxMessage.objects.get(case=case)
    assert stored.status == "sent" and stored.message_id == message["Message-ID"]


def test_two_workers_never_send_the_same_letter(smtp):
    inbox = smtp()
    lettered_case()
    results = []
    threads = [threading.Thread(target=lambda: results.append(outbox._claim(
        OutboxMessage.objects.get().pk))) for _ in range(1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True]
    assert outbox._claim(OutboxMessage.objects.get().pk) is False
    assert outbox.deliver_due()["sent"] == 0
    assert inbox.messages == []


def test_a_server_that_refuses_is_retried_with_back_off_then_failed(smtp, settings):
    smtp(refuse="451 4.3.0 try again later")
    lettered_case()
    settings.MAHNWERK_OUTBOX_MAX_ATTEMPTS = 2
    now = timezone.now()
    assert outbox.deliver_due(now=now)["retry"] == 1
    message = OutboxMessage.objects.get()
    assert message.status == "queued" and "451" in message.last_error
    assert message.next_attempt_at == now + timedelta(minutes=1)
    assert outbox.deliver_due(now=now)["retry"] == 0, "not before its time"
    assert outbox.deliver_due(now=now + timedelta(minutes=2))["failed"] == 1
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 2


def test_a_permanent_refusal_fails_at_once(smtp):
    smtp(refuse="550 5.1.1 no such mailbox")
    lettered_case()
    assert outbox.deliver_due()["failed"] == 1
    assert "550" in OutboxMessage.objects.get().last_error


def test_a_server_that_times_out_is_retried(settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.getsockname()[1]
    settings.EMAIL_TIMEOUT = 1
    try:
        lettered_case()
        assert outbox.deliver_due()["retry"] == 1
        assert "timed out" in OutboxMessage.objects.get().last_error
    finally:
        silent.close()


def test_a_buyer_without_email_goes_to_the_print_queue(smtp):
    inbox = smtp()
    case = lettered_case(buyer_email="")
    message = OutboxMessage.objects.get(case=case)
    assert (message.channel, message.status) == ("print", "queued")
    outbox.deliver_due()
    assert inbox.messages == []
    outbox.mark_printed(message=message, actor="anna")
    message.refresh_from_db()
    assert message.status == "printed"


def test_a_payment_before_delivery_cancels_the_letter(smtp):
    inbox = smtp()
    case = lettered_case()
    payment(case.order, amount="300.00", at=datetime(2026, 10, 2, tzinfo=BERLIN))
    assert OutboxMessage.objects.get(case=case).status == "cancelled"
    outbox.deliver_due()
    assert inbox.messages == []


def test_a_message_left_sending_by_a_dead_worker_is_not_resent(smtp):
    inbox = smtp()
    lettered_case()
    message = OutboxMessage.objects.get()
    OutboxMessage.objects.filter(pk=message.pk).update(status="sending")
    outbox.deliver_due()
    assert inbox.messages == []
    assert [m.pk for m in outbox.stuck(older_than=timedelta(0))] == [message.pk]
    outbox.release_stuck(message=OutboxMessage.objects.get(), actor="anna")
    outbox.deliver_due()
    assert len(inbox.messages) == 1


def test_the_celery_task_runs_the_same_delivery(smtp):
    inbox = smtp()
    lettered_case()
    assert deliver_outbox.delay().get() == {"sent": 1, "retry": 0, "failed": 0}
    assert len(inbox.messages) == 1
    assert Letter.objects.count() == 1
