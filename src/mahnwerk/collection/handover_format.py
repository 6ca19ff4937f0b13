"""The collection agency's handover CSV: its exact contract (process.md section 5), the writer's
cell formats and the validator that checks any such file, including ones made by hand in a
German spreadsheet.

Pure functions of text: no database. ``collection.services`` writes files with ``format_row``;
``mahnwerk check-handover`` reads them with ``check_file``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from mahnwerk.spreadsheet_safety import FORMULA_START, csv_text

HEADER = ("vendor_id", "order_id", "first_dunning_letter", "second_dunning_letter",
          "incasso_date", "support_comment", "status_support", "offer_link", "incasso_state",
          "reopened", "reopened_id", "invalid_address")
DATE_COLUMNS = ("first_dunning_letter", "second_dunning_letter", "incasso_date")
BOOL_COLUMNS = ("reopened", "invalid_address")
INCASSO_STATES = ("canceled", "blocked", "sent_for_collection", "paid", "on_hold")
#: The free-text columns: the only ones where the writer neutralises a formula-like text.
TEXT_COLUMNS = ("support_comment", "status_support")

#: Why each column of the file may leave (data minimisation, Art. 5 (1) (c) GDPR): the
#: agency collects the claim of the creditor on the contract's legal ground (Art. 6 (1) (b)
#: and (f) GDPR). The file carries no name, address or e-mail: the agency identifies the buyer
#: by the order id through the platform. Internal notes never leave (``support_comment``
#: carries the notes marked "shared" only). Each handover stores this list with its codes.
FIELD_GROUNDS: dict[str, str] = {
    "vendor_id": "creditor",
    "order_id": "claim",
    "first_dunning_letter": "default",
    "second_dunning_letter": "default",
    "incasso_date": "claim",
    "support_comment": "shared_note",
    "status_support": "claim",
    "offer_link": "payment",
    "incasso_state": "claim",
    "reopened": "dispute",
    "reopened_id": "dispute",
    "invalid_address": "contact",
}
GROUNDS = {
    "creditor": gettext_lazy("whose claim it is (the vendor's product, sold by the platform)"),
    "claim": gettext_lazy("identifies the claim and its stage (Art. 6 (1) (b), (f) GDPR)"),
    "default": gettext_lazy("proves the default and the reminders (§ 286 BGB)"),
    "shared_note": gettext_lazy(
        "only notes marked shared, for the collection (Art. 6 (1) (f) GDPR)"),
    "payment": gettext_lazy("the buyer's own link to pay or resume"),
    "dispute": gettext_lazy("the buyer bought again: the agency must not collect twice"),
    "contact": gettext_lazy("whether letters can reach the buyer by post"),
}

_US_DATE = re.compile(r"(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/(\d{4})")
_STATE_SPELLINGS = {
    "canceled": "canceled", "cancelled": "canceled", "cancel": "canceled",
    "storniert": "canceled",
    "blocked": "blocked", "blockiert": "blocked",
    "sent_for_collection": "sent_for_collection", "sent for collection": "sent_for_collection",
    "sentforcollection": "sent_for_collection", "sent-for-collection": "sent_for_collection",
    "paid": "paid", "bezahlt": "paid",
    "on_hold": "on_hold", "on hold": "on_hold", "onhold": "on_hold", "on-hold": "on_hold",
}
_TRUE = {"true", "wahr", "ja", "yes", "1", "x"}
_FALSE = {"false", "falsch", "nein", "no", "0", ""}


def field_record() -> list[list[str]]:
    """What a handover stores about its columns: ``[[column, ground code], ...]``."""
    return [[name, FIELD_GROUNDS[name]] for name in HEADER]


def ground_text(code: str) -> str:
    """The ground of a column in the reader's language."""
    return str(GROUNDS.get(code, code))


def format_date(value: date | None) -> str:
    return value.strftime("%m/%d/%Y") if value else ""


def format_bool(value: bool) -> str:
    return "True" if value else "False"


def protect(text: str) -> str:
    """A free-text cell that a spreadsheet will not run as a formula: a leading ``=``, ``+``,
    ``-``, ``@``, tab or carriage return gets an apostrophe before it (OWASP's advice)."""
    return csv_text(text or "")


def format_row(**values: object) -> list[str]:
    """One row of the file from the case's values (dates, booleans, texts)."""
    row = []
    for name in HEADER:
        value = values.get(name)
        if name in DATE_COLUMNS:
            row.append(format_date(value))  # type: ignore[arg-type]
        elif name in BOOL_COLUMNS:
            row.append(format_bool(bool(value)))
        elif name in TEXT_COLUMNS:
            row.append(protect(str(value or "")))
        else:
            row.append(str(value or ""))
    return row


