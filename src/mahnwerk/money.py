"""Money: exact Decimal amounts with an ISO 4217 currency (never a float), as people read them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

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
    return format_currency(amount, currency, locale=locale_of(language))


@cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    return code in known_currencies()


def quantize(amount: Decimal, currency: str = "EUR") -> Decimal:
    places = get_currency_precision(currency) if is_currency(currency) else 2
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
