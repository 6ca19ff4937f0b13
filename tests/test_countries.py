"""A buyer's country is an ISO 3166-1 alpha-2 code (docs/file-formats.md): the handover to the
agency and the letters' address block need a country, not a region CLDR happens to name."""

from __future__ import annotations

import pytest

from mahnwerk.countries import COUNTRIES
from mahnwerk.intake.feeds import FieldError, country


@pytest.mark.parametrize("code", ["DE", "at", " CH ", "XK", "ZA", "QA"])
def test_a_country_code_is_read_in_capitals(code):
    assert country(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AC", "IC", "TA",
                                  "001", "Deutschland"])
def test_a_region_or_pseudo_code_of_cldr_is_no_buyers_country(code):
    with pytest.raises(FieldError, match="kein ISO-3166-1-Ländercode wie DE"):
        country(code)


def test_there_are_as_many_countries_as_iso_assigns_and_kosovo():
    assert len(COUNTRIES) == 249 + 1
