"""What a buyer owes on a case, part by part: principal, costs and interest (pure functions).

    allocate        § 367 BGB: a payment pays the costs first, then the interest, then the
                    principal; what is left over is a surplus
    interest        default interest on a balance for a span of days (§ 288 BGB), split at every
                    change of the base rate (§ 247 BGB: each 1 January and 1 July), actual/365,
                    not rounded
    settle          a case's claim after its charges (the costs and interest each letter claimed)
                    and payments, in the order of their days; with ``accrual``, the interest
                    that ran on the open principal from the day of default

Nothing here reads the database: the callers pass the payments, the charges and the base rates
(``dunning.models.BaseRate``), so the same figures come out in a letter, on the case page and in
the tests' worked examples.

Days: interest runs for every day from the day of default up to and including the last day
asked for, on the principal open at the end of that day (a payment on a day counts for that
day). A year has 365 days, also a leap year (actual/365, "act/365 fixed": docs/process-reading.md
says why). Amounts are not rounded until the end: ``round_cents`` rounds half up to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
YEAR_DAYS = Decimal(365)
#: § 288 (1) and (2) BGB: percentage points above the base rate.
CONSUMER_POINTS = Decimal("5")
BUSINESS_POINTS = Decimal("9")
#: § 288 (5) BGB: the lump sum a business in default owes (EUR).
LUMP_SUM = Decimal("40.00")


def round_cents(amount: Decimal) -> Decimal:
    """Half up to the cent (0.005 -> 0.01), as a court computes it."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def half_year_start(day: date) -> date:
    """The first day of the half-year ``day`` lies in (1 January or 1 July)."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def next_half_year(start: date) -> date:
    return date(start.year, 7, 1) if start.month == 1 else date(start.year + 1, 1, 1)


class MissingBaseRate(LookupError):
    """A day in default lies in a half-year for which the base-rate table has no rate."""

    def __init__(self, half_year: date) -> None:
        super().__init__(half_year)
        self.half_year = half_year


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one payment was applied (§ 367 BGB)."""

    costs: Decimal
    interest: Decimal
    principal: Decimal
    surplus: Decimal


def allocate(payment: Decimal, *, costs: Decimal, interest: Decimal,
             principal: Decimal) -> Allocation:
    """Apply ``payment`` to what is open: costs first, then interest, then principal (§ 367 (1)
    BGB); more than all three is a surplus. Nothing open or paid may be negative."""
    if min(payment, costs, interest, principal) < 0:
        raise ValueError("amounts must not be negative")
    to_costs = min(payment, costs)
    rest = payment - to_costs
    to_interest = min(rest, interest)
    rest -= to_interest
    to_principal = min(rest, principal)
    return Allocation(costs=to_costs, interest=to_interest, principal=to_principal,
                      surplus=rest - to_principal)


def rate_for(rates: dict[date, Decimal], day: date) -> Decimal:
    """The base rate (% p.a.) of the half-year of ``day``."""
    start = half_year_start(day)
    if start not in rates:
        raise MissingBaseRate(start)
    return rates[start]


def interest(balance: Decimal, *, points: Decimal, rates: dict[date, Decimal], first: date,
             last: date) -> Decimal:
    """Interest at base rate + ``points`` on ``balance`` for the days ``first`` to ``last``
    (both counted), each half-year at its own rate; not rounded."""
    total = Decimal(0)
    if balance <= 0 or last < first:
        return total
    start = first
    while start <= last:
        end = min(last, next_half_year(half_year_start(start)) - timedelta(days=1))
        days = (end - start).days + 1
        total += balance * (rate_for(rates, start) + points) / Decimal(100) * days / YEAR_DAYS
        start = end + timedelta(days=1)
    return total


