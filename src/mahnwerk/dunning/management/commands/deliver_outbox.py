"""``mahnwerk deliver-outbox [--loop SECONDS] [--limit N] [--pass-size N]``"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.dunning import delivery, outbox


class Command(BaseCommand):
    help = _("Send every dunning e-mail that is due now, in passes, and print after each pass "
             "how many were sent, put back for a later attempt or failed, and how many are still "
             "due. With --loop, repeat every SECONDS until stopped (for set-ups without a Celery "
             "worker).")

    def add_arguments(self, parser):
        parser.add_argument("--loop", type=float, metavar="SECONDS",
                            help=_("repeat every SECONDS until stopped with Ctrl-C"))
        parser.add_argument("--limit", type=int,
                            help=_("at most this many e-mails in all (default: every one due)"))
        parser.add_argument("--pass-size", type=int, default=500,
                            help=_("e-mails per pass (default: 500)"))

    def handle(self, *args, loop, limit, pass_size, **options):
        if loop is not None and loop <= 0:
            raise CommandError(_("--loop needs a number of seconds above 0."))
        if limit is not None and limit < 1:
            raise CommandError(_("--limit needs a number above 0."))
        if pass_size < 1:
            raise CommandError(_("--pass-size needs a number above 0."))
        try:
            while True:
                report = delivery.deliver_all(pass_size=pass_size, limit=limit,
                                              progress=self._progress(loop))
                if report.number == 0:
                    self.stdout.write(self._stamp(loop, _("nothing is due")))
                if report.stopped:
                    self.stderr.write(_(
                        "The mail server could not be reached; %(due)d e-mails wait for the "
                        "next pass.") % {"due": report.still_due})
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
                time.sleep(loop)
        except KeyboardInterrupt:
            return

    @staticmethod
    def _stamp(loop, line: str) -> str:
        return f"{timezone.localtime():%Y-%m-%d %H:%M:%S}  {line}" if loop is not None else line

    def _progress(self, loop):
        def show(report: delivery.PassReport) -> None:
            self.stdout.write(self._stamp(loop, _(
                "pass %(number)d: sent %(sent)d, retry later %(retry)d, failed %(failed)d; "
                "still due %(due)d") % {"number": report.number, "due": report.still_due,
                                        **report.counts}))
            self.stdout.flush()
        return show
