"""Webhooks that prove who sent them (issue 9, point 2).

A mail provider's bounce webhook answers only when the provider is configured with its secret,
and then only to calls that carry it. The platform's webhook knows each delivery by its id: an
applied delivery is not applied twice, a refused one may be corrected and sent again."""

import base64
import warnings

import pytest
from anymail.exceptions import AnymailInsecureWebhookWarning
from django.test import Client

from mahnwerk.dunning.models import OutboxMessage
from mahnwerk.dunning.webhooks import TRACKING_VIEWS, provider_configured
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