@dataclass(frozen=True, slots=True)
class Charge:
    """What one letter claimed on top of the principal: its costs and the interest up to its
    day (stored on the case, ``DebtCase.charges``)."""

    on: date
    level: int
    costs: Decimal
    interest: Decimal

    def as_json(self) -> dict[str, str | int]:
        return {"on": self.on.isoformat(), "level": self.level, "costs": str(self.costs),
                "interest": str(self.interest)}

    @classmethod
    def from_json(cls, data: dict[str, str | int]) -> Charge:
        return cls(on=date.fromisoformat(str(data["on"])), level=int(data["level"]),
                   costs=Decimal(str(data["costs"])), interest=Decimal(str(data["interest"])))


@dataclass(frozen=True, slots=True)
class Paid:
    on: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Accrual:
    """Default interest: from ``since`` (the first day in default) at base rate + ``points``."""

    since: date
    points: Decimal
    rates: dict[date, Decimal]


@dataclass(frozen=True, slots=True)
class Claim:
    """What is open after the charges and payments, and what was paid to each part."""

    principal: Decimal
    costs: Decimal
    interest: Decimal
    surplus: Decimal = ZERO
    paid: Allocation = field(default_factory=lambda: Allocation(ZERO, ZERO, ZERO, ZERO))
    #: The interest that ran from the day of default to ``until`` (not rounded; zero without
    #: an accrual): what a letter on that day may claim in all.
    accrued: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.principal + self.costs + self.interest


def settle(*, principal: Decimal, charges: Iterable[Charge] = (),
           payments: Iterable[Paid] = (), accrual: Accrual | None = None,
           until: date | None = None) -> Claim:
    """The claim after ``charges`` and ``payments``, day by day in their order.

    On one day the payments come first, then the charges: a payment made on the day of a
    letter was not made because of it, and pays what was claimed before. With ``accrual`` and
    ``until``, interest runs on the open principal from ``accrual.since`` to ``until``:
    ``Claim.accrued``."""
    events: list[tuple[date, int, Charge | Paid]] = [(p.on, 0, p) for p in payments]
    events += [(c.on, 1, c) for c in charges]
    events.sort(key=lambda event: (event[0], event[1]))
    owed_principal, owed_costs, owed_interest = principal, ZERO, ZERO
    paid = [ZERO, ZERO, ZERO, ZERO]
    accrued = Decimal(0)
    counted_to = accrual.since - timedelta(days=1) if accrual else None

    def run_to(day: date) -> None:  # interest for the days after ``counted_to`` up to ``day``
        nonlocal accrued, counted_to
        if accrual is None or counted_to is None or day <= counted_to:
            return
        accrued += interest(owed_principal, points=accrual.points, rates=accrual.rates,
                            first=counted_to + timedelta(days=1), last=day)
        counted_to = day

    for on, _order, event in events:
        run_to(on - timedelta(days=1))
        if isinstance(event, Paid):
            share = allocate(event.amount, costs=owed_costs, interest=owed_interest,
                             principal=owed_principal)
            owed_costs -= share.costs
            owed_interest -= share.interest
            owed_principal -= share.principal
            paid = [paid[0] + share.costs, paid[1] + share.interest,
                    paid[2] + share.principal, paid[3] + share.surplus]
        else:
            owed_costs += event.costs
            owed_interest += event.interest
    if until is not None:
        run_to(until)
    return Claim(principal=owed_principal, costs=owed_costs, interest=owed_interest,
                 surplus=paid[3], paid=Allocation(*paid), accrued=accrued)


def charges_of(data: Sequence[dict[str, str | int]]) -> list[Charge]:
    """The charges as the case stores them (JSON)."""
    return [Charge.from_json(item) for item in data]


def with_charge(data: Sequence[dict[str, str | int]], charge: Charge) -> list[dict[str, str | int]]:
    """The stored charges with ``charge`` in place of any earlier one of the same level (a
    letter written again after it was withdrawn claims once)."""
    kept = [item for item in data if int(item["level"]) != charge.level]
    return sorted([*kept, charge.as_json()], key=lambda item: (str(item["on"]), int(item["level"])))
