"""``mahnwerk approvals``: ask vendors for their approval, remind, escalate (the schedule does
the same several times a day)."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from mahnwerk.collection.approvals import ask_and_follow_up


class Command(BaseCommand):
    help = _("Ask each vendor once about its cases waiting for approval (e-mail with signed "
             "links), remind vendors who did not answer, then escalate to their relationship "
             "manager.")

    def handle(self, *args, **options):
        counts = ask_and_follow_up(actor="cli")
        self.stdout.write(_("%(asked)d vendors asked about %(cases)d cases; %(reminded)d "
                            "reminded; %(escalated)d escalated to their relationship manager.")
                          % counts)
