"""No formula reaches a spreadsheet (issue 9, point 1).

A buyer, a vendor or a product named like a formula (the OWASP CSV-injection strings) comes in
through the intake like any other data and goes out in every file people open in Excel: the
XLSX lists (workspace downloads and ``mahnwerk export-lists``), the cases CSV, the import's
rejects file and the agency's handover file. In none of them is a cell a formula: XLSX cells are
strings, CSV cells get a leading apostrophe. An id shaped like a formula never gets in at all,
and the handover validator names such a cell in a file made by hand."""

import csv
import io
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import services as collection_services
from mahnwerk.collection.handover_format import HEADER, check_bytes, fixed_file
from mahnwerk.collection.spreadsheets import approval_list_xlsx, collection_list_xlsx
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.models import Order
from mahnwerk.spreadsheet_safety import FORMULA_START
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered, send

pytestmark = pytest.mark.django_db

#: OWASP's CSV-injection examples and the other starts a spreadsheet reads as a formula.
ATTACKS = (
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-1+1",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
)


def _same_text(read: object, written: str) -> bool:
    # XML keeps a carriage return as a line break; the intake strips the spaces around a text.
    return isinstance(read, str) and read.replace("\n", "\r").strip() in (written.strip(),
                                                                        written)


def vendor_record(vendor_id: str, attack: str) -> dict:
    return {"vendor_id": vendor_id, "name": attack, "email": f"{vendor_id.lower()}@example.com",
            "enrolled": "True", "collection_mode": "approval", "dunning_by": "in_house",
            "relationship_manager": attack, "escalation_channel": attack}


def order_record(n: int, attack: str, **overrides: str) -> dict:
    record = {
        "order_id": f"OX{n}", "vendor_id": f"VX{n}", "product_id": f"PX{n}",
        "buyer_id": f"BX{n}", "buyer_email": f"kaeufer{n}@example.org",
        "buyer_first_name": attack, "buyer_last_name": attack, "street": attack,
        "house_number": "17", "postcode": "51147", "city": attack, "country": "DE",
        "payment_type": "installments", "amount_total": "600.00", "currency": "EUR",
        "installments_total": "6", "installments_paid": "2",
        "created_at": "2025-05-02T10:00:00+02:00", "sales_agent": attack,
        "first_invoice_number": attack}
    record.update(overrides)
    return record


