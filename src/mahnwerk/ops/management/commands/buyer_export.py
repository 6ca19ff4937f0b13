"""``mahnwerk buyer-export BUYER_ID [--out FILE]``: everything held about a buyer (Art. 15)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk.cases.access_log import command_actor
from mahnwerk.ops.privacy import PrivacyError, buyer_export_json, buyer_of


class Command(BaseCommand):
    help = _("Write everything Mahnwerk holds about a buyer as JSON (the buyer's right of "
             "access, Art. 15 GDPR): orders, cases, letters, timeline, shared notes, who "
             "received the data and every export that carried it. The export is logged.")

    def add_arguments(self, parser):
        parser.add_argument("buyer_id", nargs="?", help=_("the platform's buyer id"))
        parser.add_argument("--order", help=_("find the buyer by one of their order ids"))
        parser.add_argument("--out", type=Path, help=_("the JSON file (default: standard "
                                                        "output)"))

    def handle(self, *args, buyer_id: str | None, order: str | None, out: Path | None,
               **options):
        try:
            if not buyer_id and not order:
                raise PrivacyError(_("Give the buyer id, or --order ORDER_ID."))
            buyer_id = buyer_id or buyer_of(order_id=order or "")
            text = buyer_export_json(buyer_id=buyer_id, actor=command_actor("buyer-export"))
        except PrivacyError as exc:
            raise CommandError(str(exc)) from None
        if out is None:
            self.stdout.write(text)
            return
        out.write_text(text + "\n", encoding="utf-8")
        self.stderr.write(_("Written: %(path)s") % {"path": out})
