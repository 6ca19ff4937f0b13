"""``mahnwerk import-agency-report FILE --partner NAME``"""

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.collection.models import CollectionPartner
from mahnwerk.collection.reports import ReportError, import_report


class Command(BaseCommand):
    help = _("Read a collection partner's monthly report: takeover dates, recovered amounts "
             "(as payments and invoice records), comments. Rows that cannot be applied are "
             "listed for support.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--partner", required=True)
        parser.add_argument("--as", dest="actor", default=None)

    def handle(self, *args, file, partner, actor, **options):
        chosen = CollectionPartner.objects.filter(name=partner).first()
        if chosen is None:
            names = ", ".join(CollectionPartner.objects.values_list("name", flat=True))
            raise CommandError(_("There is no partner %(name)s; known: %(names)s")
                               % {"name": partner, "names": names})
        if not file.exists():
            raise CommandError(_("%(file)s: no such file.") % {"file": file})
        try:
            result = import_report(path=file, partner=chosen,
                                   actor=f"cli:{actor or getpass.getuser()}")
        except ReportError as exc:
            raise CommandError(str(exc)) from None
        if result.already_imported:
            self.stdout.write(_("%(file)s was imported on %(date)s already; nothing changed.")
                              % {"file": file.name,
                                 "date": result.report.created_at.date().isoformat()})
            return
        for line, order_id, problem in result.problems:
            self.stdout.write(f"{file.name}:{line}: {order_id or '-'}: {problem}")
        self.stdout.write(_("%(file)s: %(applied)s, %(open)d left for support.")
                          % {"file": file.name,
                             "applied": ngettext("%(count)d row applied",
                                                 "%(count)d rows applied", result.applied)
                             % {"count": result.applied},
                             "open": len(result.problems)})
