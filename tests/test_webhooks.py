"""Webhooks that prove who sent them (issue 9, point 2).

A mail provider's bounce webhook answers only when the provider is configured with its secret,
and then only to calls that carry it. The platform's webhook knows each delivery by its id: an
applied delivery is not applied twice, a refused one may be corrected and sent again."""

import base64
import json
import re
import time
import warnings

import pytest
from anymail.exceptions import AnymailInsecureWebhookWarning
from django.test import Client

from mahnwerk.dunning.models import OutboxMessage
from mahnwerk.dunning.webhooks import TRACKING_VIEWS, provider_configured
from mahnwerk.intake.api_clients import create_api_client, sign_webhook
from mahnwerk.intake.models import Incident, WebhookDelivery
from tests.factories import OrderFactory
from tests.test_outbox import queued_letter

pytestmark = pytest.mark.django_db

SECRET = "mahnwerk:s3cret"


# --- The mail provider's bounce webhook --------------------------------------------------------

def sent_letter(message_id="b7bc2f4a-e38e-4336"):
    queued = queued_letter()
    OutboxMessage.objects.filter(pk=queued.pk).update(status="sent", message_id=message_id)
    queued.refresh_from_db()
    return queued


def forged_postmark_bounce(message_id="b7bc2f4a-e38e-4336"):
    """What a buyer who knows the letter's Message-ID could send to mark it undelivered."""
    return {"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1,
            "MessageID": message_id, "Email": "erika@example.org",
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 user unknown", "BouncedAt": "2026-10-02T10:00:00Z"}


def basic_auth(credentials):
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def post_bounce(credentials=None, *, provider="postmark"):
    headers = {"Authorization": basic_auth(credentials)} if credentials else {}
    return Client().post(f"/anymail/{provider}/tracking/", forged_postmark_bounce(),
                         content_type="application/json", headers=headers)


def test_with_the_default_settings_no_bounce_webhook_is_mounted(settings):
    settings.ANYMAIL = {}
    letter = sent_letter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnymailInsecureWebhookWarning)
        for provider in [*TRACKING_VIEWS, "nosuchprovider"]:
            response = post_bounce(provider=provider)
            assert response.status_code == 404, provider
    letter.refresh_from_db()
    assert letter.status == "sent", "a forged bounce without any secret set changes nothing"


