"""The base-rate table's rule (§ 247 BGB: one rate per half-year, each 1 January and 1 July):
``table_problems`` says why a table with rows starting on these days would be wrong (a day that
is not 1 January or 1 July, two rows in one half-year, a missing half-year between the first and
the last row), naming the dates. ``dunning.rates`` reads the table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

from django.utils.translation import gettext as _

from mahnwerk.cases.claims import half_year_start, next_half_year
from mahnwerk.formats import format_day


def _half_year(start: date) -> str:
    end = next_half_year(start) - timedelta(days=1)
    return f"{format_day(start)}–{format_day(end)}"


def table_problems(days: Iterable[date], *, new: date | None = None) -> list[str]:
    """What is wrong with a table whose rows start on ``days`` ([] when nothing); ``new``: the
    row being saved, named first."""
    days = list(days)
    problems: list[str] = []
    for day in sorted(set(days)):
        if day != half_year_start(day):
            problems.append(_(
                "The base rate changes only on 1 January and 1 July: a rate from %(day)s "
                "overlaps the half-year %(half)s, which has one rate.")
                % {"day": format_day(day), "half": _half_year(half_year_start(day))})
    starts = Counter(half_year_start(day) for day in days)
    for start, count in sorted(starts.items()):
        if count > 1:
            clashing = sorted(day for day in days if half_year_start(day) == start)
            problems.append(_(
                "Overlap: %(days)s are in the same half-year %(half)s, which has one rate.")
                % {"days": ", ".join(format_day(day) for day in clashing),
                   "half": _half_year(start)})
    if starts:
        ordered = sorted(starts)
        start, gaps = ordered[0], []
        while start < ordered[-1]:
            if start not in starts:
                gaps.append(start)
            start = next_half_year(start)
        if gaps:
            problems.append(_(
                "Gap: the half-years from %(days)s have no rate, between %(before)s and "
                "%(after)s. Enter every half-year in order.")
                % {"days": ", ".join(format_day(day) for day in gaps),
                   "before": format_day(max(d for d in ordered if d < gaps[0])),
                   "after": format_day(min(d for d in ordered if d > gaps[-1]))})
    if new is not None:
        problems.sort(key=lambda text: format_day(new) not in text)
    return problems


