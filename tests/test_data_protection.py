"""Data protection (issue 9, point 8): personal data kept only as long as allowed, a buyer's
access and erasure, an access log, and handovers that carry only what the agency needs."""

import csv
import hashlib
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from mahnwerk.banking import services as bank_services
from mahnwerk.banking.models import StatementLine
from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessKind, AccessRecord, CaseEvent, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import services as collection_services
from mahnwerk.collection.handover_format import FIELD_GROUNDS, HEADER
from mahnwerk.dunning.models import Letter
from mahnwerk.intake.models import Buyer, Order
from mahnwerk.ops import privacy, tasks
from mahnwerk.reasons import ANONYMISED
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, BuyerFactory, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, lettered, order_record, payment, send

pytestmark = pytest.mark.django_db

SECRET = "INTERN-GEHEIM-4711"
LATER = timedelta(days=40)


def paid_case(buyer=None, *, vendor=None, order_id=None, letter_year=None) -> DebtCase:
    """A buyer's debt with two letters, an internal and a shared note, paid in full."""
    product = ProductFactory(vendor=vendor) if vendor else ProductFactory()
    fields = {"buyer": buyer} if buyer else {}
    if order_id:
        fields["order_id"] = order_id
    # A surname Faker never makes up for a vendor or product shown on the same page.
    order = OrderFactory(product=product, buyer_first_name="Zoë", buyer_last_name="Zänkerquist",
                         buyer_email="zoe.zaenker@example.org", street="Lindenweg",
                         house_number="7", postcode="50667", city="Köln", country="DE",
                         **fields)
    case = incident(order, open_amount="120.00")
    first = date(letter_year, 3, 1) if letter_year else date(2025, 7, 1)
    lettered(case, first=first, second=first + timedelta(days=30))
    Letter.objects.filter(case=case).update(body_text="Sehr geehrte Frau Zänkerquist, Lindenweg 7",
                                            body_html="<p>Frau Zänkerquist</p>")
    case_services.add_note(case=case, text=f"{SECRET} ruft nie zurück", actor="anna")
    case_services.add_note(case=case, text="Käuferin zahlt in Raten", actor="anna",
                           shared=True)
    payment(order, amount="120.00", at=datetime(2025, 9, 1, 9, 0, tzinfo=BERLIN))
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    return case


def login(client, name: str, *, vendor_id: str | None = None) -> None:
    """Sign in as one of the demo users (made once, the vendor user for ``vendor_id``)."""
    if vendor_id is not None:
        ensure_demo_users(vendor_id=vendor_id)
    client.logout()
    client.force_login(User.objects.get(username=name))


def later(days: int = 40) -> datetime:
    return timezone.now() + timedelta(days=days)


# -- Retention ---------------------------------------------------------------------------------


def test_a_case_closed_longer_than_the_retention_period_keeps_only_what_bookkeeping_needs():
    case = paid_case()
    order_id, amount, first = case.order_id, case.open_amount, case.first_dunning_letter
    result = privacy.anonymise_closed_cases(older_than_days=30, actor="test", now=later())
    assert result.cases == [order_id]
    order = Order.objects.get(pk=order_id)
    assert (order.buyer_first_name, order.buyer_last_name, order.buyer_email, order.street,
            order.house_number, order.postcode, order.city) == ("", "", "", "", "", "", "")
    assert order.country == "DE" and order.anonymised_at is not None
    case.refresh_from_db()
    assert case.anonymised_at is not None
    assert (case.state, case.open_amount, case.first_dunning_letter) == (
        CaseState.PAID, amount, first)
    assert set(case.notes.values_list("text", flat=True)) == {""}
    note_events = CaseEvent.objects.filter(case=case, kind="note")
    assert all(e.params["text"] == ANONYMISED for e in note_events)
    assert "anonymisiert" in note_events.first().reason
    last = CaseEvent.objects.filter(case=case).last()
    assert last.code == "ops.anonymised_retention"
    assert "30 Tage" in last.reason
    buyer = Buyer.objects.get(pk=order.buyer_id)
    assert buyer.anonymised_at is not None and buyer.last_name == "" and buyer.email == ""


def test_a_debt_still_claimed_is_never_anonymised_however_old():
    open_case = lettered(incident(OrderFactory(buyer_last_name="Zänkerquist")))
    result = privacy.anonymise_closed_cases(older_than_days=0, actor="test",
                                            now=later(5000))
    assert result.cases == []
    assert Order.objects.get(pk=open_case.order_id).buyer_last_name == "Zänkerquist"
    assert DebtCase.objects.get(pk=open_case.pk).anonymised_at is None


