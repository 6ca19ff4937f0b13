"""The case list's rows are drawn in Python (``web.case_rows``); what support sees is the
HTML the template loop drew before, character for character: names that need escaping,
every state, a later cycle, a reorder, an invalid address, no letters or two, in German and
in English, with and without the bulk actions' checkboxes, and the row of an empty list."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import engines
from django.utils import translation

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.web.case_rows import case_rows, read
from mahnwerk.web.filters import case_queryset
from tests.factories import BERLIN, BuyerFactory, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = pytest.mark.django_db

#: The loop as case_list.html drew the rows before they were drawn in Python.
LOOP = (Path(__file__).parent / "assets" / "case_list_rows.html").read_text(encoding="utf-8")


def by_template(cases, *, pick: bool) -> str:
    return engines["django"].from_string(LOOP).render(
        {"page": cases, "bulk_form": object() if pick else None, "case_url": "/faelle/"})


def by_python(cases, *, pick: bool) -> str:
    """The rows as the page reads and draws them now; the template around them is
    "  {{ rows }}\n"."""
    rows = read([case.pk for case in cases])
    return f"  {case_rows(rows, case_url='/faelle/', pick=pick)}\n"


@pytest.fixture
def cases():
    vendor = VendorFactory(name='Müller & Söhne <GmbH> "Kurse"')
    product = ProductFactory(vendor=vendor, name="Kurs 'Grundlagen' & mehr")
    buyer = BuyerFactory()
    incident(OrderFactory(product=product, buyer=buyer))
    odd = incident(OrderFactory(order_id="O-1.a_b", product=product, buyer=buyer,
                                buyer_first_name="Zoë <b>", buyer_last_name="O'Brien & Co",
                                street="", postcode="1", amount_total=Decimal("1234567.89")),
                   open_amount="1234567.89")
    lettered(odd, first=date(2025, 7, 1), second=date(2025, 12, 31))
    late = incident(OrderFactory(product=product, buyer=buyer),
                    at=datetime(2025, 3, 31, 23, 30, tzinfo=BERLIN), open_amount="0.05")
    case_services.change_case(case=late, actor="t", reason="x", changes={
        "cycle": 3, "pursue": False, "reopened": True, "reopened_id": "O999",
        "invalid_address_override": True})
    paid = incident(OrderFactory(product=product, buyer=buyer))
    case_services.change_case(case=paid, actor="t", reason="x", to_state=CaseState.PAID)
    return list(case_queryset().order_by("pk"))


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("pick", [True, False])
def test_the_rows_are_the_templates_rows(cases, language, pick):
    with translation.override(language):
        assert by_python(cases, pick=pick) == by_template(cases, pick=pick)


@pytest.mark.parametrize("language", ["de", "en"])
def test_an_empty_list_says_so_as_before(language):
    with translation.override(language):
        assert by_python([], pick=True) == by_template([], pick=True)

