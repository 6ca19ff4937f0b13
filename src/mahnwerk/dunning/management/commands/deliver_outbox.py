"""``mahnwerk deliver-outbox [--loop SECONDS] [--limit N]``"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.dunning import delivery, outbox


class Command(BaseCommand):
    help = _("Send the dunning e-mails that are due now and print how many were sent, put back "
             "for a later attempt, or failed. With --loop, repeat every SECONDS until stopped "
             "(for set-ups without a Celery worker).")

    def add_arguments(self, parser):
        parser.add_argument("--loop", type=float, metavar="SECONDS",
                            help=_("repeat every SECONDS until stopped with Ctrl-C"))
        parser.add_argument("--limit", type=int, default=500,
                            help=_("at most this many e-mails per pass (default: 500)"))

    def handle(self, *args, loop, limit, **options):
        if loop is not None and loop <= 0:
            raise CommandError(_("--loop needs a number of seconds above 0."))
        if limit < 1:
            raise CommandError(_("--limit needs a number above 0."))
        try:
            while True:
                counts = delivery.deliver_due(limit=limit)
                line = _("sent %(sent)d, retry later %(retry)d, failed %(failed)d") % counts
                if loop is not None:
                    line = f"{timezone.localtime():%Y-%m-%d %H:%M:%S}  {line}"
                self.stdout.write(line)
                stuck = outbox.stuck()
                if stuck:
                    self.stderr.write(ngettext(
                        "%(count)d message is stuck in sending (maybe sent, maybe not); "
                        "see `mahnwerk outbox --status sending`.",
                        "%(count)d messages are stuck in sending (maybe sent, maybe not); "
                        "see `mahnwerk outbox --status sending`.", len(stuck))
                        % {"count": len(stuck)})
                if loop is None:
                    return
                if sum(counts.values()) < limit:  # a full pass means more are waiting
                    time.sleep(loop)
        except KeyboardInterrupt:
            return
