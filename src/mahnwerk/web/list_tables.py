"""A run's decisions, the run preview and the outbox as downloads (CSV and XLSX), each as the
list's current filter shows it. The files are written by the portal's spreadsheet-safe writers
(``portal_lists.as_csv``/``as_xlsx``, through ``mahnwerk.spreadsheet_safety``): a buyer or a
reason that reads ``=HYPERLINK(…)`` stays text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.web.portal_lists import Table
from mahnwerk.web.templatetags.workspace import action_label


def _local(moment: Any) -> Any:
    """A moment as the reader's wall clock, without its zone (a spreadsheet has none)."""
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


def decisions(rows: Iterable[Any]) -> Table:
    """A run's decisions: the case, its vendor and open amount, what the run decided and why,
    and what executing did."""
    rows = list(rows)
    return Table(
        _("Decisions"),
        [_("order id"), _("vendor id"), _("vendor"), _("open amount"), _("currency"),
         _("action"), _("reason"), _("executed"), _("outcome")],
        [[d.case.order_id, d.case.vendor_id, d.case.vendor.name, d.case.open_amount,
          d.case.currency, action_label(d.action, d.level), d.reason, _local(d.executed_at),
          d.outcome] for d in rows],
        [d.case.order_id for d in rows])


def preview(planned: Iterable[Any]) -> Table:
    """The run preview's planned decisions (nothing stored)."""
    planned = list(planned)
    return Table(
        _("Preview"),
        [_("order id"), _("vendor id"), _("open amount"), _("currency"), _("action"),
         _("reason")],
        [[p.facts.order_id, p.facts.vendor_id, p.facts.open_amount, p.facts.currency,
          action_label(p.decision.action, p.decision.level), p.decision.reason]
         for p in planned],
        [p.facts.order_id for p in planned])


def outbox(messages: Iterable[Any]) -> Table:
    """The outbox's messages: the case, the letter, where it goes, how it stands."""
    messages = list(messages)
    return Table(
        _("Outbox"),
        [_("order id"), _("letter"), _("letter date"), _("amount"), _("currency"),
         _("channel"), _("to"), _("status"), _("attempts"), _("last error"), _("sent")],
        [[m.case.order_id, m.letter.level, m.letter.letter_date,
          m.letter.principal + m.letter.fees + m.letter.interest, m.letter.currency,
          str(m.get_channel_display()), m.to_address, str(m.get_status_display()),
          m.attempts, m.last_error, _local(m.sent_at)] for m in messages],
        sorted({m.case.order_id for m in messages}))


__all__ = ["decisions", "outbox", "preview"]
