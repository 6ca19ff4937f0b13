"""Schemathesis over the intake API (issue 9, point 6): the real app answers on loopback.

Requests are made from the intake API's OpenAPI schema and sent over HTTP to pytest-django's
live server (a real WSGI server on 127.0.0.1, on the test database). Every answer is checked by
schemathesis: no server error, a documented status code, the documented content type, headers
and body; data the schema forbids is refused; the API key is enforced (a request without one,
with a wrong one or with a broken Authorization header gets 401, and schemathesis sends each
successful request again without the key and with a wrong one).

The schema is read when the tests are collected, since schemathesis makes one test per
operation then; it is the document the app serves at /api/v1/openapi.json, which the first test
checks on the live server. (``schemathesis.pytest.from_fixture``, which would load it from the
live server, fails under pytest 9.2: it reads ``Node._nodeid``, which pytest no longer has.)

The checkout platform's credentials are fixed for this module, so that the requests
schemathesis prepares before a test starts carry them. A webhook is signed as the platform
signs it: the timestamp is now and the signature is the HMAC of exactly the bytes sent. A
request whose headers schemathesis deliberately breaks goes out unsigned, as generated.

Bounded for CI: a few examples per operation besides schemathesis' boundary values, the same
ones every run (derandomized, no example database), well under two minutes on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import time
from urllib.request import urlopen

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from mahnwerk.intake.api_clients import sign_webhook
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import ApiClient
from mahnwerk.web.api import api
from tests.helpers import send

# A live server needs committed data, so every test here flushes the database at its end; the
# serialized rollback leaves it as the migrations made it (content types) for the tests after.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

KEY = "mw_5c4e3a11_schemathesis-platform-key"
WEBHOOK_SECRET = "whsec_schemathesis-platform-secret"

#: One record of each feed as the platform may send it, with only the required fields, so
#: that reading one back (200) is checked against its schema.
RECORDS = {
    "vendors": {"vendor_id": "48213", "name": "Akademie Sonnenschein GmbH",
                "email": "info@sonnenschein.example", "enrolled": True,
                "collection_mode": "approval", "dunning_by": "in_house"},
    "products": {"product_id": "P77000", "vendor_id": "48213", "name": "Online-Kurs Yoga",
                 "dunning_enabled": True},
    "orders": {"order_id": "O4711", "vendor_id": "48213", "product_id": "P77000",
               "buyer_id": "B1", "payment_type": "installments", "amount_total": "600.00",
               "currency": "EUR", "created_at": "2025-05-02T10:00:00+02:00"},
    "incidents": {"incident_id": "I4711", "order_id": "O4711", "kind": "stopped_installments",
                  "occurred_at": "2025-06-01T09:00:00+02:00", "open_amount": "400.00",
                  "currency": "EUR"},
    "payments": {"payment_id": "PAY4711", "order_id": "O4711", "amount": "100.00",
                 "currency": "EUR", "paid_at": "2025-06-20T12:00:00+02:00",
                 "channel": "offer_link"},
}
STORED = {FEEDS[feed].key: record[FEEDS[feed].key] for feed, record in RECORDS.items()}

CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
    # Half the ids generated for a read path are the stored record's.
    "dictionaries": {name: {"values": [stored]} for name, stored in STORED.items()},
    "parameters": {f"path.{name}": {"dictionary": name, "probability": 0.5} for name in STORED},
    "operations": [{"include-method": "GET", "generation": {"max-examples": 10}}],
    # Every other check of schemathesis runs. This one expects any schema-valid request to be
    # accepted; the intake refuses valid-looking records that name an unknown vendor or order,
    # or whose currency is not their order's (422, documented), which no schema can express.
    "checks": {"positive_data_acceptance": {"enabled": False}},
})

#: The schema as the app serves it (the first test checks that the live server serves it).
SCHEMA = json.loads(json.dumps(api.get_openapi_schema()))
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)


@schema.auth(refresh_interval=None)
class PlatformKey:
    """The checkout platform's API key, as a bearer token."""

    def get(self, case, context):
        return KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def platform():
    """The checkout platform as an API client, and one stored record of each feed."""
    client = ApiClient.objects.create(
        name="checkout-platform", key_prefix=KEY.split("_")[1],
        key_hash=hashlib.sha256(KEY.encode()).hexdigest(), webhook_secret=WEBHOOK_SECRET)
    for feed, record in RECORDS.items():
        send(feed, record, actor="api:checkout-platform")
    return client


def wire_body(case) -> bytes | None:
    """The body exactly as it goes out: schemathesis' serialization, encoded by requests."""
    sent = case.as_transport_kwargs()
    body_kwargs = {name: sent[name] for name in ("json", "data") if name in sent}
    if not body_kwargs:
        return None
    body = requests.Request("POST", "http://127.0.0.1/", **body_kwargs).prepare().body
    return body.encode() if isinstance(body, str) else (body or b"")


def sign(case, body: bytes) -> None:
    """Sign a webhook delivery as the platform does, unless its headers are meant to be wrong."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    timestamp = int(time.time())
    case.headers = case.headers or {}
    case.headers["X-Mahnwerk-Timestamp"] = str(timestamp)
    case.headers["X-Mahnwerk-Signature"] = sign_webhook(
        secret=WEBHOOK_SECRET, timestamp=timestamp, body=body,
        delivery_id=case.headers.get("X-Mahnwerk-Delivery"))


def test_the_live_app_serves_the_schema_the_requests_are_made_from(live_server):
    """The live server serves the schema the requests below are made from."""
    with urlopen(f"{live_server.url}/api/v1/openapi.json", timeout=10) as response:
        assert json.load(response) == SCHEMA


@schema.parametrize()
@settings(deadline=None, database=None, derandomize=True,
          # The live server and the platform's client serve every request of one operation.
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_intake_api_answers_every_generated_request_as_its_schema_says(
        case, platform, live_server):
    """The intake API answers every generated request without a server error and as its
    schema says, signed webhooks included."""
    body = wire_body(case)
    if body is not None and case.path == "/api/v1/webhooks/platform":
        sign(case, body)
    extra = {} if body is None else {"data": body}  # the bytes that were signed
    case.call_and_validate(base_url=live_server.url, **extra)
