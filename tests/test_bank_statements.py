"""Bank statements matched to cases (issue 11, point 3).

A buyer with a paper letter pays by bank transfer, quoting the reference printed on it (order id
and invoice number). The bank's statement (camt.053) is read; each credit finds its case by the
reference, as printed or spelt otherwise; the case is paid as by any other payment; what cannot
be matched waits for support.
"""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mahnwerk.banking import selectors, services
from mahnwerk.banking.camt import StatementError
from mahnwerk.banking.models import BankStatement, StatementLine
from mahnwerk.cases import references
from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.dunning import outbox
from mahnwerk.dunning.models import Letter
from mahnwerk.intake.models import Payment
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import OrderFactory
from tests.helpers import incident

pytestmark = pytest.mark.django_db
ASSETS = Path(__file__).parent / "assets"
IBAN = "DE02120300000000202051"


def entry(amount, text="", *, credit=True, currency="EUR", ref=None, name="Erika Mustermann",
          status="BOOK", version="08"):
    """One booking as the bank writes it (the .08 shape unless told)."""
    status_xml = f"<Sts><Cd>{status}</Cd></Sts>" if version >= "06" else f"<Sts>{status}</Sts>"
    debtor = (f"<Dbtr><Pty><Nm>{escape(name)}</Nm></Pty></Dbtr>" if version >= "06"
              else f"<Dbtr><Nm>{escape(name)}</Nm></Dbtr>")
    return (f"<Ntry><Amt Ccy=\"{currency}\">{amount}</Amt>"
            f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>{status_xml}"
            f"<BookgDt><Dt>2026-11-03</Dt></BookgDt><ValDt><Dt>2026-11-03</Dt></ValDt>"
            + (f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else "")
            + f"<NtryDtls><TxDtls><RltdPties>{debtor}</RltdPties>"
            f"<RmtInf><Ustrd>{escape(text)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")


def statement(*entries, statement_id="2026-11-03-1", version="08", account=IBAN) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">'
            f"<BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId></GrpHdr><Stmt><Id>{statement_id}</Id>"
            f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>").encode()


def case_of(order_id, invoice, *, open_amount="300.00", last_name="Mustermann", currency="EUR"):
    return incident(OrderFactory(order_id=order_id, first_invoice_number=invoice,
                                 buyer_last_name=last_name, currency=currency),
                    open_amount=open_amount)


def read(data, *, name="auszug.xml", dry_run=False):
    return services.import_statement(data=data, name=name, actor="anna", dry_run=dry_run)


def line(n=1) -> StatementLine:
    return StatementLine.objects.get(position=n)


@pytest.fixture
def buyer_case():
    return case_of("O42-000116", "RE-2026-000116")


# -- The reference --------------------------------------------------------------------------------


