"""Money: exact Decimal amounts with an ISO 4217 currency (never a float), as people read them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import NamedTuple

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.utils.translation import get_language

CENT = Decimal("0.01")


#: The locale of each language the pages and letters speak.
LOCALES = {"de": "de_DE", "en": "en_US"}


@cache
def locale_of(language: str) -> Locale:
    return Locale.parse(LOCALES.get(language, LOCALES["de"]))


def format_money(amount: Decimal, currency: str, *, language: str | None = None) -> str:
    """"8.145,83 €" in German, "€8,145.83" in English: for texts people read (case events,
    letters, messages); the active language unless one is given."""
    language = (language or get_language() or "de").split("-")[0]
    plain = _plain_form(currency, language)
    if plain is not None and _plain_amount(amount, plain.digits):
        text = f"{amount:,.{plain.digits}f}"
        return f"{plain.prefix}{text.translate(plain.separators)}{plain.suffix}"
    return format_currency(amount, currency, locale=locale_of(language))


def _plain_amount(amount: Decimal | int, digits: int) -> bool:
    """Whether ``_plain_form`` writes this amount as babel does: not negative (nor -0), and
    with no more places than the currency has (babel would round)."""
    if isinstance(amount, Decimal):
        return amount.is_finite() and not amount.is_signed() \
            and amount.as_tuple().exponent >= -digits  # type: ignore[operator]
    return isinstance(amount, int) and amount >= 0


class _PlainForm(NamedTuple):
    prefix: str
    suffix: str
    separators: dict[int, str]  # str.translate's table: "," and "." to the locale's
    digits: int


#: Amounts babel's own formatting of a currency must agree with before the short way is taken.
_PROBES = tuple(Decimal(text) for text in (
    "0", "5", "12.3", "999.99", "1000", "1234.5", "1234567.25", "100000000000.01"))


@cache
def _plain_form(currency: str, language: str) -> _PlainForm | None:
    """How babel writes an amount of ``currency`` in ``language``, read off its own output
    once: the text before and after the number, the two separators and the currency's places.
    Babel applies its pattern anew for every amount (30 µs: a list of 50 cases spent 2 ms on
    it); an amount that needs no rounding and is not negative is then written by Python's
    grouping with the separators swapped, which gives babel's text for the patterns of the
    two languages here ("#,##0.00 ¤", "¤#,##0.00"). A currency or language whose form differs
    (checked on ``_PROBES``) stays with babel, as do negative amounts and amounts with more
    places than the currency has."""
    locale = locale_of(language)
    if not is_currency(currency):
        return None
    digits = get_currency_precision(currency)
    sample = format_currency(Decimal("1234567.25"), currency, locale=locale)
    numbers = [i for i, char in enumerate(sample) if char.isdigit()]
    if not numbers:
        return None
    prefix, suffix = sample[:numbers[0]], sample[numbers[-1] + 1:]
    body = sample[numbers[0]:numbers[-1] + 1]
    group = body[1] if len(body) > 1 and not body[1].isdigit() else ","
    decimal = body[-digits - 1] if digits else "."
    form = _PlainForm(prefix, suffix, str.maketrans({",": group, ".": decimal}), digits)
    for probe in _PROBES:
        text = f"{probe:,.{digits}f}".translate(form.separators)
        if f"{prefix}{text}{suffix}" != format_currency(probe, currency, locale=locale):
            return None
    return form


@cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in known_currencies()


def quantize(amount: Decimal, currency: str = "EUR") -> Decimal:
    places = get_currency_precision(currency) if is_currency(currency) else 2
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
