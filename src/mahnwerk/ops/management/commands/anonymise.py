"""``mahnwerk anonymise --older-than DAYS [--dry-run]``: the retention of personal data."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.cases.access_log import command_actor
from mahnwerk.ops.privacy import (
    PrivacyError,
    anonymise_closed_cases,
    anonymise_unplaced_statement_lines,
)


class Command(BaseCommand):
    help = _("Anonymise the personal data (names, e-mail, addresses, free text) of the cases "
             "closed (paid, cancelled, reordered) longer than DAYS ago; amounts, dates, states "
             "and order ids stay. Letter copies stay until their keeping time (§ 257 HGB) is "
             "over. --older-than 0: every closed case.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                            help=_("days since the case was closed"))
        parser.add_argument("--dry-run", action="store_true",
                            help=_("only list the cases that would be anonymised"))

    def handle(self, *args, older_than: int, dry_run: bool, **options):
        def shown(done: int, total: int) -> None:
            self.stderr.write(_("cases: %(done)d of %(total)d") % {"done": done,
                                                                    "total": total})

        try:
            result = anonymise_closed_cases(older_than_days=older_than, dry_run=dry_run,
                                            actor=command_actor("anonymise"), progress=shown)
        except PrivacyError as exc:
            raise CommandError(str(exc)) from None
        if dry_run:
            for order_id in result.cases:
                self.stdout.write(order_id)
            self.stdout.write(ngettext(
                "%(count)d case would be anonymised (dry run: nothing was changed).",
                "%(count)d cases would be anonymised (dry run: nothing was changed).",
                len(result.cases)) % {"count": len(result.cases)})
            return
        self.stdout.write(_("Anonymised: %(cases)s, %(buyers)s, %(letters)s.") % {
            "cases": ngettext("%(count)d case", "%(count)d cases", len(result.cases))
            % {"count": len(result.cases)},
            "buyers": ngettext("%(count)d buyer", "%(count)d buyers", result.buyers)
            % {"count": result.buyers},
            "letters": ngettext("%(count)d letter copy", "%(count)d letter copies",
                                result.letters) % {"count": result.letters}})
        lines = anonymise_unplaced_statement_lines(older_than_days=older_than)
        self.stdout.write(ngettext(
            "%(count)d bank credit without a case lost its remitter's data.",
            "%(count)d bank credits without a case lost their remitter's data.",
            lines) % {"count": lines})
        for order_id in result.skipped:
            self.stdout.write(_("%(order)s skipped: it was reopened meanwhile.")
                              % {"order": order_id})
