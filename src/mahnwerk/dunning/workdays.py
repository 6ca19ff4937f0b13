"""Working days: how long a paper letter has waited for the print shop (Monday to Friday,
German public holidays excluded, from the holidays library)."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from mahnwerk.dunning.models import Channel, DeliveryStatus, OutboxMessage


def print_waiting_too_long(*, message: OutboxMessage, allowed_working_days: int,
                           today: date | None = None) -> bool:
    """Has a paper letter waited for printing longer than the policy allows (working days,
    German public holidays excluded)?"""
    if message.channel != Channel.PRINT or message.status != DeliveryStatus.QUEUED:
        return False
    return working_days_between(message.print_since or message.letter.letter_date,
                                today or timezone.localdate()) > allowed_working_days


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (Monday to Friday, German
    public holidays excluded, by the holidays library)."""
    import holidays

    if end <= start:
        return 0
    closed = holidays.country_holidays("DE", years=range(start.year, end.year + 1))
    days = 0
    day = start + timedelta(days=1)
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            days += 1
        day += timedelta(days=1)
    return days


def waited_too_long_up_to(*, allowed_working_days: int, today: date) -> date:
    """The latest letter date that has waited longer than ``allowed_working_days`` by
    ``today``: ``working_days_between(day, today) > allowed_working_days`` exactly for the
    days up to and including it (so a list can ask the database for those letters only)."""
    import holidays

    # The library adds an earlier year's holidays by itself when a day of it is asked for.
    closed = holidays.country_holidays("DE", years=today.year)
    counted = 0
    day = today
    while True:
        if day.weekday() < 5 and day not in closed:
            counted += 1  # ``day`` lies in (day - 1, today]
        day -= timedelta(days=1)
        if counted > allowed_working_days:
            return day