def test_a_transfer_quoting_order_and_invoice_pays_the_case_and_cancels_the_queued_letter(
        buyer_case):
    letter = Letter.objects.create(
        case=buyer_case, level=1, letter_date=date(2026, 10, 20), deadline=date(2026, 11, 3),
        language="de", principal=Decimal("300.00"), currency="EUR", offer_link="https://x/o",
        subject="Zahlungserinnerung", body_html="<p>x</p>", body_text="x")
    queued = outbox.enqueue(letter=letter)

    report = read(statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1")))

    assert report.counts == {"matched": 1} and report.paid_in_full == 1
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid" and buyer_case.open_amount == Decimal("0.00")
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    event = buyer_case.events.order_by("pk").last()
    assert event.kind == "payment" and event.actor == "anna"
    assert event.reason == ("Per Überweisung vollständig bezahlt (300,00\u00a0€ seit dem Vorfall; "
                            "Kontoauszug 2026-11-03-1, Buchung B1).")
    booked = line()
    assert (booked.state, booked.method, booked.case) == ("matched", "exact", buyer_case)
    assert booked.payment == Payment.objects.get(order_id="O42-000116")
    assert booked.payment.amount == Decimal("300.00")


@pytest.mark.parametrize("text", [
    "o42-000116",  # lower case
    "O42 000 116",  # spaces where the app broke it
    "O42000116",  # dashes lost
    "Rechnung RE 2026 000116",  # the invoice number alone
    "O42-00116 danke",  # one digit left out
    "O42-0001166",  # one digit typed twice
    "O42-000161",  # two digits swapped
])
def test_a_reference_spelt_otherwise_still_finds_its_case(buyer_case, text):
    case_of("O42-000999", "RE-2026-000999")  # another case nearby
    read(statement(entry("100.00", text, ref="B1")))
    assert (line().state, line().case) == ("matched", buyer_case)
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("200.00") and buyer_case.state == "open"
    assert "Überweisung eingegangen (Kontoauszug 2026-11-03-1, Buchung B1)" in \
        buyer_case.events.order_by("pk").last().reason


def test_how_a_reference_was_found_is_kept(buyer_case):
    read(statement(entry("1.00", "O42-000116", ref="B1"), entry("1.00", "o42 000116", ref="B2"),
                   entry("1.00", "RE-2026-000116", ref="B3"), entry("1.00", "O42-00116",
                                                                     ref="B4")))
    assert [line(n).method for n in (1, 2, 3, 4)] == ["exact", "tolerant", "invoice", "typo"]


def test_a_reference_matching_two_cases_is_left_for_support_with_both_named(buyer_case):
    case_of("O42-000117", "RE-2026-000117")
    report = read(statement(entry("300.00", "O42-000116 RE-2026-000117", ref="B1")))
    assert report.counts == {"unmatched": 1}
    assert line().candidates == ["O42-000116", "O42-000117"]
    assert line().reason == ("Die Referenz passt zu mehr als einem Fall: O42-000116, "
                             "O42-000117.")
    assert Payment.objects.count() == 0


def test_an_order_id_typed_into_another_real_one_is_settled_by_the_invoice_number(buyer_case):
    case_of("O42-000161", "RE-2026-000999")  # the typo "161" is a real order, of another case
    read(statement(entry("300.00", "O42-000161 RE-2026-000116", ref="B1")))
    assert (line().state, line().method, line().case) == ("matched", "typo", buyer_case)


def test_an_order_id_alone_naming_another_buyers_case_is_left_for_support_to_confirm(buyer_case):
    """Order ids are numbered densely: "O42-000161" typed for "O42-000116" is another real
    order. Quoted without the invoice number, neither the amount nor the remitter fit that
    case, so nothing is booked to it; support sees it suggested and decides."""
    other = case_of("O42-000161", "RE-2026-000999", open_amount="89.00", last_name="Beispiel")
    read(statement(entry("300.00", "O42-000161", name="Erika Mustermann", ref="B1")))
    listed = line()
    assert (listed.state, listed.suggested_case, listed.case) == ("unmatched", other, None)
    assert "weder Betrag noch Zahler" in listed.reason
    assert Payment.objects.count() == 0


def test_an_order_id_alone_is_booked_when_the_amount_or_the_remitter_fits(buyer_case):
    read(statement(entry("120.00", "O42-000116", name="Max Mustermann", ref="B1"),
                   entry("300.00", "Bestellung O42-000116", name="Kontoinhaber Weber",
                         ref="B2")))
    assert [(line(n).state, line(n).case) for n in (1, 2)] == [("matched", buyer_case)] * 2


def test_a_typo_that_fits_two_cases_is_left_for_support(buyer_case):
    case_of("O42-000117", "RE-2026-000117")
    read(statement(entry("300.00", "O42-00011", ref="B1")))  # one digit short of both
    assert line().state == "unmatched"
    assert line().candidates == ["O42-000116", "O42-000117"]


# -- Amounts and currencies -----------------------------------------------------------------------


def test_a_credit_larger_than_the_open_amount_is_applied_and_the_surplus_listed_for_refund(
        buyer_case):
    read(statement(entry("350.00", "O42-000116", ref="B1")))
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid"
    booked = line()
    assert (booked.applied, booked.surplus) == (Decimal("300.00"), Decimal("50.00"))
    assert booked.payment.amount == Decimal("300.00")
    assert booked.reason == ("50,00\u00a0€ mehr als bei Fall O42-000116 offen war "
                             "(300,00\u00a0€): zur Rückzahlung vorgemerkt.")
    assert list(selectors.refunds()) == [booked]

    services.mark_refunded(line=booked, note="zurücküberwiesen", actor="anna")
    assert list(selectors.refunds()) == []


def test_two_credits_for_one_case_in_one_statement_apply_no_more_than_is_open(buyer_case):
    read(statement(entry("200.00", "O42-000116", ref="B1"), entry("200.00", "O42-000116",
                                                                    ref="B2")))
    assert (line(1).applied, line(1).surplus) == (Decimal("200.00"), Decimal("0.00"))
    assert (line(2).applied, line(2).surplus) == (Decimal("100.00"), Decimal("100.00"))
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid"


def test_a_credit_in_another_currency_is_listed_and_never_applied(buyer_case):
    report = read(statement(entry("300.00", "O42-000116", currency="USD", ref="B1")))
    assert report.counts == {"unmatched": 1}
    assert line().reason == ("Eine Gutschrift in USD; Fall O42-000116 wird in EUR geführt: wird "
                             "nie verbucht.")
    with pytest.raises(services.BankError, match="USD"):
        services.assign_line(line=line(), order_id="O42-000116", actor="anna")
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("300.00") and Payment.objects.count() == 0


def test_a_debit_line_is_listed_with_its_reason_and_never_applied(buyer_case):
    report = read(statement(entry("300.00", "O42-000116", credit=False, ref="B1")))
    assert report.counts == {"ignored": 1}
    assert line().reason == ("Eine Lastschrift (abgehendes Geld), keine Zahlung eines Käufers: "
                             "wird nie verbucht.")
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("300.00")


def test_a_booking_not_yet_booked_is_not_applied(buyer_case):
    read(statement(entry("300.00", "O42-000116", status="PDNG", ref="B1")))
    assert line().state == "ignored"
    assert Payment.objects.count() == 0


# -- What support decides -------------------------------------------------------------------------


def test_a_credit_without_reference_is_suggested_by_amount_and_name_and_support_confirms(
        buyer_case):
    case_of("O42-000117", "RE-2026-000117", open_amount="120.00", last_name="Beispiel")
    read(statement(entry("300.00", "Danke für die Geduld", name="ERIKA MUSTERMANN", ref="B1")))
    suggested = line()
    assert (suggested.state, suggested.suggested_case) == ("unmatched", buyer_case)
    assert "Betrag und Zahler passen zu Fall O42-000116" in suggested.reason
    assert Payment.objects.count() == 0  # a suggestion books nothing

    services.assign_line(line=suggested, order_id="O42-000116", actor="anna",
                         note="Name und Betrag passen")
    suggested.refresh_from_db()
    assert (suggested.state, suggested.method, suggested.case) == ("matched", "support",
                                                                    buyer_case)
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid"


def test_an_unmatched_credit_is_ignored_with_a_reason(buyer_case):
    read(statement(entry("12.00", "Spende", name="Unbekannt", ref="B1")))
    assert line().reason == "Keine Bestellnummer oder Rechnungsnummer im Text gefunden."
    with pytest.raises(services.BankError):
        services.ignore_line(line=line(), note=" ", actor="anna")
    services.ignore_line(line=line(), note="an den Absender zurück", actor="anna")
    assert (line().state, line().reason) == ("ignored",
                                             "Von Support übergangen: an den Absender zurück")
    with pytest.raises(services.BankError):
        services.assign_line(line=line(), order_id="O42-000116", actor="anna")


# -- The file -------------------------------------------------------------------------------------


def test_the_sparkasse_fixture_is_read_whole(buyer_case):
    case_of("O42-000117", "RE-2026-000117", open_amount="120.00", last_name="Beispiel")
    case_of("O42-000118", "RE-2026-000118", open_amount="100.00", last_name="Muster")
    report = read((ASSETS / "camt053_sparkasse.xml").read_bytes(), name="camt053_sparkasse.xml")
    assert report.version == "camt.053.001.02" and report.account == IBAN
    states = {n: (line(n).state, line(n).case.order_id if line(n).case else "")
              for n in range(1, 6)}
    assert states == {1: ("matched", "O42-000116"), 2: ("matched", "O42-000117"),
                      3: ("matched", "O42-000118"), 4: ("unmatched", ""), 5: ("ignored", "")}
    assert line(2).method == "tolerant"  # "o42 00011 7"
    assert line(3).entry_key == "2026110300003/1"  # a batch booking: a line per transfer
    assert DebtCase.objects.filter(state="paid").count() == 3


@pytest.mark.parametrize("data, message", [
    (b"", "auszug.xml: Die Datei ist leer"),
    (b":20:STARTUMS\n:25:12030000/0000202051\n:28C:00311\n", "MT940"),
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.03'/>", "pain.001"),
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.054.001.08'/>", "camt.054"),
    (statement(entry("1.00", "x"))[:-30], r"auszug.xml:1:\d+: "),
    (b"<?xml version='1.0'?>\n<!DOCTYPE d [<!ENTITY a 'aaaa'>]>\n<d>&a;</d>", "DTD"),
])
def test_a_file_in_another_format_or_broken_is_refused_with_its_place_and_nothing_applied(
        buyer_case, data, message):
    with pytest.raises(StatementError, match=message) as refused:
        read(data)
    assert "Nichts wurde verbucht" in str(refused.value)
    assert BankStatement.objects.count() == 0 and StatementLine.objects.count() == 0


def test_a_booking_without_an_amount_is_refused_by_its_place_and_the_good_ones_are_not_booked(
        buyer_case):
    broken = entry("300.00", "O42-000116", ref="B1").replace('<Amt Ccy="EUR">300.00</Amt>', "")
    with pytest.raises(StatementError, match="Kontoauszug 1, Buchung 2"):
        read(statement(entry("300.00", "O42-000116", ref="B0"), broken))
    assert Payment.objects.count() == 0 and StatementLine.objects.count() == 0


def test_importing_the_same_statement_twice_changes_nothing(buyer_case):
    data = statement(entry("100.00", "O42-000116", ref="B1"))
    read(data)
    events = CaseEvent.objects.count()
    again = read(data)
    assert again.already_imported
    # The same statement sent again in another file (other bytes, same statement id):
    assert read(data.replace(b"<GrpHdr><MsgId>M1", b"<GrpHdr><MsgId>M2"),
                name="noch-einmal.xml").already_imported
    assert (StatementLine.objects.count(), CaseEvent.objects.count()) == (1, events)
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("200.00")


def test_an_import_that_fails_while_booking_writes_nothing_and_hands_its_memory_back(
        buyer_case, monkeypatch):
    """The import keeps its large index out of the garbage collector's sight while it books
    (bulk.long_lived_heap); a failure must not leave the process's heap frozen."""
    import gc

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "_book", broken)
    with pytest.raises(RuntimeError):
        read(statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1")))
    assert gc.get_freeze_count() == 0
    assert BankStatement.objects.count() == 0 and StatementLine.objects.count() == 0
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("300.00")


def _as_if_the_other_import_had_not_committed_yet(monkeypatch):
    """The moment of the race: this import looks for an earlier one before the other import,
    reading the same file, has committed, so it finds none and goes on to write."""
    monkeypatch.setattr(services, "_earlier", lambda **kwargs: None)


def test_the_same_statement_read_twice_at_the_same_moment_books_once_and_says_so(
        buyer_case, monkeypatch):
    data = statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1"),
                     entry("12.00", "Spende", name="Unbekannt", ref="B2"))
    read(data)
    before = (Payment.objects.count(), StatementLine.objects.count(), CaseEvent.objects.count())
    _as_if_the_other_import_had_not_committed_yet(monkeypatch)

    with pytest.raises(services.StatementBusy,
                       match="wird gerade eingelesen oder wurde bereits eingelesen"):
        read(data, name="auszug-nochmal.xml")

    assert (Payment.objects.count(), StatementLine.objects.count(),
            CaseEvent.objects.count()) == before
    assert BankStatement.objects.count() == 1


