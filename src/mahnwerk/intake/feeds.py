"""The platform's five feeds, column by column (platform-feed.md), and how each value is read.

One specification serves the file import and the intake API: both turn a raw record (the cells of
a CSV or XLSX row, or a JSON object) into clean Python values with ``Feed.parse`` and hand them to
the same services. The converters are plain functions rather than pydantic models because they run
a million times per import: each one is a few microseconds, and each failure carries a message a
person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.core.validators import URLValidator
from django.dispatch import receiver
from django.utils.translation import gettext as _

from mahnwerk.countries import COUNTRIES
from mahnwerk.intake.models import (
    CollectionMode,
    DunningBy,
    IncidentKind,
    PaymentChannel,
    PaymentType,
)
from mahnwerk.money import is_currency
from mahnwerk.spreadsheet_safety import FORMULA_START

BERLIN = ZoneInfo("Europe/Berlin")


class FieldError(ValueError):
    """A value that cannot be read; the message says why and, where it can, how to fix it."""


Converter = Callable[[Any], Any]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(max_length: int) -> Converter:
    def convert(value: Any) -> str:
        result = str(value).strip()
        if len(result) > max_length:
            raise FieldError(_("longer than %(max)d characters") % {"max": max_length})
        return result

    return convert


#: (longest, compiled pattern) of the platform's ids, read from the settings once: reading two
#: settings for each of an order row's four ids cost 4 % of a million-order import.
_id_rule: tuple[int, re.Pattern[str]] | None = None


def _platform_id_rule() -> tuple[int, re.Pattern[str]]:
    global _id_rule
    if _id_rule is None:
        _id_rule = (settings.MAHNWERK_ID_MAX_LENGTH, re.compile(settings.MAHNWERK_ID_PATTERN))
    return _id_rule


@receiver(setting_changed)
def _forget_id_rule(*, setting: str, **kwargs: Any) -> None:
    global _id_rule
    if setting in ("MAHNWERK_ID_MAX_LENGTH", "MAHNWERK_ID_PATTERN"):
        _id_rule = None


def platform_id(value: Any) -> str:
    """An id as the platform writes them (``MAHNWERK_ID_PATTERN``, ``MAHNWERK_ID_MAX_LENGTH``):
    by default letters, digits, ``-``, ``_`` and ``.``, at most 64 characters. A formula, a
    ``/`` (the case page's address could not hold it), a space or NUL never becomes an id."""
    result = str(value).strip()
    longest, pattern = _id_rule or _platform_id_rule()
    if len(result) <= longest and pattern.fullmatch(result):
        return result
    if len(result) > longest:
        raise FieldError(_("not an id: longer than %(max)d characters") % {"max": longest})
    if result.startswith(FORMULA_START):
        raise FieldError(_("not an id: it starts with %(char)s, so a spreadsheet would read it "
                           "as a formula; ids are letters, digits, '-', '_' and '.'")
                         % {"char": repr(result[0])})
    bad = next((c for c in result if not (c.isascii() and (c.isalnum() or c in "-_."))), None)
    if bad is not None:
        raise FieldError(_("not an id: the character %(char)s is not allowed; ids are letters, "
                           "digits, '-', '_' and '.'") % {"char": repr(bad)})
    raise FieldError(_("not an id: ids are letters, digits, '-', '_' and '.', starting with a "
                       "letter or digit"))


_TRUE = {"true", "1", "yes", "ja", "wahr"}
_FALSE = {"false", "0", "no", "nein", "falsch"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise FieldError(_("not True or False"))


_AMOUNT_RE = re.compile(r"\d{1,12}(\.\d{1,2})?")


def amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise FieldError(_("not an amount"))
    if isinstance(value, Decimal | int):
        value = str(value)
    elif isinstance(value, float):
        # Only XLSX cells arrive as floats; their shortest repr is the number that was typed.
        value = repr(value)
    raw = str(value).strip()
    if _AMOUNT_RE.fullmatch(raw):
        return Decimal(raw)
    if raw.startswith("-"):
        raise FieldError(_("negative amount; amounts are never below 0"))
    if re.fullmatch(r"\d{1,3}(\.\d{3})*,\d{1,2}|\d+,\d{1,2}", raw):
        fixed = raw.replace(".", "").replace(",", ".")
        raise FieldError(
            _("decimal comma; write the amount with a point: %(fixed)s") % {"fixed": fixed}
        )
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise FieldError(_("not an amount; write it like 1234.50")) from None
    if number.is_finite() and number.as_tuple().exponent < -2:
        raise FieldError(_("more than two decimal places"))
    raise FieldError(_("not an amount; write it like 1234.50"))


def positive_amount(value: Any) -> Decimal:
    """An amount above 0: an incident with nothing open is no debt, a payment of 0 no payment."""
    number = amount(value)
    if number == 0:
        raise FieldError(_("0 is not allowed here: the amount must be above 0"))
    return number


def count(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raw = str(value).strip()
    if not raw.isdigit():
        raise FieldError(_("not a whole number of 0 or more"))
    return int(raw)


def currency(value: Any) -> str:
    code = str(value).strip()
    if not is_currency(code):
        raise FieldError(_("not an ISO 4217 currency code such as EUR"))
    return code


def country(value: Any) -> str:
    code = str(value).strip().upper()
    if code not in COUNTRIES:
        raise FieldError(_("not an ISO 3166-1 country code such as DE"))
    return code


def moment(value: Any) -> datetime:
    """An ISO 8601 date-time; without an offset it is read as German time."""
    if isinstance(value, datetime):
        result = value
    else:
        raw = str(value).strip()
        try:
            result = datetime.fromisoformat(raw)
        except ValueError:
            raise FieldError(
                _("not an ISO 8601 date-time; write it like 2025-07-01T14:30:00+02:00")
            ) from None
    if result.tzinfo is None:
        result = result.replace(tzinfo=BERLIN)
    return result.astimezone(UTC)


_EMAIL_RE = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]{2,}")


def email(value: Any) -> str:
    # A plain pattern rather than Django's EmailValidator: this runs once per order row,
    # and the platform has already checked that the mailbox receives mail.
    result = str(value).strip()
    if len(result) > 254 or not _EMAIL_RE.fullmatch(result):
        raise FieldError(_("not an e-mail address"))
    return result


_url_validator = URLValidator(schemes=["http", "https"])


def url(value: Any) -> str:
    result = str(value).strip()
    try:
        _url_validator(result)
    except ValidationError:
        raise FieldError(_("not an http(s) URL")) from None
    return result


def choice(choices: type) -> Converter:
    allowed = tuple(choices.values)

    def convert(value: Any) -> str:
        raw = str(value).strip()
        if raw not in allowed:
            raise FieldError(_("unknown value; allowed: %(allowed)s")
                             % {"allowed": ", ".join(allowed)})
        return raw

    return convert


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    convert: Converter
    required: bool = True
    default: Any = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one record: where, which value, and why."""

    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"column": self.column, "value": self.value, "reason": self.reason}


#: Control characters no field of any feed takes: C0 but tab, line feed and carriage return
#: (which a text may hold, and every other converter refuses), and DEL. A NUL would be refused
#: only later, by PostgreSQL; the others are invisible in the workspace and in exported files.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_problem(name: str, value: str) -> Problem:
    """The value shown with its control characters as ``\\xNN``, and the first one named."""
    first = _CONTROL.search(value)
    char = f"\\x{ord(first.group()):02x}" if first else ""
    shown = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)
    return Problem(name, shown, _("contains the control character %(char)s; send the value "
                                  "without it") % {"char": char})


@dataclass(frozen=True)
class Feed:  # not slotted: ``_plan`` is cached on the instance
    name: str
    key: str
    columns: tuple[Column, ...]
    #: Checks across the fields of one record: fn(record) -> list of Problems.
    record_checks: tuple[Callable[[dict[str, Any]], list[Problem]], ...] = field(default=())

    @cached_property
    def _plan(self) -> tuple[tuple[str, Converter, bool, Any], ...]:
        return tuple((c.name, c.convert, c.required, c.default) for c in self.columns)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def header_problems(self, header: list[str]) -> list[Problem]:
        problems = []
        known = set(self.column_names)
        seen: set[str] = set()
        for name in header:
            if name in seen:
                problems.append(Problem(name, name, _("column appears twice in the header")))
            seen.add(name)
            if name not in known:
                hint = name.strip().lower()
                reason = _("unknown column; expected columns: %(cols)s") % {
                    "cols": ", ".join(self.column_names)}
                if hint in known:
                    reason = _("write the column name as %(name)s") % {"name": hint}
                problems.append(Problem(name, name, reason))
        for name in self.required_names:
            if name not in seen:
                problems.append(Problem(name, "", _("required column missing from the header")))
        return problems

    def parse(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        """Turn one raw record into clean values, or say what is wrong with it."""
        record: dict[str, Any] = {}
        problems: list[Problem] = []
        get = raw.get
        # One search over all the texts at once instead of one per value (a control character
        # is all but never there); only a record with one looks at each value.
        control = _CONTROL.search("".join(
            [v for v in raw.values() if v.__class__ is str])) is not None
        for name, convert, required, default in self._plan:
            value = get(name)
            if value is None or value == "" or (value.__class__ is str and value.isspace()):
                if required:
                    problems.append(Problem(name, "", _("required value missing")))
                record[name] = default
                continue
            if control and value.__class__ is str and _CONTROL.search(value):
                problems.append(_control_problem(name, value))
                continue
            try:
                record[name] = convert(value)
            except FieldError as exc:
                problems.append(Problem(name, str(value), str(exc)))
        if not problems:
            for check in self.record_checks:
                problems.extend(check(record))
        return record, problems


def _installments_fit(record: dict[str, Any]) -> list[Problem]:
    total, paid = record.get("installments_total"), record.get("installments_paid")
    if total is not None and paid is not None and paid > total:
        return [Problem("installments_paid", str(paid),
                        _("more installments paid than the plan has (%(total)d)")
                        % {"total": total})]
    return []


VENDORS = Feed(
    name="vendors",
    key="vendor_id",
    columns=(
        Column("vendor_id", platform_id),
        Column("name", text(255)),
        Column("email", email),
        Column("enrolled", boolean),
        Column("collection_mode", choice(CollectionMode)),
        Column("dunning_by", choice(DunningBy)),
        Column("relationship_manager", text(150), required=False),
        Column("escalation_channel", text(255), required=False),
    ),
)

PRODUCTS = Feed(
    name="products",
    key="product_id",
    columns=(
        Column("product_id", platform_id),
        Column("vendor_id", platform_id),
        Column("name", text(255)),
        Column("dunning_enabled", boolean),
        Column("checkout_url", url, required=False),
    ),
)

ORDERS = Feed(
    name="orders",
    key="order_id",
    columns=(
        Column("order_id", platform_id),
        Column("vendor_id", platform_id),
        Column("product_id", platform_id),
        Column("buyer_id", platform_id),
        Column("buyer_email", email, required=False),
        Column("buyer_first_name", text(150), required=False),
        Column("buyer_last_name", text(150), required=False),
        Column("street", text(255), required=False),
        Column("house_number", text(32), required=False),
        Column("postcode", text(16), required=False),
        Column("city", text(150), required=False),
        Column("country", country, required=False),
        Column("payment_type", choice(PaymentType)),
        Column("amount_total", amount),
        Column("currency", currency),
        Column("installments_total", count, required=False, default=None),
        Column("installments_paid", count, required=False, default=None),
        Column("created_at", moment),
        Column("sales_agent", text(150), required=False),
        Column("first_invoice_number", text(64), required=False),
    ),
    record_checks=(_installments_fit,),
)

INCIDENTS = Feed(
    name="incidents",
    key="incident_id",
    columns=(
        Column("incident_id", platform_id),
        Column("order_id", platform_id),
        Column("kind", choice(IncidentKind)),
        Column("occurred_at", moment),
        Column("open_amount", positive_amount),
        Column("currency", currency),
    ),
)

PAYMENTS = Feed(
    name="payments",
    key="payment_id",
    columns=(
        Column("payment_id", platform_id),
        Column("order_id", platform_id),
        Column("amount", positive_amount),
        Column("currency", currency),
        Column("paid_at", moment),
        Column("channel", choice(PaymentChannel)),
    ),
)

FEEDS: dict[str, Feed] = {feed.name: feed for feed in (VENDORS, PRODUCTS, ORDERS, INCIDENTS,
                                                        PAYMENTS)}
