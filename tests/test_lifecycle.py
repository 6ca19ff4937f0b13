"""The case lifecycle under the rare sequences of issue 8: each of these went wrong before."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals
from mahnwerk.collection import services as collection_services
from mahnwerk.dunning import delivery, dispatch, services
from mahnwerk.dunning.models import (
    DeliveryStatus,
    DunningLevel,
    DunningPolicy,
    Letter,
    OutboxMessage,
    RunDecision,
)
from tests.factories import BERLIN, OrderFactory
from tests.helpers import incident, payment

pytestmark = pytest.mark.django_db

INCIDENT = datetime(2026, 9, 1, 9, 0, tzinfo=BERLIN)


def run(as_of: date):
    done = services.run_month(as_of=as_of, actor="test")
    delivery.deliver_due()
    return done


def decision_of(run_, case) -> RunDecision:
    return RunDecision.objects.get(run=run_, case=case)


# -- A letter counts from the day it left ---------------------------------------------------------


def test_a_buyer_whose_letters_were_never_posted_is_not_escalated_nor_handed_over():
    """The telephone order of the demo: no e-mail, both letters would wait in the print queue."""
    order = OrderFactory(buyer_email="", buyer__email="")
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    case.refresh_from_db()
    assert case.state == CaseState.DUNNING and case.first_dunning_letter is None
    second = run(date(2026, 10, 20))
    decision = decision_of(second, case)
    assert decision.action == "skip"
    assert decision.reason == ("1. Mahnung wartet seit 01.10.2026 in der Druckwarteschlange: "
                               "Sie zählt erst, wenn sie zur Post gegangen ist")
    third = run(date(2026, 11, 25))
    assert decision_of(third, case).action == "skip", "never escalated without a letter posted"
    case.refresh_from_db()
    assert case.state == CaseState.DUNNING
    assert Letter.objects.filter(case=case).count() == 1


def test_a_paper_letter_posted_late_is_dated_that_day_and_the_waits_count_from_it(monkeypatch):
    order = OrderFactory(buyer_email="", buyer__email="")
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    message = OutboxMessage.objects.get(case=case)
    monkeypatch.setattr(timezone, "localdate", lambda *a: date(2026, 10, 9))
    dispatch.post_letters(messages=[message], on=date(2026, 10, 8), actor="anna")
    monkeypatch.undo()
    letter = Letter.objects.get(case=case)
    assert (letter.letter_date, letter.dispatched_on) == (date(2026, 10, 8), date(2026, 10, 8))
    assert letter.deadline == date(2026, 10, 22), "the policy's full 14 days from posting"
    assert "22.10.2026" in letter.body_text, "the deadline the buyer reads"
    case.refresh_from_db()
    assert case.first_dunning_letter == date(2026, 10, 8)
    # The second letter is due 14 days after the first left (22.10.), not after the run.
    assert decision_of(run(date(2026, 10, 20)), case).code == "run.not_due"
    assert decision_of(run(date(2026, 10, 22)), case).action == "send"


def test_a_print_date_before_the_run_or_in_the_future_is_refused_and_nothing_changes():
    order = OrderFactory(buyer_email="", buyer__email="")
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    message = OutboxMessage.objects.get(case=case)
    with pytest.raises(dispatch.OutboxError, match=r"01\.10\.2026"):
        dispatch.post_letters(messages=[message], on=date(2026, 9, 30), actor="anna")
    with pytest.raises(dispatch.OutboxError, match="Zukunft"):
        dispatch.post_letters(messages=[message], on=timezone.localdate() + timedelta(days=1),
                              actor="anna")
    message.refresh_from_db()
    assert message.status == DeliveryStatus.QUEUED
    assert Letter.objects.get(case=case).dispatched_on is None


def test_an_email_accepted_only_after_failed_attempts_counts_from_the_day_it_was_accepted():
    case = incident(OrderFactory(), at=INCIDENT)
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    letter = Letter.objects.get(case=case)
    assert delivery.dispatch_day(letter=letter, attempts=1, accepted=date(2026, 10, 1)) \
        == date(2026, 10, 1)
    assert delivery.dispatch_day(letter=letter, attempts=3, accepted=date(2026, 10, 3)) \
        == date(2026, 10, 3)


def test_a_bounced_letter_no_longer_counts_and_holds_the_case_until_it_goes_by_post():
    case = incident(OrderFactory(), at=INCIDENT)
    run(date(2026, 10, 1))
    message = OutboxMessage.objects.get(case=case)
    case.refresh_from_db()
    assert case.first_dunning_letter == date(2026, 10, 1)
    assert dispatch.record_bounce(message_id=message.message_id, reason="550 no such user")
    case.refresh_from_db()
    assert case.first_dunning_letter is None, "the buyer never got it"
    event = case.events.filter(code="letter.bounced").get()
    assert event.changes == {"first_dunning_letter": ["2026-10-01", None]}
    decision = decision_of(run(date(2026, 10, 20)), case)
    assert decision.code == "run.undelivered" and "per Post" in decision.reason


def test_a_letter_that_bounces_after_the_buyer_paid_is_not_sent_by_post():
    """Found by the lifecycle property: letter sent, the buyer pays, then the bounce arrives,
    and "by post" put the letter of a paid case into the print queue."""
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    payment(order, amount="300.00", at=datetime(2026, 10, 2, tzinfo=BERLIN))
    message = OutboxMessage.objects.get(case=case)
    dispatch.record_bounce(message_id=message.message_id, reason="550 mailbox full")
    message.refresh_from_db()
    with pytest.raises(dispatch.OutboxError, match="bezahlt"):
        dispatch.send_by_post(message=message, actor="anna")
    message.refresh_from_db()
    assert (message.channel, message.status) == ("email", "bounced")


def test_a_buyer_with_neither_email_nor_a_usable_address_is_held_with_that_reason():
    order = OrderFactory(buyer_email="", buyer__email="", street="", postcode="")
    case = incident(order, at=INCIDENT)
    decision = decision_of(run(date(2026, 10, 1)), case)
    assert (decision.action, decision.code) == ("skip", "run.unreachable")
    assert "weder eine E-Mail-Adresse noch eine brauchbare Postanschrift" in decision.reason
    assert not Letter.objects.filter(case=case).exists()


# -- A debt that comes back starts a new dunning cycle -----------------------------------------


def test_a_debt_that_comes_back_after_payment_is_dunned_again_from_the_first_letter():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    run(date(2026, 10, 20))
    payment(order, amount="300.00", at=datetime(2026, 10, 25, 9, tzinfo=BERLIN))
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    case = incident(order, at=datetime(2026, 11, 2, 9, tzinfo=BERLIN), kind="chargeback",
                    open_amount="120.00")
    assert (case.state, case.cycle, case.open_amount) == (CaseState.OPEN, 2, Decimal("120.00"))
    assert (case.first_dunning_letter, case.second_dunning_letter) == (None, None)
    assert case.events.filter(code="case.new_cycle").count() == 1
    third = run(date(2026, 11, 9))
    decision = decision_of(third, case)
    assert (decision.action, decision.level) == ("send", 1), decision.reason
    case.refresh_from_db()
    assert case.first_dunning_letter == date(2026, 11, 9)
    letters = list(Letter.objects.filter(case=case).order_by("cycle", "level")
                   .values_list("cycle", "level"))
    assert letters == [(1, 1), (1, 2), (2, 1)], "the earlier cycle's letters stay"
    assert collection_services.export_handover  # the handover reads the case's dates: cycle 2


def test_a_new_incident_while_still_dunned_updates_the_amount_and_the_cycle_goes_on():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    case = incident(order, at=datetime(2026, 10, 5, tzinfo=BERLIN), open_amount="450.00")
    assert (case.state, case.cycle, case.open_amount) == (CaseState.DUNNING, 1,
                                                            Decimal("450.00"))
    assert case.first_dunning_letter == date(2026, 10, 1)
    assert case.events.filter(code="case.incident").exists()


def test_a_payment_arriving_for_an_earlier_cycle_does_not_lower_the_new_debt():
    order = OrderFactory()
    incident(order, at=INCIDENT)
    payment(order, amount="300.00", at=datetime(2026, 9, 10, tzinfo=BERLIN))
    incident(order, at=datetime(2026, 11, 2, tzinfo=BERLIN), open_amount="120.00")
    late = payment(order, amount="50.00", at=datetime(2026, 9, 12, tzinfo=BERLIN))
    assert (late.cycle, late.state, late.open_amount) == (2, CaseState.OPEN, Decimal("120.00"))


def test_a_case_paid_while_blocked_is_paid_and_a_later_debt_opens_a_new_cycle():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    case_services.block_case(case=case, reason="Anwaltsschreiben", actor="anna")
    payment(order, amount="300.00", at=datetime(2026, 9, 10, tzinfo=BERLIN))
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    case = incident(order, at=datetime(2026, 11, 2, tzinfo=BERLIN), open_amount="80.00")
    assert (case.state, case.cycle, case.block_reason) == (CaseState.OPEN, 2, "")


def test_a_cancelled_letter_is_written_again_after_the_block_is_lifted():
    case = incident(OrderFactory(buyer_email="", buyer__email=""), at=INCIDENT)
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    case.refresh_from_db()
    case_services.block_case(case=case, reason="Rückfrage", actor="anna")
    assert Letter.objects.get(case=case).withdrawn_at is not None
    case.refresh_from_db()
    case_services.unblock_case(case=case, reason="geklärt", actor="anna")
    again = services.run_month(as_of=date(2026, 10, 2), actor="test")
    decision = decision_of(again, case)
    assert (decision.action, decision.level, decision.outcome_code) == ("send", 1, "out.queued")
    assert Letter.objects.filter(case=case, withdrawn_at__isnull=True).count() == 1


# -- Changes that cannot overwrite each other ------------------------------------------------


def test_a_stale_copy_of_a_case_that_was_just_paid_cannot_block_it():
    order = OrderFactory()
    stale = incident(order, at=INCIDENT)
    payment(order, amount="300.00", at=datetime(2026, 9, 10, tzinfo=BERLIN))
    with pytest.raises(case_services.CaseChangedMeanwhile,
                       match="inzwischen geändert: Er ist jetzt Bezahlt"):
        case_services.block_case(case=stale, reason="Anwaltsschreiben", actor="anna")
    fresh = DebtCase.objects.get(pk=stale.pk)
    assert fresh.state == CaseState.PAID and fresh.block_reason == ""
    assert not fresh.events.filter(kind="blocked").exists()


def test_every_state_change_has_one_event_whose_states_match():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    payment(order, amount="300.00", at=datetime(2026, 10, 3, tzinfo=BERLIN))
    moves = [(e.from_state, e.to_state) for e in
             CaseEvent.objects.filter(case=case).order_by("at", "id")
             if e.from_state != e.to_state]
    assert moves == [("open", "dunning"), ("dunning", "paid")]


def test_an_outbox_failure_and_its_case_event_commit_together(monkeypatch):
    case = incident(OrderFactory(), at=INCIDENT)
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    message = OutboxMessage.objects.get(case=case)
    OutboxMessage.objects.filter(pk=message.pk).update(status=DeliveryStatus.FAILED)
    message.refresh_from_db()

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(dispatch, "note_on_case", broken)
    with pytest.raises(RuntimeError):
        dispatch.send_by_post(message=message, actor="anna")
    message.refresh_from_db()
    assert (message.channel, message.status) == ("email", "failed"), "nothing half-written"


# -- Escalation, approval, handover -----------------------------------------------------------


def test_a_buyer_is_handed_over_only_after_every_letter_of_the_cycle_left():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    for day in (date(2026, 10, 1), date(2026, 10, 20), date(2026, 11, 5)):
        run(day)
    case.refresh_from_db()
    assert case.state == CaseState.ON_HOLD
    assert [(lt.level, lt.dispatched_on) for lt in case.letters.order_by("level")] == [
        (1, date(2026, 10, 1)), (2, date(2026, 10, 20))]
    approvals.decide_approval(case=case, approve=True, actor="vendor", reason="")
    result = collection_services.export_handover(vendor_id=case.vendor_id, actor="t")
    assert result.handed_over == [case.order_id]


def test_a_policy_with_a_friendly_reminder_before_the_two_letters_sends_three_levels():
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    policy.levels.all().delete()
    for number, template, wait, column in (
            (1, "reminder", 3, ""), (2, "first", 7, "first_dunning_letter"),
            (3, "second", 14, "second_dunning_letter")):
        DunningLevel.objects.create(policy=policy, number=number, name=template,
                                    template=template, days_after_previous=wait,
                                    handover_column=column)
    case = incident(OrderFactory(), at=INCIDENT)
    for day in (date(2026, 9, 4), date(2026, 9, 11), date(2026, 9, 25), date(2026, 10, 9)):
        run(day)
    case.refresh_from_db()
    letters = list(case.letters.order_by("level").values_list("level", "template",
                                                              "dispatched_on"))
    assert letters == [(1, "reminder", date(2026, 9, 4)), (2, "first", date(2026, 9, 11)),
                       (3, "second", date(2026, 9, 25))]
    assert "freundliche Erinnerung" in case.letters.get(level=1).body_text
    assert (case.first_dunning_letter, case.second_dunning_letter) == (
        date(2026, 9, 11), date(2026, 9, 25)), "the handover file's columns from the levels"
    assert case.state == CaseState.ON_HOLD


def test_the_dry_run_and_the_command_line_show_any_level(capsys):
    incident(OrderFactory(), at=INCIDENT)
    call_command("dunning_run", "--as-of", "2026-10-01", "--dry-run")
    assert "send1" in capsys.readouterr().out


def _postgres_only() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the test database of SQLite lives in memory, which a second process "
                    "cannot open; CI runs this test on PostgreSQL")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_change_decided_in_one_process_is_refused_after_another_process_changed_the_case():
    import os
    import subprocess
    import sys

    from django.db import connection

    _postgres_only()
    case = incident(OrderFactory(), at=INCIDENT)
    copy_of_support_page = DebtCase.objects.get(pk=case.pk)
    db = connection.settings_dict
    url = (f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
           f"{db['PORT'] or 5432}/{db['NAME']}")
    other = subprocess.run(
        [sys.executable, "-m", "mahnwerk", "case", case.order_id, "block",
         "--reason", "Anwaltsschreiben", "--as", "ben"],
        env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    with pytest.raises(case_services.CaseChangedMeanwhile, match="Blockiert"):
        case_services.change_case(case=copy_of_support_page, actor="anna", reason="x",
                                  to_state=CaseState.CANCELED)
    case.refresh_from_db()
    assert case.state == CaseState.BLOCKED
    assert [(e.from_state, e.to_state) for e in case.events.exclude(kind="opened")] == [
        ("open", "blocked")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_payment_and_a_block_at_the_same_moment_leave_one_consistent_trail():
    import threading

    from django.db import connection

    _postgres_only()
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def block() -> None:
        stale = DebtCase.objects.get(pk=case.pk)
        try:
            barrier.wait()
            case_services.block_case(case=stale, reason="Anwaltsschreiben", actor="anna")
            outcomes["block"] = "done"
        except case_services.CaseError as exc:
            outcomes["block"] = f"refused: {exc}"
        finally:
            connection.close()

    def pay() -> None:
        try:
            barrier.wait()
            payment(order, amount="300.00", at=datetime(2026, 9, 10, tzinfo=BERLIN))
            outcomes["pay"] = "done"
        except Exception as exc:  # shown in the assertion
            outcomes["pay"] = f"failed: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=block), threading.Thread(target=pay)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes["pay"] == "done", outcomes
    case.refresh_from_db()
    trail = [(e.from_state, e.to_state) for e in case.events.exclude(kind="opened")
             .order_by("id") if e.from_state != e.to_state]
    # Either the block came first (and the payment then paid the blocked case) or the payment
    # came first and the block was refused: never a paid case that is blocked.
    assert trail in ([("open", "blocked"), ("blocked", "paid")], [("open", "paid")]), trail
    assert case.state == CaseState.PAID
    if trail == [("open", "paid")]:
        assert outcomes["block"].startswith("refused"), outcomes


# -- Bad inputs ----------------------------------------------------------------------------------


def test_an_incident_of_zero_is_refused_with_the_column_and_why():
    from mahnwerk.intake.feeds import FEEDS

    order = OrderFactory()
    _record, problems = FEEDS["incidents"].parse({
        "incident_id": "I0", "order_id": order.order_id, "kind": "chargeback",
        "occurred_at": INCIDENT.isoformat(), "open_amount": "0.00", "currency": "EUR"})
    assert [(p.column, p.reason) for p in problems] == [
        ("open_amount", "0 ist hier nicht erlaubt: der Betrag muss über 0 liegen")]
    assert not DebtCase.objects.exists()


def test_an_incident_in_another_currency_than_its_order_is_refused():
    from mahnwerk.intake.feeds import FEEDS
    from mahnwerk.intake.services import check_references

    order = OrderFactory()
    feed = FEEDS["incidents"]
    record, problems = feed.parse({
        "incident_id": "I1", "order_id": order.order_id, "kind": "chargeback",
        "occurred_at": INCIDENT.isoformat(), "open_amount": "10.00", "currency": "CHF"})
    assert not problems
    [found] = check_references(feed=feed, records=[record])
    assert any("CHF" in str(problem) for problem in found)


def test_a_run_dated_in_the_future_is_refused_but_can_be_previewed():
    """Found walking the demo: a run as of next June sent letters dated next June."""
    incident(OrderFactory(), at=INCIDENT)
    future = timezone.localdate() + timedelta(days=1)
    with pytest.raises(services.RunError, match="liegt in der Zukunft"):
        services.start_run(as_of=future, actor="anna")
    assert not Letter.objects.exists()
    assert services.preview_run(as_of=future), "looking ahead is allowed"


# -- Found by the review of this change (each failed before its fix) ---------------------------


def test_a_decision_is_not_applied_to_a_case_that_changed_since_the_run_decided():
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    run(date(2026, 10, 20))
    decided = services.start_run(as_of=date(2026, 11, 5), actor="test")
    assert decision_of(decided, case).action == "escalate"
    payment(order, amount="300.00", at=datetime(2026, 11, 5, 10, tzinfo=BERLIN))
    incident(order, at=datetime(2026, 11, 5, 11, tzinfo=BERLIN), open_amount="120.00")
    services.execute_run(run=decided, actor="test")
    case.refresh_from_db()
    assert (case.state, case.cycle) == (CaseState.OPEN, 2), "no escalation without a letter"
    assert decision_of(decided, case).outcome_code == "out.changed"


def test_a_second_letter_decided_before_the_first_bounced_is_not_written():
    case = incident(OrderFactory(), at=INCIDENT)
    run(date(2026, 10, 1))
    decided = services.start_run(as_of=date(2026, 10, 20), actor="test")
    first = OutboxMessage.objects.get(case=case)
    dispatch.record_bounce(message_id=first.message_id, reason="550 5.1.1")
    services.execute_run(run=decided, actor="test")
    assert not case.letters.filter(level=2).exists()


def test_a_letter_withdrawn_by_a_block_is_not_sent_by_post_later():
    case = incident(OrderFactory(), at=INCIDENT)
    run(date(2026, 10, 1))
    message = OutboxMessage.objects.get(case=case)
    dispatch.record_bounce(message_id=message.message_id, reason="550 5.1.1")
    case.refresh_from_db()
    case_services.block_case(case=case, reason="Rückfrage", actor="anna")
    message.refresh_from_db()
    assert message.status == DeliveryStatus.CANCELLED
    with pytest.raises(dispatch.OutboxError):
        dispatch.send_by_post(message=message, actor="anna")


def test_a_letter_the_worker_cancels_at_the_last_moment_is_written_again_after_the_unblock(
        monkeypatch):
    case = incident(OrderFactory(), at=INCIDENT)
    services.run_month(as_of=date(2026, 10, 1), actor="test")
    claim = delivery.claim_chunk

    def claim_then_block(**kwargs):
        claimed = claim(**kwargs)
        case_services.block_case(case=DebtCase.objects.get(pk=case.pk), reason="Anwalt",
                                 actor="anna")
        return claimed

    monkeypatch.setattr(delivery, "claim_chunk", claim_then_block)
    delivery.deliver_due()
    monkeypatch.undo()
    assert Letter.objects.get(case=case).withdrawn_at is not None
    case_services.unblock_case(case=DebtCase.objects.get(pk=case.pk), reason="ok", actor="anna")
    decision = decision_of(run(date(2026, 10, 20)), case)
    assert (decision.action, decision.level) == ("send", 1), decision.reason


def test_a_direct_vendors_answer_about_a_settled_debt_does_not_decide_the_new_one():
    from tests.factories import ProductFactory, VendorFactory

    vendor = VendorFactory(collection_mode="direct")
    order = OrderFactory(product=ProductFactory(vendor=vendor))
    incident(order, at=INCIDENT)
    assert services.request_direct_selection(vendor_id=vendor.pk, as_of=date(2026, 10, 1))
    services.answer_direct_selection(vendor_id=vendor.pk, choices={order.order_id: False},
                                     actor="vendor")
    payment(order, amount="300.00", at=datetime(2026, 10, 3, tzinfo=BERLIN))
    case = incident(order, at=datetime(2026, 11, 2, tzinfo=BERLIN), open_amount="50.00")
    asked = services.request_direct_selection(vendor_id=vendor.pk, as_of=date(2026, 11, 10))
    assert [(s.cycle, s.pursue) for s in asked] == [(2, None)], "asked again about the new debt"
    assert decision_of(run(date(2026, 11, 10)), case).code == "run.not_marked"


def test_a_late_bounce_of_the_first_letter_after_the_second_left_holds_nothing_back(
        monkeypatch):
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    other = incident(OrderFactory(product=order.product), at=INCIDENT)
    for day in (date(2026, 10, 1), date(2026, 10, 20), date(2026, 11, 5)):
        run(day)
    other.refresh_from_db()
    approvals.decide_approval(case=other, approve=True, actor="vendor")
    first = OutboxMessage.objects.get(case=case, letter__level=1)
    dispatch.record_bounce(message_id=first.message_id, reason="550 5.1.1 late")
    first.refresh_from_db()
    with pytest.raises(dispatch.OutboxError, match="Brief 2"):
        dispatch.send_by_post(message=first, actor="anna")
    case.refresh_from_db()
    assert (case.first_dunning_letter, case.second_dunning_letter) == (
        date(2026, 10, 1), date(2026, 10, 20)), "the handover file's dates still follow"
    result = collection_services.export_handover(vendor_id=order.vendor_id, actor="t")
    assert result.handed_over == [other.order_id]


def test_after_an_email_bounced_the_next_letter_goes_by_post():
    case = incident(OrderFactory(), at=INCIDENT)
    run(date(2026, 10, 1))
    first = OutboxMessage.objects.get(case=case)
    dispatch.record_bounce(message_id=first.message_id, reason="550 5.1.1")
    first.refresh_from_db()
    dispatch.send_by_post(message=first, actor="anna")
    first.refresh_from_db()
    dispatch.post_letters(messages=[first], on=date(2026, 10, 2), actor="anna")
    run(date(2026, 10, 16))
    second = OutboxMessage.objects.get(case=case, letter__level=2)
    assert (second.channel, second.to_address) == ("print", "")


def test_a_letter_goes_to_the_address_the_invalid_address_flag_follows():
    from mahnwerk.dunning.letters import pdf_data, preview
    from mahnwerk.dunning.selectors import policy_for
    from tests.factories import ProductFactory
    from tests.helpers import order_record, send

    order = OrderFactory(street="", postcode="")
    case = incident(order, at=INCIDENT)
    later = OrderFactory.build(product=ProductFactory(vendor=order.vendor), vendor=order.vendor,
                               buyer=order.buyer, street="Hohe Straße", house_number="12",
                               postcode="50667", city="Köln", country="DE",
                               created_at=datetime(2026, 9, 10, tzinfo=BERLIN))
    send("orders", order_record(later))
    case.refresh_from_db()
    assert not case.invalid_address
    composed = preview(case=case, level=1, letter_date=date(2026, 10, 1),
                       policy=policy_for(vendor_id=case.vendor_id))
    assert "Hohe Straße 12" in pdf_data(composed=composed, case=case)["address"]


def test_a_bounce_of_a_settled_debts_letter_arriving_in_the_new_cycle_changes_nothing_of_it():
    """Found by the lifecycle property: letter 1 sent, paid, the debt comes back, then the
    bounce of the old letter arrives; sending it by post is refused, cycle 2 goes on."""
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    run(date(2026, 10, 1))
    old = OutboxMessage.objects.get(case=case)
    payment(order, amount="300.00", at=datetime(2026, 10, 3, tzinfo=BERLIN))
    incident(order, at=datetime(2026, 10, 5, tzinfo=BERLIN), open_amount="90.00")
    run(date(2026, 10, 12))
    case.refresh_from_db()
    assert (case.cycle, case.first_dunning_letter) == (2, date(2026, 10, 12))
    dispatch.record_bounce(message_id=old.message_id, reason="550 5.1.1 late")
    old.refresh_from_db()
    with pytest.raises(dispatch.OutboxError, match="erledigten Forderung"):
        dispatch.send_by_post(message=old, actor="anna")
    case.refresh_from_db()
    assert case.first_dunning_letter == date(2026, 10, 12), "cycle 2's letter still counts"


def test_when_the_first_letter_bounces_a_second_that_has_not_left_is_withdrawn(settings):
    """Found by the lifecycle property in CI: letter 2's e-mail failed, then letter 1 bounced;
    both went by post on the same day, and the case escalated without the 14 days between."""
    case = incident(OrderFactory(), at=INCIDENT)
    run(date(2026, 10, 1))
    settings.EMAIL_BACKEND = "tests.test_lifecycle_property.RefusingBackend"
    run(date(2026, 10, 15))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    second = OutboxMessage.objects.get(case=case, letter__level=2)
    assert second.status == DeliveryStatus.FAILED
    first = OutboxMessage.objects.get(case=case, letter__level=1)
    dispatch.record_bounce(message_id=first.message_id, reason="550 5.1.1")
    second.refresh_from_db()
    assert second.status == DeliveryStatus.CANCELLED and second.letter.withdrawn_at is not None
    first.refresh_from_db()
    dispatch.send_by_post(message=first, actor="anna")
    first.refresh_from_db()
    dispatch.post_letters(messages=[first], on=date(2026, 10, 16), actor="anna")
    assert decision_of(run(date(2026, 10, 20)), case).code == "run.not_due", \
        "letter 2 waits its 14 days from the day letter 1 was posted"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_block_made_while_a_payment_import_is_between_reading_and_writing_the_case_waits(
        monkeypatch):
    """The payment import has read the case and is about to write it when support blocks it:
    the block waits for the import (the case is locked) and is then refused, instead of the
    import failing with "changed meanwhile" and the platform's payment being lost."""
    import threading

    from django.db import connection

    _postgres_only()
    order = OrderFactory()
    case = incident(order, at=INCIDENT)
    read_the_case, block_done = threading.Event(), threading.Event()
    real_follow = case_services._follow
    outcomes: dict[str, str] = {}

    def follow(**kwargs):
        read_the_case.set()
        block_done.wait(timeout=3)  # the block, if it could, commits now
        return real_follow(**kwargs)

    monkeypatch.setattr(case_services, "_follow", follow)

    def pay() -> None:
        try:
            payment(order, amount="300.00", at=datetime(2026, 9, 10, tzinfo=BERLIN))
            outcomes["pay"] = "done"
        except Exception as exc:  # shown in the assertion
            outcomes["pay"] = f"failed: {exc!r}"
        finally:
            connection.close()

    def block() -> None:
        stale = DebtCase.objects.get(pk=case.pk)
        read_the_case.wait(timeout=30)
        try:
            case_services.block_case(case=stale, reason="Anwaltsschreiben", actor="anna")
            outcomes["block"] = "done"
        except case_services.CaseError as exc:
            outcomes["block"] = f"refused: {exc}"
        finally:
            block_done.set()
            connection.close()

    threads = [threading.Thread(target=pay), threading.Thread(target=block)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes["pay"] == "done", outcomes
    assert outcomes["block"].startswith("refused"), outcomes
    case.refresh_from_db()
    assert case.state == CaseState.PAID
