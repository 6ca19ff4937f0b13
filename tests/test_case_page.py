"""The case page says what can happen next (issue 10, point 5): only the actions the case's state
allows, business dates on the timeline with the moment of recording beside them, states and codes
in words, the order's payments and instalments, the reorder and the buyer's other orders as links.
"""

import re
from datetime import date, datetime
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from mahnwerk.cases import actions
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent, DebtCase, EventKind
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import reports
from mahnwerk.collection.models import CollectionPartner
from mahnwerk.dunning import dispatch, outbox
from mahnwerk.dunning import services as dunning
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, BuyerFactory, OrderFactory, ProductFactory, VendorFactory
from tests.helpers import incident, order_record, payment, send

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)
AS_OF = date(2026, 10, 1)


@pytest.fixture
def vendor():
    return VendorFactory(vendor_id="VCASE", name="Akademie Fallseite")


@pytest.fixture
def support(client, vendor, django_user_model):
    ensure_demo_users(vendor_id=vendor.pk)
    client.force_login(django_user_model.objects.get(username="support"))
    return client


def open_case(vendor, order_id: str, **order_fields) -> DebtCase:
    product = order_fields.pop("product", None) or ProductFactory(vendor=vendor)
    return incident(OrderFactory(order_id=order_id, product=product, **order_fields),
                    open_amount="300.00", at=INCIDENT)


def in_state(case: DebtCase, state: str) -> DebtCase:
    case_services.change_case(case=case, actor="test", reason="Testzustand", to_state=state)
    return DebtCase.objects.get(pk=case.pk)


def page(client, order_id: str) -> str:
    response = client.get(reverse("web:case", args=[order_id]))
    assert response.status_code == 200
    return response.content.decode()


