"""The approval list and the collection list as XLSX, for vendors and managers who live in
Excel: yellow rows are pursued, grey ones are not, the header row stays frozen. Every text is
written as a string cell, so a buyer or product named like a formula stays text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from mahnwerk.cases.models import DebtCase
from mahnwerk.collection import selectors
from mahnwerk.collection.approvals import escalation_status
from mahnwerk.spreadsheet_safety import csv_row, xlsx_cell

YELLOW = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
GREY = PatternFill("solid", start_color="D9D9D9", end_color="D9D9D9")
BOLD = Font(bold=True)


def _workbook(title: str, header: list[str], rows: Iterable[tuple[bool, list[object]]]
              ) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    cells = []
    for text in header:
        cell = xlsx_cell(sheet, text)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)
    for pursue, values in rows:
        fill = YELLOW if pursue else GREY
        row = []
        for value in values:
            cell = xlsx_cell(sheet, value)  # a text stays text, never a formula
            cell.fill = fill
            if hasattr(value, "year") and not hasattr(value, "hour"):
                cell.number_format = "DD.MM.YYYY"
            row.append(cell)
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _status(case: DebtCase) -> str:
    if case.state == "on_hold":
        return _("with the vendor: %(vendor)s") % {"vendor": case.vendor.name}
    return case.get_state_display()


def _approval_rows(cases: Iterable[DebtCase] | None, vendor_id: str | None
                   ) -> tuple[list[str], Iterable[tuple[bool, list[object]]]]:
    header = [_("first invoice number"), _("vendor id"), _("vendor"), _("vendor e-mail"),
              _("order id"), _("first name"), _("last name"), _("open amount"), _("product"),
              _("first dunning letter"), _("second dunning letter"), _("status"),
              _("escalation status")]
    if cases is None:
        cases = selectors.with_waiting(selectors.approval_list(vendor_id=vendor_id))
    rows = ((case.pursue, [
        case.first_invoice_number, case.vendor_id, case.vendor.name, case.vendor.email,
        case.order_id, case.order.buyer_first_name, case.order.buyer_last_name,
        float(case.open_amount), case.order.product.name, case.first_dunning_letter,
        case.second_dunning_letter, _status(case), escalation_status(case=case)])
        for case in cases)
    return header, rows


def approval_list_xlsx(*, vendor_id: str | None = None,
                       cases: Iterable[DebtCase] | None = None) -> bytes:
    """Tab "Warten auf Freigabe", columns A to M of the original list: the vendor's (or every)
    waiting case, or the ``cases`` given (*Freigaben*' current filter, read with
    ``selectors.with_waiting``)."""
    header, rows = _approval_rows(cases, vendor_id)
    return _workbook(_("Awaiting approval"), header, rows)


def approval_list_csv(*, cases: Iterable[DebtCase]) -> str:
    """The same columns as CSV (RFC 4180 line ends), every text safe for a spreadsheet."""
    header, rows = _approval_rows(cases, None)
    return _csv(header, rows)


def _csv(header: list[str], rows: Iterable[tuple[bool, list[object]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_row(header))
    for _pursue, values in rows:
        writer.writerow(csv_row("" if value is None else value.isoformat()
                                if hasattr(value, "isoformat") else value for value in values))
    return buffer.getvalue()


def _collection_rows(cases: Iterable[DebtCase] | None, vendor_id: str | None
                     ) -> tuple[list[str], Iterable[tuple[bool, list[object]]]]:
    header = [_("vendor id"), _("vendor"), _("order id"), _("first name"), _("last name"),
              _("product"), _("open amount"), _("currency"), _("first dunning letter"),
              _("second dunning letter"), _("takeover by the agency"), _("status"),
              _("invalid address")]
    if cases is None:
        cases = selectors.collection_list(vendor_id=vendor_id)
    rows = ((case.pursue, [
        case.vendor_id, case.vendor.name, case.order_id, case.order.buyer_first_name,
        case.order.buyer_last_name, case.order.product.name, float(case.open_amount),
        case.currency, case.first_dunning_letter, case.second_dunning_letter,
        case.incasso_date, _status(case), _("yes") if case.invalid_address else _("no")])
        for case in cases)
    return header, rows


def collection_list_xlsx(*, vendor_id: str | None = None,
                         cases: Iterable[DebtCase] | None = None) -> bytes:
    """"Inkasso - Cancelled Installments": cases waiting for, approved for or at collection
    (the vendor's, or the ``cases`` given: *Inkasso*'s current filter)."""
    header, rows = _collection_rows(cases, vendor_id)
    return _workbook(_("Collection"), header, rows)


def collection_list_csv(*, cases: Iterable[DebtCase]) -> str:
    header, rows = _collection_rows(cases, None)
    return _csv(header, rows)
