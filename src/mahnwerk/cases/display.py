"""How a case reads for a person: the yellow/grey mark, money, dates, a table, a text block.

Shared by the admin and support's command line, so that both say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase, NoteVisibility
from mahnwerk.cases.states import CaseState
from mahnwerk.money import format_money

#: The colours of the old master lists: yellow = pursue, grey = do not pursue.
PURSUE_COLOURS = {True: "#f4c430", False: "#9e9e9e"}
NONE = "–"


def pursue_label(pursue: bool) -> str:
    return _("yellow") if pursue else _("grey")


def money(amount: Decimal, currency: str) -> str:
    """An amount with its currency as the reader writes it (German: 1.234,50 €)."""
    return format_money(amount, currency)


def day(value: date | None) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT") if value else NONE


def letters(case: DebtCase) -> str:
    """The dates of the first and second dunning letter, e.g. ``01.06.2026 / –``."""
    if not case.first_dunning_letter and not case.second_dunning_letter:
        return NONE
    return f"{day(case.first_dunning_letter)} / {day(case.second_dunning_letter)}"


def yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def state_label(state: str) -> str:
    return str(CaseState(state).label)


def incasso_label(code: str) -> str:
    """The handover file's incasso_state in words (the file itself carries the code)."""
    labels = {
        "": _("in commercial dunning"),
        "on_hold": _("held before collection"),
        "sent_for_collection": _("with the agency"),
        "paid": _("paid"),
        "canceled": _("cancelled"),
        "blocked": _("blocked"),
    }
    return labels.get(code, code)


def table_rows(cases: Sequence[DebtCase]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the case list as support reads it."""
    field = DebtCase._meta.get_field
    header = [str(field("order").verbose_name), str(field("vendor").verbose_name),
              str(field("state").verbose_name), _("mark"), str(field("open_amount").verbose_name),
              _("letters"), str(field("reopened_id").verbose_name)]
    rows = [[case.order_id, _shorten(case.vendor.name, 32), state_label(case.state),
             pursue_label(case.pursue), money(case.open_amount, case.currency), letters(case),
             case.reopened_id or NONE]
            for case in cases]
    return header, rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                         strict=True)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
             .rstrip() for line in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"


def case_block(case: DebtCase, *, timeline: Sequence[dict[str, Any]],
               notes: Sequence[dict[str, Any]]) -> str:
    """One case with its timeline and notes, as a block of text."""
    field = DebtCase._meta.get_field
    order = case.order

    def label(name: str) -> str:
        return str(field(name).verbose_name)

    address = (f"{yes_no(True)} ({case.address_problem_text})" if case.invalid_address
               else yes_no(False))
    reopened = (f"{yes_no(True)} ({case.reopened_id})" if case.reopened else yes_no(False))
    buyer = f"{order.buyer_first_name} {order.buyer_last_name}".strip()
    pairs = [
        (label("state"), f"{state_label(case.state)} ({pursue_label(case.pursue)})"),
        (label("vendor"), f"{case.vendor.name} ({case.vendor_id})"),
        (str(order._meta.get_field("product").verbose_name),
         f"{order.product.name} ({order.product_id})"),
        (_("buyer"), f"{buyer} <{order.buyer_email}> ({order.buyer_id})"),
        (label("trigger"), case.get_trigger_display()),
        (label("open_amount"), money(case.open_amount, case.currency)),
        (label("first_invoice_number"), case.first_invoice_number or NONE),
        (label("first_dunning_letter"), day(case.first_dunning_letter)),
        (label("second_dunning_letter"), day(case.second_dunning_letter)),
        (label("incasso_date"), day(case.incasso_date)),
        (label("offer_link"), case.offer_link or NONE),
        (label("reopened"), reopened),
        (_("invalid address"), address),
    ]
    if case.block_reason:
        pairs.append((label("block_reason"), case.block_reason))
    if case.anonymised_at:
        pairs.append((label("anonymised_at"), day(timezone.localtime(case.anonymised_at).date())))
    width = max(len(name) for name, _value in pairs) + 1
    lines = [f"{_('Case')} {case.order_id}", ""]
    lines += [f"{(name + ':').ljust(width)} {value}" for name, value in pairs]
    lines += ["", f"{_('Timeline')}:"]
    for event in timeline:
        when = event_moment(event)
        moment = when["main"]
        if when["recorded"]:
            moment += f" ({_('recorded')} {when['recorded']})"
        move = ""
        if event["from_state"] != event["to_state"]:
            move = f" [{state_label(event['from_state'])} → {state_label(event['to_state'])}]"
        lines.append(f"  {moment}  {event['by']}{move}: {event['reason']}")
    lines += ["", f"{_('Notes')}:"]
    if not notes:
        lines.append(f"  {NONE}")
    for note in notes:
        moment = formats.date_format(_local(note["at"]), "SHORT_DATETIME_FORMAT")
        shared = note["visibility"] == NoteVisibility.SHARED
        lines.append(f"  {moment}  {note['by']} ({_('shared') if shared else _('internal')}): "
                     f"{note['text']}")
    return "\n".join(lines)


def event_moment(event: dict[str, Any]) -> dict[str, str]:
    """When a timeline event (``selectors.timeline``) happened, as people read it: ``main`` is
    its business date, or the moment it was recorded when that is the same day (or the event
    has no business date of its own); ``recorded`` is the moment of recording when it was
    another day, else empty."""
    recorded = _local(event["at"])
    business = date.fromisoformat(event["date"]) if event.get("date") else recorded.date()
    moment = formats.date_format(recorded, "SHORT_DATETIME_FORMAT")
    if business == recorded.date():
        return {"main": moment, "recorded": ""}
    return {"main": day(business), "recorded": moment}


def _local(iso: str) -> datetime:
    return timezone.localtime(datetime.fromisoformat(iso))
