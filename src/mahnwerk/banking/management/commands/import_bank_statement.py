"""``mahnwerk import-bank-statement FILE [--dry-run]``"""

import getpass
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from mahnwerk.banking.models import LineState
from mahnwerk.banking.services import StatementError, import_statement, summary
from mahnwerk.formats import format_day


class Command(BaseCommand):
    help = _("Read the bank's statement (camt.053): each credit is matched to its case by the "
             "reference and booked as a payment; what cannot be matched is listed for support "
             "(Bankauszüge). The same statement twice changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true",
                            help=_("match and report, book nothing"))
        parser.add_argument("--as", dest="actor", default=None)

    def handle(self, *args, file, dry_run, actor, **options):
        if not file.exists():
            raise CommandError(_("%(file)s: no such file.") % {"file": file})
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit=_("bookings"), file=sys.stderr,
                           disable=total < 5000 or None)
            bar.update(done - bar.n)

        try:
            report = import_statement(data=file.read_bytes(), name=file.name,
                                      actor=f"cli:{actor or getpass.getuser()}",
                                      dry_run=dry_run, progress=progress)
        except StatementError as exc:
            raise CommandError(str(exc)) from None
        finally:
            if bar is not None:
                bar.close()
        if report.already_imported:
            self.stdout.write(_("%(file)s: statement %(statement)s of %(account)s was imported "
                                "on %(date)s already (%(earlier)s); nothing changed.")
                              % {"file": file.name, "statement": report.statement_id,
                                 "account": report.account,
                                 "date": format_day(report.statement.imported_at),
                                 "earlier": report.statement.file_name})
            return
        for line in report.lines:
            if line["state"] in (LineState.UNMATCHED, LineState.DUPLICATE) or line["reason"]:
                self.stdout.write(f"{file.name}#{line['position']}: {line['amount']} "
                                  f"{line['currency']} {line['state_label']}: {line['reason']}")
        self.stdout.write(summary(report))
