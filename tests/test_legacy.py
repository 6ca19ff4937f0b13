"""Migrating a vendor's old master list (issue 4, item 6)."""

import json
from datetime import date, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook
from openpyxl.styles import PatternFill

from mahnwerk.cases.states import CaseState
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db
YELLOW = PatternFill("solid", start_color="FFFF00", end_color="FFFF00")
GREY = PatternFill("solid", start_color="D9D9D9", end_color="D9D9D9")


@pytest.fixture
def cases():
    vendor = VendorFactory(vendor_id="48213")
    return [incident(OrderFactory(product=ProductFactory(vendor=vendor))) for _ in range(3)]


def sheet(tmp_path, header, rows, fills=()):
    book = Workbook()
    ws = book.active
    ws.append(header)
    for i, row in enumerate(rows):
        ws.append(row)
        if i < len(fills) and fills[i]:
            for cell in ws[i + 2]:
                cell.fill = fills[i]
    path = tmp_path / "masterliste.xlsx"
    book.save(path)
    return path


def run(path, *args):
    out = StringIO()
    call_command("import_legacy", str(path), "--vendor", "48213", *args, stdout=out)
    return out.getvalue()


def test_the_dry_run_reports_and_changes_nothing_then_apply_takes_it_over(tmp_path, cases):
    yellow, grey, _third = cases
    path = sheet(tmp_path, ["Bestell-ID", "Notizen", "1. Mahnung", "2. Mahnung", "Status"], [
        [yellow.order_id, "hat angerufen", datetime(2025, 7, 1), "01.08.2025", "Laufend"],
        [grey.order_id, "neu geclosed", None, None, "Erneut bestellt"],
        ["unbekannt", "", None, None, ""],
    ], fills=[YELLOW, GREY, None])
    report = run(path)
    assert "Trockenlauf" in report and "kann nicht zugeordnet werden" in report
    grey.refresh_from_db()
    assert grey.pursue is True, "a dry run changes nothing"
    run(path, "--apply")
    yellow.refresh_from_db()
    grey.refresh_from_db()
    assert (yellow.first_dunning_letter, yellow.second_dunning_letter) == (date(2025, 7, 1),
                                                                           date(2025, 8, 1))
    assert yellow.state == CaseState.DUNNING and yellow.pursue is True
    assert grey.pursue is False and grey.state == CaseState.REOPENED
    assert "hat angerufen" in yellow.notes.get().text
    assert yellow.notes.get().visibility == "internal"
    taken, noted = list(yellow.events.order_by("id"))[-2:]
    assert (taken.code, taken.params) == ("collection.legacy",
                                          {"file": path.name, "line": 2})
    assert (noted.code, noted.params) == ("collection.legacy_note", {"text": "hat angerufen"})
    assert noted.reason == "Aus der alten Masterliste: hat angerufen" == yellow.notes.get().text


def test_other_headers_are_read_through_a_mapping_file(tmp_path, cases):
    path = sheet(tmp_path, ["Order", "Kommentar Support"], [[cases[0].order_id, "x"]])
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"order_id": "Order", "notes": "Kommentar Support"}))
    with pytest.raises(CommandError, match="Bestell-ID"):
        run(path)
    run(path, "--mapping", str(mapping), "--apply")
    assert cases[0].notes.count() == 1


def test_an_unreadable_date_is_reported_for_the_row(tmp_path, cases):
    path = sheet(tmp_path, ["Bestell-ID", "1. Mahnung"], [[cases[0].order_id, "irgendwann"]])
    assert "irgendwann" in run(path)
