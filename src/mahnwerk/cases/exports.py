"""A list of cases as a file: CSV for programs (the keys of ``mahnwerk cases --format csv``,
those of the handover file where it has the field) and XLSX for people (the list's columns,
yellow and grey rows). Both keep formulas out (``mahnwerk.spreadsheet_safety``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from mahnwerk.cases import display
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.selectors import case_to_dict
from mahnwerk.spreadsheet_safety import csv_row, xlsx_cell

YELLOW = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
GREY = PatternFill("solid", start_color="D9D9D9", end_color="D9D9D9")
BOLD = Font(bold=True)


def _each(cases: QuerySet[DebtCase] | Iterable[DebtCase]) -> Iterable[DebtCase]:
    if isinstance(cases, QuerySet):
        return cases.select_related("order", "order__product", "vendor").iterator(
            chunk_size=1000)
    return cases


def as_csv(cases: QuerySet[DebtCase] | Iterable[DebtCase]) -> str:
    """The cases as CSV (UTF-8 text, RFC 4180 line ends); empty text for no cases."""
    buffer = io.StringIO()
    writer = None
    for case in _each(cases):
        row = case_to_dict(case)
        if writer is None:
            # RFC 4180's line end: csv then quotes a value holding a lone CR, which would
            # otherwise end the row in a spreadsheet and start the next with its rest.
            writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\r\n")
            writer.writeheader()
        writer.writerow(dict(zip(row, csv_row(row.values()), strict=True)))
    return buffer.getvalue()


def as_xlsx(cases: QuerySet[DebtCase] | Iterable[DebtCase]) -> bytes:
    """The cases as the list shows them, one sheet, yellow and grey rows, amounts as numbers."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Cases")[:31])
    sheet.freeze_panes = "A2"
    header = [_("order id"), _("vendor id"), _("vendor"), _("first name"), _("last name"),
              _("e-mail"), _("product"), _("state"), _("mark"), _("trigger"),
              _("open amount"), _("currency"), _("1st letter"), _("2nd letter"),
              _("new order id"), _("address incomplete or wrong"), _("dunning cycle"),
              _("first invoice number"), _("block reason")]
    cells = []
    for text in header:
        cell = xlsx_cell(sheet, text)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)
    for case in _each(cases):
        order = case.order
        values: list[object] = [
            case.order_id, case.vendor_id, case.vendor.name, order.buyer_first_name,
            order.buyer_last_name, order.buyer_email, order.product.name,
            display.state_label(case.state), display.pursue_label(case.pursue),
            case.get_trigger_display(), case.open_amount, case.currency,
            case.first_dunning_letter, case.second_dunning_letter, case.reopened_id,
            display.yes_no(case.invalid_address), case.cycle, case.first_invoice_number,
            case.block_reason]
        fill = YELLOW if case.pursue else GREY
        row = []
        for value in values:
            cell = xlsx_cell(sheet, value)  # a text stays text, never a formula
            cell.fill = fill
            if hasattr(value, "year"):
                cell.number_format = "DD.MM.YYYY"
            elif value is case.open_amount:
                cell.number_format = "#,##0.00"
            row.append(cell)
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