def test_a_case_closed_more_recently_than_the_retention_period_stays_as_it_is():
    case = paid_case()
    assert privacy.anonymise_closed_cases(older_than_days=30, actor="test").cases == []
    assert Order.objects.get(pk=case.order_id).buyer_last_name == "Zänkerquist"


def test_a_dry_run_lists_the_cases_and_changes_nothing(capsys):
    case = paid_case()
    call_command("anonymise", "--older-than", "0", "--dry-run")
    out = capsys.readouterr().out
    assert case.order_id in out and "1 Fall würde anonymisiert" in out
    assert Order.objects.get(pk=case.order_id).buyer_last_name == "Zänkerquist"


def test_the_command_refuses_a_negative_period():
    with pytest.raises(CommandError, match="0 oder mehr Tage"):
        call_command("anonymise", "--older-than", "-1")


def test_letter_copies_stay_until_the_end_of_their_sixth_year_and_a_later_run_removes_them():
    recent = paid_case()  # letters of 2025: kept until 31.12.2031
    old = paid_case(letter_year=2018)  # kept until 31.12.2024: due now
    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))
    assert set(Letter.objects.filter(case=old).values_list("body_text", flat=True)) == {""}
    kept = Letter.objects.filter(case=recent)
    assert all("Zänkerquist" in text for text in kept.values_list("body_text", flat=True))
    assert privacy.letter_copy_kept_until(date(2025, 7, 1)) == date(2031, 12, 31)
    privacy.anonymise_closed_cases(older_than_days=0, actor="test",
                                   now=datetime(2032, 1, 2, tzinfo=BERLIN))
    assert set(kept.values_list("body_text", flat=True)) == {""}
    assert all(letter.anonymised_at for letter in kept)


def test_a_buyer_with_another_debt_still_claimed_keeps_the_buyer_record():
    buyer = BuyerFactory(last_name="Zänkerquist")
    paid = paid_case(buyer)
    lettered(incident(OrderFactory(buyer=buyer, buyer_last_name="Zänkerquist")))
    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))
    assert DebtCase.objects.get(pk=paid.pk).anonymised_at is not None
    assert Buyer.objects.get(pk=buyer.pk).last_name == "Zänkerquist"


def test_a_case_reopened_after_it_was_chosen_is_skipped_and_named():
    case = paid_case()
    stale = DebtCase.objects.get(pk=case.pk)
    incident(case.order, open_amount="50.00", at=datetime(2025, 10, 1, 9, 0, tzinfo=BERLIN))
    assert DebtCase.objects.get(pk=case.pk).state == CaseState.OPEN
    skipped: list[str] = []
    done = privacy._mark_anonymised([stale], reason=privacy.Reason("text", {"text": "x"}),
                                    actor="t", now=timezone.now(), closed_only=True,
                                    skipped=skipped)
    assert done == [] and skipped == [case.order_id]
    assert DebtCase.objects.get(pk=case.pk).anonymised_at is None


def test_the_platform_sending_the_same_order_again_does_not_bring_the_data_back():
    case = paid_case()
    record = order_record(case.order, house_number="7a")
    send("orders", record)  # as the platform sent it: the intake keeps its digest
    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))
    send("orders", record)
    assert Order.objects.get(pk=case.order_id).buyer_last_name == ""
    send("orders", {**record, "city": "Bonn"})  # changed data: the platform sent it anew
    order = Order.objects.get(pk=case.order_id)
    assert order.buyer_last_name == "Zänkerquist" and order.anonymised_at is None


def test_the_schedule_anonymises_with_the_retention_period_from_the_settings(settings):
    case = paid_case()
    settings.MAHNWERK_RETENTION_DAYS = 0
    old = AccessRecord.objects.create(at=timezone.now() - timedelta(days=800), actor="x",
                                      kind=AccessKind.CASE, target="O1")
    result = tasks.retention()
    assert result["cases"] == 1 and result["access_records_pruned"] == 1
    assert not AccessRecord.objects.filter(pk=old.pk).exists()
    assert DebtCase.objects.get(pk=case.pk).anonymised_at is not None
    settings.MAHNWERK_RETENTION_DAYS = None
    assert tasks.retention()["cases"] == 0


