"""The intake HTTP API (version 1): the platform's five feeds as JSON, plus a signed webhook.

The JSON fields are the feed columns of platform-feed.md. The ninja schemas below only describe
them for OpenAPI; every value is read by ``Feed.parse`` and checked by ``check_references``, and
written by ``apply_records``, exactly as in the file import, so both accept the same data and
name the same problems.

Decisions the OpenAPI description repeats for senders:

* A batch is ``{"records": [...]}`` with at most ``MAX_RECORDS`` records. All or nothing: if
  any record has a problem, the answer is 422 listing every problem, and nothing is written.
* Amounts are strings like ``"12.50"`` (JSON integers are exact and accepted too); a JSON number
  with a fraction (``12.5``) is refused, because binary floats do not hold cents exactly.
* Booleans are JSON ``true``/``false`` (the file import's words ``"True"``, ``"ja"`` ... pass as
  well); date-times are ISO 8601, read as German time when they have no offset.
* Unknown fields are refused, so a misspelt optional field is not silently dropped.
* The webhook takes one record per delivery: ``{"type": "incident"|"payment", "data": {...}}``.

Request checks run in the authentication step, in this order: API key (401), body size (413),
content type (415), for the webhook the signature and timestamp (400/401), JSON syntax (400).
They run there because ninja parses the body before a view runs and turns any parser error into
the same bare 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import Status
from ninja.security import APIKeyHeader, HttpBearer
from pydantic import BaseModel, ConfigDict, WithJsonSchema, create_model

from mahnwerk.intake import api_clients, feeds
from mahnwerk.intake.api_clients import Answer, Rejected, respond_once
from mahnwerk.intake.feeds import FEEDS, Feed, Problem
from mahnwerk.intake.models import (
    ApiClient,
    CollectionMode,
    DunningBy,
    Incident,
    IncidentKind,
    Order,
    Payment,
    PaymentChannel,
    PaymentType,
    Product,
    Vendor,
)
from mahnwerk.intake.services import apply_records, check_references

MAX_RECORDS = 1000
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WEBHOOK_TYPES = {"incident": "incidents", "payment": "payments"}
MODELS: dict[str, type[models.Model]] = {
    "vendors": Vendor, "products": Product, "orders": Order, "incidents": Incident,
    "payments": Payment,
}


# --- Errors -----------------------------------------------------------------------------------

class RecordsRejected(Exception):
    """Records with problems; answered with 422 and every problem, nothing written."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.problems = problems


def _problem(*, record: int | None, id: str | None, column: str | None, value: str | None,
             reason: str) -> dict[str, Any]:
    return {"record": record, "id": id, "column": column, "value": value, "reason": reason}


def _structure_problem(error: Mapping[str, Any]) -> dict[str, Any]:
    """A schema error from ninja (the body's shape, not a value) in the shape of a Problem."""
    loc = [part for part in error.get("loc", ())[1:] if part != "payload"]  # drop "body"
    record = loc[1] if len(loc) >= 2 and loc[0] == "records" and isinstance(loc[1], int) \
        else None
    column = str(loc[0]) if loc and record is None else None
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        reason = _("required value missing")
    elif kind == "too_long":
        reason = _("too many records: %(count)d; send at most %(max)d per request") % {
            "count": ctx.get("actual_length", 0), "max": ctx.get("max_length", MAX_RECORDS)}
    elif kind == "list_type":
        reason = _("expected a JSON list of records")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        reason = _("a record must be a JSON object with the feed's fields")
    else:
        reason = str(error.get("msg", kind))
    return _problem(record=record, id=None, column=column, value=None, reason=reason)


