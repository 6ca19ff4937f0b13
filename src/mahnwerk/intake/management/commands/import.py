"""``mahnwerk import vendors|products|orders|incidents|payments FILE``"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk import telemetry
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import ImportFileError, import_file
from mahnwerk.progress import ProgressBar


class Command(BaseCommand):
    # Django's system checks (URLs, admin, templates, models) cost 0.45 s a call: a tenth of a
    # payments file, paid again by each of the five files of an export. An import reads and
    # writes data through the services; it needs no check of the web's configuration, which
    # `mahnwerk check`, `migrate` and the server's start still run.
    requires_system_checks: list[str] = []

    help = _("Import a platform file (CSV or XLSX) of vendors, products, orders, incidents or "
             "payments. Nothing is applied if any row is bad, unless --skip-invalid is given.")

    def add_arguments(self, parser):
        parser.add_argument("feed", choices=list(FEEDS), help=_("what the file holds"))
        parser.add_argument("file", type=Path, help=_("the CSV or XLSX file"))
        parser.add_argument("--skip-invalid", action="store_true",
                            help=_("apply the good rows and write the bad ones to --rejects"))
        parser.add_argument("--rejects", type=Path,
                            help=_("where to write the rejected rows with their reasons"))
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--max-problems", type=int, default=1000,
                            help=_("how many problems to print at most (default 1000)"))
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, feed, file, skip_invalid, rejects, batch_size, max_problems,
               no_progress, **options):
        if skip_invalid and not rejects:
            raise CommandError(_("--skip-invalid needs --rejects FILE, so that no row is lost."))
        progress = ProgressBar(enabled=not no_progress, unit="B", unit_scale=True,
                               desc=file.name)

        try:
            report = import_file(path=file, feed=FEEDS[feed], actor=f"import:{file.name}",
                                 skip_invalid=skip_invalid, rejects_path=rejects,
                                 batch_size=batch_size, progress=progress)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()

        for problem in report.problems[:max_problems]:
            self.stderr.write(str(problem))
        hidden = len(report.problems) - max_problems
        if hidden > 0:
            self.stderr.write(ngettext("... and %(count)d more problem.",
                                       "... and %(count)d more problems.", hidden)
                              % {"count": hidden})
        counts = report.applied
        telemetry.import_finished(
            feed=feed, file=file.name, created=counts.created, updated=counts.updated,
            unchanged=counts.unchanged, refused=report.rejected_rows or len(report.problems),
            committed=report.committed, source="command")
        if report.problems and not skip_invalid:
            raise CommandError(
                _("%(file)s: nothing was imported (problems: %(problems)d, rows affected: "
                  "%(rows)d). Correct the file, or import the good rows with --skip-invalid "
                  "--rejects FILE.") % {"file": file.name, "problems": len(report.problems),
                              "rows": report.rejected_rows})
        self.stdout.write(
            _("%(file)s: rows read: %(rows)d; %(created)d new, %(updated)d changed, "
              "%(unchanged)d unchanged.") % {"file": file.name, "rows": report.rows,
                                             "created": counts.created,
                                             "updated": counts.updated,
                                             "unchanged": counts.unchanged})
        if report.rejected_rows:
            self.stdout.write(_("Rows rejected: %(count)d; they are in %(rejects)s with their "
                                "reasons.") % {"count": report.rejected_rows,
                                               "rejects": rejects})