def test_an_anonymised_case_says_so_on_its_page_and_on_the_command_line(client, capsys):
    case = paid_case(letter_year=2018)
    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))
    login(client, "support", vendor_id=case.vendor_id)
    page = client.get(reverse("web:case", args=[case.order_id])).content.decode()
    assert "data-anonymised" in page and "Anonymisiert" in page
    assert "Zänkerquist" not in page and SECRET not in page
    assert "[anonymisiert]" in page and "&lt;–&gt;" not in page  # not an empty name and e-mail
    assert 'name="address-flag"' not in page  # no address flag to set without an address
    letter = client.get(reverse("web:letter", args=[case.letters.first().pk])).content.decode()
    assert "data-anonymised" in letter and "Lindenweg" not in letter
    call_command("case", case.order_id)
    assert "anonymisiert" in capsys.readouterr().out


# -- The buyer's rights --------------------------------------------------------------------------


def test_erasure_anonymises_closed_debts_and_says_what_it_kept_and_why(capsys):
    buyer = BuyerFactory(last_name="Zänkerquist")
    closed = paid_case(buyer)
    claimed = lettered(incident(OrderFactory(buyer=buyer, buyer_last_name="Zänkerquist")))
    call_command("buyer-erase".replace("-", "_"), buyer.pk, "--reason",
                 "E-Mail der Käuferin vom 28.11.2026")
    out = capsys.readouterr().out
    assert DebtCase.objects.get(pk=closed.pk).anonymised_at is not None
    assert Order.objects.get(pk=closed.order_id).buyer_last_name == ""
    assert Order.objects.get(pk=claimed.order_id).buyer_last_name == "Zänkerquist"
    assert Buyer.objects.get(pk=buyer.pk).last_name == "Zänkerquist"  # the claim needs it
    assert f"{claimed.order_id} (Mahnung läuft)" in out or claimed.order_id in out
    assert "Art. 17 Abs. 3 lit. e DSGVO" in out
    assert "§ 147 AO" in out and "§ 257 HGB" in out
    assert "bis 31.12.2031" in out  # the letter copies of 2025
    event = CaseEvent.objects.filter(case=closed).last()
    assert "E-Mail der Käuferin vom 28.11.2026" in event.reason
    assert AccessRecord.objects.filter(kind=AccessKind.BUYER, target=buyer.pk).exists()


def test_erasure_of_a_buyer_without_open_debts_anonymises_the_buyer_too():
    buyer = BuyerFactory(last_name="Zänkerquist")
    paid_case(buyer)
    result = privacy.erase_buyer(buyer_id=buyer.pk, reason="Anfrage", actor="t")
    assert result.buyer_anonymised
    assert Buyer.objects.get(pk=buyer.pk).last_name == ""


def test_erasure_needs_a_reason_and_a_known_buyer():
    with pytest.raises(CommandError, match="--reason"):
        call_command("buyer_erase", "B-NIEMAND", "--reason", " ")
    with pytest.raises(CommandError, match="B-NIEMAND"):
        call_command("buyer_erase", "B-NIEMAND", "--reason", "Anfrage")


def test_the_buyer_export_holds_everything_about_the_buyer_but_no_internal_note(tmp_path):
    vendor = VendorFactory(vendor_id="V-EXP", name="Export Akademie")
    case = paid_case(vendor=vendor)
    buyer_id = case.order.buyer_id
    other = paid_case(vendor=vendor)  # another buyer: not in this export
    out = tmp_path / "auskunft.json"
    call_command("buyer_export", buyer_id, "--out", str(out))
    text = out.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["buyer_id"] == buyer_id
    [order] = data["orders"]
    assert order["buyer_last_name"] == "Zänkerquist" and order["vendor"] == "Export Akademie"
    assert order["incidents"] and order["payments"]
    assert order["case"]["state"] == "paid" and len(order["case"]["letters"]) == 2
    assert order["case"]["notes_shared"][0]["text"] == "Käuferin zahlt in Raten"
    assert order["case"]["timeline"]
    assert {"who": "Export Akademie", "as": "vendor"} in data["recipients"]
    assert SECRET not in text and other.order_id not in text
    assert AccessRecord.objects.filter(kind=AccessKind.BUYER, target=buyer_id).exists()