class _Text(HTMLParser):
    """The words a person reads on a page: no tags, no attributes, no script."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def items(html: str, tag: str) -> list[str]:
    """The visible text of each ``tag`` element in ``html``."""
    return [visible_text(inner) for inner in
            re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", html, flags=re.DOTALL)]


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id (up to its closing tag of the same name)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"', html)
    assert match, f"no #{element_id} on the page"
    tag = match.group(1)
    end = html.index(f"</{tag}>", match.end())
    return html[match.start():end]


# -- What can happen next: only what the state allows -----------------------------------------


class _Rollback(Exception):
    pass


def _try(name: str, case_id: int) -> str | None:
    """Run one registered action on the case as it is now and undo it; the refusal, or None."""
    case = case_selectors.get_case(order_id=DebtCase.objects.get(pk=case_id).order_id)
    refused = None
    try:
        with transaction.atomic():
            try:
                actions.ACTIONS[name].run(case=case, reason="Prüfung", actor="anna",
                                          shared=False)
            except case_services.CaseError as exc:
                refused = str(exc)
            raise _Rollback
    except _Rollback:
        pass
    return refused


def test_the_page_offers_an_action_exactly_when_the_service_would_do_it(vendor):
    """For a case in every state, each action of the registry is offered if and only if its
    service then does it, and a refused one is refused with the words of its refusal."""
    states = list(CaseState)
    for index, state in enumerate(states):
        case = open_case(vendor, f"O-S{index}")
        if state != CaseState.OPEN:
            case = in_state(case, state)
        offered = actions.offered(case)
        for name, action in actions.ACTIONS.items():
            refused = _try(name, case.pk)
            if name in offered:
                assert refused is None, (state, name, refused)
            else:
                assert refused is not None, (state, name)
                assert refused == action.refusal(case), (state, name)


def test_a_paid_case_offers_no_block_and_no_letter_preview(support, vendor):
    """A support agent opens a paid case: no *Sperren*, no letter to preview, and the page
    says why; the note stays."""
    case = open_case(vendor, "O-PAID")
    payment(case.order, amount="300.00", at=datetime(2026, 9, 20, 9, 0, tzinfo=BERLIN))
    html = page(support, "O-PAID")
    assert 'action="/faelle/O-PAID/sperren/"' not in html
    assert 'id="previews"' not in html
    assert "/vorschau/" not in html
    assert "Ihm schickt kein Lauf einen Brief" in section(html, "no-preview")
    assert 'action="/faelle/O-PAID/notiz/"' in html
    assert "Bezahlt: Es geschieht nichts mehr." in section(html, "next")


def test_blocking_a_paid_case_anyway_is_refused_with_the_reason(support, vendor):
    """A form posted from an old tab: the service refuses with the same words the page would
    have shown by leaving the button out."""
    case = open_case(vendor, "O-PAID2")
    payment(case.order, amount="300.00", at=datetime(2026, 9, 20, 9, 0, tzinfo=BERLIN))
    response = support.post(reverse("web:case-block", args=["O-PAID2"]),
                            {"block-reason": "Anwaltsschreiben"}, follow=True)
    text = visible_text(response.content.decode())
    assert "Fall O-PAID2 ist Bezahlt: Kein Brief und keine Übergabe stehen mehr an" in text
    assert DebtCase.objects.get(order_id="O-PAID2").state == CaseState.PAID


def test_a_blocked_case_offers_unblock_not_block(support, vendor):
    case = open_case(vendor, "O-BLOCK")
    case_services.block_case(case=case, reason="Anwaltsschreiben", actor="anna")
    html = page(support, "O-BLOCK")
    assert 'action="/faelle/O-BLOCK/entsperren/"' in html
    assert 'action="/faelle/O-BLOCK/sperren/"' not in html
    assert "Entsperren" in section(html, "offered")
    assert "/vorschau/" not in html, "a blocked case gets no letter"


def test_a_waiting_case_offers_the_vendors_decision_and_a_run_says_nothing(support, vendor):
    case = in_state(open_case(vendor, "O-WAIT"), CaseState.ON_HOLD)
    html = page(support, "O-WAIT")
    assert 'action="/faelle/O-WAIT/freigabe/"' in html
    assert "Entscheidung des Vendors erfassen" in section(html, "offered")
    assert "Wartet auf die Freigabe des Vendors" in section(html, "next")
    assert case.state == CaseState.ON_HOLD


def test_a_grey_case_offers_no_letter_preview_and_its_preview_link_says_why(support, vendor):
    case = open_case(vendor, "O-GREY")
    case_services.change_case(case=case, actor="test", reason="nicht verfolgen",
                              changes={"pursue": False})
    html = page(support, "O-GREY")
    assert "/vorschau/" not in html
    assert "ist grau (nicht verfolgt)" in section(html, "no-preview")
    response = support.get(reverse("web:letter-preview", args=["O-GREY", 1]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:case", args=["O-GREY"])
    assert "ist grau (nicht verfolgt)" in visible_text(response.content.decode())
    assert support.get(reverse("web:letter-preview-pdf", args=["O-GREY", 1])).status_code == 302


def test_a_yellow_case_previews_only_the_letters_still_to_come(support, vendor):
    """After the first letter, the page previews the second (and further) levels only, and
    says what a run today would do."""
    open_case(vendor, "O-NEXT")
    dunning.run_month(as_of=AS_OF, actor="test")
    html = page(support, "O-NEXT")
    previews = section(html, "previews")
    assert "/faelle/O-NEXT/vorschau/2/" in previews
    assert "/faelle/O-NEXT/vorschau/1/" not in previews
    assert "Ein Mahnlauf heute würde:" in section(html, "next")


# -- Business dates on the timeline ---------------------------------------------------------------


def _events(order_id: str) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case__order_id=order_id).order_by("at", "id"))


def test_the_timeline_carries_the_business_dates_of_the_facts(vendor):
    """The incident's day, the run's date, the day the letter left (posted late) and the
    payment's day, whenever they were recorded."""
    case = open_case(vendor, "O-DATES", buyer_email="", buyer_email_normalized="")
    dunning.run_month(as_of=AS_OF, actor="test")
    dispatch.post_letters(messages=list(outbox.print_queue()), on=date(2026, 10, 5),
                          actor="druckerei")
    payment(case.order, amount="300.00", at=datetime(2026, 10, 20, 9, 0, tzinfo=BERLIN))
    by_kind = {}
    for event in _events("O-DATES"):
        by_kind.setdefault(event.kind, []).append(event.effective_on)
    assert by_kind[EventKind.OPENED] == [date(2026, 9, 1)]
    assert by_kind[EventKind.LETTER] == [AS_OF, date(2026, 10, 5)], "queued by the run, posted"
    assert by_kind[EventKind.PAYMENT] == [date(2026, 10, 20)]


