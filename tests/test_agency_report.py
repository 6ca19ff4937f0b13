"""The agency's monthly report (issue 4, item 7)."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from mahnwerk.cases.states import CaseState
from mahnwerk.collection import services
from mahnwerk.collection.models import (
    AgencyReport,
    CollectionPartner,
    ReportRow,
    VendorInvoice,
)
from mahnwerk.collection.reports import import_report
from tests.factories import VendorFactory
from tests.test_handover_export import approved

pytestmark = pytest.mark.django_db
HEADER = "order_id,agency_reference,takeover_date,status,collected_amount,collected_at,comment"


@pytest.fixture
def handed_over():
    vendor = VendorFactory(vendor_id="48213")
    case = approved(vendor)  # open amount 300.00, letters 2025-07-01 and 2025-08-01
    services.export_handover(vendor_id="48213", actor="anna")
    case.refresh_from_db()
    return case


def report(tmp_path, *rows, name="diagonal-2025-10.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def diagonal():
    return CollectionPartner.objects.get(name="Diagonal")


def test_a_partial_recovery_sets_the_takeover_date_and_books_payment_and_invoice(
        tmp_path, handed_over):
    path = report(tmp_path, f"{handed_over.order_id},AZ-77,2025-09-12,partially_paid,100.00,"
                            "2025-10-01,Ratenzahlung vereinbart")
    result = import_report(path=path, partner=diagonal(), actor="anna")
    assert (result.applied, result.problems) == (1, [])
    handed_over.refresh_from_db()
    assert handed_over.incasso_date.isoformat() == "2025-09-12"
    assert handed_over.open_amount == Decimal("200.00")
    assert VendorInvoice.objects.get().amount == Decimal("100.00")
    assert "Ratenzahlung vereinbart" in handed_over.notes.last().text
    assert handed_over.notes.last().visibility == "internal"
    # Found in the walk: the note named the agency's status by its code ("Diagonal (paid)").
    assert handed_over.notes.last().text == "Diagonal (teilweise bezahlt): Ratenzahlung vereinbart"
    takeover = handed_over.events.get(code="collection.takeover")
    assert takeover.params == {"partner": "Diagonal", "date": "2025-09-12", "ref": "AZ-77"}
    assert takeover.reason == "Übernahme durch Diagonal am 12.09.2025 (Akte AZ-77)."


def test_the_rest_recovered_next_month_moves_the_case_to_paid(tmp_path, handed_over):
    import_report(path=report(tmp_path, f"{handed_over.order_id},AZ-77,2025-09-12,"
                                        "partially_paid,100.00,2025-10-01,"),
                  partner=diagonal(), actor="anna")
    import_report(path=report(tmp_path, f"{handed_over.order_id},AZ-77,2025-09-12,paid,"
                                        "300.00,2025-11-01,", name="diagonal-2025-11.csv"),
                  partner=diagonal(), actor="anna")
    handed_over.refresh_from_db()
    assert handed_over.state == CaseState.PAID
    assert [i.amount for i in VendorInvoice.objects.order_by("id")] == [Decimal("100.00"),
                                                                       Decimal("200.00")]


def test_the_same_report_twice_changes_nothing(tmp_path, handed_over):
    path = report(tmp_path, f"{handed_over.order_id},AZ-77,2025-09-12,partially_paid,100.00,"
                            "2025-10-01,")
    import_report(path=path, partner=diagonal(), actor="anna")
    again = import_report(path=path, partner=diagonal(), actor="anna")
    assert again.already_imported
    handed_over.refresh_from_db()
    assert handed_over.open_amount == Decimal("200.00")
    assert AgencyReport.objects.count() == 1 and VendorInvoice.objects.count() == 1


@pytest.mark.parametrize(("row", "words"), [
    ("nope,AZ-1,2025-09-12,open,0.00,,", "unbekannte Bestellung"),
    ("{order},AZ-1,2025-07-15,open,0.00,,", "vor der 2. Mahnung"),
    ("{order},AZ-1,2025-09-12,paid,900.00,,", "übersteigt den offenen Betrag"),
    ("{order},AZ-1,2025-09-12,lost,0.00,,", "unbekannter Status"),
    ("{order},AZ-1,2025-09-12,open,-5.00,,", "negativer Betrag"),
    ("{order},AZ-1,2025-09-12,open,\"12,50\",,", "Dezimalkomma"),
])
def test_rows_that_cannot_be_applied_are_listed_and_change_nothing(tmp_path, handed_over, row,
                                                                   words):
    result = import_report(path=report(tmp_path, row.format(order=handed_over.order_id)),
                           partner=diagonal(), actor="anna")
    assert result.applied == 0
    assert words in result.problems[0][2]
    assert ReportRow.objects.get().problem == result.problems[0][2]
    handed_over.refresh_from_db()
    assert handed_over.open_amount == Decimal("300.00") and handed_over.incasso_date is None


def test_a_case_never_handed_over_is_listed(tmp_path):
    case = approved(VendorFactory(vendor_id="48299"))
    result = import_report(path=report(tmp_path, f"{case.order_id},AZ-1,2025-09-12,open,0,,"),
                           partner=diagonal(), actor="anna")
    assert "nie an Diagonal übergeben" in result.problems[0][2]


def test_duplicate_rows_are_listed(tmp_path, handed_over):
    row = f"{handed_over.order_id},AZ-77,2025-09-12,open,0.00,,"
    result = import_report(path=report(tmp_path, row, row), partner=diagonal(), actor="anna")
    assert result.applied == 1
    assert "Zeile 2" in result.problems[0][2]


def test_a_report_in_the_wrong_encoding_is_refused_whole(tmp_path, handed_over):
    path = report(tmp_path, f"{handed_over.order_id},AZ-77,2025-09-12,open,0.00,,Müller",
                  encoding="latin-1")
    with pytest.raises(CommandError, match="UTF-8"):
        call_command("import_agency_report", str(path), "--partner", "Diagonal")
    assert AgencyReport.objects.count() == 0


def test_a_partners_own_columns_are_read_through_its_mapping(tmp_path, handed_over):
    partner = diagonal()
    partner.report_mapping = {"order_id": "Bestellnummer", "takeover_date": "Übernahme",
                              "status": "Status", "collected_amount": "Eingang"}
    partner.report_date_format = "%d.%m.%Y"
    partner.save()
    path = tmp_path / "diagonal.csv"
    path.write_text("Bestellnummer,Übernahme,Status,Eingang\n"
                    f"{handed_over.order_id},12.09.2025,open,0.00\n", encoding="utf-8")
    assert import_report(path=path, partner=partner, actor="anna").applied == 1
    handed_over.refresh_from_db()
    assert handed_over.incasso_date.isoformat() == "2025-09-12"
