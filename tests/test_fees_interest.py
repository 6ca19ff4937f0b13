"""Fees and interest, only as the law allows, off by default (issue 11, point 4).

Default interest § 288 BGB (base rate § 247 BGB + 5 points for consumers, + 9 for businesses),
counted to the day from the day of default (§ 286 BGB), actual/365, split at every change of the
base rate, rounded half up to the cent at the end; a payment pays costs, then interest, then
principal (§ 367 BGB); no fee for the letter that puts the buyer in default.
"""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from mahnwerk.cases.claims import (
    BUSINESS_POINTS,
    CONSUMER_POINTS,
    Accrual,
    Charge,
    MissingBaseRate,
    Paid,
    allocate,
    half_year_start,
    round_cents,
    settle,
)
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.dunning import delivery, letters, services
from mahnwerk.dunning.models import BaseRate, DunningLevel, DunningPolicy, Letter
from mahnwerk.dunning.rate_table import table_problems
from mahnwerk.dunning.rates import rates
from mahnwerk.web.accounts import ensure_demo_users
from tests.factories import BERLIN, OrderFactory, VendorFactory
from tests.helpers import incident, payment

D = Decimal
#: The published base rates the data migration seeds (% p.a.), as the examples use them.
RATES = {date(2024, 1, 1): D("3.62"), date(2024, 7, 1): D("3.37"),
         date(2025, 1, 1): D("2.27"), date(2025, 7, 1): D("1.27"),
         date(2026, 1, 1): D("1.27")}


# -- Worked examples, each checked by hand ----------------------------------------------------

#: (principal, points, first day in default, last day, interest rounded): one balance.
INTEREST_EXAMPLES = [
    # A consumer, one rate: 16.07.-01.08.2025 = 17 days at 1.27 + 5 = 6.27 %:
    # 300.00 x 6.27 x 17 / 36500 = 31977 / 36500 = 0.87608... -> 0.88
    (D("300.00"), CONSUMER_POINTS, date(2025, 7, 16), date(2025, 8, 1), D("0.88")),
    # A consumer, the rate changes on 01.07.2025: June 30 days at 2.27 + 5 = 7.27 %, July 31
    # days at 6.27 %: 1000 x (30 x 7.27 + 31 x 6.27) / 36500 = 1000 x 412.47 / 36500
    # = 11.30054... -> 11.30
    (D("1000.00"), CONSUMER_POINTS, date(2025, 6, 1), date(2025, 7, 31), D("11.30")),
    # The same for a business, 9 points: 30 x 11.27 + 31 x 10.27 = 656.47;
    # 1000 x 656.47 / 36500 = 17.98547... -> 17.99
    (D("1000.00"), BUSINESS_POINTS, date(2025, 6, 1), date(2025, 7, 31), D("17.99")),
    # A leap year counts 365 days too (act/365): 01.-29.02.2024 = 29 days at 3.62 + 5 =
    # 8.62 %: 365 x 8.62 x 29 / 36500 = 2.4998 -> 2.50
    (D("365.00"), CONSUMER_POINTS, date(2024, 2, 1), date(2024, 2, 29), D("2.50")),
    # A year over three half-years: 12.01.-30.06.2025 170 days at 7.27 %, 01.07.2025-
    # 11.01.2026 195 days at 6.27 %: 300 x (1235.90 + 1222.65) / 36500 = 20.2072... -> 20.21
    (D("300.00"), CONSUMER_POINTS, date(2025, 1, 12), date(2026, 1, 11), D("20.21")),
]


@pytest.mark.parametrize(("principal", "points", "since", "until", "expected"),
                         INTEREST_EXAMPLES)
def test_default_interest_of_the_worked_examples(principal, points, since, until, expected):
    claim = settle(principal=principal, accrual=Accrual(since=since, points=points, rates=RATES),
                   until=until)
    assert round_cents(claim.accrued) == expected


