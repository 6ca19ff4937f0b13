"""``mahnwerk case ORDER_ID [ACTION --reason TEXT [--shared]] [--format json]``

Without an action the case is shown with its timeline and notes. An action calls one case
service: block, unblock, note; address-valid, address-invalid (the address flag set by hand),
address-computed (back to the flag computed from the buyer's newest address), not-reordered
(undo a reorder match); approve and cancel (from the collection app). To add one, add an entry
to ``ACTIONS``.
"""

import getpass
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk.cases import access_log, display, services
from mahnwerk.cases.actions import ACTIONS
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.cases.selectors import case_to_dict, get_case, notes, order_exists, timeline


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "unknown"


class Command(BaseCommand):
    help = _("Show one debt case with its timeline and notes, or act on it: block, unblock, "
             "add a note, set the address flag by hand or undo a reorder match, each with a "
             "reason.")

    def add_arguments(self, parser):
        parser.add_argument("order_id", help=_("the order id of the case"))
        parser.add_argument("action", nargs="?", choices=list(ACTIONS),
                            help=_("what to do; without it, the case is shown"))
        parser.add_argument("--reason", default="",
                            help=_("why (for a note: its text); required with an action"))
        parser.add_argument("--shared", action="store_true",
                            help=_("note only: the vendor and the agency may see it"))
        parser.add_argument("--as", dest="as_user", default="",
                            help=_("who acts, for the timeline (default: your login name)"))
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args, order_id, action, reason, shared, as_user, format, **options):
        case = self._case(order_id)
        if action is None:
            if reason or shared:
                raise CommandError(_("--reason and --shared go with an action: %(actions)s") % {
                    "actions": ", ".join(ACTIONS)})
        else:
            chosen = ACTIONS[action]
            if shared and not chosen.takes_shared:
                raise CommandError(_("--shared goes with note only."))
            if not reason.strip():
                raise CommandError(_("%(action)s on case %(order)s needs a reason: --reason "
                                     "TEXT (it goes onto the case's timeline).") % {
                    "action": action, "order": order_id})
            try:
                chosen.run(case=case, reason=reason, actor=f"cli:{as_user or os_user()}",
                           shared=shared)
            except services.CaseError as exc:
                raise CommandError(str(exc)) from None
            case = self._case(order_id)
            if format == "text":
                self.stdout.write(str(chosen.done) % {"order": order_id})
                self.stdout.write(f"{_('state')}: {display.state_label(case.state)}")
                return
        access_log.record(kind=AccessKind.CASE, target=case.order_id, order_ids=[case.order_id],
                          actor=f"cli:{as_user or os_user()}", via="mahnwerk case")
        if format == "json":
            data = {**case_to_dict(case), "timeline": timeline(case=case),
                    "notes": notes(case=case)}
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(display.case_block(case, timeline=timeline(case=case),
                                                 notes=notes(case=case)))

    def _case(self, order_id: str) -> DebtCase:
        try:
            return get_case(order_id=order_id)
        except DebtCase.DoesNotExist:
            if not order_exists(order_id=order_id):
                raise CommandError(_("no case for order %(order)s: the order is not known "
                                     "(check the order id)") % {"order": order_id}) from None
            raise CommandError(_("no case for order %(order)s: the order has no debt (no "
                                 "incident)") % {"order": order_id}) from None