def test_a_statement_overlapping_one_being_read_at_the_same_moment_books_nothing_twice(
        buyer_case, monkeypatch):
    read(statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1")))
    monkeypatch.setattr(services, "_known_keys", lambda entries: {})  # the race, as above

    with pytest.raises(services.StatementBusy):
        read(statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1"),
                       statement_id="2026-11-04-1"), name="auszug2.xml")

    assert Payment.objects.count() == 1 and BankStatement.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_people_reading_the_same_file_at_once_get_one_import_and_a_clear_message():
    import threading
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's test database lives in memory and has one writer; the race is "
                    "run on PostgreSQL")
    case_of("O42-000116", "RE-2026-000116")
    data = statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1"))
    first_wrote = threading.Event()
    failures: list[BaseException] = []

    def first_reader() -> None:
        try:
            with transaction.atomic():  # read, but not yet committed while the second looks
                read(data)
                first_wrote.set()
                time.sleep(1.5)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            first_wrote.set()
        finally:
            connection.close()

    other = threading.Thread(target=first_reader)
    other.start()
    assert first_wrote.wait(60)
    with pytest.raises(services.StatementBusy,
                       match="wird gerade eingelesen oder wurde bereits eingelesen"):
        read(data, name="auszug-kollegin.xml")
    other.join(60)

    assert failures == []
    assert BankStatement.objects.count() == 1 and Payment.objects.count() == 1
    assert DebtCase.objects.get(order_id="O42-000116").state == "paid"


