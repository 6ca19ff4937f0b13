"""The reasons the cases app writes onto a case's timeline, as codes (``mahnwerk.reasons``).

Registered when the app is ready; the words are looked up when someone reads the timeline.
"""

from django.utils.translation import gettext_lazy as _

from mahnwerk.cases.states import CaseState
from mahnwerk.intake.addresses import describe
from mahnwerk.intake.models import IncidentKind
from mahnwerk.reasons import register, register_kind, register_labels

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
# A payment that came by bank transfer names the statement line it was read from.
PAID_BY_TRANSFER = register(
    "case.paid_by_transfer",
    _("Paid in full by bank transfer (%(paid)s since the incident; statement %(statement)s, "
      "booking %(entry)s)."), paid="money")
PAYMENT_BY_TRANSFER = register(
    "case.payment_by_transfer",
    _("Bank transfer received (statement %(statement)s, booking %(entry)s); %(open)s still "
      "open."), open="money")
INCIDENT = register("case.incident",
                    _("Incident %(id)s: %(kind)s; %(open)s open, the dunning goes on."),
                    kind="label:incident", open="money")
REORDERED = register("case.reordered", _("Reopened as order %(order)s."))
RECLOSED = register("case.reclosed", _("Re-closed by sales agent %(agent)s as order %(order)s."))
NOTE_INTERNAL = register("case.note_internal", _("Internal note: %(text)s"))
NOTE_SHARED = register("case.note_shared", _("Shared note: %(text)s"))
MARKED_YELLOW = register("case.marked_yellow", _("Marked yellow (pursue): %(reason)s"))
MARKED_GREY = register("case.marked_grey", _("Marked grey (do not pursue): %(reason)s"))

# -- Corrections: support's overrides and the address flag that follows the buyer's address -----

NOT_REORDERED = register("case.not_reordered", _("Not a reorder (order %(new)s): %(reason)s"))

register_labels("address_flag", {"invalid": _("invalid"), "valid": _("valid")})


def _address_problems(value: object) -> str:
    """``{"codes": [...], "postcode": ..., "country": ...}``: what is wrong with an address."""
    if not isinstance(value, dict):
        return str(value)
    return describe(list(value.get("codes") or []), postcode=value.get("postcode") or "",
                    country=value.get("country") or "")


register_kind("address_problems", _address_problems)


def address_problems_param(codes: list[str], *, postcode: str, country: str) -> dict[str, object]:
    return {"codes": list(codes), "postcode": postcode or "", "country": country or ""}


ADDRESS_SET_INVALID = register("case.address_set_invalid",
                               _("Address set invalid by hand: %(reason)s"))
ADDRESS_SET_VALID = register("case.address_set_valid", _("Address set valid by hand: %(reason)s"))
ADDRESS_COMPUTED = register(
    "case.address_computed",
    _("Address flag back to the computed value (%(flag)s): %(reason)s"), flag="label:address_flag")

# The buyer's newest known address changed the computed flag: what the address is, and what
# that means for the case (now flagged, no longer flagged, or the flag set by hand stays).
ADDRESS_UNUSABLE = register(
    "case.address_unusable",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is not "
      "usable: %(problems)s."), date="date", problems="address_problems")
ADDRESS_UNUSABLE_FLAGGED = register(
    "case.address_unusable_flagged",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is not "
      "usable: %(problems)s. The case is now flagged: invalid address."),
    date="date", problems="address_problems")
ADDRESS_UNUSABLE_BY_HAND = register(
    "case.address_unusable_by_hand",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is not "
      "usable: %(problems)s. The flag set by hand (%(flag)s, by %(who)s) stays."),
    date="date", problems="address_problems", flag="label:address_flag")
ADDRESS_COMPLETE = register(
    "case.address_complete",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is "
      "complete."), date="date")
ADDRESS_COMPLETE_UNFLAGGED = register(
    "case.address_complete_unflagged",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is "
      "complete. The case is no longer flagged as an invalid address."), date="date")
ADDRESS_COMPLETE_BY_HAND = register(
    "case.address_complete_by_hand",
    _("The buyer's newest known address (order %(order)s of %(date)s: %(address)s) is "
      "complete. The flag set by hand (%(flag)s, by %(who)s) stays."),
    date="date", flag="label:address_flag")
