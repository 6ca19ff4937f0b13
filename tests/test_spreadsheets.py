"""The lists as XLSX (issue 4, item 8): yellow and grey rows, frozen header, columns A to M."""

import io

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.collection.spreadsheets import approval_list_xlsx, collection_list_xlsx
from tests.factories import VendorFactory
from tests.test_approvals import waiting

pytestmark = pytest.mark.django_db


def test_the_approval_list_has_columns_a_to_m_and_coloured_rows():
    vendor = VendorFactory(vendor_id="48213", name="Akademie Sonnenschein")
    yellow = waiting(vendor)
    grey = waiting(vendor)
    case_services.change_case(case=grey, actor="t", reason="nicht verfolgen",
                              changes={"pursue": False})
    sheet = load_workbook(io.BytesIO(approval_list_xlsx())).active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert len(header) == 13 and header[4] == "Bestell-ID"
    rows = {row[4].value: row for row in sheet.iter_rows(min_row=2)}
    assert rows[yellow.order_id][0].fill.start_color.rgb.endswith("FFF2CC")
    assert rows[grey.order_id][0].fill.start_color.rgb.endswith("D9D9D9")
    assert rows[yellow.order_id][11].value == "beim Vendor: Akademie Sonnenschein"
    assert rows[yellow.order_id][7].value == 300.0


def test_the_collection_list_and_the_command(tmp_path):
    vendor = VendorFactory(vendor_id="48214")
    case = waiting(vendor)
    sheet = load_workbook(io.BytesIO(collection_list_xlsx(vendor_id="48214"))).active
    assert [row[2].value for row in sheet.iter_rows(min_row=2)] == [case.order_id]
    call_command("export_lists", "--out", str(tmp_path), "--vendor", "48214")
    assert (tmp_path / "warten-auf-freigabe-48214.xlsx").exists()
    assert (tmp_path / "inkasso-liste-48214.xlsx").exists()