def test_a_booking_read_before_in_another_statement_is_kept_as_duplicate(buyer_case):
    read(statement(entry("100.00", "O42-000116", ref="B1"), statement_id="S1"), name="a.xml")
    read(statement(entry("100.00", "O42-000116", ref="B1"), entry("50.00", "O42-000116",
                                                                    ref="B2"),
                   statement_id="S2"), name="b.xml")
    states = list(StatementLine.objects.order_by("pk").values_list("state", "entry_key"))
    assert states == [("matched", "B1"), ("duplicate", "B1"), ("matched", "B2")]
    assert StatementLine.objects.get(state="duplicate").reason == \
        "Schon verbucht: dieselbe Bankreferenz in a.xml."
    buyer_case.refresh_from_db()
    assert buyer_case.open_amount == Decimal("150.00")


def test_a_dry_run_reports_what_would_happen_and_books_nothing(buyer_case):
    report = read(statement(entry("300.00", "O42-000116", ref="B1")), dry_run=True)
    assert report.counts == {"matched": 1} and report.paid_in_full == 1
    assert services.summary(report).startswith("Probelauf, nichts wurde verbucht")
    buyer_case.refresh_from_db()
    assert buyer_case.state == "open"
    assert BankStatement.objects.count() == 0 and Payment.objects.count() == 0