def test_a_payment_in_between_pays_costs_then_interest_then_principal_and_lowers_the_interest():
    """500.00 owed by a consumer, in default from 01.07.2025.

    Letter 2 on 31.07.2025 claims 2.50 costs and the interest of 01.-31.07. (31 days at
    6.27 %): 500 x 6.27 x 31 / 36500 = 2.6626... -> 2.66.
    The buyer pays 100.00 on 10.08.2025: 2.50 costs, 2.66 interest, 94.84 principal; open
    principal 405.16.
    Up to 31.08.2025 interest ran 01.07.-09.08. (40 days) on 500.00: 500 x 6.27 x 40 / 36500
    = 3.43561..., and 10.-31.08. (22 days) on 405.16: 405.16 x 6.27 x 22 / 36500 = 1.53117...;
    together 4.96678... -> 4.97, of which 2.66 were claimed: a letter on 31.08. claims 2.31.
    """
    accrual = Accrual(since=date(2025, 7, 1), points=CONSUMER_POINTS, rates=RATES)
    at_letter = settle(principal=D("500.00"), accrual=accrual, until=date(2025, 7, 31))
    assert round_cents(at_letter.accrued) == D("2.66")
    charge = Charge(on=date(2025, 7, 31), level=2, costs=D("2.50"), interest=D("2.66"))
    paid = Paid(on=date(2025, 8, 10), amount=D("100.00"))
    claim = settle(principal=D("500.00"), charges=[charge], payments=[paid], accrual=accrual,
                   until=date(2025, 8, 31))
    assert (claim.paid.costs, claim.paid.interest, claim.paid.principal) == (
        D("2.50"), D("2.66"), D("94.84"))
    assert (claim.principal, claim.costs, claim.interest) == (D("405.16"), 0, 0)
    assert round_cents(claim.accrued) == D("4.97")
    assert round_cents(claim.accrued) - charge.interest == D("2.31")


def test_a_payment_on_the_day_of_a_letter_pays_what_was_claimed_before_it():
    charge = Charge(on=date(2025, 8, 1), level=2, costs=D("2.50"), interest=D("0.88"))
    claim = settle(principal=D("300.00"), charges=[charge],
                   payments=[Paid(on=date(2025, 8, 1), amount=D("300.00"))])
    assert (claim.principal, claim.costs, claim.interest) == (0, D("2.50"), D("0.88"))


@pytest.mark.parametrize(("payment", "expected"), [
    # costs 2.50, interest 0.88, principal 300.00
    (D("1.00"), (D("1.00"), 0, 0, 0)),                   # not even the costs
    (D("3.00"), (D("2.50"), D("0.50"), 0, 0)),           # costs, part of the interest
    (D("303.38"), (D("2.50"), D("0.88"), D("300.00"), 0)),  # everything
    (D("310.00"), (D("2.50"), D("0.88"), D("300.00"), D("6.62"))),  # a surplus
])
def test_allocation_follows_section_367(payment, expected):
    share = allocate(payment, costs=D("2.50"), interest=D("0.88"), principal=D("300.00"))
    assert (share.costs, share.interest, share.principal, share.surplus) == expected


cents = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False,
                    allow_infinity=False)


@given(payment=cents, costs=cents, interest=cents, principal=cents)
def test_allocation_never_makes_a_part_negative_and_the_parts_sum_to_the_payment(
        payment, costs, interest, principal):
    share = allocate(payment, costs=costs, interest=interest, principal=principal)
    assert min(share.costs, share.interest, share.principal, share.surplus) >= 0
    assert share.costs + share.interest + share.principal + share.surplus == payment
    assert share.costs <= costs and share.interest <= interest and share.principal <= principal
    # and what is left open is never negative
    assert min(costs - share.costs, interest - share.interest, principal - share.principal) >= 0


def test_a_day_without_a_base_rate_is_refused_not_guessed():
    with pytest.raises(MissingBaseRate) as refused:
        settle(principal=D("100.00"), until=date(2026, 7, 5),
               accrual=Accrual(since=date(2026, 6, 20), points=CONSUMER_POINTS, rates=RATES))
    assert refused.value.half_year == date(2026, 7, 1)


# -- The base-rate table ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_migration_seeds_the_published_rates():
    seeded = rates()
    assert {day: seeded[day] for day in RATES} == RATES
    assert seeded[date(2022, 7, 1)] == D("-0.88") and seeded[date(2023, 7, 1)] == D("3.12")
    assert table_problems(seeded) == []


