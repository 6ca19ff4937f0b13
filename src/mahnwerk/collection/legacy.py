"""Migrating a vendor's old master list (a spreadsheet kept by hand) into the cases.

The old lists differ from vendor to vendor: columns are found by their header through a mapping
(``DEFAULT_MAPPING``, or a JSON file mapping our field to the list's header). The fill of each
row carries the old decision: yellow = pursue, grey = do not pursue. Notes become internal
notes. The letter dates fill empty dates of the case; a status is applied where the case's
state table allows it. ``plan_legacy`` reports what would happen; ``apply_legacy`` does it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.services import add_note, change_case
from mahnwerk.cases.states import CaseState, can_move
from mahnwerk.collection import reasons as why
from mahnwerk.reasons import Reason

DEFAULT_MAPPING = {
    "order_id": ["Bestell-ID", "Bestellnummer", "order_id", "Order ID"],
    "first_dunning_letter": ["1. Mahnung", "Datum 1. Mahnung", "first_dunning_letter"],
    "second_dunning_letter": ["2. Mahnung", "Datum 2. Mahnung", "second_dunning_letter"],
    "notes": ["Notizen", "Notiz", "Kommentar", "notes"],
    "status": ["Status", "status_support"],
}
STATUS_WORDS = {
    "laufend": CaseState.DUNNING, "freigabe": CaseState.APPROVED,
    "warten auf freigabe": CaseState.ON_HOLD, "bezahlt": CaseState.PAID,
    "inkasso": CaseState.SENT_FOR_COLLECTION, "storniert": CaseState.CANCELED,
    "blockiert": CaseState.BLOCKED, "erneut bestellt": CaseState.REOPENED,
}
YELLOWS = {"FFFF00", "FFF2CC", "FFFF99", "FFE699", "FFD966", "FFEB9C"}
GREYS = {"D9D9D9", "BFBFBF", "A6A6A6", "808080", "E7E6E6", "D0CECE", "C0C0C0", "F2F2F2"}


class LegacyError(Exception):
    """A list that cannot be read at all."""


@dataclass
class LegacyRow:
    line: int
    order_id: str
    pursue: bool | None = None
    first: date | None = None
    second: date | None = None
    notes: str = ""
    status: str = ""
    changes: list[str] = field(default_factory=list)
    problem: str = ""


def load_mapping(path: Path | None) -> dict[str, list[str]]:
    if path is None:
        return DEFAULT_MAPPING
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LegacyError(_("%(file)s: not a JSON mapping (%(error)s).")
                          % {"file": path.name, "error": exc}) from None
    return {key: [value] if isinstance(value, str) else list(value)
            for key, value in data.items()}


def _colour(cell: Any) -> bool | None:
    fill = cell.fill
    if fill is None or fill.fill_type != "solid":
        return None
    rgb = str(fill.start_color.rgb or "")[-6:].upper()
    if rgb in YELLOWS:
        return True
    if rgb in GREYS:
        return False
    return None


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for pattern, order in ((r"(\d{1,2})\.(\d{1,2})\.(\d{4})", "dmy"),
                           (r"(\d{4})-(\d{2})-(\d{2})", "ymd"),
                           (r"(\d{1,2})/(\d{1,2})/(\d{4})", "mdy")):
        if m := re.fullmatch(pattern, text):
            parts = dict(zip(order, (int(g) for g in m.groups()), strict=True))
            return date(parts["y"], parts["m"], parts["d"])
    raise ValueError(text)


def plan_legacy(*, path: Path, vendor_id: str, mapping: dict[str, list[str]]
                ) -> list[LegacyRow]:
    """Read the list and say, row by row, what importing it would change (or why not)."""
    try:
        workbook = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise LegacyError(_("%(file)s: not a readable XLSX workbook (%(error)s).")
                          % {"file": path.name, "error": exc}) from None
    sheet = workbook.worksheets[0]
    header = [str(c.value).strip() if c.value is not None else "" for c in sheet[1]]
    columns: dict[str, int] = {}
    for key, names in mapping.items():
        for name in names:
            if name in header:
                columns[key] = header.index(name)
                break
    if "order_id" not in columns:
        raise LegacyError(_("%(file)s:1: no order id column; looked for %(names)s. Map it with "
                            "--mapping.") % {"file": path.name,
                                             "names": ", ".join(mapping.get("order_id", []))})
    cases = {c.order_id: c for c in DebtCase.objects.filter(vendor_id=vendor_id)}
    rows = []
    for number, cells in enumerate(sheet.iter_rows(min_row=2), start=2):
        values = [c.value for c in cells]
        if not any(v not in (None, "") for v in values):
            continue
        order_id = str(values[columns["order_id"]] or "").strip()
        row = LegacyRow(line=number, order_id=order_id, pursue=_colour(cells[0]))
        try:
            if "first_dunning_letter" in columns:
                row.first = _date(values[columns["first_dunning_letter"]])
            if "second_dunning_letter" in columns:
                row.second = _date(values[columns["second_dunning_letter"]])
        except ValueError as exc:
            row.problem = _("a date that cannot be read: %(value)s") % {"value": exc}
        if "notes" in columns and values[columns["notes"]]:
            row.notes = str(values[columns["notes"]]).strip()
        if "status" in columns and values[columns["status"]]:
            row.status = str(values[columns["status"]]).strip()
        case = cases.get(order_id)
        if not order_id:
            row.problem = _("no order id")
        elif case is None:
            row.problem = row.problem or _("no case for this order of vendor %(vendor)s; import "
                                           "the platform's data first") % {"vendor": vendor_id}
        if not row.problem:
            _describe(row, case)
        rows.append(row)
    return rows


def _describe(row: LegacyRow, case: DebtCase) -> None:
    if row.pursue is not None and row.pursue != case.pursue:
        row.changes.append(_("yellow (pursue)") if row.pursue else _("grey (do not pursue)"))
    if row.first and not case.first_dunning_letter:
        row.changes.append(_("first letter %(date)s") % {"date": row.first.isoformat()})
    if row.second and not case.second_dunning_letter:
        row.changes.append(_("second letter %(date)s") % {"date": row.second.isoformat()})
    if row.notes:
        row.changes.append(_("internal note"))
    if row.status:
        target = STATUS_WORDS.get(row.status.lower())
        if target is None:
            row.changes.append(_("status %(status)s kept as a note") % {"status": row.status})
        elif target != case.state and can_move(case.state, target):
            row.changes.append(_("state %(state)s") % {"state": CaseState(target).label})


def apply_legacy(*, rows: list[LegacyRow], vendor_id: str, actor: str, file_name: str) -> int:
    """Apply the rows ``plan_legacy`` found workable, in one transaction; returns how many."""
    applied = 0
    with transaction.atomic():
        cases = {c.order_id: c for c in DebtCase.objects.filter(
            vendor_id=vendor_id, order_id__in=[r.order_id for r in rows if not r.problem])}
        for row in rows:
            case = cases.get(row.order_id)
            if row.problem or case is None or not row.changes:
                continue
            changes: dict[str, Any] = {}
            if row.pursue is not None:
                changes["pursue"] = row.pursue
            if row.first and not case.first_dunning_letter:
                changes["first_dunning_letter"] = row.first
            if row.second and not case.second_dunning_letter:
                changes["second_dunning_letter"] = row.second
            target = STATUS_WORDS.get(row.status.lower()) if row.status else None
            if target == CaseState.BLOCKED:
                changes["block_reason"] = row.notes[:500] or _("from the old master list")
            change_case(case=case, actor=actor, kind=EventKind.UPDATED,
                        to_state=target if target and can_move(case.state, target) else None,
                        changes=changes,
                        reason=Reason(why.LEGACY, {"file": file_name, "line": row.line}))
            old_status = row.status if row.status and target is None else ""
            if row.notes or old_status:
                if row.notes and old_status:
                    taken = Reason(why.LEGACY_NOTE_STATUS, {"text": row.notes,
                                                            "status": old_status})
                elif old_status:
                    taken = Reason(why.LEGACY_STATUS, {"status": old_status})
                else:
                    taken = Reason(why.LEGACY_NOTE, {"text": row.notes})
                add_note(case=case, actor=actor, text=taken.render(), event=taken)
            applied += 1
    return applied
