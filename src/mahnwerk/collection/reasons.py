"""The reasons the collection app writes onto a case's timeline, as codes (``mahnwerk.reasons``):
the vendor's approval, the handover to an agency, the agency's report, the old master lists.

Registered when the app is ready; the words are looked up when someone reads the timeline. A
person's own words (a vendor's reason, support's note) are parameters, never translated.
"""

from django.utils.translation import gettext_lazy as _

from mahnwerk.reasons import register, register_kind, register_labels


def _who(value: object) -> str:
    """Who decided, in words: the actor ``portal:<login>`` is the vendor in its portal,
    ``link:<vendor>`` the approval e-mail's link, ``cli:`` and ``admin:`` the command line and
    the administration; any other actor (a person's login) stays as it is."""
    if not isinstance(value, str) or ":" not in value:
        return str(value)
    where, name = value.split(":", 1)
    words = {"portal": _("vendor portal"), "link": _("link of the approval e-mail"),
             "cli": _("command line"), "admin": _("administration")}.get(where)
    return f"{name} ({words})" if words else value


register_kind("approver", _who)

# An empty name or channel reads as "not set" (``label:<group>`` with the value "").
register_labels("manager", {"": _("(none set)")})
register_labels("chat", {"": _("(no channel set)")})

# -- The vendor's approval --------------------------------------------------------------------
APPROVED = register("collection.approved", _("Approved for collection by %(who)s."),
                    who="approver")
APPROVED_SAYING = register("collection.approved_saying",
                           _("Approved for collection by %(who)s. %(reason)s"), who="approver")
CANCEL_REQUESTED = register("collection.cancel_requested",
                            _("Cancellation requested by %(who)s; the case leaves the list."),
                            who="approver")
CANCEL_REQUESTED_SAYING = register(
    "collection.cancel_requested_saying",
    _("Cancellation requested by %(who)s; the case leaves the list. %(reason)s"), who="approver")
APPROVAL_ASKED = register("collection.approval_asked",
                          _("Approval asked of %(vendor)s (%(email)s)."))
APPROVAL_REMINDED = register("collection.approval_reminded",
                             _("No answer from %(vendor)s; reminder sent."))
APPROVAL_ESCALATED = register(
    "collection.approval_escalated",
    _("Still no answer: escalated to relationship manager %(manager)s, to write to the vendor "
      "in %(channel)s."), manager="label:manager", channel="label:chat")

# -- The route economics ---------------------------------------------------------------------------
BELOW_HANDOVER_MINIMUM = register(
    "collection.below_handover_minimum",
    _("Not handed over to the agency: the open amount %(amount)s is below the policy's "
      "minimum of %(minimum)s."), amount="money", minimum="money")
WITHDRAWN = register(
    "collection.withdrawn",
    _("Withdrawn from %(partner)s by %(who)s; the agency charges a withdrawal fee of %(fee)s."),
    who="approver", fee="money")
WITHDRAWN_SAYING = register(
    "collection.withdrawn_saying",
    _("Withdrawn from %(partner)s by %(who)s; the agency charges a withdrawal fee of %(fee)s. "
      "%(reason)s"), who="approver", fee="money")

# -- The handover and the agency's report -------------------------------------------------------
HANDED_OVER = register("collection.handed_over",
                       _("Handed over to %(partner)s in %(file)s (export #%(export)s)."))
TAKEOVER = register("collection.takeover",
                    _("Takeover by %(partner)s on %(date)s (file %(ref)s)."), date="date")
REPORT_ROW_CLEARED = register(
    "collection.report_row_cleared",
    _("Agency report %(file)s, line %(line)s (%(problem)s) cleared: %(note)s"))

# -- The old master lists -----------------------------------------------------------------------
LEGACY = register("collection.legacy",
                  _("Taken over from the old master list %(file)s, line %(line)s."))
LEGACY_NOTE = register("collection.legacy_note", _("From the old master list: %(text)s"))
LEGACY_STATUS = register("collection.legacy_status",
                         _("From the old master list: [old status: %(status)s]"))
LEGACY_NOTE_STATUS = register(
    "collection.legacy_note_status",
    _("From the old master list: %(text)s [old status: %(status)s]"))
