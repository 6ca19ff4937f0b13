"""Money: an exact Decimal amount with an ISO 4217 currency, never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise TypeError("Money takes a Decimal or a string, never a float")
        if not isinstance(self.amount, Decimal):
            try:
                object.__setattr__(self, "amount", Decimal(str(self.amount)))
            except InvalidOperation as exc:
                raise ValueError(f"not an amount: {self.amount!r}") from exc
        if not is_currency(self.currency):
            raise ValueError(f"unknown currency: {self.currency!r}")

    def format(self, locale: str = "de_DE") -> str:
        return format_currency(self.amount, self.currency, locale=locale)

    def __str__(self) -> str:
        return f"{quantize(self.amount, self.currency)} {self.currency}"