def _message(request: HttpRequest, api: NinjaAPI, status: int, message: str) -> HttpResponse:
    response = api.create_response(request, {"detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="mahnwerk"'
    return response


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every refusal with ``{"detail": message}``, or ``{"detail": [problems]}`` (422)."""

    def rejected(request: HttpRequest, exc: Rejected) -> HttpResponse:
        return _message(request, api, exc.status_code, exc.message)

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return _message(request, api, 401, _(
            "API key missing: send it as \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"."))

    def records_rejected(request: HttpRequest, exc: RecordsRejected) -> HttpResponse:
        return api.create_response(request, {"detail": exc.problems}, status=422)

    def invalid_shape(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        problems = []
        for error in exc.errors:  # a union (the webhook's data) reports once per member
            problem = _structure_problem(error)
            if problem not in problems:
                problems.append(problem)
        return api.create_response(request, {"detail": problems}, status=422)

    api.add_exception_handler(Rejected, rejected)
    api.add_exception_handler(AuthenticationError, unauthenticated)
    api.add_exception_handler(RecordsRejected, records_rejected)
    api.add_exception_handler(NinjaValidationError, invalid_shape)


# --- Request checks (run with authentication, see the module docstring) -------------------------

def checked_body(request: HttpRequest) -> bytes:
    """The raw body, if it is JSON by content type and within the size limit."""
    limit = settings.MAHNWERK_API_MAX_BODY_BYTES
    too_large = _("The body is too large: %(size)d bytes; at most %(max)d bytes are accepted. "
                  "Send fewer records per request.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise Rejected(413, too_large % {"size": declared, "max": limit})
    try:
        body = request.body
    except RequestDataTooBig:
        raise Rejected(413, too_large % {"size": declared, "max": limit}) from None
    if len(body) > limit:
        raise Rejected(413, too_large % {"size": len(body), "max": limit})
    if not body.strip():
        raise Rejected(400, _("The body is empty; send a JSON object."))
    if not request.content_type:
        raise Rejected(415, _("The header Content-Type is missing; send the body as JSON with "
                              "Content-Type: application/json."))
    if request.content_type != "application/json":
        raise Rejected(415, _("Content-Type %(type)s is not accepted; send the body as JSON with "
                              "Content-Type: application/json.") % {"type": request.content_type})
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise Rejected(400, _("The body is not valid JSON: %(error)s at line %(line)d, column "
                              "%(column)d.") % {"error": exc.msg, "line": exc.lineno,
                                                "column": exc.colno}) from None
    except ValueError:  # not UTF-8, or NaN/Infinity
        raise Rejected(400, _("The body is not valid JSON: it must be UTF-8 text, and numbers "
                              "cannot be NaN or Infinity.")) from None


class _KeyAuth:
    """Finds the API client by its key; then, for a request with a body, checks the body and,
    if ``signed``, the webhook signature."""

    signed: bool = False

    def client(self, request: HttpRequest, key: str) -> ApiClient:
        client = api_clients.authenticate(key=key)
        if client is None:
            raise Rejected(401, _("Unknown or deactivated API key."))
        if request.method in BODY_METHODS:
            body = checked_body(request)
            if self.signed:
                api_clients.accept_webhook(client=client, body=body,
                               timestamp=request.headers.get("X-Mahnwerk-Timestamp"),
                               signature=request.headers.get("X-Mahnwerk-Signature"))
            if not isinstance(parse_json(body), dict):
                raise RecordsRejected([_problem(
                    record=None, id=None, column=None, value=None,
                    reason=_("the body must be a JSON object, not a list or a single "
                             "value"))])
        return client


class BearerKey(_KeyAuth, HttpBearer):
    """``Authorization: Bearer mw_...``"""

    def __init__(self, *, signed: bool = False) -> None:
        self.signed = signed
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient:
        return self.client(request, token)


class HeaderKey(_KeyAuth, APIKeyHeader):
    """``X-API-Key: mw_...``"""

    param_name = "X-API-Key"

    def __init__(self, *, signed: bool = False) -> None:
        self.signed = signed
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiClient | None:
        if not key:
            return None
        return self.client(request, key)


API_KEY = [BearerKey(), HeaderKey()]
SIGNED_API_KEY = [BearerKey(signed=True), HeaderKey(signed=True)]


# --- Schemas (documentation; the values are read by Feed.parse) --------------------------------

_ID = {"type": "string", "pattern": r"^[^\s,;]{1,64}$", "maxLength": 64}
_AMOUNT = {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "examples": ["12.50"]}
_MOMENT = {"type": "string", "format": "date-time", "examples": ["2025-07-01T14:30:00+02:00"]}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR"]}
_COUNT = {"type": "integer", "minimum": 0}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def _enum(choices: type[models.TextChoices]) -> dict[str, Any]:
    return {"type": "string", "enum": list(choices.values)}


def _doc(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


FIELD_DOCS: dict[str, dict[str, Any]] = {
    "vendor_id": _doc(_ID, "The platform's vendor user id."),
    "product_id": _doc(_ID, "The platform's product id."),
    "order_id": _doc(_ID, "The platform's order id."),
    "buyer_id": _doc(_ID, "The platform's buyer id."),
    "incident_id": _doc(_ID, "The platform's id of the incident."),
    "payment_id": _doc(_ID, "The platform's id of the payment."),
    "name": _doc(_text(255), "Name, shown to support and in letters."),
    "email": _doc({"type": "string", "format": "email"}, "Where approval requests go."),
    "enrolled": _doc({"type": "boolean"}, "Takes part in dunning."),
    "collection_mode": _doc(_enum(CollectionMode), "approval: ask before collection; direct: "
                            "pre-marked orders go straight to collection."),
    "dunning_by": _doc(_enum(DunningBy), "Who sends the commercial letters."),
    "relationship_manager": _doc(_text(150), "The VIP relationship manager's user name."),
    "escalation_channel": _doc(_text(255), "E.g. the name of the vendor's chat group."),
    "dunning_enabled": _doc({"type": "boolean"}, "The dunning account is attached to the "
                            "product."),
    "checkout_url": _doc({"type": "string", "format": "uri"}, "Base of the offer link."),
    "buyer_email": _doc({"type": "string", "format": "email"}, "The buyer's e-mail address."),
    "buyer_first_name": _doc(_text(150), "The buyer's first name."),
    "buyer_last_name": _doc(_text(150), "The buyer's last name."),
    "street": _doc(_text(255), "Street of the buyer's address."),
    "house_number": _doc(_text(32), "House number."),
    "postcode": _doc(_text(16), "Postcode."),
    "city": _doc(_text(150), "City."),
    "country": _doc({"type": "string", "pattern": "^[A-Za-z]{2}$", "examples": ["DE"]},
                    "ISO 3166-1 alpha-2 country code."),
    "payment_type": _doc(_enum(PaymentType), "How the order is paid."),
    "amount_total": _doc(_AMOUNT, "Total of the order, as a string with a point."),
    "currency": _doc(_CURRENCY, "ISO 4217 currency code; incidents and payments must be in "
                     "their order's currency."),
    "installments_total": _doc(_COUNT, "Installments in the plan."),
    "installments_paid": _doc(_COUNT, "Installments paid so far."),
    "created_at": _doc(_MOMENT, "When the order was placed (ISO 8601; no offset: German "
                       "time)."),
    "sales_agent": _doc(_text(150), "Set when a telesales agent closed the sale."),
    "first_invoice_number": _doc(_text(64), "Number of the first invoice."),
    "kind": _doc(_enum(IncidentKind), "What made the debt."),
    "occurred_at": _doc(_MOMENT, "When it happened (ISO 8601; no offset: German time)."),
    "open_amount": _doc(_AMOUNT, "What the buyer owes on this order after the incident."),
    "amount": _doc(_AMOUNT, "The amount paid, as a string with a point."),
    "paid_at": _doc(_MOMENT, "When it was paid (ISO 8601; no offset: German time)."),
    "channel": _doc(_enum(PaymentChannel), "Where the money came in."),
}


def _finish_record_schema(schema: dict[str, Any], cls: type) -> None:
    """Fields are optional for pydantic (so Feed.parse names every problem), but documented as
    the feed requires them."""
    feed = FEEDS[cls.feed_name]
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
        prop.pop("title", None)
    schema["required"] = list(feed.required_names)
    schema["additionalProperties"] = False


class RecordIn(BaseModel):
    """A plain pydantic model, not a ninja Schema: ninja's attribute getter drops unknown
    fields, and they must reach the checks to be refused."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_finish_record_schema)

    def raw(self) -> dict[str, Any]:
        """The fields as sent, unknown ones included."""
        values = {name: getattr(self, name) for name in self.model_fields_set}
        return {**values, **(self.model_extra or {})}


def _record_schema(feed: Feed, title: str) -> type[RecordIn]:
    fields: dict[str, Any] = {
        column.name: (Annotated[Any, WithJsonSchema(
            FIELD_DOCS.get(column.name, {"type": "string"}))], None)
        for column in feed.columns
    }
    schema = create_model(title, __base__=RecordIn, __doc__=f"One record of the {feed.name} "
                          "feed (platform-feed.md).", **fields)
    schema.feed_name = feed.name
    return schema


VendorRecord = _record_schema(FEEDS["vendors"], "VendorRecord")
ProductRecord = _record_schema(FEEDS["products"], "ProductRecord")
OrderRecord = _record_schema(FEEDS["orders"], "OrderRecord")
IncidentRecord = _record_schema(FEEDS["incidents"], "IncidentRecord")
PaymentRecord = _record_schema(FEEDS["payments"], "PaymentRecord")


class VendorBatch(Schema):
    records: list[VendorRecord] = Field(max_length=MAX_RECORDS)


class ProductBatch(Schema):
    records: list[ProductRecord] = Field(max_length=MAX_RECORDS)


class OrderBatch(Schema):
    records: list[OrderRecord] = Field(max_length=MAX_RECORDS)


class IncidentBatch(Schema):
    records: list[IncidentRecord] = Field(max_length=MAX_RECORDS)


class PaymentBatch(Schema):
    records: list[PaymentRecord] = Field(max_length=MAX_RECORDS)


class WebhookIn(Schema):
    """One incident or payment, as the platform's webhook sends it."""

    type: Annotated[Any, WithJsonSchema({"type": "string", "enum": list(WEBHOOK_TYPES)})]
    data: IncidentRecord | PaymentRecord = Field(
        description="The record: an IncidentRecord for type incident, a PaymentRecord for type "
                    "payment.")


class Counts(Schema):
    created: int
    updated: int
    unchanged: int


class ProblemOut(Schema):
    record: int | None = Field(description="Index of the record in the request (0-based).")
    id: str | None = Field(description="The record's id as sent.")
    column: str | None = Field(description="The field with the problem.")
    value: str | None = Field(description="The value as sent.")
    reason: str


class ProblemReport(Schema):
    detail: list[ProblemOut] | str


class Message(Schema):
    detail: str


# --- Services ---------------------------------------------------------------------------------

def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)[:200]
    return "" if value is None else str(value)


def _record_id(feed: Feed, raw: Mapping[str, Any]) -> str | None:
    value = raw.get(feed.key)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def check_batch(*, feed: Feed, raw_records: Sequence[Mapping[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a batch of JSON records; returns the clean records and every problem (as dicts with
    record, id, column, value, reason), those of ``Feed.parse`` and ``check_references`` and the
    API's own: unknown fields, lists or objects as values, fractional JSON numbers as amounts
    and the same id twice."""
    known = set(feed.column_names)
    amounts = {column.name for column in feed.columns if column.convert is feeds.amount}
    records: list[dict[str, Any]] = []
    found: list[list[Problem]] = []
    complete: list[bool] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_records):
        problems: list[Problem] = []
        flagged: set[str] = set()
        for name, value in raw.items():
            if name not in known:
                problems.append(Problem(name, _shown(value), _(
                    "unknown field; expected fields: %(fields)s") % {
                        "fields": ", ".join(feed.column_names)}))
            elif isinstance(value, dict | list):
                flagged.add(name)
                problems.append(Problem(name, _shown(value), _(
                    "expected a single value (text, number or true/false), not a list or "
                    "object")))
            elif name in amounts and isinstance(value, float):
                flagged.add(name)
                problems.append(Problem(name, _shown(value), _(
                    'send amounts as strings like "12.50", not as JSON numbers with a '
                    "fraction")))
        record, parse_problems = feed.parse(
            {name: value for name, value in raw.items() if name in known and name not in flagged})
        parse_problems = [p for p in parse_problems if p.column not in flagged]
        problems.extend(parse_problems)
        key = record.get(feed.key)
        if key and feed.key not in flagged:
            if key in first_index:
                problems.append(Problem(feed.key, key, _(
                    "the same id is sent twice in this request (first in record %(first)d)")
                    % {"first": first_index[key]}))
            else:
                first_index[key] = index
        records.append(record)
        found.append(problems)
        complete.append(not flagged and not parse_problems)
    usable = [index for index, ok in enumerate(complete) if ok]
    references = check_references(feed=feed, records=[records[i] for i in usable])
    for index, problems in zip(usable, references, strict=True):
        found[index].extend(problems)
    report = [
        _problem(record=index, id=_record_id(feed, raw_records[index]), column=p.column,
                 value=p.value, reason=p.reason)
        for index, problems in enumerate(found) for p in problems
    ]
    return records, report


def receive_batch(*, feed: Feed, raw_records: Sequence[Mapping[str, Any]], actor: str
                  ) -> dict[str, int]:
    """Check and apply a batch, all or nothing; raises ``RecordsRejected`` with every problem."""
    records, problems = check_batch(feed=feed, raw_records=raw_records)
    if problems:
        raise RecordsRejected(problems)
    return apply_records(feed=feed, records=records, actor=actor).as_dict()


def receive_webhook(*, kind: Any, data: Any, actor: str) -> dict[str, int]:
    """Apply one incident or payment from a webhook delivery."""
    if kind in (None, ""):
        raise RecordsRejected([_problem(record=None, id=None, column="type", value="",
                                        reason=_("required value missing"))])
    if kind not in WEBHOOK_TYPES:
        raise RecordsRejected([_problem(
            record=None, id=None, column="type", value=_shown(kind),
            reason=_("unknown value; allowed: %(allowed)s") % {
                "allowed": ", ".join(WEBHOOK_TYPES)})])
    if not isinstance(data, dict):
        raise RecordsRejected([_problem(
            record=None, id=None, column="data", value=_shown(data),
            reason=_("a record must be a JSON object with the feed's fields"))])
    return receive_batch(feed=FEEDS[WEBHOOK_TYPES[kind]], raw_records=[data], actor=actor)


def _shown_value(value: Any) -> Any:
    if isinstance(value, models.Model):  # pragma: no cover - columns hold attnames
        return value.pk
    if hasattr(value, "tzinfo") and hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def read_record(*, feed: Feed, key: str) -> dict[str, Any]:
    """One stored record in the shape it is sent in (amounts as strings, ISO date-times)."""
    instance = MODELS[feed.name].objects.filter(pk=key).first()
    if instance is None:
        raise Rejected(404, _("There is no record with id %(id)s in %(feed)s.")
                       % {"id": key, "feed": feed.name})
    return {column.name: _shown_value(getattr(instance, column.name)) for column in feed.columns}


# --- Views ------------------------------------------------------------------------------------

router = Router(auth=API_KEY, tags=["intake"])

WRITE_RESPONSES = {200: Counts, 400: Message, 401: Message, 413: Message, 415: Message,
                   422: ProblemReport}
READ_RESPONSES = {401: Message, 404: Message}
IDEMPOTENCY_DOC = {"parameters": [{
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string",
                                                                            "maxLength": 255},
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
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC)
def post_vendors(request: HttpRequest, payload: VendorBatch, response: HttpResponse):
    return _receive(request, response, "vendors", payload.records)


@router.post("/products", response=WRITE_RESPONSES, summary="Send products",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC)
def post_products(request: HttpRequest, payload: ProductBatch, response: HttpResponse):
    return _receive(request, response, "products", payload.records)


@router.post("/orders", response=WRITE_RESPONSES, summary="Send orders",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC)
def post_orders(request: HttpRequest, payload: OrderBatch, response: HttpResponse):
    return _receive(request, response, "orders", payload.records)


@router.post("/incidents", response=WRITE_RESPONSES, summary="Send incidents",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC)
def post_incidents(request: HttpRequest, payload: IncidentBatch, response: HttpResponse):
    return _receive(request, response, "incidents", payload.records)


@router.post("/payments", response=WRITE_RESPONSES, summary="Send payments",
             description=_WRITE_DOC, openapi_extra=IDEMPOTENCY_DOC)
def post_payments(request: HttpRequest, payload: PaymentBatch, response: HttpResponse):
    return _receive(request, response, "payments", payload.records)


@router.post(
    "/webhooks/platform", auth=SIGNED_API_KEY, response=WRITE_RESPONSES,
    summary="Platform webhook: one incident or payment",
    description="Signed delivery of one record. Besides the API key, send X-Mahnwerk-Timestamp "
                "(unix seconds) and X-Mahnwerk-Signature (hex HMAC-SHA256 of "
                "'<timestamp>.<raw body>' with the client's webhook secret, 'sha256=' prefix "
                "allowed). A timestamp is accepted once per client and only within the "
                "tolerance (default 300 s) of the server's clock.",
    openapi_extra={"parameters": [
        *IDEMPOTENCY_DOC["parameters"],
        {"name": "X-Mahnwerk-Timestamp", "in": "header", "required": True,
         "schema": {"type": "integer"}, "description": "Unix time of signing, in seconds."},
        {"name": "X-Mahnwerk-Signature", "in": "header", "required": True,
         "schema": {"type": "string"}, "description": "Hex HMAC-SHA256 (sha256= allowed)."},
    ]},
)
def post_platform_webhook(request: HttpRequest, payload: WebhookIn, response: HttpResponse):
    data = payload.data.raw()
    return _answer(request, response, lambda: receive_webhook(
        kind=payload.type, data=data, actor=f"api:{request.auth.name}"))


@router.get("/vendors/{vendor_id}", response={200: VendorRecord, **READ_RESPONSES},
            summary="Read one vendor")
def get_vendor(request: HttpRequest, vendor_id: str):
    return read_record(feed=FEEDS["vendors"], key=vendor_id)


@router.get("/products/{product_id}", response={200: ProductRecord, **READ_RESPONSES},
            summary="Read one product")
def get_product(request: HttpRequest, product_id: str):
    return read_record(feed=FEEDS["products"], key=product_id)


@router.get("/orders/{order_id}", response={200: OrderRecord, **READ_RESPONSES},
            summary="Read one order")
def get_order(request: HttpRequest, order_id: str):
    return read_record(feed=FEEDS["orders"], key=order_id)


@router.get("/incidents/{incident_id}", response={200: IncidentRecord, **READ_RESPONSES},
            summary="Read one incident")
def get_incident(request: HttpRequest, incident_id: str):
    return read_record(feed=FEEDS["incidents"], key=incident_id)


@router.get("/payments/{payment_id}", response={200: PaymentRecord, **READ_RESPONSES},
            summary="Read one payment")
def get_payment(request: HttpRequest, payment_id: str):
    return read_record(feed=FEEDS["payments"], key=payment_id)
