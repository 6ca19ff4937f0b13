"""``mahnwerk export-lists --out DIR [--vendor ID]``: the approval and collection lists as XLSX."""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from mahnwerk.collection.spreadsheets import approval_list_xlsx, collection_list_xlsx


class Command(BaseCommand):
    help = _("Write the approval list and the collection list as XLSX (yellow and grey rows).")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--vendor")

    def handle(self, *args, out, vendor, **options):
        out.mkdir(parents=True, exist_ok=True)
        suffix = f"-{vendor}" if vendor else ""
        for name, data in ((f"warten-auf-freigabe{suffix}.xlsx",
                            approval_list_xlsx(vendor_id=vendor)),
                           (f"inkasso-liste{suffix}.xlsx", collection_list_xlsx(vendor_id=vendor))):
            (out / name).write_bytes(data)
            self.stdout.write(_("%(file)s written.") % {"file": out / name})