def test_the_version_02_shape_is_read_as_well(buyer_case):
    read(statement(entry("300.00", "O42-000116", version="02", name="E. Mustermann"),
                   version="02"))
    assert (line().state, line().remitter_name) == ("matched", "E. Mustermann")
    assert line().entry_key.startswith("sha:")  # no bank reference: the content stands for it


# -- The command line -----------------------------------------------------------------------------


def test_the_command_reads_a_file_and_sums_it_up(buyer_case, tmp_path):
    path = tmp_path / "auszug.xml"
    path.write_bytes(statement(entry("350.00", "O42-000116", ref="B1"),
                               entry("10.00", "Spende", name="Unbekannt", ref="B2")))
    out = StringIO()
    call_command("import_bank_statement", str(path), "--dry-run", stdout=out)
    assert "Probelauf" in out.getvalue() and Payment.objects.count() == 0
    out = StringIO()
    call_command("import_bank_statement", str(path), stdout=out)
    text = out.getvalue()
    assert "auszug.xml#2: 10.00 EUR nicht zugeordnet: Keine Bestellnummer" in text
    assert ("zugeordnet: 1 (vollständig bezahlte Fälle: 1, verbucht: 300,00\u00a0€); für "
            "Support: 1;") in text
    assert "zurückzuzahlen: 50,00\u00a0€." in text
    out = StringIO()
    call_command("import_bank_statement", str(path), stdout=out)
    assert "bereits" in out.getvalue()
    path.write_bytes(b"<Document>")
    with pytest.raises(CommandError, match=r"auszug\.xml:1:"):
        call_command("import_bank_statement", str(path))