def test_a_payment_event_carries_the_day_of_the_payment_that_came_in(vendor):
    """An old payment sent late (the day after a later one) dates its line by its own day."""
    case = open_case(vendor, "O-LATE")
    payment(case.order, amount="50.00", at=datetime(2026, 9, 25, 9, 0, tzinfo=BERLIN))
    payment(case.order, amount="50.00", at=datetime(2026, 9, 10, 9, 0, tzinfo=BERLIN))
    assert [e.effective_on for e in _events("O-LATE") if e.kind == EventKind.PAYMENT] == [
        date(2026, 9, 25), date(2026, 9, 10)]


def test_a_reorder_is_dated_by_the_new_order_and_a_debt_that_comes_back_by_its_incident(vendor):
    product = ProductFactory(vendor=vendor)
    buyer = BuyerFactory()
    case = open_case(vendor, "O-OLD", product=product, buyer=buyer)
    send("orders", order_record(OrderFactory.build(
        order_id="O-NEWER", product=product, vendor=vendor, buyer=buyer,
        created_at=datetime(2026, 9, 15, 12, 0, tzinfo=BERLIN))))
    assert [e.effective_on for e in _events("O-OLD") if e.kind == EventKind.REORDERED] == [
        date(2026, 9, 15)]

    back = open_case(vendor, "O-BACK")
    payment(back.order, amount="300.00", at=datetime(2026, 9, 20, 9, 0, tzinfo=BERLIN))
    incident(back.order, open_amount="300.00", kind="one_time_chargeback",
             at=datetime(2026, 10, 3, 9, 0, tzinfo=BERLIN))
    assert DebtCase.objects.get(pk=back.pk).cycle == 2
    assert _events("O-BACK")[-1].effective_on == date(2026, 10, 3)
    assert case.pk


def test_the_agencys_takeover_is_dated_by_the_day_it_took_the_case_over(vendor, tmp_path):
    from mahnwerk.collection import services as collection
    from tests.helpers import lettered

    case = lettered(open_case(vendor, "O-AGENCY"), first=date(2026, 9, 10),
                    second=date(2026, 9, 25))
    in_state(in_state(case, CaseState.ON_HOLD), CaseState.APPROVED)
    collection.export_handover(vendor_id=vendor.pk, actor="anna")
    path = tmp_path / "bericht.csv"
    path.write_text("order_id,agency_reference,takeover_date,status,collected_amount,"
                    "collected_at,comment\nO-AGENCY,AZ-1,2026-10-07,open,0,,\n")
    result = reports.import_report(path=path, partner=CollectionPartner.objects.get(
        name="Diagonal"), actor="anna")
    assert result.applied == 1, result.problems
    takeover = [e for e in _events("O-AGENCY") if e.changes.get("incasso_date")]
    assert [e.effective_on for e in takeover] == [date(2026, 10, 7)]