@pytest.fixture
def poisoned() -> list[DebtCase]:
    """For each attack: a vendor, a product and a buyer named with it, sent in through the
    intake; the case waits for the vendor's approval, carries the attack as a shared and an
    internal note, and a second case of the vendor is approved and a third blocked with it as
    the reason. The same names also straight in the database (a tab or CR that the intake
    would strip stays)."""
    cases = []
    for n, attack in enumerate(ATTACKS):
        send("vendors", vendor_record(f"VX{n}", attack))
        send("products", {"product_id": f"PX{n}", "vendor_id": f"VX{n}", "name": attack,
                          "dunning_enabled": "True", "checkout_url": ""})
        send("orders", order_record(n, attack),
             order_record(n, attack, order_id=f"OX{n}A", buyer_id=f"BX{n}A",
                          buyer_email=f"a{n}@example.org"),
             order_record(n, attack, order_id=f"OX{n}B", buyer_id=f"BX{n}B",
                          buyer_email=f"b{n}@example.org"))
        waiting = lettered(incident(Order.objects.get(order_id=f"OX{n}")))
        case_services.change_case(case=waiting, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
        case_services.add_note(case=waiting, text=attack, actor="anna", shared=True)
        case_services.add_note(case=waiting, text=attack, actor="anna")
        approved = lettered(incident(Order.objects.get(order_id=f"OX{n}A")))
        case_services.change_case(case=approved, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
        case_services.change_case(case=approved, actor="vendor", reason=attack,
                                  to_state=CaseState.APPROVED)
        case_services.add_note(case=approved, text=attack, actor="anna", shared=True)
        blocked = incident(Order.objects.get(order_id=f"OX{n}B"))
        case_services.change_case(case=blocked, actor="anna", reason=attack,
                                  to_state=CaseState.BLOCKED, changes={"block_reason": attack})
        cases += [waiting, approved, blocked]
        raw = VendorFactory(vendor_id=f"VR{n}", name=attack, relationship_manager=attack)
        order = OrderFactory(order_id=f"OR{n}", product=ProductFactory(vendor=raw, name=attack),
                             buyer_first_name=attack, buyer_last_name=attack,
                             first_invoice_number=attack)
        raw_case = lettered(incident(order))
        case_services.change_case(case=raw_case, actor="run", reason="eskaliert",
                                  to_state=CaseState.ON_HOLD)
        cases.append(raw_case)
    return cases


def assert_no_formula_in_xlsx(data: bytes, *, expected_rows: int) -> None:
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == expected_rows
    attacked = 0
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str) and cell.value.lstrip().startswith(FORMULA_START):
                assert cell.data_type in ("s", "inlineStr"), (cell.coordinate, cell.value)
                assert any(_same_text(cell.value, attack) for attack in ATTACKS), cell.value
                attacked += 1
    assert attacked >= expected_rows * 4  # vendor, first and last name, product (and more)


def assert_no_formula_in_csv(text: str, *, columns: set[str]) -> list[dict[str, str]]:
    rows = list(csv.DictReader(StringIO(text, newline="")))
    assert rows
    for row in rows:
        for column, value in row.items():
            assert not (value or "").startswith(FORMULA_START), (column, value)
        for column in columns:
            value = row[column]
            assert value.startswith("'") and any(
                _same_text(value[1:], attack) for attack in ATTACKS), (column, value)
    return rows


def test_the_xlsx_lists_write_every_name_as_text(poisoned):
    assert_no_formula_in_xlsx(approval_list_xlsx(), expected_rows=2 * len(ATTACKS))
    assert_no_formula_in_xlsx(collection_list_xlsx(), expected_rows=3 * len(ATTACKS))


def test_the_negative_amount_stays_a_number_and_the_text_its_text(poisoned):
    sheet = load_workbook(io.BytesIO(approval_list_xlsx(vendor_id="VX2"))).active
    header = [c.value for c in sheet[1]]
    row = {header[i]: cell for i, cell in enumerate(next(sheet.iter_rows(min_row=2)))}
    assert row["Vorname"].value == "+1+1" and row["Vorname"].data_type == "s"
    assert row["Produkt"].value == "+1+1"
    assert row["Vendor"].value == "+1+1"
    assert row["offener Betrag"].data_type == "n" and row["offener Betrag"].value == 300.0


def test_the_workspace_downloads_and_the_command_write_no_formula(poisoned, client, tmp_path,
                                                                  django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_demo_users(vendor_id="VX0")
    client.force_login(django_user_model.objects.get(username="support"))
    approvals = client.get(reverse("web:approvals-xlsx"))
    collection = client.get(reverse("web:collection-xlsx"))
    assert approvals.status_code == collection.status_code == 200
    assert_no_formula_in_xlsx(approvals.content, expected_rows=2 * len(ATTACKS))
    assert_no_formula_in_xlsx(collection.content, expected_rows=3 * len(ATTACKS))
    call_command("export_lists", "--out", str(tmp_path), stdout=StringIO())
    assert_no_formula_in_xlsx((tmp_path / "warten-auf-freigabe.xlsx").read_bytes(),
                              expected_rows=2 * len(ATTACKS))
    assert_no_formula_in_xlsx((tmp_path / "inkasso-liste.xlsx").read_bytes(),
                              expected_rows=3 * len(ATTACKS))


def test_the_cases_csv_puts_an_apostrophe_before_every_formula(poisoned):
    out = StringIO()
    call_command("cases", "--format", "csv", stdout=out, stderr=StringIO())
    rows = assert_no_formula_in_csv(out.getvalue(), columns={"product_name",
                                                             "first_invoice_number"})
    blocked = {r["order_id"]: r for r in rows}["OX3B"]
    assert blocked["block_reason"] == "'-1+1"
    assert blocked["buyer_name"] == "'-1+1 -1+1"


def test_the_rejects_file_repeats_the_bad_rows_without_a_formula(tmp_path):
    send("vendors", vendor_record("V1", "Akademie"))
    send("products", {"product_id": "P1", "vendor_id": "V1", "name": "Yoga-Kurs",
                      "dunning_enabled": "True", "checkout_url": ""})
    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(order_record(0, "")))
        writer.writeheader()
        for n, attack in enumerate(ATTACKS):
            writer.writerow(order_record(n, attack, order_id=attack, vendor_id="V1",
                                         product_id="P1", buyer_id=attack))
    rejects = tmp_path / "rejects.csv"
    call_command("import", "orders", str(path), "--no-progress", "--skip-invalid",
                 "--rejects", str(rejects), stdout=StringIO(), stderr=StringIO())
    assert not Order.objects.exists()
    rows = assert_no_formula_in_csv(rejects.read_text(encoding="utf-8"),
                                    columns={"buyer_first_name", "sales_agent"})
    assert len(rows) == len(ATTACKS)
    for row in rows:
        assert "order_id: keine ID" in row["problems"]
        assert "buyer_id: keine ID" in row["problems"]


def test_the_handover_file_holds_no_formula_and_passes_its_check(poisoned):
    for n in range(len(ATTACKS)):
        result = collection_services.export_handover(vendor_id=f"VX{n}", actor="t")
        content = bytes(result.handover.content)
        assert check_bytes(content, name=f"VX{n}.csv").ok
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
        assert {r["order_id"] for r in rows} == {f"OX{n}", f"OX{n}A", f"OX{n}B"}
        for row in rows:
            for column, value in row.items():
                assert not value.startswith(FORMULA_START), (n, column, value)
        handed = {r["order_id"]: r for r in rows}[f"OX{n}A"]
        assert handed["support_comment"].startswith("'")


# -- Ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [*ATTACKS, "a/b", "a\x00b", "a b", "x" * 65, "Bestellung#1",
                                   "-17"])
