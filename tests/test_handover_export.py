"""The handover file (issue 4, item 4): the whole master list, the contract's formats, approved
cases handed over, every export kept, a file that would break a rule refused."""

import csv
import hashlib
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mahnwerk.cases import services as case_services
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import services
from mahnwerk.collection.handover_format import HEADER, check_file
from mahnwerk.collection.models import CollectionPartner, Handover
from tests.factories import OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered

pytestmark = pytest.mark.django_db


def approved(vendor, **order_fields):
    case = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor),
                                          **order_fields)))
    case_services.change_case(case=case, actor="t", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    case_services.change_case(case=case, actor="vendor", reason="Freigabe",
                              to_state=CaseState.APPROVED)
    return case


def rows(handover: Handover) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(bytes(handover.content).decode("utf-8"))))


def test_the_file_holds_the_whole_master_list_and_hands_over_the_approved_cases(tmp_path):
    vendor = VendorFactory(vendor_id="48213")
    ready = approved(vendor)
    running = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor))))
    case_services.add_note(case=ready, text="Käufer hat auf keine Mahnung reagiert",
                           actor="anna", shared=True)
    case_services.add_note(case=ready, text="nur intern: Vendor ist schwierig", actor="anna")
    result = services.export_handover(vendor_id="48213", actor="anna")
    assert result.handed_over == [ready.order_id]
    by_order = {r["order_id"]: r for r in rows(result.handover)}
    assert set(by_order) == {ready.order_id, running.order_id}
    assert by_order[ready.order_id]["incasso_state"] == "sent_for_collection"
    assert by_order[ready.order_id]["first_dunning_letter"] == "07/01/2025"
    assert by_order[ready.order_id]["support_comment"] == "Käufer hat auf keine Mahnung reagiert"
    assert by_order[running.order_id]["incasso_state"] == ""
    assert by_order[running.order_id]["status_support"] == "Laufend"
    ready.refresh_from_db()
    assert ready.state == CaseState.SENT_FOR_COLLECTION
    handover = result.handover
    event = ready.events.last()
    assert (event.kind, event.code, event.params) == ("collection", "collection.handed_over", {
        "partner": handover.partner.name, "file": "48213.csv", "export": handover.pk})
    assert handover.file_name == "48213.csv" and handover.handed_over == 1
    assert handover.sha256 == hashlib.sha256(bytes(handover.content)).hexdigest()
    assert handover.items.count() == 2
    path = tmp_path / "48213.csv"
    path.write_bytes(bytes(handover.content))
    assert check_file(path).ok


def test_internal_notes_never_leave_the_system():
    vendor = VendorFactory(vendor_id="48214")
    case = approved(vendor)
    case_services.add_note(case=case, text="GEHEIM intern", actor="anna")
    content = bytes(services.export_handover(vendor_id="48214", actor="t").handover.content)
    assert b"GEHEIM" not in content


def test_a_formula_in_a_shared_note_is_defused():
    vendor = VendorFactory(vendor_id="48215")
    case = approved(vendor)
    case_services.add_note(case=case, text="=HYPERLINK(\"http://evil\")", actor="x", shared=True)
    row = rows(services.export_handover(vendor_id="48215", actor="t").handover)[0]
    assert row["support_comment"].startswith("'=")


def test_a_case_that_fails_the_check_stays_with_the_reason():
    vendor = VendorFactory(vendor_id="48216")
    case = approved(vendor, street="", postcode="")
    case_services.set_invalid_address(case=case, value=False, reason="geprüft", actor="anna")
    result = services.export_handover(vendor_id="48216", actor="t")
    assert result.handed_over == []
    assert "Adresse" in result.held_back[case.order_id][0]
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED


def test_an_invalid_address_flag_lets_the_case_go_with_the_flag():
    vendor = VendorFactory(vendor_id="48217")
    case = approved(vendor, street="")
    result = services.export_handover(vendor_id="48217", actor="t")
    assert result.handed_over == [case.order_id]
    assert rows(result.handover)[0]["invalid_address"] == "True"


def test_foreign_buyers_go_to_the_foreign_partner_not_into_diagonals_file():
    vendor = VendorFactory(vendor_id="48218")
    home = approved(vendor)
    abroad = approved(vendor, country="AT", postcode="1010")
    result = services.export_handover(vendor_id="48218", actor="t")
    assert result.handed_over == [home.order_id]
    foreign = CollectionPartner.objects.get(kind="foreign")
    second = services.export_handover(vendor_id="48218", actor="t", partner=foreign)
    assert second.handed_over == [abroad.order_id]


def test_agency_dunning_vendors_hand_over_open_cases_without_letters():
    vendor = VendorFactory(vendor_id="48219", dunning_by="agency")
    case = incident(OrderFactory(product=ProductFactory(vendor=vendor)),
                    open_amount=Decimal("120.00"))
    result = services.export_handover(vendor_id="48219", actor="t")
    assert result.handed_over == [case.order_id]
    row = rows(result.handover)[0]
    assert (row["first_dunning_letter"], row["incasso_state"]) == ("", "sent_for_collection")


