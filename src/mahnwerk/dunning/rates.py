"""The base-rate table (§ 247 BGB) as the database holds it (``dunning.models.BaseRate``).

    rates           the table as ``{half-year start: rate}`` for ``cases.claims``
    missing_now     the current half-year's start when it has no rate (the workspace warns)
    deletable       whether a row may be deleted without leaving a gap
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import timezone

from mahnwerk.cases.claims import half_year_start
from mahnwerk.dunning.models import BaseRate


def rates() -> dict[date, Decimal]:
    return dict(BaseRate.objects.values_list("valid_from", "rate"))


def missing_now(today: date | None = None) -> date | None:
    """The current half-year's first day when the table has no rate for it, else None."""
    start = half_year_start(today or timezone.localdate())
    return None if BaseRate.objects.filter(valid_from=start).exists() else start


def deletable(rate: BaseRate) -> bool:
    """Only the first or the last row may go: any other would leave a gap."""
    first = BaseRate.objects.order_by("valid_from").values_list("valid_from", flat=True).first()
    last = BaseRate.objects.order_by("-valid_from").values_list("valid_from", flat=True).first()
    return rate.valid_from in (first, last)
