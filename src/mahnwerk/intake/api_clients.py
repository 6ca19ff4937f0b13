"""Who may use the intake API, and how a request proves it is genuine and new.

* API keys look like ``mw_<prefix>_<secret>``. Only the SHA-256 of the whole key is stored; the
  prefix finds the client, the hash is compared in constant time. The key is shown once.
* Webhook deliveries are signed with the client's webhook secret: HMAC-SHA256 over
  ``f"{timestamp}.{delivery_id}.{raw_body}"`` (``f"{timestamp}.{raw_body}"`` for a delivery sent
  without an id), sent as hex in ``X-Mahnwerk-Signature`` (``sha256=`` prefix allowed) with the
  unix seconds in ``X-Mahnwerk-Timestamp`` and the sender's id of the delivery in
  ``X-Mahnwerk-Delivery``. The timestamp must lie within
  ``settings.MAHNWERK_WEBHOOK_TOLERANCE_SECONDS`` of now. A delivery id is applied once per
  client (without an id, a timestamp is); a delivery that was refused is not recorded, so it may
  be corrected and resent under its id and timestamp, newly signed.
* An ``Idempotency-Key`` makes a request safe to retry: the answer to the first request that was
  applied is stored and replayed to every retry with the same body; the same key with another
  body is refused. A request that was refused (nothing applied) stores nothing, so it may be sent
  again, corrected, under the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mahnwerk.intake.models import ApiClient, IdempotencyRecord, WebhookDelivery

KEY_PREFIX = "mw"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
DELIVERY_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
_DELIVERY_ID_RE = re.compile(DELIVERY_ID_PATTERN)


class Rejected(Exception):
    """A request the API turns away, with the HTTP status and a message for the sender."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class ApiClientError(ValueError):
    """A management action on API clients that cannot be done (unknown name, name taken)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_prefix() -> str:
    while True:
        prefix = secrets.token_hex(4)
        if not ApiClient.objects.filter(key_prefix=prefix).exists():
            return prefix


def _new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


@transaction.atomic
def create_api_client(*, name: str) -> tuple[ApiClient, str]:
    """Make a client with a new API key and webhook secret; returns the key in plain text,
    which is its only appearance (only its hash is stored)."""
    name = name.strip()
    if not name:
        raise ApiClientError(_("The API client needs a name."))
    if ApiClient.objects.filter(name=name).exists():
        raise ApiClientError(_("An API client named %(name)s exists already.") % {"name": name})
    prefix = _new_prefix()
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    client = ApiClient.objects.create(name=name, key_prefix=prefix, key_hash=_hash(key),
                                      webhook_secret=_new_webhook_secret())
    return client, key


def authenticate(*, key: str) -> ApiClient | None:
    """The active client this API key belongs to, or None."""
    scheme, _sep, rest = (key or "").strip().partition("_")
    prefix, _sep, secret = rest.partition("_")
    if scheme != KEY_PREFIX or not prefix or not secret:
        return None
    client = ApiClient.objects.filter(key_prefix=prefix).first()
    if client is None or not client.is_active:
        return None
    if not hmac.compare_digest(_hash(key.strip()).encode(), client.key_hash.encode()):
        return None
    return client


def get_api_client(*, name: str) -> ApiClient:
    try:
        return ApiClient.objects.get(name=name)
    except ApiClient.DoesNotExist:
        raise ApiClientError(_("There is no API client named %(name)s.") % {"name": name}) from None


def deactivate_api_client(*, name: str) -> ApiClient:
    """Turn a client's key off (its history stays); a new key needs a new client."""
    client = get_api_client(name=name)
    client.is_active = False
    client.save(update_fields=["is_active"])
    return client


def rotate_webhook_secret(*, client: ApiClient) -> str:
    """Give the client a new webhook secret and return it; the old one stops working at once."""
    client.webhook_secret = _new_webhook_secret()
    client.save(update_fields=["webhook_secret"])
    return client.webhook_secret


