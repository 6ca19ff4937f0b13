"""The intake API's router and views: they parse the request and call the services and
selectors; a write is answered once per Idempotency-Key (``api_clients.respond_once``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router
from ninja.responses import Status

from mahnwerk.intake.api.auth import API_KEY, SIGNED_API_KEY
from mahnwerk.intake.api.schemas import (
    Counts,
    IncidentBatch,
    IncidentRecord,
    Message,
    OrderBatch,
    OrderRecord,
    PathId,
    PaymentBatch,
    PaymentRecord,
    ProblemReport,
    ProductBatch,
    ProductRecord,
    RecordIn,
    VendorBatch,
    VendorRecord,
    WebhookIn,
)
from mahnwerk.intake.api.selectors import read_record
from mahnwerk.intake.api.services import receive_batch, receive_webhook
from mahnwerk.intake.api_clients import DELIVERY_ID_PATTERN, Answer, respond_once
from mahnwerk.intake.feeds import FEEDS

# Every view names its OpenAPI operation id: clients generated from the schema name their
# methods by it, and it stays as it was when the views lived in intake/api.py.
router = Router(auth=API_KEY, tags=["intake"])

WRITE_RESPONSES = {200: Counts, 400: Message, 401: Message, 413: Message, 415: Message,
                   422: ProblemReport}
READ_RESPONSES = {401: Message, 404: Message}
#: What the server accepts as a signature: hex, optionally after "sha256=" (any case). Header
#: patterns admit no blank at either end: HTTP strips them, so no client can send one.
SIGNATURE_PATTERN = r"^([Ss][Hh][Aa]256=)?[0-9A-Fa-f]+$"
IDEMPOTENCY_KEY_PATTERN = r"^\S(?:.*\S)?$"
IDEMPOTENCY_DOC = {"parameters": [{
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "Makes a retry safe: the first applied answer is stored and replayed to "
                   "retries with the same body; the same key with another body gets 422.",
}]}


def _answer(request: HttpRequest, response: HttpResponse, respond: Any) -> Status:
    answer = respond_once(client=request.auth, key=request.headers.get("Idempotency-Key"),
                          method=request.method, path=request.path, body=request.body,
                          respond=lambda: Answer(200, respond()))
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(answer.status_code, answer.body)


def _receive(request: HttpRequest, response: HttpResponse, feed_name: str,
             records: Sequence[RecordIn]) -> Status:
    raw_records = [record.raw() for record in records]
    return _answer(request, response, lambda: receive_batch(
        feed=FEEDS[feed_name], raw_records=raw_records, actor=f"api:{request.auth.name}"))


_WRITE_DOC = ("All or nothing: with any problem the answer is 422 listing every problem, and "
              "nothing is written.")


@router.post("/vendors", response=WRITE_RESPONSES, summary="Send vendors",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC,
             operation_id="mahnwerk_intake_api_post_vendors")
def post_vendors(request: HttpRequest, payload: VendorBatch, response: HttpResponse):
    return _receive(request, response, "vendors", payload.records)


@router.post("/products", response=WRITE_RESPONSES, summary="Send products",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC,
             operation_id="mahnwerk_intake_api_post_products")
def post_products(request: HttpRequest, payload: ProductBatch, response: HttpResponse):
    return _receive(request, response, "products", payload.records)


@router.post("/orders", response=WRITE_RESPONSES, summary="Send orders",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC,
             operation_id="mahnwerk_intake_api_post_orders")
def post_orders(request: HttpRequest, payload: OrderBatch, response: HttpResponse):
    return _receive(request, response, "orders", payload.records)


@router.post("/incidents", response=WRITE_RESPONSES, summary="Send incidents",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC,
             operation_id="mahnwerk_intake_api_post_incidents")
def post_incidents(request: HttpRequest, payload: IncidentBatch, response: HttpResponse):
    return _receive(request, response, "incidents", payload.records)


@router.post("/payments", response=WRITE_RESPONSES, summary="Send payments",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC,
             operation_id="mahnwerk_intake_api_post_payments")
def post_payments(request: HttpRequest, payload: PaymentBatch, response: HttpResponse):
    return _receive(request, response, "payments", payload.records)


@router.post(
    "/webhooks/platform", auth=SIGNED_API_KEY, response=WRITE_RESPONSES,
    summary="Platform webhook: one incident or payment",
    description="Signed delivery of one record. Besides the API key, send X-Mahnwerk-Timestamp "
                "(unix seconds) and X-Mahnwerk-Signature (hex HMAC-SHA256 of "
                "'<timestamp>.<raw body>' with the client's webhook secret, 'sha256=' prefix "
                "allowed; with X-Mahnwerk-Delivery: of '<timestamp>.<delivery id>.<raw "
                "body>'). The timestamp must lie within the tolerance (default 300 s) of the "
                "server's clock. A delivery id is applied once per client (without one, a "
                "timestamp is); a refused delivery is not recorded, so it may be corrected and "
                "sent again under its id and timestamp.",
    openapi_extra={"parameters": [
        *IDEMPOTENCY_DOC["parameters"],
        {"name": "X-Mahnwerk-Timestamp", "in": "header", "required": True,
         "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999},
         "description": "Unix time of signing, in seconds."},
        {"name": "X-Mahnwerk-Signature", "in": "header", "required": True,
         "schema": {"type": "string", "minLength": 1, "pattern": SIGNATURE_PATTERN},
         "description": "Hex HMAC-SHA256 (sha256= allowed)."},
        {"name": "X-Mahnwerk-Delivery", "in": "header", "required": False,
         "schema": {"type": "string", "minLength": 1, "maxLength": 64,
                    "pattern": DELIVERY_ID_PATTERN},
         "description": "The sender's id of this delivery; applied once per client."},
    ]},
    operation_id="mahnwerk_intake_api_post_platform_webhook",
)
def post_platform_webhook(request: HttpRequest, payload: WebhookIn, response: HttpResponse):
    data = payload.data.raw()
    delivery = request.webhook_delivery

    def respond() -> Any:
        counts = receive_webhook(kind=payload.type, data=data, actor=f"api:{request.auth.name}")
        delivery.record()  # in the same transaction: a refused delivery leaves no trace
        return counts

    return _answer(request, response, respond)


@router.get("/vendors/{vendor_id}", response={200: VendorRecord, **READ_RESPONSES},
            summary="Read one vendor", operation_id="mahnwerk_intake_api_get_vendor",
            exclude_unset=True)
def get_vendor(request: HttpRequest, vendor_id: PathId):
    return read_record(feed=FEEDS["vendors"], key=vendor_id)


@router.get("/products/{product_id}", response={200: ProductRecord, **READ_RESPONSES},
            summary="Read one product", operation_id="mahnwerk_intake_api_get_product",
            exclude_unset=True)
def get_product(request: HttpRequest, product_id: PathId):
    return read_record(feed=FEEDS["products"], key=product_id)


@router.get("/orders/{order_id}", response={200: OrderRecord, **READ_RESPONSES},
            summary="Read one order", operation_id="mahnwerk_intake_api_get_order",
            exclude_unset=True)
def get_order(request: HttpRequest, order_id: PathId):
    return read_record(feed=FEEDS["orders"], key=order_id)


@router.get("/incidents/{incident_id}", response={200: IncidentRecord, **READ_RESPONSES},
            summary="Read one incident", operation_id="mahnwerk_intake_api_get_incident",
            exclude_unset=True)
def get_incident(request: HttpRequest, incident_id: PathId):
    return read_record(feed=FEEDS["incidents"], key=incident_id)


@router.get("/payments/{payment_id}", response={200: PaymentRecord, **READ_RESPONSES},
            summary="Read one payment", operation_id="mahnwerk_intake_api_get_payment",
            exclude_unset=True)
def get_payment(request: HttpRequest, payment_id: PathId):
    return read_record(feed=FEEDS["payments"], key=payment_id)