# -- A property -----------------------------------------------------------------------------------

TEXTS = st.sampled_from(["O42-000116", "o42 000116", "RE-2026-000117", "O42-000116 RE-2026-000117",
                         "O42-00011", "Danke", "", "O42-000118 & <x>"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.decimals(min_value="0.01", max_value="500", places=2), TEXTS,
                          st.booleans(), st.sampled_from(["EUR", "EUR", "USD"]),
                          st.sampled_from(["B1", "B2", "B3", None])), max_size=6))
def test_importing_any_statement_twice_changes_nothing(bookings):
    if not DebtCase.objects.exists():  # the examples share the test's database
        case_of("O42-000116", "RE-2026-000116")
        case_of("O42-000117", "RE-2026-000117", open_amount="50.00")
    data = statement(*[entry(str(amount), text, credit=credit, currency=currency, ref=ref)
                       for amount, text, credit, currency, ref in bookings],
                     statement_id=f"S-{len(bookings)}-{hash(str(bookings))}")
    with contextlib.suppress(StatementError):
        read(data)

    def state():
        return (list(DebtCase.objects.order_by("pk").values_list("state", "open_amount")),
                CaseEvent.objects.count(), Payment.objects.count(),
                StatementLine.objects.count(), BankStatement.objects.count())

    before = state()
    with contextlib.suppress(StatementError):
        read(data)
    assert state() == before


# -- The page (Bankauszüge) -----------------------------------------------------------------------