def test_a_decision_that_came_by_mail_is_dated_by_the_day_the_vendor_decided(vendor):
    """Support records on Monday what the vendor wrote on Friday; the demo's month, played
    in the past, dates its approvals, decisions and handover the same way."""
    from mahnwerk.collection import approvals
    from mahnwerk.collection import services as collection
    from tests.helpers import lettered

    first, second = (in_state(lettered(open_case(vendor, order_id), first=date(2026, 9, 10),
                                       second=date(2026, 9, 25)), CaseState.ON_HOLD)
                     for order_id in ("O-MAIL1", "O-MAIL2"))
    approvals.request_approvals(actor="schedule", effective=date(2026, 10, 30))
    approvals.decide_approval(case=first, approve=True, actor="anna",
                              reason="per E-Mail vom Freitag", effective=date(2026, 10, 31))
    approvals.decide_approval(case=second, approve=False, actor="anna", reason="Kulanz")
    assert [e.effective_on for e in _events("O-MAIL1")][-2:] == [date(2026, 10, 30),
                                                               date(2026, 10, 31)]
    assert _events("O-MAIL2")[-1].effective_on is None, "recorded the day it was decided"
    collection.export_handover(vendor_id=vendor.pk, actor="anna", effective=date(2026, 11, 2))
    assert _events("O-MAIL1")[-1].effective_on == date(2026, 11, 2)


def test_the_page_shows_the_business_date_first_and_the_recording_beside_it(support, vendor):
    """The case opened from an incident of 1 September, recorded today: "01.09.2026 (erfasst
    <today>)". A note written today shows only the moment it was written."""
    case = open_case(vendor, "O-SHOW")
    case_services.add_note(case=case, text="Käuferin ruft zurück", actor="anna")
    timeline = section(page(support, "O-SHOW"), "timeline")
    today = timezone.localdate().strftime("%d.%m.%Y")
    note, opened = items(timeline, "li")  # newest first
    assert opened.startswith("01.09.2026 (erfasst " + today)
    assert note.startswith(today) and "(erfasst" not in note


def test_an_event_written_before_business_dates_reads_by_its_recording(support, vendor):
    """Old rows have no business date: they show the moment they were recorded, as before."""
    open_case(vendor, "O-OLDROW")
    CaseEvent.objects.filter(case__order_id="O-OLDROW").update(effective_on=None)
    [event] = case_selectors.timeline(case=DebtCase.objects.get(order_id="O-OLDROW"))
    assert event["date"] == timezone.localdate().isoformat()
    [line] = items(section(page(support, "O-OLDROW"), "timeline"), "li")
    assert line.startswith(timezone.localdate().strftime("%d.%m.%Y "))
    assert "(erfasst" not in line


def test_the_command_line_shows_the_business_date_and_the_recording(vendor, capsys):
    open_case(vendor, "O-CLI")
    call_command("case", "O-CLI")
    assert "01.09.2026 (erfasst " in capsys.readouterr().out
    call_command("case", "O-CLI", "--format", "json")
    assert '"date": "2026-09-01"' in capsys.readouterr().out


# -- Words, money, links ------------------------------------------------------------------------


def test_no_state_or_code_appears_raw_on_the_page(support, vendor):
    """Whatever the state, the page speaks German: no ``on_hold``, ``paid`` …"""
    codes = {state.value for state in CaseState} | {"sent_for_collection", "stopped_installments",
                                                    "offer_link", "one_time_chargeback"}
    for index, state in enumerate(CaseState):
        case = open_case(vendor, f"O-W{index}")
        payment(case.order, amount="10.00", at=datetime(2026, 9, 20, 9, 0, tzinfo=BERLIN))
        if state != CaseState.OPEN:
            in_state(case, state)
        words = set(re.findall(r"[a-z_]+", visible_text(page(support, case.order_id))))
        assert not words & codes, (state, words & codes)


def test_the_page_lists_the_orders_debts_payments_and_instalments(support, vendor):
    """A support agent sees where the open amount comes from: the debt, the payments since,
    and how many instalments were paid."""
    case = open_case(vendor, "O-MONEY", installments_total=6, installments_paid=2)
    payment(case.order, amount="100.00", at=datetime(2026, 9, 12, 9, 0, tzinfo=BERLIN),
            payment_id="PAY-A")
    payment(case.order, amount="50.00", at=datetime(2026, 9, 20, 9, 0, tzinfo=BERLIN),
            payment_id="PAY-B", channel="vendor")
    html = page(support, "O-MONEY")
    assert "2 von 6 Raten bezahlt" in visible_text(section(html, "instalments"))
    rows = items(section(html, "ledger").split("</thead>")[1], "tr")
    assert rows[0].startswith("01.09.2026 Forderung: Raten gestoppt 300,00 €")
    assert rows[1] == "12.09.2026 Zahlung: Angebotslink 100,00 € PAY-A"
    assert rows[2].startswith("20.09.2026 Zahlung: Vendor 50,00 €")
    assert "150,00 €" in visible_text(html)  # the open amount