def test_the_buyer_export_can_find_the_buyer_by_an_order_and_names_the_exports(client, capsys):
    case = paid_case()
    case_services.change_case(case=case, actor="t", reason="x", to_state=CaseState.OPEN,
                              changes={"open_amount": case.open_amount})
    AccessRecord.objects.create(at=timezone.now(), actor="anna", kind=AccessKind.EXPORT,
                                target="inkasso.xlsx", order_ids=[case.order_id, "O-OTHER"])
    call_command("buyer_export", "--order", case.order_id)
    data = json.loads(capsys.readouterr().out)
    assert data["exports"][0]["target"] == "inkasso.xlsx"
    assert data["exports"][0]["orders"] == [case.order_id]


# -- The access log ----------------------------------------------------------------------------


def test_every_case_page_letter_and_export_is_logged_with_who_and_what(client):
    vendor = VendorFactory(vendor_id="V-LOG")
    case = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor))))
    case_services.change_case(case=case, actor="t", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    login(client, "support", vendor_id="V-LOG")
    client.get(reverse("web:case", args=[case.order_id]))
    letter = Letter.objects.filter(case=case).first()
    client.get(reverse("web:letter", args=[letter.pk]))
    client.get(reverse("web:approvals-xlsx"))
    client.get(reverse("web:collection-xlsx"))
    records = list(AccessRecord.objects.order_by("at", "pk"))
    assert [(r.actor, r.kind, r.target) for r in records] == [
        ("support", "case", case.order_id), ("support", "letter", case.order_id),
        ("support", "export", "freigaben.xlsx"), ("support", "export", "inkasso.xlsx")]
    assert records[2].order_ids == [case.order_id]
    login(client, "vendor", vendor_id="V-LOG")
    client.get(reverse("web:portal-case", args=[case.order_id]))
    last = AccessRecord.objects.order_by("pk").last()
    assert (last.actor, last.kind) == ("vendor", "portal_case")


def test_handover_files_and_list_exports_of_the_command_line_are_logged(tmp_path):
    vendor = VendorFactory(vendor_id="V-CLI")
    case = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor))))
    call_command("export_lists", "--out", str(tmp_path))
    call_command("export_handover", "--vendor", "V-CLI", "--out", str(tmp_path))
    vias = list(AccessRecord.objects.order_by("pk").values_list("via", "order_ids"))
    assert ("export-handover", [case.order_id]) in vias
    assert [via for via, _ids in vias].count("export-lists") == 2


def test_only_administrators_read_the_access_log(client):
    login(client, "admin", vendor_id=VendorFactory().pk)
    AccessRecord.objects.create(at=timezone.now(), actor="anna", kind=AccessKind.CASE,
                                target="O-42", order_ids=["O-42"])
    url = reverse("admin:cases_accessrecord_changelist")
    page = client.get(url)
    assert page.status_code == 200 and "O-42" in page.content.decode()
    assert client.post(reverse("admin:cases_accessrecord_delete",
                               args=[AccessRecord.objects.get().pk]),
                       {"post": "yes"}).status_code == 403
    for name in ("support", "manager"):
        login(client, name)
        assert client.get(url).status_code in (302, 403)


# -- What leaves for the agency ------------------------------------------------------------------


def approved(vendor) -> DebtCase:
    case = lettered(incident(OrderFactory(product=ProductFactory(vendor=vendor),
                                          buyer_last_name="Zänkerquist")))
    case_services.add_note(case=case, text=f"{SECRET}: nicht weitergeben", actor="anna")
    case_services.add_note(case=case, text="Käuferin bittet um Ratenzahlung", actor="anna",
                           shared=True)
    case_services.change_case(case=case, actor="t", reason="eskaliert",
                              to_state=CaseState.ON_HOLD)
    case_services.change_case(case=case, actor="v", reason="Freigabe",
                              to_state=CaseState.APPROVED)
    return case


def test_each_handover_records_which_fields_left_and_on_what_ground():
    assert set(FIELD_GROUNDS) == set(HEADER)
    approved(VendorFactory(vendor_id="V-MIN"))
    handover = collection_services.export_handover(vendor_id="V-MIN", actor="t").handover
    assert [column for column, _ground in handover.fields] == list(HEADER)
    assert dict(handover.fields)["support_comment"] == "shared_note"
    content = bytes(handover.content).decode()
    assert "Zänkerquist" not in content  # the agency gets no name, e-mail or address


