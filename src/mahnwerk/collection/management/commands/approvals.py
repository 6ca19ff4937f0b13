"""``mahnwerk approvals``: ask vendors for their approval, remind, escalate (the schedule does
the same several times a day)."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, npgettext

from mahnwerk.collection.approvals import ask_and_follow_up


class Command(BaseCommand):
    help = _("Ask each vendor once about its cases waiting for approval (e-mail with signed "
             "links), remind vendors who did not answer, then escalate to their relationship "
             "manager.")

    def handle(self, *args, **options):
        counts = ask_and_follow_up(actor="cli")
        self.stdout.write(_("%(asked)s asked about %(cases)s; %(reminded)d reminded; "
                            "%(escalated)d escalated to their relationship manager.") % {
            **counts,
            "asked": ngettext("%(count)d vendor", "%(count)d vendors", counts["asked"])
            % {"count": counts["asked"]},
            # "about 2 cases": German puts it in the dative ("zu 2 Fällen").
            "cases": npgettext("asked about", "%(count)d case", "%(count)d cases",
                               counts["cases"]) % {"count": counts["cases"]}})