def test_the_inbound_webhooks_are_not_mounted(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    response = Client().post("/anymail/postmark/inbound/", {}, content_type="application/json",
                             headers={"Authorization": basic_auth(SECRET)})
    assert response.status_code == 404


def test_a_forged_bounce_is_refused_and_the_authorised_one_marks_the_letter(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    letter = sent_letter()

    assert post_bounce().status_code in (400, 401), "unsigned"
    assert post_bounce("mahnwerk:guessed").status_code in (400, 401), "wrong password"
    letter.refresh_from_db()
    assert letter.status == "sent", "a refused call changes nothing"

    assert post_bounce(SECRET).status_code == 200
    letter.refresh_from_db()
    assert letter.status == "bounced" and "user unknown" in letter.last_error


def test_a_provider_configured_only_half_answers_404_not_500(settings):
    """Mailgun signs its calls: with basic auth alone anymail cannot check them."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    assert post_bounce(SECRET, provider="mailgun").status_code == 404


def test_a_provider_is_configured_by_its_signing_key_alone(settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": "key-123"}
    assert provider_configured("mailgun")
    assert not provider_configured("postmark"), "Postmark has only basic auth"
    assert post_bounce(provider="postmark").status_code == 404
    response = Client().post("/anymail/mailgun/tracking/", {"signature": {}},
                             content_type="application/json")
    assert response.status_code == 400, "an unsigned call to a configured provider is refused"


# --- The platform's webhook: one delivery, applied once ----------------------------------------

@pytest.fixture
def platform():
    return create_api_client(name="checkout-platform")


def incident_payload(order, **fields):
    return {"type": "incident", "data": {
        "incident_id": "i1", "order_id": order.order_id, "kind": "stopped_installments",
        "occurred_at": "2025-06-01T09:00:00+02:00", "open_amount": "400.00",
        "currency": order.currency, **fields}}


def deliver(platform, payload, *, delivery, timestamp=None):
    client, key = platform
    body = json.dumps(payload).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = sign_webhook(secret=client.webhook_secret, timestamp=timestamp, body=body,
                             delivery_id=delivery)
    headers = {"Authorization": f"Bearer {key}", "X-Mahnwerk-Timestamp": str(timestamp),
               "X-Mahnwerk-Signature": signature}
    if delivery is not None:
        headers["X-Mahnwerk-Delivery"] = delivery
    return Client().post("/api/v1/webhooks/platform", data=body,
                         content_type="application/json", headers=headers)


def test_a_refused_delivery_is_corrected_and_resent_with_its_id_and_timestamp(platform):
    order = OrderFactory(currency="EUR")
    timestamp = int(time.time())
    refused = deliver(platform, incident_payload(order, currency="USD"), delivery="evt-1",
                      timestamp=timestamp)
    assert refused.status_code == 422
    assert not WebhookDelivery.objects.exists(), "a refused delivery leaves no trace"

    corrected = deliver(platform, incident_payload(order), delivery="evt-1",
                        timestamp=timestamp)
    assert corrected.status_code == 200, corrected.json()
    assert Incident.objects.count() == 1


def test_the_same_applied_delivery_twice_is_a_replay(platform):
    order = OrderFactory()
    payload = incident_payload(order)
    assert deliver(platform, payload, delivery="evt-1").status_code == 200
    Incident.objects.all().delete()
    replay = deliver(platform, payload, delivery="evt-1", timestamp=int(time.time()) + 1)
    assert replay.status_code == 401
    assert "evt-1" in replay.json()["detail"]
    assert not Incident.objects.exists()


def test_two_deliveries_in_the_same_second_are_both_applied(platform):
    order = OrderFactory()
    timestamp = int(time.time())
    assert deliver(platform, incident_payload(order), delivery="evt-1",
                   timestamp=timestamp).status_code == 200
    assert deliver(platform, incident_payload(order, incident_id="i2"), delivery="evt-2",
                   timestamp=timestamp).status_code == 200
    assert Incident.objects.count() == 2


def test_the_delivery_id_is_signed_so_a_replay_cannot_rename_it(platform):
    client, key = platform
    order = OrderFactory()
    timestamp = int(time.time())
    body = json.dumps(incident_payload(order)).encode()
    signature = sign_webhook(secret=client.webhook_secret, timestamp=timestamp, body=body,
                             delivery_id="evt-1")
    headers = {"Authorization": f"Bearer {key}", "X-Mahnwerk-Timestamp": str(timestamp),
               "X-Mahnwerk-Signature": signature}
    for renamed in ({"X-Mahnwerk-Delivery": "evt-2"}, {}):
        response = Client().post("/api/v1/webhooks/platform", data=body,
                                 content_type="application/json",
                                 headers={**headers, **renamed})
        assert response.status_code == 401
    assert not Incident.objects.exists()


def test_without_a_delivery_id_the_timestamp_is_applied_once_but_a_refusal_may_be_resent(
        platform):
    order = OrderFactory(currency="EUR")
    timestamp = int(time.time())
    assert deliver(platform, incident_payload(order, currency="USD"), delivery=None,
                   timestamp=timestamp).status_code == 422
    assert deliver(platform, incident_payload(order), delivery=None,
                   timestamp=timestamp).status_code == 200
    replay = deliver(platform, incident_payload(order, incident_id="i2"), delivery=None,
                     timestamp=timestamp)
    assert replay.status_code == 401 and str(timestamp) in replay.json()["detail"]


@pytest.mark.parametrize("delivery", ["", "evt 1", "evt/1", "e" * 65, "evt\x001"])
def test_a_malformed_delivery_id_is_refused_with_400(platform, delivery):
    client, key = platform
    order = OrderFactory()
    body = json.dumps(incident_payload(order)).encode()
    timestamp = int(time.time())
    response = Client().post(
        "/api/v1/webhooks/platform", data=body, content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "X-Mahnwerk-Timestamp": str(timestamp),
                 "X-Mahnwerk-Delivery": delivery,
                 "X-Mahnwerk-Signature": sign_webhook(secret=client.webhook_secret,
                                                      timestamp=timestamp, body=body)})
    assert response.status_code == 400
    assert "X-Mahnwerk-Delivery" in response.json()["detail"]


# --- The schema says what the server enforces --------------------------------------------------

def test_the_schema_refuses_the_empty_headers_the_server_refuses():
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/webhooks/platform"]["post"]
    headers = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers["Idempotency-Key"]["minLength"] == 1
    assert headers["X-Mahnwerk-Signature"]["minLength"] == 1
    assert headers["X-Mahnwerk-Signature"]["pattern"]
    assert headers["X-Mahnwerk-Delivery"]["minLength"] == 1
    assert headers["X-Mahnwerk-Delivery"]["pattern"]
    batch = schema["paths"]["/api/v1/vendors"]["post"]
    [idempotency] = [p for p in batch["parameters"] if p["name"] == "Idempotency-Key"]
    assert idempotency["schema"]["minLength"] == 1


def test_the_header_patterns_admit_only_values_http_can_carry():
    """Found by schemathesis: the schema allowed a signature " 0", with a leading blank that
    HTTP strips and no client can send; a header value is stated without surrounding blanks."""
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/webhooks/platform"]["post"]
    headers = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "header"}
    for name in ("Idempotency-Key", "X-Mahnwerk-Signature", "X-Mahnwerk-Delivery"):
        pattern = re.compile(headers[name]["pattern"])
        for value in (" 0", "0 ", "\t0", " sha256=0"):
            assert not pattern.search(value), (name, value)
    assert re.search(headers["X-Mahnwerk-Signature"]["pattern"], "SHA256=0aF")
    assert re.search(headers["Idempotency-Key"]["pattern"], "order 4711, retry")
