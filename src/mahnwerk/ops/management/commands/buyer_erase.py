"""``mahnwerk buyer-erase BUYER_ID --reason TEXT``: a buyer's right to erasure (Art. 17)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.cases.access_log import command_actor
from mahnwerk.ops.privacy import PrivacyError, buyer_of, erase_buyer


class Command(BaseCommand):
    help = _("Anonymise what no legal duty requires to keep of a buyer (Art. 17 GDPR) and say "
             "what was kept and why: debts still claimed, bookkeeping records, letter copies.")

    def add_arguments(self, parser):
        parser.add_argument("buyer_id", nargs="?", help=_("the platform's buyer id"))
        parser.add_argument("--order", help=_("find the buyer by one of their order ids"))
        parser.add_argument("--reason", required=True,
                            help=_("why, e.g. the buyer's request of 1 Dec by e-mail"))

    def handle(self, *args, buyer_id: str | None, order: str | None, reason: str, **options):
        try:
            if not buyer_id and not order:
                raise PrivacyError(_("Give the buyer id, or --order ORDER_ID."))
            buyer_id = buyer_id or buyer_of(order_id=order or "")
            result = erase_buyer(buyer_id=buyer_id, reason=reason,
                                 actor=command_actor("buyer-erase"))
        except PrivacyError as exc:
            raise CommandError(str(exc)) from None
        cases, orders = len(result.anonymised_cases), result.anonymised_orders
        letters = result.anonymised_letters
        self.stdout.write(_("Buyer %(id)s: %(cases)s, %(orders)s and %(letters)s anonymised; "
                            "buyer record %(buyer)s.")
                          % {"id": buyer_id,
                             "cases": ngettext("%(count)d closed case", "%(count)d closed cases",
                                               cases) % {"count": cases},
                             "orders": ngettext("%(count)d order", "%(count)d orders", orders)
                             % {"count": orders},
                             "letters": ngettext("%(count)d letter copy",
                                                 "%(count)d letter copies", letters)
                             % {"count": letters},
                             "buyer": _("anonymised") if result.buyer_anonymised
                             else _("kept (a debt is still claimed)")})
        lines = result.kept_lines()
        if lines:
            self.stdout.write(_("Kept, and why:"))
            for line in lines:
                self.stdout.write(f"  - {line}")