def sign_webhook(*, secret: str, timestamp: int, body: bytes,
                 delivery_id: str | None = None) -> str:
    """The signature a sender puts in ``X-Mahnwerk-Signature`` (hex HMAC-SHA256)."""
    signed = f"{timestamp}." if delivery_id is None else f"{timestamp}.{delivery_id}."
    return hmac.new(secret.encode(), signed.encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery whose signature and age were checked; recorded once it is applied."""

    client: ApiClient
    delivery_id: str | None
    timestamp: int
    signature: str

    def _replay_message(self) -> str:
        if self.delivery_id is None:
            return _("Webhook timestamp %(timestamp)d was used before by this client; a replayed "
                     "delivery is refused. Sign each delivery with a new timestamp, or send "
                     "X-Mahnwerk-Delivery.") % {"timestamp": self.timestamp}
        return _("Webhook delivery %(delivery)s was applied before; a replayed delivery is "
                 "refused. Give each new delivery a new X-Mahnwerk-Delivery.") % {
            "delivery": self.delivery_id}

    def _known(self) -> bool:
        seen = WebhookDelivery.objects.filter(client=self.client)
        if self.delivery_id is None:
            return seen.filter(delivery_id="", timestamp=self.timestamp).exists()
        return seen.filter(delivery_id=self.delivery_id).exists()

    def refuse_replay(self) -> None:
        """Refuse (401) a delivery that was applied before."""
        if self._known():
            raise Rejected(401, self._replay_message())

    def record(self) -> None:
        """Note the delivery as applied; call it in the transaction that applies it."""
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(client=self.client,
                                               delivery_id=self.delivery_id or "",
                                               timestamp=self.timestamp,
                                               signature=self.signature)
        except IntegrityError:  # applied meanwhile by a concurrent request
            raise Rejected(401, self._replay_message()) from None


def check_webhook(*, client: ApiClient, timestamp: str | None, signature: str | None,
                  body: bytes, delivery_id: str | None = None,
                  now: float | None = None) -> Delivery:
    """Check a webhook delivery's signature, age and novelty.

    Raises ``Rejected``: 400 for missing or malformed headers, 401 for a wrong signature, a
    timestamp outside the tolerance or a delivery applied before (a replay). Nothing is
    recorded: the caller records the delivery (``Delivery.record``) when it applies it.
    """
    if not timestamp or not timestamp.strip():
        raise Rejected(400, _("Header X-Mahnwerk-Timestamp is missing: send the unix time in "
                              "seconds at which the delivery was signed."))
    if not signature or not signature.strip():
        raise Rejected(400, _("Header X-Mahnwerk-Signature is missing: send the hex "
                              "HMAC-SHA256 of \"<timestamp>.<body>\" made with the webhook "
                              "secret."))
    if delivery_id is not None:
        delivery_id = delivery_id.strip()
        if not _DELIVERY_ID_RE.fullmatch(delivery_id):
            raise Rejected(400, _("Header X-Mahnwerk-Delivery must be 1 to 64 letters, digits, "
                                  "'.', '_', ':' or '-', not %(value)s.")
                           % {"value": repr(delivery_id[:70])})
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Rejected(400, _("Header X-Mahnwerk-Timestamp must be unix time in whole seconds, "
                              "not %(value)s.") % {"value": timestamp[:40]})
    seconds = int(timestamp)
    if not client.webhook_secret:
        raise Rejected(401, _("API client %(name)s has no webhook secret; create one with "
                              "\"mahnwerk api-client rotate-webhook-secret %(name)s\".")
                       % {"name": client.name})
    given = signature.strip().lower().removeprefix("sha256=")
    expected = sign_webhook(secret=client.webhook_secret, timestamp=seconds, body=body,
                            delivery_id=delivery_id)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Rejected(401, _("Webhook signature does not match: sign \"<timestamp>.<body>\" "
                              "(the exact bytes sent), or \"<timestamp>.<delivery id>.<body>\" "
                              "with X-Mahnwerk-Delivery, with HMAC-SHA256 and the webhook "
                              "secret."))
    now = time.time() if now is None else now
    tolerance = settings.MAHNWERK_WEBHOOK_TOLERANCE_SECONDS
    if seconds < now - tolerance:
        raise Rejected(401, _("Webhook timestamp is %(age)d seconds old; at most %(max)d are "
                              "allowed. Sign each delivery when it is sent.")
                       % {"age": now - seconds, "max": tolerance})
    if seconds > now + tolerance:
        raise Rejected(401, _("Webhook timestamp lies %(ahead)d seconds in the future; at most "
                              "%(max)d are allowed. Check the sender's clock.")
                       % {"ahead": seconds - now, "max": tolerance})
    delivery = Delivery(client=client, delivery_id=delivery_id, timestamp=seconds,
                        signature=given)
    delivery.refuse_replay()
    return delivery


@dataclass(frozen=True)
class Answer:
    """What the API answers: HTTP status and JSON body; ``replayed`` if it was stored before."""

    status_code: int
    body: Any
    replayed: bool = False


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def _stored(*, client: ApiClient, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(client=client, key=key).first()


def _replay(*, stored: IdempotencyRecord, fingerprint: str, key: str) -> Answer:
    if not hmac.compare_digest(stored.request_hash, fingerprint):
        raise Rejected(422, _("Idempotency-Key %(key)s was already used for another request "
                              "(%(method)s %(path)s with a different body). Use a new key for "
                              "a new request.")
                       % {"key": key, "method": stored.method, "path": stored.path})
    return Answer(stored.status_code, json.loads(stored.response_body), replayed=True)


def respond_once(*, client: ApiClient, key: str | None, method: str, path: str, body: bytes,
                 respond: Callable[[], Answer]) -> Answer:
    """Run ``respond`` at most once per idempotency key and client.

    Without a key ``respond`` simply runs. With one, the first answer is stored in the same
    transaction as whatever ``respond`` wrote; the unique (client, key) constraint makes a
    concurrent second request wait and then replay that answer instead of applying again. If
    ``respond`` raises (the request was refused), nothing is stored.
    """
    if key is None:
        return respond()
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise Rejected(400, _("Idempotency-Key must be 1 to %(max)d characters long.")
                       % {"max": IDEMPOTENCY_KEY_MAX_LENGTH})
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    stored = _stored(client=client, key=key)
    if stored is not None:
        return _replay(stored=stored, fingerprint=fingerprint, key=key)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                client=client, key=key, method=method.upper()[:8], path=path[:500],
                request_hash=fingerprint, status_code=0, response_body="")
            answer = respond()
            record.status_code = answer.status_code
            record.response_body = json.dumps(answer.body, cls=DjangoJSONEncoder)
            record.save(update_fields=["status_code", "response_body"])
    except IntegrityError:
        stored = _stored(client=client, key=key)
        if stored is None:
            raise
        return _replay(stored=stored, fingerprint=fingerprint, key=key)
    return answer
