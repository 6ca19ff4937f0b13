"""Writing the platform's data: check references, upsert by platform id, announce the change.

The file import, the intake API and the demo data all call ``check_references`` and
``apply_records``; nothing else writes these tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk import bulk
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


def _digest(row: dict[str, Any], fields: Sequence[str]) -> str:
    """A digest of the values; ``str`` keeps Decimal places and date-time offsets apart."""
    return _digester(tuple(fields))(row)


@lru_cache(maxsize=32)
def _digester(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], str]:
    """``_digest`` for one set of fields: an ``itemgetter`` instead of a comprehension."""
    getter = itemgetter(*fields)
    values = getter if len(fields) > 1 else lambda row: (getter(row),)
    blake2b = hashlib.blake2b

    def digest(row: dict[str, Any]) -> str:
        text = "\x1f".join(map(str, values(row)))
        return blake2b(text.encode(), digest_size=16).hexdigest()

    return digest


def _stored(model: type[models.Model], keys: Sequence[str], extra: str | None
            ) -> dict[str, tuple[Any, ...]]:
    """pk -> (content_hash[, extra column as stored]) for the keys that exist."""
    return _by_pk(model, keys, "content_hash", *([extra] if extra else []))


def _by_pk(model: type[models.Model], keys: Collection[str], *fields: str
           ) -> dict[str, tuple[Any, ...]]:
    """pk -> (the fields' values) for the keys that exist: plain queries (``bulk.select_rows``),
    not the ORM's, whose preparing of a thousand ids a batch was 5 % of an order import."""
    pk = model._meta.pk.attname
    return {row[0]: row[1:] for row in bulk.select_rows(model, (pk, *fields), where=pk,
                                                        keys=list(keys))}


def _aware(value: datetime | str) -> datetime:
    """A date-time from a raw query: SQLite gives naive UTC (or text), PostgreSQL aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _upsert(model: type[models.Model], rows: list[dict[str, Any]], fields: Sequence[str],
            *, keep_newer: str | None = None, adapted: bool = False
            ) -> tuple[list[str], ApplyResult]:
    """Insert new rows (dicts the caller owns: they get ``content_hash`` and ``updated_at``)
    and update changed ones; rows equal to what is stored are not touched,
    so sending the same data twice changes nothing (not even ``updated_at``). With
    ``keep_newer`` (a date-time field), a stored row with a later value is kept as it is.

    Equality is judged by a digest of the values kept beside each row (``content_hash``): one
    plain query per batch instead of loading and comparing every stored field. ``adapted``:
    the rows' values are in the form the database is sent (``adapt_records``)."""
    pk = model._meta.pk.attname
    stored = _stored(model, [row[pk] for row in rows], keep_newer)
    unhashed = [key for key, found in stored.items() if not found[0]]
    if unhashed:  # rows written outside the intake (fixtures, an older version): compare fields
        for values in model.objects.filter(pk__in=unhashed).values(pk, *fields):
            key = values.pop(pk)
            stored[key] = (_digest(values, fields), *stored[key][1:])
    result = ApplyResult()
    to_write = []
    now, revived, prepared = _written_now(model, fields, adapted)
    digest_of = _digester(tuple(fields))
    # The rows are the caller's own copies: they get their digest and time in place, and
    # insert_rows reads the named keys of them (a new dict per row cost 2 % of an import).
    # A row may bring its digest along (``digest_records``, computed by the file import's
    # reading process).
    for row in rows:
        digest = row.get(DIGEST) or digest_of(row)
        found = stored.get(row[pk])
        if found is None:
            result.created += 1
        elif found[0] == digest or (
                keep_newer and found[1] is not None
                and _aware(found[1]) > row[keep_newer]):
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        row["content_hash"] = digest
        row["updated_at"] = now
        if revived:
            row.update(revived)
        to_write.append(row)
    update = [*fields, "content_hash", "updated_at", *revived]
    names = [pk, *update]
    # Rows not stored a moment ago are inserted plainly (on PostgreSQL through COPY, a third
    # cheaper than an upsert); the changed ones are upserted.
    bulk.insert_new_rows(model, [row for row in to_write if row[pk] not in stored],
                         conflict=pk, update=update, names=names, adapted=prepared)
    bulk.insert_rows(model, [row for row in to_write if row[pk] in stored], conflict=pk,
                     update=update, names=names, adapted=prepared)
    return [row[pk] for row in to_write], result


def _written_now(model: type[models.Model], fields: Sequence[str], adapted: bool
                 ) -> tuple[Any, dict[str, None], frozenset[str]]:
    """What every written row gets: the moment (``updated_at``) and, for a model whose
    personal data can be anonymised, ``anonymised_at`` cleared: changed data for a row whose
    personal data was anonymised (ops.privacy) brings that data back, so the row no longer says
    it is anonymised (the same data sent again changes nothing). With ``adapted`` (rows in the
    database's form, ``adapt_records``) the moment is adapted once here, and the fields that
    need no adapting per row are returned for ``insert_rows(adapted=...)``."""
    now = timezone.now()
    revived = {"anonymised_at": None} if any(
        f.name == "anonymised_at" for f in model._meta.concrete_fields) else {}
    if not adapted:
        return now, revived, frozenset()
    for _name, form in bulk.stored_forms(model, ["updated_at"]):
        now = form(now)
    return now, revived, frozenset((*fields, "updated_at", *revived))


@dataclass
class References:
    """The vendors and products (with their vendor) ``check_references`` has found in the
    batches of one file of orders so far, and the orders (with their currency) of a file of
    incidents or payments, so that it asks the database only for ids it has not seen: the
    import writes nothing but its own feed and the cases, so what it found stays true to its
    end. Their two queries per batch were 4.6 % of an order import's writer
    (docs/benchmarks.md). A file's reader may have found the orders already (``currencies``,
    read with its own connection): the writer then asks only for those it did not find."""

    vendors: set[str] = field(default_factory=set)
    products: dict[str, str] = field(default_factory=dict)
    currencies: dict[str, str] = field(default_factory=dict)

    def vendors_of(self, ids: set[str]) -> set[str]:
        if not ids <= self.vendors:
            self.vendors.update(_by_pk(Vendor, ids - self.vendors))
        return self.vendors

    def currencies_of(self, ids: set[str]) -> dict[str, str]:
        unseen = ids - self.currencies.keys()
        if unseen:
            self.currencies.update(order_currencies(unseen))
        return self.currencies

    def products_of(self, ids: set[str]) -> dict[str, str]:
        unseen = ids - self.products.keys()
        if unseen:
            self.products.update((pk, found[0]) for pk, found in _by_pk(
                Product, unseen, "vendor_id").items())
        return self.products


def check_references(*, feed: Feed, records: Sequence[dict[str, Any]],
                     known: References | None = None) -> list[list[Problem]]:
    """For each record, what it names that does not exist or does not fit (empty list: fine).

    ``known``: what earlier batches of the same file found (a file import passes one)."""
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
        # Plain queries (``_by_pk``): the ORM's, with a thousand ids in each, were 5 % of an
        # order import's writer.
        known = known or References()
        vendors = known.vendors_of({r["vendor_id"] for r in records})
        products = known.products_of({r["product_id"] for r in records})
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
        currencies = (known or References()).currencies_of({r["order_id"] for r in records})
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


def order_currencies(order_ids: Collection[str]) -> dict[str, str]:
    """The currency of each of these orders that is stored: a plain query, as for the orders'
    references (``_by_pk``)."""
    return {pk: found[0] for pk, found in _by_pk(Order, order_ids, "currency").items()}


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


#: The order's field each of a buyer's fields is taken from (``_buyer_of``).
_BUYER_SOURCES = {"email": "buyer_email", "email_normalized": "buyer_email_normalized",
                  "first_name": "buyer_first_name", "last_name": "buyer_last_name",
                  "street": "street", "house_number": "house_number", "postcode": "postcode",
                  "city": "city", "country": "country", "last_order_at": "created_at"}


def _buyer_of(r: Mapping[str, Any]) -> dict[str, Any]:
    """The buyer as an order names them."""
    return {
        "buyer_id": r["buyer_id"], "email": r["buyer_email"],
        "email_normalized": r.get(NORMALIZED) or normalize_email(r["buyer_email"]),
        "first_name": r["buyer_first_name"], "last_name": r["buyer_last_name"],
        "street": r["street"], "house_number": r["house_number"],
        "postcode": r["postcode"], "city": r["city"], "country": r["country"],
        "last_order_at": r["created_at"],
    }


def _apply_buyers(records: Sequence[dict[str, Any]], *, adapted: bool = False) -> None:
    """The buyer as seen on their newest order. (With ``adapted`` an order's ``created_at``
    is the database's text, naive UTC on SQLite: such texts sort as the moments do.) Orders
    that say whether they are their buyer's newest in the whole file (``BUYER_NEWEST``, set
    by the file import as each chunk reaches the writer) write the buyer only from that one."""
    newest: dict[str, Mapping[str, Any]] = {}
    if records and BUYER_NEWEST in records[0]:
        records = [r for r in records if r[BUYER_NEWEST]]
    for r in records:
        current = newest.get(r["buyer_id"])
        if current is None or r["created_at"] >= current["created_at"]:
            newest[r["buyer_id"]] = r
    buyers = []
    for r in newest.values():
        buyer = _buyer_of(r)
        if BUYER_DIGEST in r:
            buyer[DIGEST] = r[BUYER_DIGEST]
        buyers.append(buyer)
    _write_changed(Buyer, buyers, _BUYER_FIELDS, keep_newer="last_order_at", adapted=adapted)


def _write_changed(model: type[models.Model], rows: list[dict[str, Any]],
                   fields: Sequence[str], *, keep_newer: str, adapted: bool = False) -> None:
    """``_upsert`` without its counts, in one statement: the database leaves a stored row
    alone whose digest is the same (or, without a digest, whose fields are), or whose
    ``keep_newer`` is later. Reading the stored buyers first cost 8 % of an order import's
    writer (docs/benchmarks.md), for counts nobody reads."""
    pk = model._meta.pk.attname
    now, revived, prepared = _written_now(model, fields, adapted)
    digest_of = _digester(tuple(fields))
    for row in rows:
        row["content_hash"] = row.get(DIGEST) or digest_of(row)
        row["updated_at"] = now
        if revived:
            row.update(revived)
    bulk.insert_rows(model, rows, conflict=pk,
                     update=[*fields, "content_hash", "updated_at", *revived],
                     update_when_newer=keep_newer, update_when_digest_differs="content_hash",
                     compare=fields, names=[pk, *fields, "content_hash", "updated_at", *revived],
                     adapted=prepared)


#: Keys ``digest_records`` adds to a record: its digest, and for an order the normalised
#: e-mail and the digest of the buyer as the order names them. No column of a feed begins
#: with "_", so ``Feed.parse`` never makes them (the intake API's records have none).
DIGEST = "_digest"
NORMALIZED = "_email_normalized"
BUYER_DIGEST = "_buyer_digest"
#: Whether an order is its buyer's newest in the file being imported (set by the file
#: import's writer from its first pass, ``importing._newest_orders``): only that one writes
#: the buyer.
BUYER_NEWEST = "_buyer_newest"
_DIGEST_FIELDS = {"vendors": _VENDOR_FIELDS, "products": _PRODUCT_FIELDS,
                  "orders": _ORDER_FIELDS, "incidents": _INCIDENT_FIELDS,
                  "payments": _PAYMENT_FIELDS}


def digest_records(*, feed: Feed, records: Sequence[dict[str, Any]]) -> None:
    """Compute beside each record (in place) what ``apply_records`` would compute from it
    without the database: the digests ``_upsert`` compares (an order's and its buyer's), and
    an order's normalised e-mail.

    Pure, so the file import runs it in its reading process beside the writer (11 % of an
    order import's time); ``apply_records`` computes whatever a record does not bring."""
    if feed.name != "orders":
        digest_of = _digester(_DIGEST_FIELDS[feed.name])
        for r in records:
            r[DIGEST] = digest_of(r)
        return
    # The texts of an order's values are made once for both digests: the buyer's values are
    # the order's (``_buyer_of``), so its digest is of a part of the same texts (``_digest``
    # of both, the same result: the digests are what ``apply_records`` computes without them).
    order_values = itemgetter(*_ORDER_FIELDS)
    buyer_texts = itemgetter(*(_ORDER_FIELDS.index(_BUYER_SOURCES[name])
                               for name in _BUYER_FIELDS))
    blake2b = hashlib.blake2b
    for r in records:
        normalized = normalize_email(r["buyer_email"])
        r[NORMALIZED] = r["buyer_email_normalized"] = normalized
        texts = list(map(str, order_values(r)))
        r[DIGEST] = blake2b("\x1f".join(texts).encode(), digest_size=16).hexdigest()
        # For every order: the reader does not know yet which one is its buyer's newest.
        r[BUYER_DIGEST] = blake2b("\x1f".join(buyer_texts(texts)).encode(),
                                  digest_size=16).hexdigest()


_FEED_MODELS: dict[str, tuple[type[models.Model], Sequence[str]]] = {
    "vendors": (Vendor, _VENDOR_FIELDS), "products": (Product, _PRODUCT_FIELDS),
    "orders": (Order, _ORDER_FIELDS), "incidents": (Incident, _INCIDENT_FIELDS),
    "payments": (Payment, _PAYMENT_FIELDS)}


def adapt_records(*, feed: Feed, records: Sequence[dict[str, Any]]) -> None:
    """Put each record's values (in place) into the form the database is sent
    (``bulk.stored_forms``: on SQLite a date-time as naive UTC text, an amount as text), for
    ``apply_records(adapted=True)``. After ``digest_records``: a digest is of the parsed values.

    Pure, so the file import runs it in its reading process: the writer then neither adapts
    the values nor unpickles a ``datetime`` or ``Decimal`` per value (both together were a
    fifth of an order import's writer, docs/benchmarks.md). What the writer still compares
    (an order's ``created_at``, to find a buyer's newest order in a batch) sorts the same."""
    model, fields = _FEED_MODELS[feed.name]
    forms = bulk.stored_forms(model, fields)
    if not forms:
        return
    for r in records:
        for name, form in forms:
            value = r[name]
            if value is not None:
                r[name] = form(value)


# savepoint=False: inside a file import's transaction, a savepoint per batch made SQLite's
# inserts slower with every batch (docs/benchmarks.md); the import rolls back as a whole anyway.
@transaction.atomic(savepoint=False)
def apply_records(*, feed: Feed, records: Sequence[dict[str, Any]], actor: str,
                  sources: Mapping[str, Mapping[str, str]] | None = None,
                  adapted: bool = False, read_ahead: Any = None) -> ApplyResult:
    """Upsert checked records of one feed and announce what changed, in one transaction.

    ``records`` are the output of ``Feed.parse`` that passed ``check_references`` (with
    ``adapted``, then put into the database's form by ``adapt_records``). For payments,
    ``sources`` may name where each order's payment was read (a bank statement's ``statement``
    and ``entry``): the case's timeline names it. For incidents, ``read_ahead`` is what a
    receiver of ``signals.incidents_read`` answered for them (a file import's reader), passed
    on with ``incidents_applied``.
    """
    if not records:
        return ApplyResult()
    if feed.name == "vendors":
        _, result = _upsert(Vendor, [dict(r) for r in records], _VENDOR_FIELDS,
                            adapted=adapted)
    elif feed.name == "products":
        _, result = _upsert(Product, [dict(r) for r in records], _PRODUCT_FIELDS,
                            adapted=adapted)
    elif feed.name == "orders":
        _apply_buyers(records, adapted=adapted)
        # Records put into the database's form (the file import's reader) are this call's own
        # and carry their normalised e-mail; others are the caller's, so they are copied.
        rows = list(records) if adapted else [
            {**r, "buyer_email_normalized": r.get(NORMALIZED)
             or normalize_email(r["buyer_email"])} for r in records]
        ids, result = _upsert(Order, rows, _ORDER_FIELDS, adapted=adapted)
        if ids:
            signals.orders_applied.send(sender=Order, ids=ids, actor=actor)
    elif feed.name == "incidents":
        ids, result = _upsert(Incident, [dict(r) for r in records], _INCIDENT_FIELDS,
                              adapted=adapted)
        if ids:
            signals.incidents_applied.send(sender=Incident, ids=ids, actor=actor,
                                           read_ahead=read_ahead)
    elif feed.name == "payments":
        ids, result = _upsert(Payment, [dict(r) for r in records], _PAYMENT_FIELDS,
                              adapted=adapted)
        if ids:
            signals.payments_applied.send(sender=Payment, ids=ids, actor=actor,
                                          sources=sources or {})
    else:  # pragma: no cover - FEEDS lists exactly these five
        raise ValueError(f"unknown feed {feed.name}")
    return result