def test_one_instalment_reads_in_the_singular(support, vendor):
    open_case(vendor, "O-ONE", installments_total=1, installments_paid=0)
    assert "0 von 1 Rate bezahlt" in visible_text(section(page(support, "O-ONE"), "instalments"))


def test_the_reorder_links_to_its_case_and_the_buyers_other_orders_are_listed(support, vendor):
    """The new order of a reorder opens its own case page if it has one; the buyer's other
    orders are listed, each with its case's state, linked where there is a case."""
    product = ProductFactory(vendor=vendor, name="Yoga-Kurs")
    buyer = BuyerFactory()
    open_case(vendor, "O-FIRST", product=product, buyer=buyer,
              created_at=datetime(2026, 5, 2, 10, 0, tzinfo=BERLIN))
    second = OrderFactory.build(order_id="O-SECOND", product=product, vendor=vendor,
                                buyer=buyer, created_at=datetime(2026, 6, 2, 10, 0, tzinfo=BERLIN))
    send("orders", order_record(second))
    incident(second, open_amount="80.00", at=INCIDENT)
    OrderFactory(order_id="O-THIRD", product=ProductFactory(vendor=vendor, name="Pilates"),
                 buyer=buyer, created_at=datetime(2026, 7, 2, 10, 0, tzinfo=BERLIN))
    first = DebtCase.objects.get(order_id="O-FIRST")
    assert first.reopened_id == "O-SECOND"
    html = page(support, "O-FIRST")
    assert '<a href="/faelle/O-SECOND/">O-SECOND</a>' in section(html, "reordered")
    related = section(html, "related")
    assert '<a href="/faelle/O-SECOND/">O-SECOND</a>' in related
    assert '/faelle/O-THIRD/' not in related
    assert items(related.split("</thead>")[1], "tr") == [
        "O-THIRD 02.07.2026 Pilates 600,00 € kein Fall",
        "O-SECOND erneute Bestellung 02.06.2026 Yoga-Kurs 600,00 € Offen"]


def test_a_reorder_without_a_case_is_named_but_not_linked(support, vendor):
    product = ProductFactory(vendor=vendor)
    buyer = BuyerFactory()
    open_case(vendor, "O-LONE", product=product, buyer=buyer)
    send("orders", order_record(OrderFactory.build(
        order_id="O-PAIDUP", product=product, vendor=vendor, buyer=buyer,
        created_at=datetime(2026, 9, 15, 12, 0, tzinfo=BERLIN))))
    reordered = visible_text(section(page(support, "O-LONE"), "reordered"))
    assert reordered == "ja: O-PAIDUP (kein Fall)"


def test_the_case_page_asks_the_database_a_bounded_number_of_questions(
        support, vendor, django_assert_max_num_queries):
    """A case with letters, payments and many other orders of its buyer: the page's queries do
    not grow with them."""
    buyer = BuyerFactory()
    case = open_case(vendor, "O-MANY", buyer=buyer)
    for number in range(30):
        OrderFactory(order_id=f"O-MANY-{number}", buyer=buyer,
                     product=ProductFactory(vendor=vendor))
        payment(case.order, amount="1.00", payment_id=f"PAY-M{number}")
    dunning.run_month(as_of=AS_OF, actor="test")
    # The routes' observed rates behind the page's estimates are kept for every page as the
    # schedule keeps them (web.tasks.keep_overview); the first page of a cold cache reads them
    # with two queries more.
    from mahnwerk.collection import economics

    economics.kept_statistics()
    with django_assert_max_num_queries(19):
        html = page(support, "O-MANY")
    assert "und 10 ältere Bestellungen" in visible_text(section(html, "related"))
