"""The request and answer schemas: documentation for OpenAPI; the values are read by
``Feed.parse``."""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from django.db import models
from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, WithJsonSchema, create_model

from mahnwerk.intake.feeds import FEEDS, Feed
from mahnwerk.intake.models import (
    CollectionMode,
    DunningBy,
    IncidentKind,
    PaymentChannel,
    PaymentType,
)

MAX_RECORDS = 1000
WEBHOOK_TYPES = {"incident": "incidents", "payment": "payments"}

_ID = {"type": "string", "pattern": f"^(?:{settings.MAHNWERK_ID_PATTERN})$",
       "minLength": 1, "maxLength": settings.MAHNWERK_ID_MAX_LENGTH}  # feeds.platform_id
_AMOUNT = {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "examples": ["12.50"]}
_POSITIVE_AMOUNT = {**_AMOUNT, "not": {"pattern": r"^0+(\.0+)?$"}}  # feeds.positive_amount
_MOMENT = {"type": "string", "format": "date-time", "examples": ["2025-07-01T14:30:00+02:00"]}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR"]}
_COUNT = {"type": "integer", "minimum": 0}


#: An id in a read path (``/orders/{order_id}``): the same rule as in a record.
PathId = Annotated[str, WithJsonSchema(_ID)]


#: Text without the control characters the intake refuses in every field (feeds._CONTROL).
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _text(max_length: int, *, required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, "pattern": _NO_CONTROL}
    if required:  # blank counts as missing
        schema.update(minLength=1, **{"not": {"pattern": r"^\s*$"}})
    return schema


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
    "name": _doc(_text(255, required=True), "Name, shown to support and in letters."),
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
    "open_amount": _doc(_POSITIVE_AMOUNT, "What the buyer owes on this order after the incident."),
    "amount": _doc(_POSITIVE_AMOUNT, "The amount paid, as a string with a point."),
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


def _pair_type_with_record(schema: dict[str, Any], cls: type) -> None:
    """``data`` is the record of the type's feed: an incident's type with a payment's record
    is refused (services.receive_webhook)."""
    records = {"incident": IncidentRecord, "payment": PaymentRecord}
    refs = schema["properties"]["data"]["anyOf"]  # pydantic's names of the two records
    schema["oneOf"] = [
        {"properties": {"type": {"const": kind},
                        "data": next(ref for ref in refs if record.__name__ in ref["$ref"])}}
        for kind, record in records.items()
    ]


class WebhookIn(Schema):
    """One incident or payment, as the platform's webhook sends it."""

    model_config = ConfigDict(json_schema_extra=_pair_type_with_record)

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