def test_a_gap_in_the_table_is_refused_with_its_dates():
    problems = table_problems([date(2024, 1, 1), date(2025, 1, 1)])
    assert problems == ["Lücke: Die Halbjahre ab 01.07.2024 haben keinen Satz, zwischen "
                        "01.01.2024 und 01.01.2025. Tragen Sie jedes Halbjahr der Reihe nach "
                        "ein."]


def test_an_overlap_is_refused_with_its_dates():
    assert table_problems([date(2024, 1, 1), date(2024, 3, 1)]) == [
        "Der Basiszinssatz ändert sich nur am 1. Januar und 1. Juli: Ein Satz ab 01.03.2024 "
        "überschneidet sich mit dem Halbjahr 01.01.2024–30.06.2024, das einen Satz hat.",
        "Überschneidung: 01.01.2024, 01.03.2024 liegen im selben Halbjahr "
        "01.01.2024–30.06.2024, das einen Satz hat."]


@pytest.mark.django_db
def test_the_admin_refuses_a_gap_and_an_overlap_and_keeps_the_history(admin_client):
    add = reverse("admin:dunning_baserate_add")
    gap = admin_client.post(add, {"valid_from": "01.01.2027", "rate": "1.00"})
    assert gap.status_code == 200
    page = gap.content.decode()
    assert "Lücke" in page and "01.07.2026" in page and "01.01.2027" in page
    overlap = admin_client.post(add, {"valid_from": "01.03.2026", "rate": "1.00"})
    assert overlap.status_code == 200 and "01.03.2026" in overlap.content.decode()
    assert not BaseRate.objects.filter(valid_from__gt=date(2026, 1, 1)).exists()
    saved = admin_client.post(add, {"valid_from": "01.07.2026", "rate": "1.27",
                                    "source": "Bundesbank"})
    assert saved.status_code == 302
    rate = BaseRate.objects.get(valid_from=date(2026, 7, 1))
    assert rate.history.count() == 1
    # only the first or the last row may go: a row in the middle would leave a gap
    middle = BaseRate.objects.get(valid_from=date(2024, 1, 1))
    assert admin_client.get(reverse("admin:dunning_baserate_delete",
                                    args=[middle.pk])).status_code == 403
    assert admin_client.post(reverse("admin:dunning_baserate_delete", args=[rate.pk]),
                             {"post": "yes"}).status_code == 302


@pytest.mark.django_db
def test_the_workspace_warns_support_while_the_current_half_year_has_no_rate(
        client, django_user_model):
    ensure_demo_users(vendor_id=VendorFactory().pk)
    client.force_login(django_user_model.objects.get(username="support"))
    BaseRate.objects.filter(valid_from__gte=date(2026, 7, 1)).delete()
    current = half_year_start(timezone.localdate())
    BaseRate.objects.filter(valid_from=current).delete()
    page = client.get(reverse("web:cases")).content.decode()
    assert "keinen Satz für das Halbjahr ab" in page
    # the table is continued up to the current half-year: the warning goes
    day = max(BaseRate.objects.values_list("valid_from", flat=True))
    while day < current:
        day = date(day.year, 7, 1) if day.month == 1 else date(day.year + 1, 1, 1)
        BaseRate.objects.create(valid_from=day, rate=D("1.27"))
    page = client.get(reverse("web:cases")).content.decode()
    assert "keinen Satz für das Halbjahr ab" not in page


# -- Fees: never for the first letter, at most the cap -------------------------------------------


