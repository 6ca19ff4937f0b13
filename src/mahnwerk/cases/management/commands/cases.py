"""``mahnwerk cases [--vendor ID] [--state S] [--format table|json|csv]``"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mahnwerk.cases import display, exports
from mahnwerk.cases.selectors import case_list, case_to_dict, vendor_exists
from mahnwerk.cases.states import CaseState

FORMATS = ("table", "json", "csv")


class Command(BaseCommand):
    help = _("List debt cases, of one vendor or in one state, as a table, JSON or CSV.")

    def add_arguments(self, parser):
        parser.add_argument("--vendor", help=_("only the cases of this vendor id"))
        parser.add_argument("--state", help=_("only cases in this state: %(states)s") % {
            "states": ", ".join(CaseState.values)})
        parser.add_argument("--format", choices=FORMATS, default="table",
                            help=_("table (default), json or csv"))

    def handle(self, *args, vendor, state, format, **options):
        if state and state not in CaseState.values:
            raise CommandError(_("Unknown state %(state)s; allowed: %(allowed)s") % {
                "state": state, "allowed": ", ".join(CaseState.values)})
        if vendor and not vendor_exists(vendor_id=vendor):
            raise CommandError(_("Unknown vendor %(vendor)s.") % {"vendor": vendor})
        cases = case_list(vendor_id=vendor, state=state)
        if format == "json":
            rows = [case_to_dict(case) for case in cases.iterator(chunk_size=1000)]
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
        elif format == "csv":
            text = self._csv(cases)
            if not text:
                self.stderr.write(_("No cases."))
            self.stdout.write(text, ending="")
        else:
            cases = list(cases)
            if not cases:
                self.stderr.write(_("No cases."))
                return
            header, rows = display.table_rows(cases)
            self.stdout.write(display.format_table(header, rows))
            self.stdout.write(_("Cases: %(count)d") % {"count": len(rows)})

    def _csv(self, cases) -> str:
        return exports.as_csv(cases)