def test_the_command_writes_the_file_and_refuses_an_unknown_partner(tmp_path):
    vendor = VendorFactory(vendor_id="48220")
    approved(vendor)
    call_command("export_handover", "--vendor", "48220", "--out", str(tmp_path))
    lines = (tmp_path / "48220.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(HEADER)
    with pytest.raises(CommandError, match="Diagonal"):
        call_command("export_handover", "--vendor", "48220", "--out", str(tmp_path),
                     "--partner", "Nobody")


def test_a_vendor_without_cases_gets_a_clear_refusal(tmp_path):
    VendorFactory(vendor_id="48221")
    with pytest.raises(CommandError, match="48221"):
        call_command("export_handover", "--vendor", "48221", "--out", str(tmp_path))
    assert not Path(tmp_path / "48221.csv").exists()


def test_each_row_is_what_format_row_writes_for_the_case():
    """The export builds its rows without a call per cell; they must be exactly the rows
    ``format_row`` writes from the cases (every state, notes, flags, reorders, dates)."""
    from mahnwerk.cases.models import DebtCase
    from mahnwerk.collection.handover_format import format_row

    vendor = VendorFactory(vendor_id="48222")
    ready = approved(vendor)
    case_services.add_note(case=ready, text="erste Notiz", actor="anna", shared=True)
    case_services.add_note(case=ready, text="intern", actor="anna")
    case_services.add_note(case=ready, text="-zweite Notiz", actor="anna", shared=True)
    held = approved(vendor, street="", postcode="")
    case_services.set_invalid_address(case=held, value=False, reason="geprüft", actor="anna")
    flagged = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor), street="")))
    case_services.change_case(case=flagged, actor="t", reason="x", to_state=CaseState.ON_HOLD)
    blocked = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor))))
    case_services.block_case(case=blocked, reason="Anwaltsschreiben", actor="anna")
    reordered = incident(OrderFactory(product=ProductFactory(vendor=vendor)))
    case_services.change_case(case=reordered, actor="t", reason="x",
                              to_state=CaseState.REOPENED,
                              changes={"reopened": True, "reopened_id": "tr9981x"})
    taken = approved(vendor)
    case_services.change_case(case=taken, actor="t", reason="x",
                              to_state=CaseState.SENT_FOR_COLLECTION,
                              changes={"incasso_date": date(2025, 9, 12)})
    case_services.change_case(case=taken, actor="t", reason="x", to_state=CaseState.PAID)
    incident(OrderFactory(product=ProductFactory(vendor=vendor)))  # open, no letters yet

    result = services.export_handover(vendor_id="48222", actor="t")
    assert result.handed_over == [ready.order_id]
    assert list(result.held_back) == [held.order_id]
    lines = bytes(result.handover.content).decode("utf-8").split("\r\n")
    written = list(csv.reader(lines[1:-1]))
    expected = []
    for case in DebtCase.objects.filter(vendor_id="48222").order_by("order_id"):
        notes = case.notes.filter(visibility="shared").order_by("created_at", "id")
        expected.append(format_row(
            vendor_id="48222", order_id=case.order_id,
            first_dunning_letter=case.first_dunning_letter,
            second_dunning_letter=case.second_dunning_letter, incasso_date=case.incasso_date,
            support_comment="; ".join(n.text for n in notes),
            status_support=services.STATUS_SUPPORT[case.state], offer_link=case.offer_link,
            incasso_state=case.incasso_state, reopened=case.reopened,
            reopened_id=case.reopened_id, invalid_address=case.invalid_address))
    assert written == expected
    by_order = {row[1]: row for row in written}
    assert by_order[ready.order_id][5] == "erste Notiz; -zweite Notiz"
    assert by_order[flagged.order_id][8:] == ["on_hold", "False", "", "True"]
    assert by_order[reordered.order_id][8:11] == ["canceled", "True", "tr9981x"]
    assert by_order[taken.order_id][4] == "09/12/2025"
    assert by_order[blocked.order_id][8] == "blocked"


def test_a_case_that_changes_while_the_file_is_written_stops_the_export(monkeypatch):
    """The cases to hand over are read again, locked, before they move: a case support blocked
    in the meantime is not moved on a stale reading; nothing is kept, nothing moves."""
    from mahnwerk.cases.models import CaseEvent

    vendor = VendorFactory(vendor_id="48223")
    ready, other = approved(vendor), approved(vendor)
    check = services.check_bytes

    def check_while_support_blocks(content, **kwargs):
        case_services.block_case(case=ready, reason="Anwaltsschreiben", actor="anna")
        return check(content, **kwargs)

    monkeypatch.setattr(services, "check_bytes", check_while_support_blocks)
    with pytest.raises(services.HandoverError, match="1 Fall"):
        services.export_handover(vendor_id="48223", actor="t")
    ready.refresh_from_db()
    other.refresh_from_db()
    assert (ready.state, other.state) == (CaseState.BLOCKED, CaseState.APPROVED)
    assert not Handover.objects.filter(vendor_id="48223").exists()
    assert not CaseEvent.objects.filter(case__vendor_id="48223", kind="collection").exists()
