"""Files people open in a spreadsheet never carry a formula (CSV injection, OWASP).

A buyer who calls herself ``=HYPERLINK("http://…")`` must reach support's Excel as that text,
not as a live formula. Every people-facing file Mahnwerk writes goes through this module:

- XLSX: text cells get openpyxl's string type (``xlsx_cell``). openpyxl by itself writes a string
  that begins with ``=`` as a formula; a string cell is never evaluated, whatever it begins with.
  Numbers (a negative amount too) stay numbers.
- CSV, where the format has no types: a text beginning with ``=``, ``+``, ``-``, ``@``, tab or
  carriage return gets an apostrophe before it (``csv_text``, ``csv_row``), which a spreadsheet
  shows as text. Write such a file with ``\\r\\n`` line ends (csv's default), so that csv quotes a
  value holding a lone carriage return instead of letting it end the row.
- The agency's machine handover file is the one exception: its contract is exact, so it
  neutralises only its free-text columns, and its validator refuses a formula cell in any other
  column (``collection.handover_format``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: A leading character that makes a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: object) -> bool:
    """True for a text that a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_text(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: a formula-like text gets a leading apostrophe;
    anything else (numbers, empty cells, plain text) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """``csv_text`` for every cell of a row."""
    return [csv_text(value) for value in values]


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A write-only XLSX cell holding ``value``; a text is stored as a string cell, never as a
    formula (openpyxl makes any text starting with ``=`` a formula unless told otherwise)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell
