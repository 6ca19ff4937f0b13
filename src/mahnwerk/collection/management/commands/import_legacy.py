"""``mahnwerk import-legacy FILE.xlsx --vendor ID [--mapping FILE.json] [--apply]``"""

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.collection.legacy import LegacyError, apply_legacy, load_mapping, plan_legacy
from mahnwerk.intake.models import Vendor


class Command(BaseCommand):
    help = _("Migrate a vendor's old master list (XLSX) into its cases: colours to the pursue "
             "flag, notes to internal notes, letter dates and statuses. Without --apply it only "
             "reports what would change.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--vendor", required=True)
        parser.add_argument("--mapping", type=Path,
                            help=_("JSON: our field -> the list's header (or a list of them)"))
        parser.add_argument("--apply", action="store_true",
                            help=_("apply it (default: a dry-run report)"))

    def handle(self, *args, file, vendor, mapping, apply, **options):
        if not Vendor.objects.filter(pk=vendor).exists():
            raise CommandError(_("There is no vendor %(vendor)s.") % {"vendor": vendor})
        if not file.exists():
            raise CommandError(_("%(file)s: no such file.") % {"file": file})
        try:
            rows = plan_legacy(path=file, vendor_id=vendor, mapping=load_mapping(mapping))
        except LegacyError as exc:
            raise CommandError(str(exc)) from None
        for row in rows:
            if row.problem:
                self.stdout.write(f"{file.name}:{row.line}: {row.order_id or '-'}: "
                                  + _("cannot be mapped: %(why)s") % {"why": row.problem})
            elif row.changes:
                self.stdout.write(f"{file.name}:{row.line}: {row.order_id}: "
                                  + "; ".join(row.changes))
        workable = [r for r in rows if not r.problem and r.changes]
        if not apply:
            problems = sum(1 for r in rows if r.problem)
            self.stdout.write(_("Dry run: %(changes)s, %(problems)s. Run again with --apply "
                                "to take them over.") % {
                "changes": ngettext("%(count)d row would change", "%(count)d rows would change",
                                    len(workable)) % {"count": len(workable)},
                "problems": ngettext("%(count)d cannot be mapped", "%(count)d cannot be mapped",
                                     problems) % {"count": problems}})
            return
        count = apply_legacy(rows=rows, vendor_id=vendor, file_name=file.name,
                             actor=f"cli:{getpass.getuser()}")
        self.stdout.write(ngettext("%(count)d row taken over from %(file)s.",
                                   "%(count)d rows taken over from %(file)s.", count)
                          % {"count": count, "file": file.name})
