"""The reasons of the dunning app, as codes (``mahnwerk.reasons``): why a run decided what it
did for a case, what executing it did, and the letter lines on a case's timeline."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mahnwerk.cases.states import CaseState
from mahnwerk.dunning.models import Channel, DeliveryStatus
from mahnwerk.reasons import register, register_kind, register_labels

register_labels("state", dict(CaseState.choices))
register_labels("channel", dict(Channel.choices))
register_labels("delivery", dict(DeliveryStatus.choices))


def _days(value: object) -> str:
    """A number of days with its noun, singular or plural ("1 Tag", "14 Tage")."""
    try:
        count = int(str(value))
    except ValueError:
        return str(value)
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}


register_kind("days", _days)

# -- why a run decided what it did -------------------------------------------------------------
NOT_ENROLLED = register("run.not_enrolled", _("vendor not enrolled in dunning"))
AGENCY_SENDS = register("run.agency_sends",
                        _("the agency sends this vendor's letters (transitional process)"))
BLOCKED = register("run.blocked", _("blocked: %(reason)s"))
REORDERED = register("run.reordered", _("reopened as order %(order)s"))
NO_ACCOUNT = register("run.no_account", _("product %(product)s has no dunning account"))
BELOW_MINIMUM = register("run.below_minimum",
                         _("open amount %(amount)s below the minimum %(minimum)s"),
                         amount="money", minimum="money")
VENDOR_DECLINED = register("run.vendor_declined",
                           _("the vendor chose not to pursue this order"))
NOT_MARKED = register("run.not_marked", _("not marked for pursuit by the vendor"))
NOT_IN_DUNNING = register("run.state", _("the case is %(state)s"), state="label:state")
WAITING_PRINT = register(
    "run.waiting_print",
    _("letter %(level)s waits in the print queue since %(since)s: it counts once it is posted"),
    since="date")
WAITING_EMAIL = register(
    "run.waiting_email",
    _("letter %(level)s waits to be sent by e-mail since %(since)s: it counts once it left"),
    since="date")
UNDELIVERED = register(
    "run.undelivered",
    _("letter %(level)s did not reach the buyer (e-mail %(status)s since %(since)s): send it "
      "by post first"), status="label:delivery", since="date")
UNREACHABLE = register(
    "run.unreachable",
    _("the buyer has neither an e-mail address nor a usable postal address: correct the "
      "address first"))
DUE = register("run.due", _("letter %(level)s due since %(date)s"), date="date")
NOT_DUE = register("run.not_due", _("letter %(level)s not due before %(date)s"), date="date")
ESCALATE = register("run.escalate", _("unpaid %(days)s after letter %(level)s left"),
                    days="days")
ESCALATION_NOT_DUE = register("run.escalation_not_due",
                              _("escalation not due before %(date)s"), date="date")

# -- what executing it did ------------------------------------------------------------------
QUEUED = register("out.queued", _("letter %(level)s queued (%(channel)s)"),
                  channel="label:channel")
NOT_SENT_STATE = register("out.not_sent", _("not sent: the case is now %(state)s"),
                          state="label:state")
SENT_BEFORE = register("out.sent_before",
                       _("not sent: letter %(level)s of this cycle was written before"))
ASKED_VENDOR = register("out.asked_vendor", _("vendor asked to attach the dunning account"))
MARKED_GREY = register("out.marked_grey", _("marked grey"))
EXCLUDED = register("out.excluded", _("excluded (grey)"))
NOT_ESCALATED = register("out.not_escalated", _("not escalated: the case is now %(state)s"),
                         state="label:state")
CHANGED = register("out.changed",
                   _("not applied: the case changed since the run decided (it is now "
                     "%(state)s); the next run decides anew"), state="label:state")
ESCALATED = register("out.escalated", _("to the collection list (%(state)s)"),
                     state="label:state")

# -- the timeline ---------------------------------------------------------------------------
LETTER_QUEUED = register("letter.queued", _("Letter %(level)s (run #%(run)s) to %(to)s."))
LETTER_TO_PRINT = register("letter.to_print",
                           _("Letter %(level)s (run #%(run)s) to the print queue."))
LETTER_LEFT = register("letter.left", _("Letter %(level)s left by e-mail to %(to)s on %(date)s."),
                       date="date")
LETTER_POSTED = register("letter.posted", _("Letter %(level)s posted on %(date)s."), date="date")
LETTER_REDATED = register(
    "letter.posted_redated",
    _("Letter %(level)s posted on %(date)s, later than its run: dated that day, to be paid "
      "by %(deadline)s."), date="date", deadline="date")
LETTER_FAILED = register("letter.failed",
                         _("Letter %(level)s could not be delivered to %(to)s: %(error)s"))
LETTER_BOUNCED = register("letter.bounced", _("Letter %(level)s to %(to)s bounced: %(reason)s"))
LETTER_BY_POST = register("letter.by_post",
                          _("Letter %(level)s goes by post instead (%(who)s)."))
ESCALATED_CASE = register(
    "collection.escalated",
    _("Escalated to collection: unpaid %(days)s after letter %(level)s left."), days="days")
