"""Intake from files (issue 2, item 4): each bad input gets a clear message, nothing written."""

import csv
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.intake.models import Incident, Order, Payment, Product, Vendor

pytestmark = pytest.mark.django_db

VENDORS = ("vendor_id,name,email,enrolled,collection_mode,dunning_by,relationship_manager,"
           "escalation_channel\n"
           "48213,Akademie Sonnenschein GmbH,info@sonnenschein.example,True,approval,in_house,"
           "dom,WhatsApp: Sonnenschein\n"
           "48214,Coaching Nord UG,kontakt@nord.example,False,direct,agency,,\n")
PRODUCTS = ("product_id,vendor_id,name,dunning_enabled,checkout_url\n"
            "77120,48213,Yoga-Kurs,True,https://checkout.example/p/77120\n"
            "77121,48214,Mentoring,False,\n")
ORDER_HEADER = ("order_id,vendor_id,product_id,buyer_id,buyer_email,buyer_first_name,"
                "buyer_last_name,street,house_number,postcode,city,country,payment_type,"
                "amount_total,currency,installments_total,installments_paid,created_at,"
                "sales_agent,first_invoice_number\n")
ORDER_ROW = ("kq7319a,48213,77120,b1,erika@example.org,Erika,Mustermann,Heidestraße,17,51147,"
             "Köln,DE,installments,600.00,EUR,6,2,2025-05-02T10:00:00+02:00,,RE-1001\n")
INCIDENTS = ("incident_id,order_id,kind,occurred_at,open_amount,currency\n"
             "i1,kq7319a,stopped_installments,2025-06-01T09:00:00+02:00,400.00,EUR\n")
PAYMENTS = ("payment_id,order_id,amount,currency,paid_at,channel\n"
            "p1,kq7319a,100.00,EUR,2025-06-20T12:00:00+02:00,offer_link\n")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(feed: str, path: Path, *args: str) -> None:
    call_command("import", feed, str(path), "--no-progress", *args)


def snapshot() -> tuple:
    return (Vendor.objects.count(), Product.objects.count(), Order.objects.count(),
            Incident.objects.count(), Payment.objects.count(), DebtCase.objects.count(),
            CaseEvent.objects.count())


@pytest.fixture
def marketplace(tmp_path):
    run_import("vendors", write(tmp_path, "vendors.csv", VENDORS))
    run_import("products", write(tmp_path, "products.csv", PRODUCTS))
    run_import("orders", write(tmp_path, "orders.csv", ORDER_HEADER + ORDER_ROW))
    return tmp_path


def refused(feed: str, path: Path, capsys) -> str:
    before = snapshot()
    with pytest.raises(CommandError) as error:
        run_import(feed, path)
    assert snapshot() == before, "a refused file must write nothing"
    return capsys.readouterr().err + str(error.value)


def test_the_platform_files_build_the_ledger_and_open_a_case(marketplace):
    run_import("incidents", write(marketplace, "incidents.csv", INCIDENTS))
    run_import("payments", write(marketplace, "payments.csv", PAYMENTS))
    case = DebtCase.objects.get(order_id="kq7319a")
    assert str(case.open_amount) == "300.00"
    assert case.first_invoice_number == "RE-1001"
    assert Vendor.objects.get(pk="48214").dunning_by == "agency"


def test_sending_the_same_file_twice_changes_nothing(marketplace, capsys):
    path = write(marketplace, "incidents.csv", INCIDENTS)
    run_import("incidents", path)
    before = (snapshot(), list(Order.objects.values_list("updated_at", flat=True)),
              list(DebtCase.objects.values_list("updated_at", flat=True)))
    for feed, name in [("vendors", "vendors.csv"), ("products", "products.csv"),
                       ("orders", "orders.csv"), ("incidents", "incidents.csv")]:
        run_import(feed, marketplace / name)
    after = (snapshot(), list(Order.objects.values_list("updated_at", flat=True)),
             list(DebtCase.objects.values_list("updated_at", flat=True)))
    assert after == before
    assert "0 neu, 0 geändert, 1 unverändert" in capsys.readouterr().out


