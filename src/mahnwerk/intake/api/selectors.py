"""One stored record in the shape the API takes it."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.intake.api_clients import Rejected
from mahnwerk.intake.feeds import Feed, FieldError, platform_id
from mahnwerk.intake.models import Incident, Order, Payment, Product, Vendor

MODELS: dict[str, type[models.Model]] = {
    "vendors": Vendor, "products": Product, "orders": Order, "incidents": Incident,
    "payments": Payment,
}


def _shown_value(value: Any) -> Any:
    if isinstance(value, models.Model):  # pragma: no cover - columns hold attnames
        return value.pk
    if hasattr(value, "tzinfo") and hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _may_be_id(key: str) -> bool:
    """Whether ``key`` keeps the id rule, so a record could have it (a NUL, which PostgreSQL
    cannot even compare, never reaches the database)."""
    try:
        return platform_id(key) == key
    except FieldError:
        return False


def read_record(*, feed: Feed, key: str) -> dict[str, Any]:
    """One stored record in the shape it is sent in (amounts as strings, ISO date-times,
    blank optional fields left out)."""
    instance = MODELS[feed.name].objects.filter(pk=key).first() if _may_be_id(key) else None
    if instance is None:
        raise Rejected(404, _("There is no record with id %(id)s in %(feed)s.")
                       % {"id": key, "feed": feed.name})
    shown = {column.name: _shown_value(getattr(instance, column.name))
             for column in feed.columns}
    # An optional field left blank is left out, as a sender leaves it out (its schema holds no
    # blank e-mail address, country or count).
    return {column.name: shown[column.name] for column in feed.columns
            if column.required or shown[column.name] not in (None, "")}