def test_an_internal_note_never_leaves_by_any_export(client, tmp_path):
    vendor = VendorFactory(vendor_id="V-SECRET")
    case = approved(vendor)
    login(client, "support", vendor_id="V-SECRET")
    found: dict[str, bool] = {}
    for name in ("web:approvals-xlsx", "web:collection-xlsx"):
        book = load_workbook(io.BytesIO(client.get(reverse(name)).content))
        cells = [str(c.value) for ws in book for row in ws.iter_rows() for c in row]
        found[name] = any(SECRET in cell for cell in cells)
    call_command("export_lists", "--out", str(tmp_path))
    for path in tmp_path.glob("*.xlsx"):
        book = load_workbook(path)
        found[path.name] = any(SECRET in str(c.value) for ws in book
                               for row in ws.iter_rows() for c in row)
    client.post(reverse("web:handover-export"), {"vendor": "V-SECRET"})
    handover = case.handover_items.get().handover
    found["handover file"] = SECRET.encode() in client.get(
        reverse("web:handover-file", args=[handover.pk])).content
    data = privacy.buyer_export_json(buyer_id=case.order.buyer_id, actor="t")
    found["buyer export"] = SECRET in data
    login(client, "vendor")
    found["portal case"] = SECRET in client.get(
        reverse("web:portal-case", args=[case.order_id])).content.decode()
    assert not any(found.values()), found
    assert "Käuferin bittet um Ratenzahlung" in bytes(handover.content).decode()


def test_anonymising_takes_the_shared_note_out_of_the_stored_handover_file():
    vendor = VendorFactory(vendor_id="V-RED")
    case = approved(vendor)
    handover = collection_services.export_handover(vendor_id="V-RED", actor="t").handover
    sha = handover.sha256
    payment(case.order, amount=str(case.open_amount),
            at=datetime(2025, 9, 1, 9, 0, tzinfo=BERLIN))
    privacy.erase_buyer(buyer_id=case.order.buyer_id, reason="Anfrage", actor="t")
    handover.refresh_from_db()
    rows = list(csv.DictReader(io.StringIO(bytes(handover.content).decode())))
    assert rows[0]["support_comment"] == "" and rows[0]["order_id"] == case.order_id
    assert handover.redacted_at is not None and handover.sha256 == sha
    assert hashlib.sha256(bytes(handover.content)).hexdigest() != sha


# -- Bank transfers (issue 11, point 3): the remitter's name, IBAN and text are personal data ---


def bank_paid_case(order_id="O42-000777") -> DebtCase:
    """A buyer pays a debt by bank transfer; the statement line keeps who sent it and the text."""
    from tests.test_bank_statements import entry, statement

    case = incident(OrderFactory(order_id=order_id, first_invoice_number="RE-2026-000777",
                                 buyer_last_name="Zänkerquist"), open_amount="120.00")
    statement_xml = statement(entry("150.00", f"{order_id} RE-2026-000777 Zänkerquist Köln",
                                    name="Zoë Zänkerquist", ref="B77")).replace(
        b"</Dbtr>", b"</Dbtr><DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>",
        1)
    bank_services.import_statement(data=statement_xml, name="auszug.xml", actor="anna")
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    line = StatementLine.objects.get(case=case)
    assert (line.remitter_name, line.remitter_iban) == ("Zoë Zänkerquist",
                                                        "DE89370400440532013000")
    bank_services.mark_refunded(line=line, note="an Frau Zänkerquist überwiesen", actor="anna")
    return case


def test_an_anonymised_case_keeps_its_bank_transfer_without_name_iban_or_text():
    case = bank_paid_case()

    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))

    line = StatementLine.objects.get(case=case)
    assert (line.remitter_name, line.remitter_iban, line.remittance_text, line.note) == \
        ("", "", "", "")
    assert "Zänkerquist" not in json.dumps(line.reason_params, ensure_ascii=False)
    assert (line.amount, line.applied, line.surplus) == (Decimal("150.00"), Decimal("120.00"),
                                                         Decimal("30.00"))
    assert (line.booking_date, line.state, line.refunded_at is not None) == \
        (date(2026, 11, 3), "matched", True)


