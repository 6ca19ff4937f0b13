"""The rows of *Fälle* (the case list), drawn in Python.

The same HTML, character for character, as the template loop they replace
(``tests/test_case_rows.py`` renders both): fifty rows through Django's template engine cost
a third of the page's CPU time (a variable lookup, a filter call and an escape for each of a
row's twenty values, 320 µs a row; docs/benchmarks.md), the figure that decides how many agents
the workspace serves at once. Written here because no library draws a table row faster than
string formatting; the words are the templates' own msgids, so the translations are shared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import quote

from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from mahnwerk.cases import display
from mahnwerk.money import format_money
from mahnwerk.web.filters import case_queryset


class CaseRow(NamedTuple):
    """What a row of the list shows of a case, its order, product and vendor: read as plain
    values (``read``), not as four model instances a case (building them was a fifth of the
    page's CPU time)."""

    pk: int
    order_id: str
    state: str
    pursue: bool
    cycle: int
    open_amount: Decimal
    currency: str
    cycle_started_at: datetime | None
    opened_at: datetime
    first_dunning_letter: date | None
    second_dunning_letter: date | None
    reopened_id: str
    invalid_address_override: bool | None
    invalid_address_computed: bool
    vendor_name: str
    buyer_first_name: str
    buyer_last_name: str
    product_name: str

    @property
    def invalid_address(self) -> bool:
        """As ``DebtCase.invalid_address``: support's word over the computed flag."""
        if self.invalid_address_override is not None:
            return self.invalid_address_override
        return self.invalid_address_computed


_READ = (*CaseRow._fields[:-4], "vendor__name", "order__buyer_first_name",
         "order__buyer_last_name", "order__product__name")


def read(ids: Sequence[int]) -> list[CaseRow]:
    """The rows of the cases ``ids``, in that order (one query, joined)."""
    found = {row[0]: CaseRow._make(row) for row in case_queryset().filter(pk__in=ids)
             .values_list(*_READ)}
    return [found[pk] for pk in ids if pk in found]

def _url_part(value: str) -> str:
    """The template filter ``urlencode`` (``quote`` keeping "/"), then escaped."""
    return escape(quote(value, safe="/"))


def _state_label(state: str) -> str:
    """The template filter ``state_label``: an unknown state as it is stored."""
    try:
        return display.state_label(state)
    except ValueError:
        return state


def _money(amount: Decimal | None, currency: str) -> str:
    """The template filter ``money``."""
    return display.NONE if amount is None else format_money(amount, currency)


def case_rows(cases: Iterable[CaseRow], *, case_url: str, pick: bool) -> SafeString:
    """The ``<tr>`` of each case (``read``; with ``pick``, its checkbox for the bulk
    actions), or the row that says there are none; ``case_url`` is the case page's address
    without the id."""
    short_date = get_format("SHORT_DATE_FORMAT")
    zone = timezone.get_current_timezone()
    pursue_titles = {True: escape(display.pursue_label(True)),
                     False: escape(display.pursue_label(False))}
    cycle_title = escape(_("dunning cycle"))
    cycle_words = _("cycle %(cycle)s")
    invalid = (f'<span class="badge bad" title="{escape(_("address incomplete or wrong"))}">'
               f'{escape(_("invalid"))}</span>')
    url = escape(case_url)
    states: dict[str, str] = {}

    def day(value: date | datetime | None) -> str:
        if not value:
            return display.NONE
        if isinstance(value, datetime) and timezone.is_aware(value):
            value = timezone.localtime(value, zone)
        return escape(dateformat.format(value, short_date))

    rows = []
    for case in cases:
        order_id = escape(case.order_id)
        state = states.get(case.state)
        if state is None:
            state = states[case.state] = escape(_state_label(case.state))
        if case.cycle > 1:
            state += (f' <span class="badge" title="{cycle_title}">'
                      f'{cycle_words % {"cycle": case.cycle}}</span>')
        pick_cell = (
            f'<td class="pick"><input type="checkbox" name="order" value="{order_id}" '
            f'form="bulk" aria-labelledby="pick-word o-{case.pk}"><input type="hidden" '
            f'name="seen" value="{order_id}:{escape(case.state)}" form="bulk"></td>'
            if pick else "")
        reopened = (f'<a href="{url}{_url_part(case.reopened_id)}/">'
                    f'{escape(case.reopened_id)}</a>' if case.reopened_id else display.NONE)
        rows.append(
            f'\n    <tr class="{"pursue" if case.pursue else "not-pursued"}" '
            f'data-order="{order_id}" title="{pursue_titles[bool(case.pursue)]}">\n'
            f'      {pick_cell}\n'
            f'      <td class="nowrap"><a href="{url}{_url_part(case.order_id)}/" '
            f'id="o-{case.pk}">{order_id}</a></td>\n'
            f'      <td>{escape(case.vendor_name)}</td>\n'
            f'      <td>{escape(case.buyer_first_name)} {escape(case.buyer_last_name)}</td>\n'
            f'      <td>{escape(case.product_name)}</td>\n'
            f'      <td class="nowrap">{state}</td>\n'
            f'      <td class="num">{escape(_money(case.open_amount, case.currency))}</td>\n'
            f'      <td class="nowrap">{day(case.cycle_started_at or case.opened_at)}</td>\n'
            f'      <td class="nowrap">{day(case.first_dunning_letter)}</td>\n'
            f'      <td class="nowrap">{day(case.second_dunning_letter)}</td>\n'
            f'      <td class="nowrap">{reopened}</td>\n'
            f'      <td>{invalid if case.invalid_address else ""}</td>\n'
            f'    </tr>\n  ')
    if not rows:
        rows.append(f'\n    <tr><td colspan="12" class="muted">{escape(_("No cases."))}</td>'
                    f'</tr>\n  ')
    return mark_safe("".join(rows))  # every value above is escaped
