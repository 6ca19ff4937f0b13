"""``mahnwerk dunning-run --as-of YYYY-MM-DD [--vendor ID] [--dry-run] [--resume RUN]``"""

import getpass
import time
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk import telemetry
from mahnwerk.dunning import selectors, services, tasks
from mahnwerk.intake.models import Vendor
from mahnwerk.progress import ProgressBar


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("--as-of %(value)s is not a date; write it like 2026-12-01.")
                           % {"value": value}) from None


class Command(BaseCommand):
    help = _("Run the monthly dunning: decide for every open case what to do (send the first "
             "or second letter, exclude, hold, skip, escalate) and do it. --dry-run only "
             "prints the decisions.")

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help=_("the run's date, YYYY-MM-DD (default: today)"))
        parser.add_argument("--vendor", help=_("only this vendor's cases"))
        parser.add_argument("--dry-run", action="store_true",
                            help=_("print one line per case: order id, action, reason; change "
                                   "nothing"))
        parser.add_argument("--resume", type=int, metavar="RUN",
                            help=_("go on with a run that was interrupted"))
        parser.add_argument("--discard", type=int, metavar="RUN",
                            help=_("give up a decided run that was not executed"))
        parser.add_argument("--as", dest="actor", default=None,
                            help=_("who runs it, for the timeline (default: your login name)"))
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, as_of, vendor, dry_run, resume, discard, actor, no_progress,
               **options):
        actor = f"cli:{actor or getpass.getuser()}"
        try:
            if discard:
                run = services.DunningRun.objects.filter(pk=discard).first()
                if run is None:
                    raise services.RunError(_("There is no run #%(run)d.") % {"run": discard})
                services.discard_run(run=run, actor=actor)
                self.stdout.write(_("Run #%(run)d discarded.") % {"run": run.pk})
                return
            if resume:
                run = services.DunningRun.objects.filter(pk=resume).first()
                if run is None:
                    raise services.RunError(_("There is no run #%(run)d.") % {"run": resume})
                self._execute(run, actor=actor, no_progress=no_progress)
                return
            day = iso_date(as_of) if as_of else date.today()
            if vendor and not Vendor.objects.filter(pk=vendor).exists():
                raise CommandError(_("There is no vendor %(vendor)s.") % {"vendor": vendor})
            if dry_run:
                counts: dict[str, int] = {}
                for planned in services.plan(as_of=day, vendor_id=vendor):
                    d = planned.decision
                    label = f"{d.action}{d.level or ''}"
                    counts[label] = counts.get(label, 0) + 1
                    self.stdout.write(f"{planned.facts.order_id}\t{label}\t{d.reason}")
                self.stdout.write(_("Dry run as of %(date)s, nothing changed: %(counts)s")
                                  % {"date": day.isoformat(),
                                     "counts": selectors.describe_counts(counts)})
                return
            run = services.start_run(as_of=day, vendor_id=vendor, actor=actor)
            telemetry.log.info("run decided", run_id=run.pk, as_of=day.isoformat(),
                               state=run.state, total=run.total, counts=run.counts)
            self.stdout.write(_("Run #%(run)d as of %(date)s decided: %(counts)s")
                              % {"run": run.pk, "date": day.isoformat(),
                                 "counts": selectors.describe_counts(run.counts)})
            self._execute(run, actor=actor, no_progress=no_progress)
        except services.RunError as exc:
            raise CommandError(str(exc)) from None

    def _execute(self, run, *, actor: str, no_progress: bool) -> None:
        """Execute the run: with a broker its batches go to the Celery workers and this
        follows the run's progress until it ends; without one, here and now, batch by batch."""
        progress = ProgressBar(enabled=not no_progress, total=run.total, desc=_("executing"))
        try:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                services.execute_run(run=run, actor=actor, progress=progress)
            else:
                services.execute_run(run=run, actor=actor, enqueue=tasks.enqueue_batches)
                while True:
                    run.refresh_from_db()
                    state = selectors.run_progress(run=run)
                    progress(state.done, state.total)
                    if not state.polling:
                        break
                    time.sleep(1)
                if state.phase == "failed":
                    raise CommandError(_("Run #%(run)d stopped at order %(order)s: %(error)s; "
                                         "resume it with --resume %(run)d.")
                                       % {"run": run.pk, "order": state.failed_order or "–",
                                          "error": state.failure})
                if state.phase == "interrupted":
                    raise CommandError(_("Run #%(run)d was interrupted (no worker took its "
                                         "batches for %(seconds)d s); resume it with --resume "
                                         "%(run)d.")
                                       % {"run": run.pk,
                                          "seconds": settings.MAHNWERK_RUN_STALE_SECONDS})
        finally:
            progress.close()
        run.refresh_from_db()
        self._summary(run)

    def _summary(self, run) -> None:
        telemetry.log.info("run executed", run_id=run.pk, state=run.state, done=run.done,
                           total=run.total, outcomes=run.outcomes)
        self.stdout.write(_("Run #%(run)d as of %(date)s is %(state)s: %(counts)s")
                          % {"run": run.pk, "date": run.as_of.isoformat(),
                             "state": run.get_state_display(),
                             "counts": selectors.describe_counts(run.counts)})
