"""Filters of the workspace templates: money, states, actions and times as people read them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases import display
from mahnwerk.cases.models import EventKind
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning.models import Action, Channel, DeliveryStatus
from mahnwerk.intake.models import IncidentKind, PaymentChannel
from mahnwerk.money import format_money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """``{{ case.open_amount|money:case.currency }}`` → ``1.234,50 €``."""
    if amount is None:
        return display.NONE
    return format_money(amount, currency)


@register.filter
def state_label(state: str) -> str:
    try:
        return display.state_label(state)
    except ValueError:
        return state


@register.filter
def incasso_label(code: str) -> str:
    return display.incasso_label(code)


@register.filter
def ledger_label(line: Any) -> str:
    """What a line of ``cases.selectors.order_ledger`` is: the incident's kind or the
    payment's channel, in words; a letter's costs or interest with its level."""
    if line.kind == "charge":
        if line.what == "costs":
            return _("costs of letter %(level)s") % {"level": line.id}
        return _("default interest up to letter %(level)s") % {"level": line.id}
    choices = IncidentKind if line.kind == "incident" else PaymentChannel
    try:
        return str(choices(line.what).label)
    except ValueError:
        return line.what


@register.filter
def pursue_label(pursue: bool) -> str:
    return display.pursue_label(pursue)


@register.filter
def action_label(action: str, level: Any = None) -> str:
    """``{{ decision.action|action_label:decision.level }}`` → ``Brief senden (1)``."""
    try:
        label = str(Action(action).label)
    except ValueError:
        label = action
    return f"{label} ({level})" if level else label


@register.filter
def count_label(key: str) -> str:
    """A key of a run's counts as words: ``send3`` → ``3. Mahnung`` (any level, as the run's
    summary says it), ``skip`` → ``überspringen``."""
    level = dunning_selectors.sent_level(key)
    if level is not None:
        return dunning_selectors.letter_label(level)
    action = key.rstrip("0123456789")
    return action_label(action, key[len(action):] or None)


@register.filter
def event_label(kind: str) -> str:
    try:
        return str(EventKind(kind).label)
    except ValueError:
        return kind


@register.filter
def delivery_label(status: str) -> str:
    try:
        return str(DeliveryStatus(status).label)
    except ValueError:
        return status


@register.filter
def channel_label(channel: str) -> str:
    try:
        return str(Channel(channel).label)
    except ValueError:
        return channel


@register.filter
def iso_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 text (as the selectors give it) as a local date-time for ``|date``."""
    if not value:
        return None
    return timezone.localtime(datetime.fromisoformat(value))


@register.filter
def event_moment(event: dict[str, Any]) -> dict[str, str]:
    """``{% with when=event|event_moment %}``: the business date first (``when.main``), and
    the moment it was recorded when that was another day (``when.recorded``)."""
    return display.event_moment(event)