@pytest.mark.django_db
def test_a_fee_on_the_first_letter_is_refused_with_the_reason():
    level = DunningLevel.objects.get(policy__vendor__isnull=True, number=1)
    level.fee = D("1.00")
    with pytest.raises(ValidationError) as refused:
        level.full_clean()
    assert "Verzug" in str(refused.value) and "§ 286 BGB" in str(refused.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        DunningLevel.objects.filter(pk=level.pk).update(fee=D("1.00"))


@pytest.mark.django_db
def test_a_fee_above_the_cost_of_a_letter_is_refused(settings):
    settings.MAHNWERK_DUNNING_FEE_CAP = "2.50"
    level = DunningLevel.objects.get(policy__vendor__isnull=True, number=2)
    level.fee = D("5.00")
    with pytest.raises(ValidationError) as refused:
        level.full_clean()
    assert "2.50" in str(refused.value)
    level.fee = D("2.50")
    level.full_clean()


@pytest.mark.django_db
def test_the_policy_form_refuses_a_fee_for_the_first_letter(admin_client):
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    data = {"name": policy.name, "run_day": 1, "escalate_after_days": 14,
            "minimum_amount": "5.00", "payment_days": 14, "offer_valid_days": 60,
            "default_starts": "after_deadline", "print_within_days": 3, "fees_enabled": "on",
            "levels-TOTAL_FORMS": 2, "levels-INITIAL_FORMS": 2, "levels-MIN_NUM_FORMS": 0,
            "levels-MAX_NUM_FORMS": 1000}
    for index, level in enumerate(policy.levels.order_by("number")):
        data.update({f"levels-{index}-id": level.pk, f"levels-{index}-policy": policy.pk,
                     f"levels-{index}-number": level.number, f"levels-{index}-name": level.name,
                     f"levels-{index}-template": level.template,
                     f"levels-{index}-days_after_previous": level.days_after_previous,
                     f"levels-{index}-handover_column": level.handover_column,
                     f"levels-{index}-fee": ("1.50", "2.00")[index]})
    response = admin_client.post(reverse("admin:dunning_dunningpolicy_change",
                                         args=[policy.pk]), data)
    assert response.status_code == 200
    assert "setzt den Käufer in Verzug" in response.content.decode()
    assert DunningLevel.objects.get(policy=policy, number=1).fee == 0


# -- The letters: off by default, and the right figures when switched on -----------------------

@pytest.fixture
def charging_policy(db) -> DunningPolicy:
    policy = DunningPolicy.objects.get(vendor__isnull=True)
    policy.interest_enabled = policy.fees_enabled = True
    policy.save()
    DunningLevel.objects.filter(policy=policy, number=2).update(fee=D("2.50"))
    return DunningPolicy.objects.prefetch_related("levels").get(pk=policy.pk)


def _run(as_of: date) -> None:
    services.run_month(as_of=as_of, actor="test")
    delivery.deliver_due()


@pytest.mark.django_db
def test_by_default_no_letter_charges_anything():
    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    _run(date(2025, 7, 1))
    _run(date(2025, 8, 1))
    second = Letter.objects.get(case=case, level=2)
    assert (second.principal, second.fees, second.interest) == (D("300.00"), 0, 0)
    case.refresh_from_db()
    assert (case.fees, case.interest, case.charges) == (0, 0, [])


@pytest.mark.django_db
def test_a_second_letter_with_fees_and_interest_and_a_payment_applied_by_section_367(
        charging_policy, client, django_user_model):
    """300.00 open since 01.06.2025; first letter 01.07.2025 (deadline 15.07.), so in default
    from 16.07.; second letter 01.08.2025: 17 days at 6.27 % = 0.88 (first example), fee 2.50:
    303.38 in all. The buyer pays 50.00 on 10.08.: 2.50 costs, 0.88 interest, 46.62 principal:
    253.38 open, nothing else. Then 253.38: paid."""
    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    _run(date(2025, 7, 1))
    first = Letter.objects.get(case=case, level=1)
    assert (first.fees, first.interest) == (0, 0), "the first letter puts in default: free"
    _run(date(2025, 8, 1))
    second = Letter.objects.get(case=case, level=2)
    assert (second.principal, second.fees, second.interest, second.total) == (
        D("300.00"), D("2.50"), D("0.88"), D("303.38"))
    assert "Mahngebühren: 2,50\u00a0€" in second.body_text
    assert "Verzugszinsen: 0,88\u00a0€" in second.body_text
    assert "Gesamtbetrag: 303,38\u00a0€" in second.body_text
    case.refresh_from_db()
    assert (case.open_amount, case.fees, case.interest) == (D("300.00"), D("2.50"), D("0.88"))
    assert case.charges == [{"on": "2025-08-01", "level": 2, "costs": "2.50",
                             "interest": "0.88"}]

    case = payment(case.order, amount="50.00", at=datetime(2025, 8, 10, 9, 0, tzinfo=BERLIN))
    assert (case.open_amount, case.fees, case.interest) == (D("253.38"), 0, 0)
    assert case.state == CaseState.DUNNING

    ensure_demo_users(vendor_id=case.vendor_id)
    client.force_login(django_user_model.objects.get(username="support"))
    page = client.get(reverse("web:case", args=[case.order_id])).content.decode()
    assert "Kosten der 2. Mahnung" in page and "Verzugszinsen bis zur 2. Mahnung" in page

    case = payment(case.order, amount="253.38", at=datetime(2025, 8, 12, 9, 0, tzinfo=BERLIN))
    assert case.state == CaseState.PAID and case.total_owed == 0


@pytest.mark.django_db
def test_a_business_owes_nine_points_and_the_lump_sum_instead_of_the_fee(charging_policy):
    """Second letter on 01.08.2025, in default from 16.07.: 17 days at 1.27 + 9 = 10.27 %:
    300 x 10.27 x 17 / 36500 = 1.43498... -> 1.43; costs: the lump sum of 40.00 (§ 288 (5)
    BGB), against which the 2.50 fee counts: 40.00. Total 341.43."""
    charging_policy.buyers_are_businesses = True
    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2025, 7, 1))
    case.refresh_from_db()
    composed = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                               policy=charging_policy, offer_link="https://x.example/o")
    assert (composed.principal, composed.fees, composed.interest, composed.total) == (
        D("300.00"), D("40.00"), D("1.43"), D("341.43"))


