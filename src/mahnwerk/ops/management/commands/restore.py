"""``mahnwerk restore FILE --yes``: replace the embedded SQLite database with a backup."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk.ops.backup import BackupError, check_source, restore


class Command(BaseCommand):
    help = _("Replace the embedded SQLite database with a backup written by `mahnwerk backup`. "
             "Stop the web server and the workers first. PostgreSQL: pg_restore "
             "(docs/operations.md).")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help=_("the backup file"))
        parser.add_argument("--yes", action="store_true",
                            help=_("really replace the database (without it: only check "
                                   "the file)"))

    def handle(self, *args, file: Path, yes: bool, **options):
        try:
            check_source(file)
            if not yes:
                self.stdout.write(_("%(path)s is an intact Mahnwerk backup. Add --yes to "
                                    "replace the database with it.") % {"path": file})
                return
            restore(path=file)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(_("Database restored from %(path)s.") % {"path": file})
