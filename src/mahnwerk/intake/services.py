"""Writing the platform's data: check references, upsert by platform id, announce the change.

The file import, the intake API and the demo data all call ``check_references`` and
``apply_records``; nothing else writes these tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.intake import signals
from mahnwerk.intake.feeds import Feed, Problem
from mahnwerk.intake.models import Buyer, Incident, Order, Payment, Product, Vendor


def normalize_email(address: str) -> str:
    """The form under which two spellings of one mailbox compare equal (process.md §6)."""
    address = (address or "").strip().casefold()
    local, at, domain = address.partition("@")
    if not at:
        return address
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: ApplyResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def _existing(model: type[models.Model], keys: Sequence[str], fields: Sequence[str]
              ) -> dict[str, dict[str, Any]]:
    pk = model._meta.pk.attname
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 900):  # SQLite allows 999 parameters per query
        chunk = keys[start:start + 900]
        for row in model.objects.filter(pk__in=chunk).values(pk, *fields):
            found[row.pop(pk)] = row
    return found


def _upsert(model: type[models.Model], rows: list[dict[str, Any]], fields: Sequence[str]
            ) -> tuple[list[str], ApplyResult]:
    """Insert new rows and update changed ones; rows equal to what is stored are not touched,
    so sending the same data twice changes nothing (not even ``updated_at``)."""
    pk = model._meta.pk.attname
    existing = _existing(model, [row[pk] for row in rows], fields)
    result = ApplyResult()
    to_write = []
    for row in rows:
        stored = existing.get(row[pk])
        if stored is None:
            result.created += 1
        elif all(stored[name] == row[name] for name in fields):
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        to_write.append(row)
    if to_write:
        _write_rows(model, to_write, [pk, *fields])
    return [row[pk] for row in to_write], result


def _sqlite_moment(value: datetime) -> str:
    """What Django's SQLite backend stores for an aware date-time: naive UTC text."""
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _write_rows(model: type[models.Model], rows: list[dict[str, Any]], names: list[str]
                ) -> None:
    """``INSERT ... ON CONFLICT (pk) DO UPDATE`` through ``executemany``.

    Written by hand instead of ``bulk_create(update_conflicts=True)``: the ORM prepares every
    value through the field machinery, which made a million-order import take ten minutes; this
    statement is the same SQL on SQLite and PostgreSQL and takes the values as they are, after
    the backend's own adapters for date-times (docs/benchmarks.md).
    """
    meta = model._meta
    ops = connection.ops
    quote = ops.quote_name
    columns = [meta.get_field(name).column for name in names] + ["updated_at"]
    adapt_moment = _sqlite_moment if connection.vendor == "sqlite" else None
    adapters = [adapt_moment if isinstance(meta.get_field(name), models.DateTimeField) else None
                for name in names]
    now = ops.adapt_datetimefield_value(timezone.now())
    sql = ("INSERT INTO {table} ({cols}) VALUES ({marks}) "
           "ON CONFLICT ({pk}) DO UPDATE SET {set}").format(
        table=quote(meta.db_table),
        cols=", ".join(quote(c) for c in columns),
        marks=", ".join(["%s"] * len(columns)),
        pk=quote(meta.pk.column),
        set=", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns[1:]),
    )
    params = []
    for row in rows:
        values = []
        for name, adapt in zip(names, adapters, strict=True):
            value = row[name]
            values.append(adapt(value) if adapt is not None and value is not None else value)
        values.append(now)
        params.append(values)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def check_references(*, feed: Feed, records: Sequence[dict[str, Any]]) -> list[list[Problem]]:
    """For each record, what it names that does not exist or does not fit (empty list: fine)."""
    problems: list[list[Problem]] = [[] for _ in records]
    if not records:
        return problems
    if feed.name == "products":
        vendors = set(Vendor.objects.filter(
            pk__in={r["vendor_id"] for r in records}).values_list("pk", flat=True))
        for i, record in enumerate(records):
            if record["vendor_id"] not in vendors:
                problems[i].append(Problem("vendor_id", record["vendor_id"],
                                           _("unknown vendor; import the vendors first")))
    elif feed.name == "orders":
        vendors = set(Vendor.objects.filter(
            pk__in={r["vendor_id"] for r in records}).values_list("pk", flat=True))
        products = dict(Product.objects.filter(
            pk__in={r["product_id"] for r in records}).values_list("pk", "vendor_id"))
        for i, record in enumerate(records):
            if record["vendor_id"] not in vendors:
                problems[i].append(Problem("vendor_id", record["vendor_id"],
                                           _("unknown vendor; import the vendors first")))
            owner = products.get(record["product_id"])
            if owner is None:
                problems[i].append(Problem("product_id", record["product_id"],
                                           _("unknown product; import the products first")))
            elif record["vendor_id"] in vendors and owner != record["vendor_id"]:
                problems[i].append(Problem(
                    "product_id", record["product_id"],
                    _("the product belongs to vendor %(owner)s, not to %(vendor)s")
                    % {"owner": owner, "vendor": record["vendor_id"]}))
    elif feed.name in ("incidents", "payments"):
        order_ids = list({r["order_id"] for r in records})
        currencies = {}
        for start in range(0, len(order_ids), 900):
            currencies.update(Order.objects.filter(
                pk__in=order_ids[start:start + 900]).values_list("pk", "currency"))
        for i, record in enumerate(records):
            order_currency = currencies.get(record["order_id"])
            if order_currency is None:
                problems[i].append(Problem("order_id", record["order_id"],
                                           _("unknown order; import the orders first")))
            elif record["currency"] != order_currency:
                problems[i].append(Problem(
                    "currency", record["currency"],
                    _("the order is in %(order)s; amounts must be in the order's currency")
                    % {"order": order_currency}))
    return problems