def write_csv(rows: Iterable[list[str]]) -> bytes:
    """UTF-8 (no BOM), comma-separated, one header row, ``\\r\\n`` line ends as RFC 4180."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# -- The validator --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileProblem:
    file: str
    line: int
    column: str
    value: str
    reason: str
    fix: str = ""  # what the value should be, when the fix is certain
    certain: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.column:
            where += ": " + _("column %(name)s") % {"name": self.column}
        if self.value:
            where += ", " + _("value %(value)s") % {"value": repr(self.value)}
        text = f"{where}: {self.reason}"
        if self.fix:
            text += " " + _("(fix: %(fix)s)") % {"fix": self.fix}
        return text


@dataclass
class FileReport:
    file: str
    rows: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    fixed_rows: list[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def uncertain(self) -> list[FileProblem]:
        return [p for p in self.problems if not p.certain]


def _fix_date(value: str) -> str | None:
    """The MM/DD/YYYY form of a date written another way, when it is certain."""
    text = value.strip()
    if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text):  # German: day first
        day, month, year = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):  # ISO
        year, month, day = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):  # US without zeros
        month, day, year = (int(g) for g in m.groups())
    else:
        return None
    try:
        return date(year, month, day).strftime("%m/%d/%Y")
    except ValueError:
        return None


def _parse_date(value: str) -> date | None:
    if m := _US_DATE.fullmatch(value):
        try:
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    return None


def _decode(raw: bytes, name: str, report: FileReport) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        report.problems.append(FileProblem(
            name, 1, "", "BOM", _("the file starts with a byte order mark (BOM)"),
            _("save as UTF-8 without BOM"), certain=True))
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            report.problems.append(FileProblem(
                name, line, "", raw[exc.start:exc.end].hex(" "),
                _("bytes that are not UTF-8"), _("save the file as UTF-8")))
            return None
        report.problems.append(FileProblem(
            name, line, "", raw[exc.start:exc.end].hex(" "),
            _("the file is not UTF-8 (it looks like Windows-1252, as Excel saves it)"),
            _("save as UTF-8"), certain=True))
        return text


def check_file(path: Path, *, collect_fixed: bool = False) -> FileReport:
    """Every problem of a handover file, with line, column, value and the fix where certain;
    ``fixed_rows`` holds the rows as they should be where every fix was certain."""
    return check_bytes(path.read_bytes(), name=path.name, collect_fixed=collect_fixed)


def check_bytes(data: bytes, *, name: str, collect_fixed: bool = False,
                fast_path: bool = True) -> FileReport:
    """``check_file`` for a file's content (the export checks what it is about to write).

    ``collect_fixed`` keeps every row, corrected where certain, in ``fixed_rows``. A row that
    is right as it stands is recognised by one regular expression and a few look-ups (the fast
    path); every other row gets the full check, which names each problem. ``fast_path=False``
    sends every row through the full check (the tests compare both)."""
    report = FileReport(file=name)
    text = _decode(data, name, report)
    if text is None:
        return report
    if not text.strip():
        report.problems.append(FileProblem(name, 1, "", "", _("the file is empty")))
        return report
    # The first line as splitlines() sees it, without splitting the whole file for it.
    first_line = text[:(text.find("\n") + 1) or None].splitlines()[0]
    delimiter = ","
    if first_line.count(";") > first_line.count(","):
        delimiter = ";"
        report.problems.append(FileProblem(
            name, 1, "", ";", _("columns are separated by semicolons (German Excel)"),
            _("separate with commas"), certain=True))
    header = next(csv.reader([first_line], delimiter=delimiter))
    normalized = [h.strip().lower() for h in header]
    if tuple(normalized) != HEADER:
        if sorted(normalized) == sorted(HEADER):
            report.problems.append(FileProblem(
                name, 1, "", ",".join(header), _("the columns are in the wrong order"),
                ",".join(HEADER), certain=True))
        else:
            missing = [h for h in HEADER if h not in normalized]
            extra = [h for h in header if h.strip().lower() not in HEADER]
            report.problems.append(FileProblem(
                name, 1, "", ",".join(header),
                _("the header must be exactly: %(header)s (missing: %(missing)s; unknown: "
                  "%(extra)s)") % {"header": ",".join(HEADER),
                                   "missing": ", ".join(missing) or "-",
                                   "extra": ", ".join(extra) or "-"}))
            return report
    if tuple(header) != HEADER and tuple(normalized) == HEADER:
        report.problems.append(FileProblem(
            name, 1, "", ",".join(header), _("the header must be lowercase and exact"),
            ",".join(HEADER), certain=True))
    index = {h: i for i, h in enumerate(normalized)}
    seen_orders: dict[str, int] = {}
    vendors: set[str] = set()
    last_vendor = None
    fast_rows = 0
    match = _FAST_ROW.fullmatch if (fast_path and delimiter == ","
                                    and tuple(normalized) == HEADER) else None
    letters_ok: dict[tuple[str, str | None], bool] = {}  # (the three dates, state): right?
    lines = enumerate(text.split("\n"), start=1)
    next(lines)  # the header
    for line, raw in lines:
        if match is not None and (m := match(raw)) is not None:
            vendor, order, dates, state = m.groups()
            key = (dates, state)
            ok = letters_ok.get(key)
            if ok is None:
                ok = letters_ok[key] = _letters_ok(dates, state)
            if ok and order not in seen_orders:
                seen_orders[order] = line
                if vendor != last_vendor:
                    vendors.add(vendor)
                    last_vendor = vendor
                fast_rows += 1
                if collect_fixed:
                    raw = raw.rstrip("\r")
                    report.fixed_rows.append(next(csv.reader([raw])) if '"' in raw
                                             else raw.split(","))
                continue
        # The full check: the record as csv reads it (a quoted cell may span lines).
        raw = raw.rstrip("\r")
        if '"' in raw:
            while raw.count('"') % 2:
                more = next(lines, None)
                if more is None:
                    break
                raw += "\n" + more[1].rstrip("\r")
            cells = next(csv.reader([raw], delimiter=delimiter), [])
            if not cells:
                continue
        elif raw.strip():
            cells = raw.split(delimiter)
        else:
            continue
        if not any(c.strip() for c in cells):
            continue
        report.rows += 1
        if len(cells) != len(header):
            report.problems.append(FileProblem(
                name, line, "", delimiter.join(cells),
                ngettext("the row has %(cells)d cell, the header %(cols)d",
                         "the row has %(cells)d cells, the header %(cols)d", len(cells))
                % {"cells": len(cells), "cols": len(header)}))
            continue
        row = {h: cells[index[h]] for h in HEADER}
        fixed = dict(row)
        _check_row(name, line, row, fixed, report, seen_orders)
        vendors.add(fixed["vendor_id"])
        if collect_fixed:
            report.fixed_rows.append([fixed[h] for h in HEADER])
    report.rows += fast_rows
    stem = Path(name).stem
    if len(vendors) > 1:
        report.problems.append(FileProblem(
            name, 0, "vendor_id", ", ".join(sorted(vendors)),
            _("one file holds one vendor's cases; found several vendor ids")))
    elif vendors and stem != next(iter(vendors)):
        report.problems.append(FileProblem(
            name, 0, "", name, _("the file must be named after the vendor id"),
            f"{next(iter(vendors))}.csv", certain=True))
    return report


_D = r"(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01])/\d{4}"
#: An id cell: no comma, quote or space, and no start a spreadsheet reads as a formula.
_ID = r'[^,"\s=+\-@][^,"\s]*'
#: A free-text cell that no spreadsheet would run as a formula: plain, or quoted as csv
#: writes a cell with a comma or a quote in it (a cell with a line break takes the full check).
_FREE = (r'(?:[^,"\r\n=+\-@\t][^,"\r\n]*'
         r'|"(?:[^"\r\n=+\-@\t]|"")(?:[^"\r\n]|"")*"|"")?')
#: A row that needs no second look at its cells: every value in its contract form, reopened
#: True with the new order's id or False without one. Groups: vendor, order, the three dates,
#: state; the dates' order and the state are checked once per combination (``_letters_ok``).
_FAST_ROW = re.compile(
    rf'({_ID}),({_ID}),((?:{_D})?,(?:{_D})?,(?:{_D})?),{_FREE},{_FREE},'
    rf'(?:https?://[^,"\s]+)?,(canceled|blocked|sent_for_collection|paid|on_hold)?,'
    rf'(?:True,{_ID}|False,),(?:True|False)\r?')


def _letters_ok(dates: str, state: str | None) -> bool:
    """True when the three dates (MM/DD/YYYY or empty) are real days in the right order and
    agree with the state, as ``_check_row`` demands."""
    d1, d2, d3 = (_parse_date(value) if value else "" for value in dates.split(","))
    if d1 is None or d2 is None or d3 is None:  # no such day, e.g. 02/30/2025
        return False
    if (d2 and not d1) or (d2 and d2 < d1) or (d3 and (d2 or d1) and d3 < (d2 or d1)):
        return False
    if state == "on_hold" and not (d1 and d2):
        return False
    return not (d3 and state in (None, "canceled", "blocked", "on_hold"))


def _check_row(name: str, line: int, row: dict[str, str], fixed: dict[str, str],
               report: FileReport, seen_orders: dict[str, int]) -> None:
    def problem(column: str, reason: str, fix: str = "", certain: bool = False) -> None:
        report.problems.append(FileProblem(name, line, column, row[column], reason, fix,
                                           certain))
        if certain:
            fixed[column] = fix

    for column in ("vendor_id", "order_id"):
        if not row[column].strip():
            problem(column, _("required value missing"))
        elif row[column] != row[column].strip():
            problem(column, _("spaces around the id"), row[column].strip(), certain=True)
    order = fixed["order_id"]
    if order in seen_orders:
        problem("order_id", _("the same order as on line %(line)d") % {
            "line": seen_orders[order]})
    elif order:
        seen_orders[order] = line
    dates: dict[str, date | None] = {}
    for column in DATE_COLUMNS:
        value = row[column].strip()
        if not value:
            dates[column] = None
            continue
        parsed = _parse_date(value)
        if parsed is None:
            fix = _fix_date(value)
            if fix:
                problem(column, _("dates are written MM/DD/YYYY with slashes"), fix,
                        certain=True)
                parsed = _parse_date(fix)
            else:
                problem(column, _("not a date in the form MM/DD/YYYY"))
        dates[column] = parsed
    first, second, taken = (dates[c] for c in DATE_COLUMNS)
    if second and not first:
        problem("second_dunning_letter", _("a second letter without a first"))
    if first and second and second < first:
        problem("second_dunning_letter", _("the second letter is dated before the first"))
    latest_letter = second or first
    if taken and latest_letter and taken < latest_letter:
        problem("incasso_date", _("the agency took the case over before the last letter: the "
                                  "buyer would seem to get letters after the handover"))
    state = row["incasso_state"].strip()
    if state and state not in INCASSO_STATES:
        spelled = _STATE_SPELLINGS.get(state.lower().replace("  ", " "))
        if spelled:
            problem("incasso_state", _("spell the state exactly, in lowercase"), spelled,
                    certain=True)
            state = spelled
        else:
            problem("incasso_state", _("unknown state; allowed: %(states)s, or empty while "
                                       "in dunning") % {"states": ", ".join(INCASSO_STATES)})
    if state == "on_hold" and not (first and second):
        problem("incasso_state", _("on_hold means two letters were sent; a letter date is "
                                   "missing"))
    if taken and state in ("", "canceled", "blocked", "on_hold"):
        problem("incasso_date", _("a takeover date, but the state says the agency does not "
                                  "hold the case"))
    for column in BOOL_COLUMNS:
        value = row[column]
        if value in ("True", "False"):
            continue
        word = value.strip().lower()
        if word in _TRUE:
            problem(column, _("write True or False"), "True", certain=True)
        elif word in _FALSE and word:
            problem(column, _("write True or False"), "False", certain=True)
        else:
            problem(column, _("write True or False"))
    if fixed["reopened"] == "True" and not row["reopened_id"].strip():
        problem("reopened_id", _("reopened is True, so the new order id is needed"))
    if fixed["reopened"] == "False" and row["reopened_id"].strip():
        problem("reopened_id", _("a new order id, but reopened is False"))
    link = row["offer_link"].strip()
    if link and not re.match(r"https?://\S+$", link):
        problem("offer_link", _("not a link (http or https)"))
    for column in HEADER:
        if column in TEXT_COLUMNS:
            if row[column].startswith(FORMULA_START):
                problem(column, _("a spreadsheet would run this as a formula"),
                        protect(row[column]), certain=True)
            continue
        # Any other cell has a contract form that never starts like a formula (ids, dates,
        # states, True/False, a link): such a cell is an attack or a slip, and needs a person,
        # unless it is only a tab or line break before a plain value.
        value = fixed[column]
        if value.startswith(FORMULA_START):
            stripped = value.strip()
            if value[0] in "\t\r" and stripped and not stripped.startswith(FORMULA_START):
                problem(column, _("a tab or line break before the value: a spreadsheet would "
                                  "read the cell as a formula"), stripped, certain=True)
            else:
                problem(column, _("a spreadsheet would read this cell as a formula (it starts "
                                  "with %(start)s); the contract allows no such value here")
                        % {"start": repr(stripped[:1] or value[:1])})


def fixed_file(report: FileReport, *, name: str) -> tuple[str, bytes] | None:
    """The corrected file of a checked one (name and bytes), or None while a problem has no
    certain fix. Checked with ``collect_fixed=True``. A file named after the wrong vendor
    gets the name the check proposes."""
    if report.uncertain:
        return None
    fixed_name = next((p.fix for p in report.problems if p.reason and p.fix.endswith(".csv")),
                      name)
    return fixed_name, write_csv(report.fixed_rows)