def test_a_changed_record_is_updated(marketplace):
    run_import("vendors", write(marketplace, "v2.csv", VENDORS.replace("False,direct",
                                                                       "True,direct")))
    assert Vendor.objects.get(pk="48214").enrolled is True


def test_an_xlsx_sheet_is_read_like_a_csv(marketplace):
    wb = Workbook()
    sheet = wb.active
    rows = list(csv.reader(INCIDENTS.splitlines()))
    for row in rows:
        sheet.append(row)
    sheet["E2"] = 400.5  # a number cell, as Excel stores amounts
    wb.save(marketplace / "incidents.xlsx")
    run_import("incidents", marketplace / "incidents.xlsx")
    assert str(DebtCase.objects.get().open_amount) == "400.50"


@pytest.mark.parametrize(("text", "expected"), [
    ("vendor_id,name,email,enrolled,collection_mode\n1,a,a@b.de,True,approval\n",
     "dunning_by: Pflichtspalte fehlt in der Kopfzeile"),
    ("vendor_id,name,email,enrolled,collection_mode,dunning_by,colour\n"
     "1,a,a@b.de,True,approval,in_house,gelb\n", "colour, Wert 'colour': unbekannte Spalte"),
    ("Vendor_ID,name,email,enrolled,collection_mode,dunning_by\n"
     "1,a,a@b.de,True,approval,in_house\n", "Spaltennamen so schreiben: vendor_id"),
])
def test_a_wrong_or_missing_header_is_refused(tmp_path, capsys, text, expected):
    out = refused("vendors", write(tmp_path, "vendors.csv", text), capsys)
    assert "vendors.csv:1" in out
    assert expected in out


@pytest.mark.parametrize(("row", "column", "reason"), [
    ("1,a,a@b.de,True,sometimes,in_house", "collection_mode",
     "unbekannter Wert; erlaubt: approval, direct"),
    ("1,a,a@b.de,vielleicht,approval,in_house", "enrolled", "weder True noch False"),
    ("1,a,not-an-email,True,approval,in_house", "email", "keine E-Mail-Adresse"),
])
def test_an_unknown_value_is_named_with_line_column_and_value(tmp_path, capsys, row, column,
                                                               reason):
    text = "vendor_id,name,email,enrolled,collection_mode,dunning_by\n" + row + "\n"
    out = refused("vendors", write(tmp_path, "vendors.csv", text), capsys)
    assert f"vendors.csv:2: Spalte {column}" in out
    assert reason in out


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("created_at", "02.05.2025", "kein ISO-8601-Zeitpunkt"),
    ("amount_total", "-600.00", "negativer Betrag"),
    ("amount_total", "sechshundert", "kein Betrag"),
    ("amount_total", "12,50", "Dezimalkomma; den Betrag mit Punkt schreiben: 12.50"),
    ("amount_total", "1.234,50", "Dezimalkomma; den Betrag mit Punkt schreiben: 1234.50"),
    ("currency", "EURO", "kein ISO-4217-Währungscode"),
    ("payment_type", "monthly", "unbekannter Wert"),
    ("vendor_id", "99999", "unbekannter Vendor"),
    ("product_id", "99999", "unbekanntes Produkt"),
    ("product_id", "77121", "das Produkt gehört zu Vendor 48214, nicht zu 48213"),
    ("installments_paid", "9", "mehr Raten bezahlt als der Plan hat (6)"),
])
def test_a_bad_order_value_is_refused(marketplace, capsys, field, value, reason):
    header = ORDER_HEADER.strip().split(",")
    cells = next(csv.reader([ORDER_ROW]))
    cells[0] = "new-order"
    cells[header.index(field)] = value
    line = ",".join(f'"{c}"' if "," in c else c for c in cells)
    out = refused("orders", write(marketplace, "orders2.csv", ORDER_HEADER + line + "\n"), capsys)
    assert f"orders2.csv:2: Spalte {field}, Wert '{value}'" in out
    assert reason in out
    assert "nichts wurde importiert" in out