_VENDOR_FIELDS = ("name", "email", "enrolled", "collection_mode", "dunning_by",
                  "relationship_manager", "escalation_channel")
_PRODUCT_FIELDS = ("vendor_id", "name", "dunning_enabled", "checkout_url")
_BUYER_FIELDS = ("email", "email_normalized", "first_name", "last_name", "street",
                 "house_number", "postcode", "city", "country", "last_order_at")
_ORDER_FIELDS = ("vendor_id", "product_id", "buyer_id", "buyer_email", "buyer_email_normalized",
                 "buyer_first_name", "buyer_last_name", "street", "house_number", "postcode",
                 "city", "country", "payment_type", "amount_total", "currency",
                 "installments_total", "installments_paid", "created_at", "sales_agent",
                 "first_invoice_number")
_INCIDENT_FIELDS = ("order_id", "kind", "occurred_at", "open_amount", "currency")
_PAYMENT_FIELDS = ("order_id", "amount", "currency", "paid_at", "channel")


def _apply_buyers(records: Sequence[dict[str, Any]]) -> None:
    newest: dict[str, dict[str, Any]] = {}
    for r in records:
        current = newest.get(r["buyer_id"])
        if current is None or r["created_at"] >= current["last_order_at"]:
            newest[r["buyer_id"]] = {
                "buyer_id": r["buyer_id"], "email": r["buyer_email"],
                "email_normalized": normalize_email(r["buyer_email"]),
                "first_name": r["buyer_first_name"], "last_name": r["buyer_last_name"],
                "street": r["street"], "house_number": r["house_number"],
                "postcode": r["postcode"], "city": r["city"], "country": r["country"],
                "last_order_at": r["created_at"],
            }
    stored = _existing(Buyer, list(newest), ("last_order_at",))
    rows = [row for key, row in newest.items()
            if key not in stored or stored[key]["last_order_at"] is None
            or stored[key]["last_order_at"] <= row["last_order_at"]]
    _upsert(Buyer, rows, _BUYER_FIELDS)


# savepoint=False: inside a file import's transaction, a savepoint per batch made SQLite's
# inserts slower with every batch (docs/benchmarks.md); the import rolls back as a whole anyway.
@transaction.atomic(savepoint=False)
def apply_records(*, feed: Feed, records: Sequence[dict[str, Any]], actor: str) -> ApplyResult:
    """Upsert checked records of one feed and announce what changed, in one transaction.

    ``records`` are the output of ``Feed.parse`` that passed ``check_references``.
    """
    if not records:
        return ApplyResult()
    if feed.name == "vendors":
        _, result = _upsert(Vendor, [dict(r) for r in records], _VENDOR_FIELDS)
    elif feed.name == "products":
        _, result = _upsert(Product, [dict(r) for r in records], _PRODUCT_FIELDS)
    elif feed.name == "orders":
        _apply_buyers(records)
        rows = [{**r, "buyer_email_normalized": normalize_email(r["buyer_email"])}
                for r in records]
        ids, result = _upsert(Order, rows, _ORDER_FIELDS)
        if ids:
            signals.orders_applied.send(sender=Order, ids=ids, actor=actor)
    elif feed.name == "incidents":
        ids, result = _upsert(Incident, [dict(r) for r in records], _INCIDENT_FIELDS)
        if ids:
            signals.incidents_applied.send(sender=Incident, ids=ids, actor=actor)
    elif feed.name == "payments":
        ids, result = _upsert(Payment, [dict(r) for r in records], _PAYMENT_FIELDS)
        if ids:
            signals.payments_applied.send(sender=Payment, ids=ids, actor=actor)
    else:  # pragma: no cover - FEEDS lists exactly these five
        raise ValueError(f"unknown feed {feed.name}")
    return result
