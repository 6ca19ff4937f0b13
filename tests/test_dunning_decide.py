"""The decide step is a pure function of the data (issue 3, item 2)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mahnwerk.dunning.decide import CaseFacts, LetterFact, LevelRule, PolicyRules, decide

POLICY = PolicyRules(levels=(LevelRule(1, 7), LevelRule(2, 14)), escalate_after_days=14,
                     minimum_amount=Decimal("5.00"))
INCIDENT = date(2026, 10, 1)


def left(*days: date) -> tuple[LetterFact, ...]:
    """Letters of the current cycle that left on these days, level 1 first."""
    return tuple(LetterFact(level=n, status="left", on=day) for n, day in enumerate(days, 1))


def facts(**changes) -> CaseFacts:
    base = dict(case_id=1, order_id="kq7319a", vendor_id="48213", state="open",
                open_amount=Decimal("300.00"), currency="EUR", incident_on=INCIDENT,
                letters=(), reopened=False, reopened_id="",
                block_reason="", vendor_enrolled=True, collection_mode="approval",
                dunning_by="in_house", product_id="77120", product_name="Yoga-Kurs",
                dunning_enabled=True, direct_choice=None)
    base.update(changes)
    return CaseFacts(**base)


def test_a_first_letter_is_due_seven_days_after_the_incident():
    assert decide(facts(), POLICY, INCIDENT + timedelta(days=6)).action == "skip"
    decision = decide(facts(), POLICY, INCIDENT + timedelta(days=7))
    assert (decision.action, decision.level) == ("send", 1)
    assert decision.reason == "1. Mahnung fällig seit 08.10.2026", "dates as people write them"


def test_a_second_letter_is_due_fourteen_days_after_the_first():
    first = date(2026, 11, 1)
    assert decide(facts(state="dunning", letters=left(first)), POLICY,
                  first + timedelta(days=13)).action == "skip"
    decision = decide(facts(state="dunning", letters=left(first)), POLICY,
                      first + timedelta(days=14))
    assert (decision.action, decision.level) == ("send", 2)


def test_an_unpaid_case_escalates_fourteen_days_after_the_second_letter():
    second = date(2026, 11, 15)
    case = facts(state="dunning", letters=left(date(2026, 11, 1), second))
    assert decide(case, POLICY, second + timedelta(days=13)).action == "skip"
    assert decide(case, POLICY, second + timedelta(days=14)).action == "escalate"


def test_a_buyer_who_reordered_is_not_dunned():
    decision = decide(facts(reopened=True, reopened_id="tr9981x"), POLICY, date(2026, 12, 1))
    assert decision.action == "exclude"
    assert "tr9981x" in decision.reason


def test_a_product_without_dunning_account_is_held():
    decision = decide(facts(dunning_enabled=False), POLICY, date(2026, 12, 1))
    assert decision.action == "hold"
    assert "Yoga-Kurs" in decision.reason


@pytest.mark.parametrize(("changes", "words"), [
    ({"vendor_enrolled": False}, "nicht im Mahnwesen"),
    ({"dunning_by": "agency"}, "Inkassobüro"),
    ({"state": "blocked", "block_reason": "Anwaltsschreiben"}, "Anwaltsschreiben"),
    ({"open_amount": Decimal("4.99")}, "Mindestbetrag"),
    ({"collection_mode": "direct"}, "nicht zur Verfolgung markiert"),
    ({"collection_mode": "direct", "direct_choice": False}, "nicht verfolgen"),
    ({"state": "dunning",
      "letters": (*left(date(2026, 10, 8)), LetterFact(2, "bounced", date(2026, 10, 22)))},
     "per Post"),
])
def test_cases_that_must_not_be_dunned_are_skipped_with_the_reason(changes, words):
    decision = decide(facts(**changes), POLICY, date(2026, 12, 1))
    assert decision.action == "skip"
    assert words in decision.reason


def test_a_direct_collection_vendors_marked_order_is_dunned():
    decision = decide(facts(collection_mode="direct", direct_choice=True), POLICY,
                      date(2026, 12, 1))
    assert (decision.action, decision.level) == ("send", 1)


def test_the_same_facts_give_the_same_decision():
    one = decide(facts(), POLICY, date(2026, 12, 1))
    assert all(decide(facts(), POLICY, date(2026, 12, 1)) == one for _ in range(3))


def test_letters_known_only_by_the_old_lists_dates_count_as_the_levels_filling_those_columns():
    with_reminder = PolicyRules(
        levels=(LevelRule(1, 3), LevelRule(2, 7, "first_dunning_letter"),
                LevelRule(3, 14, "second_dunning_letter")),
        escalate_after_days=14, minimum_amount=Decimal("5.00"))
    case = facts(state="dunning", recorded_first=date(2026, 10, 1))
    decision = decide(case, with_reminder, date(2026, 10, 20))
    assert (decision.action, decision.level) == ("send", 3), "the reminder is not sent late"
    both = facts(state="dunning", recorded_first=date(2026, 10, 1),
                 recorded_second=date(2026, 10, 15))
    assert decide(both, with_reminder, date(2026, 10, 29)).action == "escalate"
