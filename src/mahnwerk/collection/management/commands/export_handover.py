"""``mahnwerk export-handover --vendor ID --out DIR [--partner NAME]``"""

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.collection import services
from mahnwerk.collection.models import CollectionPartner


class Command(BaseCommand):
    help = _("Write a vendor's handover file <vendor_id>.csv for the collection agency and "
             "hand over its approved cases.")

    def add_arguments(self, parser):
        parser.add_argument("--vendor", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--partner", help=_("the partner's name (default: the domestic "
                                                "collection partner)"))
        parser.add_argument("--as", dest="actor", default=None)

    def handle(self, *args, vendor, out, partner, actor, **options):
        chosen = None
        if partner:
            chosen = CollectionPartner.objects.filter(name=partner).first()
            if chosen is None:
                names = ", ".join(CollectionPartner.objects.values_list("name", flat=True))
                raise CommandError(_("There is no partner %(name)s; known: %(names)s")
                                   % {"name": partner, "names": names})
        try:
            result = services.export_handover(vendor_id=vendor, partner=chosen,
                                              actor=f"cli:{actor or getpass.getuser()}")
        except services.HandoverError as exc:
            raise CommandError(str(exc)) from None
        out.mkdir(parents=True, exist_ok=True)
        target = out / result.handover.file_name
        target.write_bytes(result.handover.content)
        access_log.record(kind=AccessKind.EXPORT, target=str(target),
                          actor=result.handover.created_by, via="export-handover",
                          order_ids=result.handover.items.values_list("case__order_id",
                                                                      flat=True))
        for order_id, problems in result.held_back.items():
            self.stderr.write(_("%(order)s held back: %(problems)s")
                              % {"order": order_id, "problems": "; ".join(problems)})
        rows, handed = result.handover.rows, len(result.handed_over)
        self.stdout.write(_("%(file)s written: %(rows)s, %(handed)s (export #%(id)d, SHA-256 "
                            "%(sha)s).") % {
            "file": target,
            "rows": ngettext("%(count)d row", "%(count)d rows", rows) % {"count": rows},
            "handed": ngettext("%(count)d case handed over to %(partner)s",
                               "%(count)d cases handed over to %(partner)s", handed)
            % {"count": handed, "partner": result.handover.partner},
            "id": result.handover.pk, "sha": result.handover.sha256[:12]})