def test_an_id_outside_the_platforms_pattern_is_refused_with_the_column(value):
    _record, problems = FEEDS["orders"].parse(order_record(0, "Erika", order_id=value))
    assert [p.column for p in problems] == ["order_id"]
    # A control character is refused for every field before the id rule looks at it.
    assert problems[0].reason.startswith(("keine ID", "enthält das Steuerzeichen"))


def test_the_refusal_says_why():
    def reason(value: str) -> str:
        return FEEDS["payments"].parse({
            "payment_id": value, "order_id": "O1", "amount": "1.00", "currency": "EUR",
            "paid_at": "2025-06-20T12:00:00+02:00", "channel": "offer_link"})[1][0].reason

    assert "Formel" in reason("=1+1") and "'='" in reason("=1+1")
    assert "Formel" in reason("@SUM(1+1)")
    assert "'/'" in reason("a/b")
    assert "\\x00" in reason("a\x00b"), "names the character"
    assert "' '" in reason("a b")
    assert "64" in reason("x" * 65)


def test_ids_as_the_platform_writes_them_pass():
    for value in ("kq7319a", "48213", "O-2025.07_1", "x" * 64):
        _record, problems = FEEDS["orders"].parse(order_record(0, "Erika", order_id=value))
        assert problems == [], value


def test_the_pattern_and_the_length_are_settings(settings):
    settings.MAHNWERK_ID_PATTERN = r"[A-Z0-9]+"
    settings.MAHNWERK_ID_MAX_LENGTH = 3
    assert FEEDS["orders"].parse(order_record(0, "Erika", order_id="ABC"))[1] == []
    assert FEEDS["orders"].parse(order_record(0, "Erika", order_id="abc"))[1]
    assert FEEDS["orders"].parse(order_record(0, "Erika", order_id="ABCD"))[1]


# -- The handover validator ----------------------------------------------------------------------

GOOD = ("48213,kq7319a,07/01/2025,08/01/2025,09/12/2025,Käufer hat nicht reagiert,Freigabe,"
        "https://checkout.example/p/77120?token=abc,sent_for_collection,False,,False")


def handover_file(*rows: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def good_row(**cells: str) -> list[str]:
    row = dict(zip(HEADER, next(csv.reader([GOOD])), strict=True))
    row.update(cells)
    return [row[column] for column in HEADER]


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("column", ["vendor_id", "order_id", "reopened_id"])
def test_the_validator_reports_a_formula_id_with_line_and_column(attack, column):
    cells = {"order_id": "kq7320b", column: attack}
    if column == "reopened_id":
        cells["reopened"] = "True"
    data = handover_file(good_row(), good_row(**cells))
    for fast_path in (True, False):
        report = check_bytes(data, name="48213.csv", collect_fixed=True, fast_path=fast_path)
        formula = [p for p in report.problems if "Formel" in p.reason]
        assert [(p.line, p.column) for p in formula] == [(3, column)], report.problems
        assert fixed_file(report, name="48213.csv") is None  # a person must look at it


@pytest.mark.parametrize("column", ["first_dunning_letter", "incasso_state", "offer_link",
                                    "invalid_address"])
def test_the_validator_reports_a_formula_in_any_column(column):
    report = check_bytes(handover_file(good_row(**{column: "=1+1"})), name="48213.csv")
    assert any("Formel" in p.reason and p.line == 2 and p.column == column
               for p in report.problems), report.problems


def test_a_formula_in_a_free_text_column_is_fixed_with_an_apostrophe():
    report = check_bytes(handover_file(good_row(support_comment="=HYPERLINK(\"x\")")),
                         name="48213.csv", collect_fixed=True)
    assert [(p.line, p.column) for p in report.problems] == [(2, "support_comment")]
    _name, content = fixed_file(report, name="48213.csv")
    row = next(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert row["support_comment"] == "'=HYPERLINK(\"x\")"
    assert check_bytes(content, name="48213.csv").ok


def test_a_tab_before_a_date_is_a_formula_cell_with_a_certain_fix():
    report = check_bytes(handover_file(good_row(incasso_date="\t09/12/2025")),
                         name="48213.csv", collect_fixed=True)
    assert [(p.line, p.column, p.fix) for p in report.problems] == [
        (2, "incasso_date", "09/12/2025")]
    assert fixed_file(report, name="48213.csv") is not None


def test_the_api_schema_states_the_id_pattern_the_server_enforces(client):
    schema = client.get("/api/v1/openapi.json").json()
    text = str(schema)
    assert "^(?:[A-Za-z0-9][A-Za-z0-9._-]*)$" in text and "[^\\\\s,;]" not in text