@pytest.fixture
def support(client, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_demo_users(vendor_id=None)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def upload(client, data, button, name="auszug.xml"):
    return client.post(reverse("web:bank"), {"file": SimpleUploadedFile(name, data), button: "1"},
                       follow=True)


def test_support_checks_a_statement_on_the_page_then_reads_it_and_decides_the_rest(
        support, buyer_case):
    data = statement(entry("350.00", "O42-000116 RE-2026-000116", ref="B1"),
                     entry("12.00", "Spende", name="Unbekannt", ref="B2"))
    checked = upload(support, data, "check")
    page = checked.content.decode()
    assert "Prüfung: was der Auszug bewirken würde" in page
    assert "Probelauf, nichts wurde verbucht" in page and Payment.objects.count() == 0

    read_page = upload(support, data, "read").content.decode()
    assert "zugeordnet: 1" in read_page
    assert "1 Gutschrift wartet auf Support" in read_page
    assert "1 Überschuss zurückzuzahlen" in read_page
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid"

    again = upload(support, data, "read").content.decode()
    assert "wurde bereits eingelesen" in again

    open_line = StatementLine.objects.get(state="unmatched")
    support.post(reverse("web:bank-line-ignore", args=[open_line.pk]),
                 {"reason": "an den Absender zurück"})
    open_line.refresh_from_db()
    assert (open_line.state, open_line.decided_by) == ("ignored", "support")
    surplus = StatementLine.objects.get(surplus__gt=0)
    support.post(reverse("web:bank-line-refunded", args=[surplus.pk]), {"reason": "erledigt"})
    surplus.refresh_from_db()
    assert surplus.refunded_at is not None
    final = support.get(reverse("web:bank")).content.decode()
    assert "Jede Gutschrift ist zugeordnet oder übergangen." in final
    assert "Nichts zurückzuzahlen." in final


def test_a_broken_file_on_the_page_names_its_place_and_books_nothing(support, buyer_case):
    response = upload(support, b"<Document><Stmt>", "read")
    assert response.status_code == 400
    assert "auszug.xml:1:" in response.content.decode()
    assert BankStatement.objects.count() == 0


def test_a_colleague_reading_the_same_file_at_the_same_moment_gets_a_message_not_an_error(
        support, buyer_case, monkeypatch):
    data = statement(entry("300.00", "O42-000116 RE-2026-000116", ref="B1"))
    upload(support, data, "read")
    _as_if_the_other_import_had_not_committed_yet(monkeypatch)

    response = upload(support, data, "read")

    assert response.status_code == 400
    assert "wird gerade eingelesen oder wurde bereits eingelesen" in response.content.decode()
    assert Payment.objects.count() == 1


def test_support_assigns_a_credit_on_the_page(support, buyer_case):
    read(statement(entry("300.00", "Danke", name="Fremd", ref="B1")))
    support.post(reverse("web:bank-line-assign", args=[line().pk]),
                 {"order_id": "O42-000116", "note": "per Telefon bestätigt"})
    assert (line().state, line().case) == ("matched", buyer_case)
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid"


# -- The reference parser alone -------------------------------------------------------------------


def _edit(word: str, at: int, how: str, char: str) -> str:
    at %= len(word)
    if how == "leave out":
        return word[:at] + word[at + 1:]
    if how == "add":
        return word[:at] + char + word[at:]
    if how == "change":
        return word[:at] + char + word[at + 1:]
    at = min(at, len(word) - 2)  # swap two neighbours
    return word[:at] + word[at + 1] + word[at] + word[at + 2:]


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"O[0-9]{2}-[0-9]{6}", fullmatch=True), st.integers(0, 30),
       st.sampled_from(["leave out", "add", "change", "swap"]), st.sampled_from("0123456789X"),
       st.sampled_from(["Bestellung {} danke", "{}", "RE {} ."]))
def test_any_one_typo_in_a_reference_still_finds_it(reference, at, how, char, frame):
    known = references.ReferenceIndex({reference: ["the case"]})
    typed = frame.format(_edit(reference, at, how, char).lower())
    assert references.find_order_ids(typed, known=known) == {"the case"}


def test_a_reference_two_typos_away_or_a_bare_word_finds_nothing():
    known = references.ReferenceIndex({"O42-000116": ["a"], "RE-2026-000116": ["a"]})
    assert references.find_order_ids("O42-001161", known=known) == set()
    assert references.find_order_ids("Rechnung vom Oktober 2026", known=known) == set()


def test_a_case_with_costs_is_paid_by_its_whole_claim_and_only_what_is_above_it_is_refunded(
        buyer_case):
    from mahnwerk.cases.services import change_case

    change_case(case=buyer_case, actor="run", reason="2. Mahnung", changes={
        "fees": Decimal("2.50"),
        "charges": [{"on": "2026-10-20", "level": 2, "costs": "2.50", "interest": "0.00"}]})
    read(statement(entry("310.00", "O42-000116 RE-2026-000116", ref="B1")))
    assert (line().applied, line().surplus) == (Decimal("302.50"), Decimal("7.50"))
    buyer_case.refresh_from_db()
    assert buyer_case.state == "paid" and buyer_case.total_owed == Decimal("0.00")