def test_a_credit_only_suggested_for_a_case_later_anonymised_loses_the_buyers_name():
    from tests.test_bank_statements import entry, statement

    case = incident(OrderFactory(buyer_first_name="Zoë", buyer_last_name="Zänkerquist"),
                    open_amount="120.00")
    bank_services.import_statement(
        data=statement(entry("120.00", "Danke", name="Z. Zänkerquist", ref="B78")),
        name="auszug.xml", actor="anna")
    suggested = StatementLine.objects.get(entry_key="B78")
    assert (suggested.state, suggested.suggested_case) == ("unmatched", case)
    assert "Zoë Zänkerquist" in suggested.reason
    payment(case.order, amount="120.00", at=datetime(2026, 11, 5, 9, 0, tzinfo=BERLIN))

    privacy.anonymise_closed_cases(older_than_days=0, actor="test", now=later(1))

    suggested.refresh_from_db()
    assert "Zänkerquist" not in suggested.reason
    # Not confirmed, so not known to be the buyer's: support still needs it to decide.
    assert suggested.remitter_name == "Z. Zänkerquist"


def test_erasing_a_buyer_erases_the_remitter_of_their_bank_transfers():
    case = bank_paid_case()

    privacy.erase_buyer(buyer_id=case.order.buyer_id, reason="Anfrage per E-Mail", actor="t")

    line = StatementLine.objects.get(case=case)
    assert (line.remitter_name, line.remitter_iban, line.remittance_text) == ("", "", "")
    assert (line.amount, line.case, line.state) == (Decimal("150.00"), case, "matched")


def test_the_buyers_export_lists_their_bank_transfers_with_remitter_iban_and_text():
    case = bank_paid_case()

    data = privacy.buyer_data(buyer_id=case.order.buyer_id, actor="t")

    transfers = data["orders"][0]["case"]["bank_transfers"]
    assert transfers == [{
        "statement": "2026-11-03-1", "booking": "B77", "booking_date": "2026-11-03",
        "value_date": "2026-11-03", "amount": {"amount": "150.00", "currency": "EUR"},
        "applied": {"amount": "120.00", "currency": "EUR"},
        "to_refund": {"amount": "30.00", "currency": "EUR"},
        "refunded_at": transfers[0]["refunded_at"], "state": "matched",
        "remitter": "Zoë Zänkerquist", "remitter_iban": "DE89370400440532013000",
        "text": "O42-000777 RE-2026-000777 Zänkerquist Köln"}]
    assert transfers[0]["refunded_at"] is not None
    assert "DE89370400440532013000" in privacy.buyer_export_json(
        buyer_id=case.order.buyer_id, actor="t")


def test_a_credit_that_never_found_its_case_loses_the_remitters_data_after_the_retention_time():
    """A transfer nobody could place (unmatched or ignored, no case) keeps its amount and dates;
    its remitter's name, IBAN and text go with the retention time, counted from the booking."""
    from tests.test_bank_statements import entry, statement

    bank_services.import_statement(
        data=statement(entry("42.00", "Spende", name="Hanna Fremd", ref="OLD")),
        name="alt.xml", actor="anna")
    old = StatementLine.objects.get()
    assert (old.case, old.remitter_name) == (None, "Hanna Fremd")
    booked = old.booking_date

    assert privacy.anonymise_unplaced_statement_lines(
        older_than_days=1095, today=booked + timedelta(days=1095)) == 0, "not yet"
    assert privacy.anonymise_unplaced_statement_lines(
        older_than_days=1095, today=booked + timedelta(days=1096)) == 1
    old.refresh_from_db()
    assert (old.remitter_name, old.remitter_iban, old.remittance_text) == ("", "", "")
    assert (old.amount, old.booking_date, old.state) == (Decimal("42.00"), booked, "unmatched")


def test_the_daily_retention_also_clears_old_unplaced_credits(settings):
    from tests.test_bank_statements import entry, statement

    bank_services.import_statement(
        data=statement(entry("42.00", "Spende", name="Hanna Fremd", ref="OLD")),
        name="alt.xml", actor="anna")
    line = StatementLine.objects.get()
    settings.MAHNWERK_RETENTION_DAYS = (timezone.localdate() - line.booking_date).days - 1
    assert tasks.retention()["statement_lines"] == 1
    assert StatementLine.objects.get().remitter_name == ""


def test_the_anonymise_command_clears_old_unplaced_credits_too():
    from io import StringIO

    from tests.test_bank_statements import entry, statement

    bank_services.import_statement(
        data=statement(entry("42.00", "Spende", name="Hanna Fremd", ref="OLD")),
        name="alt.xml", actor="anna")
    out = StringIO()
    call_command("anonymise", "--older-than", "1", stdout=out, stderr=StringIO())
    assert "1 Überweisung ohne Fall hat die Angaben zum Zahler verloren." in out.getvalue()
    assert StatementLine.objects.get().remitter_name == ""
