"""The reasons the cases app writes onto a case's timeline, as codes (``mahnwerk.reasons``).

Registered when the app is ready; the words are looked up when someone reads the timeline.
"""

from django.utils.translation import gettext_lazy as _

from mahnwerk.cases.states import CaseState
from mahnwerk.intake.models import IncidentKind
from mahnwerk.reasons import register, register_labels

register_labels("state", dict(CaseState.choices))
register_labels("incident", dict(IncidentKind.choices))

OPENED = register("case.opened", _("Debt recorded: %(kind)s, %(amount)s open."),
                  kind="label:incident", amount="money")
PAID = register("case.paid", _("Paid in full (%(paid)s since the incident)."), paid="money")
NEW_CYCLE = register(
    "case.new_cycle",
    _("New debt: %(kind)s on %(date)s, %(amount)s open. Dunning cycle %(cycle)s starts again "
      "at the first letter."),
    kind="label:incident", date="date", amount="money")
PAYMENT = register("case.payment", _("Payment received; %(open)s still open."), open="money")
INCIDENT = register("case.incident",
                    _("Incident %(id)s: %(kind)s; %(open)s open, the dunning goes on."),
                    kind="label:incident", open="money")
REORDERED = register("case.reordered", _("Reopened as order %(order)s."))
RECLOSED = register("case.reclosed", _("Re-closed by sales agent %(agent)s as order %(order)s."))
NOTE_INTERNAL = register("case.note_internal", _("Internal note: %(text)s"))
NOTE_SHARED = register("case.note_shared", _("Shared note: %(text)s"))
