"""``mahnwerk backup --out FILE``: a consistent copy of the database while it is in use."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk.ops.backup import BackupError, backup


class Command(BaseCommand):
    help = _("Write a consistent backup of the database to FILE (SQLite: online backup; "
             "PostgreSQL: pg_dump --format=custom), while the application keeps running.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path, help=_("the backup file"))

    def handle(self, *args, out: Path, **options):
        def shown(done: int, total: int) -> None:
            if options["verbosity"] > 1:
                self.stderr.write(f"\r{done}/{total}", ending="")

        try:
            result = backup(out=out, progress=shown)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(_("Backup written: %(path)s (%(engine)s, %(size)d bytes).")
                          % {"path": result.path, "engine": result.engine,
                             "size": result.size})
