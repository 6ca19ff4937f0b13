"""An amount reads the same on every page and in every letter, however it is written out:
``format_money`` takes a short way for the common amounts (``money._plain_form``), and what
it writes is babel's text, character for character."""

from decimal import Decimal

from babel.numbers import format_currency, list_currencies
from hypothesis import given, settings
from hypothesis import strategies as st

from mahnwerk.money import _plain_form, format_money, locale_of

CURRENCIES = sorted(list_currencies())

amounts = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("999999999999.999"),
                      allow_nan=False, allow_infinity=False, places=None).map(
    lambda value: value.quantize(Decimal("0.001")))


@settings(max_examples=600, deadline=None)
@given(amount=st.one_of(amounts, amounts.map(lambda value: value.quantize(Decimal("0.01"))),
                        st.integers(min_value=0, max_value=10**12).map(Decimal)),
       currency=st.sampled_from(["EUR", "USD", "CHF", "GBP", "JPY", "KWD", *CURRENCIES]),
       language=st.sampled_from(["de", "en"]))
def test_an_amount_reads_as_babel_writes_it(amount, currency, language):
    assert format_money(amount, currency, language=language) == format_currency(
        amount, currency, locale=locale_of(language))


def test_the_workspace_currencies_take_the_short_way():
    """The short way is taken for the currencies the platform sells in, in both languages
    (else the list pages would be back at babel's 30 µs an amount)."""
    for currency in ("EUR", "USD", "CHF", "GBP"):
        for language in ("de", "en"):
            assert _plain_form(currency, language) is not None


def test_negative_amounts_and_extra_places_are_babels():
    assert format_money(Decimal("-1234.5"), "EUR", language="de") == "-1.234,50\xa0€"
    assert format_money(Decimal("1234.505"), "EUR", language="de") == format_currency(
        Decimal("1234.505"), "EUR", locale=locale_of("de"))
    assert format_money(Decimal("8145.83"), "EUR", language="en") == "€8,145.83"
