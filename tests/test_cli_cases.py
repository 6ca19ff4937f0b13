"""Support's command line: ``mahnwerk cases`` lists, ``mahnwerk case`` shows and acts."""

import csv
import io
import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from mahnwerk.cases.models import CaseEvent, CaseNote
from mahnwerk.cases.states import CaseState
from mahnwerk.cli import main
from tests.factories import BERLIN, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db

REQUIRED_KEYS = {"order_id", "vendor_id", "state", "incasso_state", "pursue", "trigger",
                 "open_amount", "currency", "first_dunning_letter", "second_dunning_letter",
                 "incasso_date", "offer_link", "reopened", "reopened_id", "invalid_address",
                 "block_reason"}


@pytest.fixture
def cases():
    """Two cases of one vendor (one with a bad address), one of another vendor."""
    vendor = VendorFactory(vendor_id="V1", name="Akademie Sonnenschein GmbH")
    product = ProductFactory(vendor=vendor)
    first = incident(OrderFactory(order_id="O1", product=product), open_amount="300.00")
    second = incident(OrderFactory(order_id="O2", product=product, street=""),
                      open_amount="120.50", kind="chargeback",
                      at=datetime(2025, 6, 2, 9, 0, tzinfo=BERLIN))
    other = incident(OrderFactory(order_id="O3", product=ProductFactory(
        vendor=VendorFactory(vendor_id="V2"))), open_amount="99.00")
    return first, second, other


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# -- mahnwerk cases --------------------------------------------------------------------------------


def test_the_json_list_holds_case_to_dict_of_every_case(cases):
    rows = json.loads(run("cases", "--format", "json"))
    assert {row["order_id"] for row in rows} == {"O1", "O2", "O3"}
    assert all(set(row) >= REQUIRED_KEYS for row in rows)
    first = next(row for row in rows if row["order_id"] == "O1")
    assert first["open_amount"] == "300.00"
    assert first["currency"] == "EUR"
    assert first["state"] == "open"
    assert first["incasso_state"] == ""
    assert first["pursue"] is True
    assert first["first_dunning_letter"] is None
    assert first["reopened"] is False
    second = next(row for row in rows if row["order_id"] == "O2")
    assert second["invalid_address"] is True
    assert second["open_amount"] == "120.50"


def test_the_list_filters_by_vendor_and_state(cases):
    rows = json.loads(run("cases", "--vendor", "V1", "--format", "json"))
    assert [row["order_id"] for row in rows] == ["O1", "O2"]
    assert json.loads(run("cases", "--state", "paid", "--format", "json")) == []
    rows = json.loads(run("cases", "--state", "open", "--vendor", "V2", "--format", "json"))
    assert [row["order_id"] for row in rows] == ["O3"]


def test_the_csv_list_has_the_json_keys_as_header(cases):
    text = run("cases", "--format", "csv", "--vendor", "V1")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert set(rows[0]) >= REQUIRED_KEYS
    assert [row["order_id"] for row in rows] == ["O1", "O2"]
    assert rows[0]["open_amount"] == "300.00"
    assert list(rows[0]) == list(json.loads(run("cases", "--format", "json"))[0])


def test_the_table_shows_one_readable_line_per_case(cases):
    text = run("cases")
    lines = text.splitlines()
    assert len(lines) == 2 + 3 + 1  # header, rule, three cases, count
    line = next(line for line in lines if line.startswith("O1 "))
    assert "Akademie Sonnenschein GmbH" in line
    assert str(CaseState.OPEN.label) in line
    assert "300,00\xa0€" in line
    assert "120,50\xa0€" in text


def test_an_unknown_state_is_refused_with_the_allowed_ones(cases):
    with pytest.raises(CommandError) as error:
        run("cases", "--state", "laufend")
    message = str(error.value)
    assert "laufend" in message
    assert all(state in message for state in CaseState.values)


def test_an_unknown_vendor_is_refused(cases):
    with pytest.raises(CommandError) as error:
        run("cases", "--vendor", "V999")
    assert "V999" in str(error.value)


