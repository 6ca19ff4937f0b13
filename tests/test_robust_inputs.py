"""Inputs that used to crash answer with a message instead (issue 9, point 6): a deeply nested
or huge JSON body, a truncated XLSX, control characters in a text field."""

import json
import shutil

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from openpyxl import Workbook

from mahnwerk.intake.api_clients import create_api_client
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import Vendor

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return create_api_client(name="checkout-platform")[1]


def post(path, raw, key):
    return Client().post(f"/api/v1/{path}", data=raw, content_type="application/json",
                         headers={"Authorization": f"Bearer {key}"})


def vendor(vendor_id="48213", **fields):
    return {"vendor_id": vendor_id, "name": "Akademie Sonnenschein GmbH",
            "email": "info@sonnenschein.example", "enrolled": True,
            "collection_mode": "approval", "dunning_by": "in_house", **fields}


# --- The intake API ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_a_deeply_nested_body_is_refused_with_400_and_a_message(key, depth):
    raw = '{"records": ' + "[" * depth + "]" * depth + "}"
    response = post("vendors", raw, key)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_a_nested_value_within_the_parser_limit_is_a_problem_of_the_record(key):
    raw = json.dumps({"records": [vendor(name=[[[[["x"]]]]])]})
    response = post("vendors", raw, key)
    assert response.status_code == 422
    assert not Vendor.objects.exists()


def test_a_huge_body_is_refused_with_413_and_the_limit(key, settings):
    settings.MAHNWERK_API_MAX_BODY_BYTES = 10_000
    raw = json.dumps({"records": [vendor(f"V{i}") for i in range(200)]})
    response = post("vendors", raw, key)
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]
    assert not Vendor.objects.exists()


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x0b"])
def test_a_control_character_in_a_text_field_is_refused_with_the_column_named(key, char):
    response = post("vendors", json.dumps({"records": [vendor(name=f"Akademie{char}GmbH")]}),
                    key)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["column"] == "name"
    assert f"\\x{ord(char):02x}" in problem["reason"]
    assert not Vendor.objects.exists()


# --- Every text field of every feed ------------------------------------------------------------

EVERY_COLUMN = [(feed.name, column.name) for feed in FEEDS.values() for column in feed.columns]


@pytest.mark.parametrize(("feed", "column"), EVERY_COLUMN)
def test_every_field_of_every_feed_refuses_a_nul_byte(feed, column):
    _record, problems = FEEDS[feed].parse({column: "ab\x00cd"})
    [problem] = [p for p in problems if p.column == column]
    assert "\\x00" in problem.reason and problem.value == "ab\\x00cd"


def test_tab_and_line_breaks_are_left_to_the_field():
    record, problems = FEEDS["vendors"].parse(vendor(name="Akademie\tSonnenschein\r\nGmbH"))
    assert problems == []
    assert record["name"] == "Akademie\tSonnenschein\r\nGmbH"


# --- The file import ---------------------------------------------------------------------------

def vendors_workbook(path, rows=2_000):
    wb = Workbook()
    sheet = wb.active
    sheet.append(["vendor_id", "name", "email", "enrolled", "collection_mode", "dunning_by"])
    for i in range(rows):
        sheet.append([f"V{i}", f"Akademie {i}", f"v{i}@example.org", "True", "approval",
                      "in_house"])
    wb.save(path)
    return path


def import_refused(path):
    with pytest.raises(CommandError) as error:
        call_command("import", "vendors", str(path), "--no-progress")
    assert not Vendor.objects.exists(), "a refused file writes nothing"
    return str(error.value)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_xlsx_ends_the_import_with_a_located_message(tmp_path, keep):
    whole = vendors_workbook(tmp_path / "whole.xlsx").read_bytes()
    truncated = tmp_path / "vendors.xlsx"
    truncated.write_bytes(whole[:int(len(whole) * keep)])
    message = import_refused(truncated)
    assert message.startswith("vendors.xlsx")
    assert "Traceback" not in message


def test_a_workbook_damaged_inside_a_sheet_names_the_row(tmp_path):
    """The container is whole, the sheet's XML breaks off: the message says from which row."""
    import zipfile

    whole = vendors_workbook(tmp_path / "whole.xlsx")
    damaged = tmp_path / "vendors.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[:len(data) // 2]
            target.writestr(item, data)
    message = import_refused(damaged)
    assert message.startswith("vendors.xlsx:")
    line = int(message.split(":")[1])
    assert 2 < line < 2_002


def test_a_control_character_in_a_file_is_refused_with_line_and_column(tmp_path, capsys):
    path = tmp_path / "vendors.csv"
    path.write_text("vendor_id,name,email,enrolled,collection_mode,dunning_by\n"
                    "48213,Akademie\x1bGmbH,info@s.example,True,approval,in_house\n",
                    encoding="utf-8")
    message = import_refused(path) + capsys.readouterr().err
    assert "vendors.csv:2" in message and "name" in message


def test_a_copy_of_a_good_workbook_still_imports(tmp_path):
    """The checks refuse damage, not workbooks."""
    path = shutil.copy(vendors_workbook(tmp_path / "whole.xlsx", rows=3),
                       tmp_path / "vendors.xlsx")
    call_command("import", "vendors", str(path), "--no-progress")
    assert Vendor.objects.count() == 3