@pytest.mark.django_db
def test_default_may_start_the_day_after_the_first_letter_left(charging_policy):
    """From 02.07.2025 to 01.08.2025: 31 days at 6.27 %: 300 x 6.27 x 31 / 36500 = 1.59756...
    -> 1.60."""
    charging_policy.default_starts = "after_letter"
    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2025, 7, 1))
    case.refresh_from_db()
    composed = letters.compose(case=case, level=2, letter_date=date(2025, 8, 1),
                               policy=charging_policy, offer_link="https://x.example/o")
    assert composed.interest == D("1.60")


@pytest.mark.django_db
def test_a_letter_that_would_charge_interest_without_a_base_rate_says_which_is_missing(
        charging_policy):
    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2026, 5, 1, 9, 0, tzinfo=BERLIN))
    BaseRate.objects.filter(valid_from__gte=date(2026, 7, 1)).delete()
    DebtCase.objects.filter(pk=case.pk).update(first_dunning_letter=date(2026, 6, 1))
    case.refresh_from_db()
    with pytest.raises(letters.NoBaseRate, match=r"01\.07\.2026"):
        letters.compose(case=case, level=2, letter_date=date(2026, 7, 20),
                        policy=charging_policy, offer_link="https://x.example/o")


@pytest.mark.django_db
def test_the_agency_may_collect_principal_costs_and_interest_of_a_charged_case():
    """Found in the demo: the agency's report of what it collected (principal, costs and
    interest, as § 13a RDG makes it claim them) was refused as more than the open amount,
    which is the principal alone."""
    from mahnwerk.collection import reports
    from mahnwerk.collection.models import CollectionPartner

    case = incident(OrderFactory(), open_amount="300.00",
                    at=datetime(2025, 6, 1, 9, 0, tzinfo=BERLIN))
    DebtCase.objects.filter(pk=case.pk).update(fees=D("2.50"), interest=D("0.88"))
    case.refresh_from_db()
    row = reports._Row(line=2, values={"order_id": case.order_id}, taken=date(2025, 9, 1),
                       collected=D("303.38"), collected_on=date(2025, 9, 20))
    partner = CollectionPartner.objects.first() or CollectionPartner(name="Diagonal")
    assert reports._row_problem(row, case, True, None, partner) == ""
    row.collected = D("303.39")
    assert "303,38" in reports._row_problem(row, case, True, None, partner)