def test_an_unknown_order_reference_is_refused(marketplace, capsys):
    out = refused("incidents", write(marketplace, "incidents.csv",
                                     INCIDENTS.replace(",kq7319a,", ",nope,")), capsys)
    assert "Spalte order_id, Wert 'nope': unbekannte Bestellung" in out


def test_the_same_id_twice_in_one_file_names_both_lines(marketplace, capsys):
    text = INCIDENTS + INCIDENTS.splitlines()[1] + "\n"
    out = refused("incidents", write(marketplace, "incidents.csv", text), capsys)
    assert "incidents.csv:3: Spalte incident_id, Wert 'i1'" in out
    assert "dieselbe ID wie in Zeile 2" in out


def test_non_utf8_bytes_are_refused_with_the_line(marketplace, capsys):
    path = marketplace / "vendors-latin1.csv"
    path.write_bytes(VENDORS.replace("Akademie", "Akademie Müller").encode("latin-1"))
    out = refused("vendors", path, capsys)
    assert "vendors-latin1.csv:2" in out
    assert "UTF-8" in out


def test_an_empty_file_is_refused(tmp_path, capsys):
    path = tmp_path / "vendors.csv"
    path.write_bytes(b"")
    assert "Die Datei ist leer" in refused("vendors", path, capsys)


def test_a_byte_order_mark_is_refused_with_the_fix(tmp_path, capsys):
    path = tmp_path / "vendors.csv"
    path.write_bytes(b"\xef\xbb\xbf" + VENDORS.encode())
    out = refused("vendors", path, capsys)
    assert "BOM" in out and "UTF-8" in out


def test_an_xlsx_with_several_sheets_is_refused(tmp_path, capsys):
    wb = Workbook()
    wb.active.title = "Vendoren"
    wb.create_sheet("Notizen")
    wb.save(tmp_path / "vendors.xlsx")
    out = refused("vendors", tmp_path / "vendors.xlsx", capsys)
    assert "2 Tabellenblätter (Vendoren, Notizen)" in out


def test_an_xlsx_with_a_formula_is_refused(tmp_path, capsys):
    wb = Workbook()
    for row in csv.reader(VENDORS.splitlines()):
        wb.active.append(row)
    wb.active["B2"] = '=CONCAT("Akademie", " GmbH")'
    wb.save(tmp_path / "vendors.xlsx")
    out = refused("vendors", tmp_path / "vendors.xlsx", capsys)
    assert "vendors.xlsx:2: Spalte name" in out
    assert "Formel" in out


def test_a_payment_in_another_currency_than_its_order_is_refused(marketplace, capsys):
    out = refused("payments", write(marketplace, "payments.csv",
                                    PAYMENTS.replace(",EUR,", ",CHF,")), capsys)
    assert "die Bestellung ist in EUR" in out


def test_skip_invalid_applies_the_good_rows_and_keeps_the_bad_ones(marketplace, capsys):
    text = INCIDENTS + "i2,nope,chargeback,2025-06-01T09:00:00+02:00,10.00,EUR\n"
    rejects = marketplace / "rejects.csv"
    run_import("incidents", write(marketplace, "incidents.csv", text), "--skip-invalid",
               "--rejects", str(rejects))
    assert DebtCase.objects.filter(order_id="kq7319a").exists()
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["incident_id"], r["line"]) for r in rows] == [("i2", "3")]
    assert "unbekannte Bestellung" in rows[0]["problems"]


def test_skip_invalid_without_a_rejects_file_is_refused(marketplace):
    with pytest.raises(CommandError, match="--rejects"):
        run_import("incidents", marketplace / "orders.csv", "--skip-invalid")