def test_errors_end_the_console_script_with_a_non_zero_exit(cases, capsys, monkeypatch):
    # A command run from the command line closes the database connections at its end; the
    # test's connection must stay open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        main(["mahnwerk", "cases", "--state", "bogus"])
    assert exit_.value.code == 1
    assert "bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["mahnwerk", "case", "NOPE"])
    assert exit_.value.code == 1
    assert "NOPE" in capsys.readouterr().err


# -- mahnwerk case -------------------------------------------------------------------------------


def test_one_case_as_json_comes_with_its_timeline_and_notes(cases):
    data = json.loads(run("case", "O1", "--format", "json"))
    assert set(data) >= REQUIRED_KEYS
    assert data["order_id"] == "O1"
    assert [event["kind"] for event in data["timeline"]] == ["opened"]
    assert data["notes"] == []


def test_one_case_as_text_names_its_facts_its_timeline_and_notes(cases):
    run("case", "O2", "note", "--reason", "Käufer angerufen", "--as", "anna")
    text = run("case", "O2")
    assert "O2" in text
    assert "Akademie Sonnenschein GmbH (V1)" in text
    assert "120,50\xa0€" in text
    assert "cli:anna" in text
    assert "Käufer angerufen" in text


def test_block_and_unblock_go_through_the_services(cases):
    out = run("case", "O1", "block", "--reason", "Anwaltsschreiben eingegangen", "--as", "anna")
    assert "O1" in out
    case = cases[0]
    case.refresh_from_db()
    assert case.state == CaseState.BLOCKED
    assert case.block_reason == "Anwaltsschreiben eingegangen"
    event = case.events.last()
    assert (event.kind, event.actor, event.reason) == ("blocked", "cli:anna",
                                                       "Anwaltsschreiben eingegangen")
    data = json.loads(run("case", "O1", "unblock", "--reason", "geklärt", "--as", "anna",
                          "--format", "json"))
    assert data["state"] == "open"
    assert data["block_reason"] == ""
    assert data["timeline"][-1]["kind"] == "unblocked"


def test_a_note_is_written_with_its_visibility(cases):
    run("case", "O1", "note", "--reason", "intern notiert", "--as", "anna")
    run("case", "O1", "note", "--reason", "Ratenzahlung vereinbart", "--shared", "--as", "anna")
    notes = list(CaseNote.objects.filter(case=cases[0]).values_list("visibility", "text",
                                                                   "author"))
    assert notes == [("internal", "intern notiert", "cli:anna"),
                     ("shared", "Ratenzahlung vereinbart", "cli:anna")]
    assert [e.kind for e in cases[0].events.all()][-2:] == ["note", "note"]


def test_the_actor_is_the_login_name_unless_given(cases, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "erika")
    run("case", "O1", "block", "--reason", "Rückfrage beim Vendor")
    assert CaseEvent.objects.filter(case=cases[0]).last().actor == "cli:erika"


@pytest.mark.parametrize(("args", "expected"), [
    (("case", "NOPE"), "NOPE"),
    (("case", "NOPE", "block", "--reason", "x"), "NOPE"),
    (("case", "O1", "block"), ""),  # no reason
    (("case", "O1", "unblock", "--reason", "x"), "O1"),  # not blocked
    (("case", "O1", "block", "--reason", "x", "--shared"), "--shared"),
    (("case", "O1", "--reason", "x"), "--reason"),
    (("case", "O1", "approve", "--reason", "x"), "O1"),  # not waiting for approval
])
def test_what_cannot_be_done_is_refused_with_a_clear_message(cases, args, expected):
    events = CaseEvent.objects.count()
    with pytest.raises(CommandError) as error:
        run(*args)
    assert expected in str(error.value)
    assert CaseEvent.objects.count() == events
    assert not CaseNote.objects.exists()


def test_blocking_a_blocked_case_is_refused(cases):
    run("case", "O1", "block", "--reason", "erstes Mal")
    with pytest.raises(CommandError) as error:
        run("case", "O1", "block", "--reason", "zweites Mal")
    assert "erstes Mal" in str(error.value)
