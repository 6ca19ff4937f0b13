"""The reasons the demo writes onto the timelines of its earlier months (``month.history``),
as codes: the letters and handovers of months before the one it plays are summarised, not
played letter by letter."""

from django.utils.translation import gettext_lazy as _

from mahnwerk.reasons import register

HISTORY_LETTER = register(
    "demo.history_letter",
    _("Dunning letter %(level)s of an earlier month (the demo's history of the routes)."))
HISTORY_ESCALATED = register(
    "demo.history_escalated",
    _("Two letters unpaid: the vendor was asked (the demo's history of the routes)."))
HISTORY_HANDED_OVER = register(
    "demo.history_handed_over",
    _("Handed over to %(partner)s, taken over on %(date)s (the demo's history of the routes)."),
    date="date")
