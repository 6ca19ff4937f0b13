"""``mahnwerk export-lists --out DIR [--vendor ID]``: the approval and collection lists as XLSX."""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.collection import selectors
from mahnwerk.collection.spreadsheets import approval_list_xlsx, collection_list_xlsx


class Command(BaseCommand):
    help = _("Write the approval list and the collection list as XLSX (yellow and grey rows).")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--vendor")

    def handle(self, *args, out, vendor, **options):
        out.mkdir(parents=True, exist_ok=True)
        suffix = f"-{vendor}" if vendor else ""
        for name, data, select in (
                (f"warten-auf-freigabe{suffix}.xlsx", approval_list_xlsx(vendor_id=vendor),
                 selectors.approval_list),
                (f"inkasso-liste{suffix}.xlsx", collection_list_xlsx(vendor_id=vendor),
                 selectors.collection_list)):
            (out / name).write_bytes(data)
            access_log.record(kind=AccessKind.EXPORT, target=str(out / name),
                              actor=access_log.command_actor("export-lists"),
                              via="export-lists",
                              order_ids=select(vendor_id=vendor)
                              .values_list("order_id", flat=True))
            self.stdout.write(_("%(file)s written.") % {"file": out / name})
