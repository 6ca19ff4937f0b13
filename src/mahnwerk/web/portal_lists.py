"""The vendor portal's lists as downloads (CSV and XLSX): a vendor's open cases, its cases
waiting for approval, its closed cases and the letters sent to its buyers, each as the list's
current filter shows it.

Every list is read through the vendor's id (``PortalList.rows``; a filter only narrows it), so
a download holds that vendor's rows only, and never a buyer's address or e-mail. Every cell
goes through the spreadsheet-safe writers (``mahnwerk.spreadsheet_safety``): a buyer named
``=HYPERLINK(…)`` stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Font

from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.collection import selectors as collection_selectors
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.spreadsheet_safety import csv_row, xlsx_cell
from mahnwerk.web.filters import (
    DEFAULT_SORT,
    ListFilterSet,
    PortalApprovalFilterSet,
    PortalClosedFilterSet,
    PortalLetterFilterSet,
    PortalOpenFilterSet,
    case_queryset,
)


@dataclass(frozen=True)
class Table:
    """One list as it is written: its header, its rows, and the orders it names."""

    title: str
    header: list[str]
    rows: list[list[Any]]
    order_ids: list[str]


def _state(value: str) -> str:
    try:
        return str(CaseState(value).label)
    except ValueError:
        return value


def _buyer(case: Any) -> str:
    return f"{case.order.buyer_first_name} {case.order.buyer_last_name}".strip()


def open_cases(cases: Iterable[Any]) -> Table:
    cases = list(cases)
    return Table(
        _("Your open cases"),
        [_("order id"), _("buyer"), _("product"), _("state"), _("open amount"), _("currency"),
         _("first dunning letter"), _("second dunning letter"), _("takeover by the agency")],
        [[c.order_id, _buyer(c), c.order.product.name, _state(c.state), c.open_amount,
          c.currency, c.first_dunning_letter, c.second_dunning_letter, c.incasso_date]
         for c in cases],
        [c.order_id for c in cases])


def waiting(cases: Iterable[Any]) -> Table:
    cases = list(cases)
    return Table(
        _("Awaiting approval"),
        [_("order id"), _("buyer"), _("product"), _("open amount"), _("currency"),
         _("first dunning letter"), _("second dunning letter")],
        [[c.order_id, _buyer(c), c.order.product.name, c.open_amount, c.currency,
          c.first_dunning_letter, c.second_dunning_letter] for c in cases],
        [c.order_id for c in cases])


def closed_cases(cases: Iterable[Any]) -> Table:
    cases = list(cases)
    return Table(
        _("Closed cases"),
        [_("order id"), _("buyer"), _("product"), _("state"), _("closed on"),
         _("open amount"), _("currency"), _("first dunning letter"),
         _("second dunning letter"), _("takeover by the agency")],
        [[c.order_id, _buyer(c), c.order.product.name, _state(c.state),
          c.closed_at.date() if c.closed_at else None, c.open_amount, c.currency,
          c.first_dunning_letter, c.second_dunning_letter, c.incasso_date] for c in cases],
        [c.order_id for c in cases])


def letter_status(letter: Any) -> str:
    """Where a letter stands, for the vendor: withdrawn, or its outbox message's status."""
    if letter.withdrawn_at is not None:
        return _("withdrawn")
    outbox = getattr(letter, "outbox", None)
    return str(outbox.get_status_display()) if outbox is not None else "–"


def letter_channel(letter: Any) -> str:
    outbox = getattr(letter, "outbox", None)
    return str(outbox.get_channel_display()) if outbox is not None else "–"


def letters(letters: Iterable[Any]) -> Table:
    rows = list(letters)
    return Table(
        _("Letters to your buyers"),
        [_("order id"), _("letter date"), _("left on"), _("letter"), _("amount"),
         _("currency"), _("channel"), _("status")],
        [[letter.case.order_id, letter.letter_date, letter.dispatched_on,
          dunning_selectors.letter_label(letter.level),
          letter.principal + letter.fees + letter.interest, letter.currency,
          letter_channel(letter), letter_status(letter)] for letter in rows],
        sorted({letter.case.order_id for letter in rows}))


def open_rows(vendor_id: str) -> QuerySet:
    """The vendor's open cases, with what their rows show."""
    return (case_queryset().filter(vendor_id=vendor_id, state__in=ACTIVE_STATES)
            .order_by(*DEFAULT_SORT))


def waiting_rows(vendor_id: str) -> QuerySet:
    """The vendor's cases waiting for its approval, with the request's stage."""
    return collection_selectors.with_waiting(
        collection_selectors.approval_list(vendor_id=vendor_id)).order_by("order_id")


def closed_rows(vendor_id: str) -> QuerySet:
    return case_selectors.closed_cases(vendor_id=vendor_id)


def letter_rows(vendor_id: str) -> QuerySet:
    return dunning_selectors.with_amount(dunning_selectors.vendor_letters(vendor_id=vendor_id))


@dataclass(frozen=True)
class PortalList:
    #: The file's name without its extension (the URL's too): "offene-faelle".
    stem: str
    label: Any
    #: The vendor's rows (never another vendor's), the list's filters, the file's table.
    rows: Callable[[str], QuerySet]
    filterset: type[ListFilterSet]
    build: Callable[[Iterable[Any]], Table]

    def filtered(self, vendor_id: str, data: Any) -> ListFilterSet:
        """The list's filters over the vendor's rows: a parameter can narrow them, never
        widen them to another vendor."""
        return self.filterset(data or None, queryset=self.rows(vendor_id))


#: The lists and their downloads, by the name in their URL.
LISTS: dict[str, PortalList] = {item.stem: item for item in (
    PortalList("offene-faelle", gettext_lazy("open cases"), open_rows, PortalOpenFilterSet,
               open_cases),
    PortalList("freigaben", gettext_lazy("awaiting approval"), waiting_rows,
               PortalApprovalFilterSet, waiting),
    PortalList("abgeschlossene-faelle", gettext_lazy("closed cases"), closed_rows,
               PortalClosedFilterSet, closed_cases),
    PortalList("briefe", gettext_lazy("letters"), letter_rows, PortalLetterFilterSet,
               letters),
)}
FORMATS = ("csv", "xlsx")


def _cell(value: Any) -> Any:
    """A value as a CSV cell: dates as ISO days, amounts with a decimal point."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def as_csv(table: Table) -> bytes:
    """UTF-8 with a byte order mark (German Excel reads the umlauts), semicolons, ``\\r\\n``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(csv_row(table.header))
    for row in table.rows:
        writer.writerow(csv_row(_cell(value) for value in row))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def as_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.title[:31])
    sheet.freeze_panes = "A2"
    header = []
    for text in table.header:
        cell = xlsx_cell(sheet, text)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for values in table.rows:
        sheet.append(_xlsx_row(sheet, values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    row = []
    for value in values:
        cell = xlsx_cell(sheet, value)
        if hasattr(value, "year") and not hasattr(value, "hour"):
            cell.number_format = "DD.MM.YYYY"
        elif hasattr(value, "quantize"):
            cell.number_format = "#,##0.00"
        row.append(cell)
    return row
