"""Why a statement line is listed for support, as codes (``mahnwerk.reasons``): the words are
looked up in the reader's language when the list is read."""

from django.utils.translation import gettext_lazy as _

from mahnwerk.reasons import register

DEBIT = register("bank.debit", _("A debit (money going out), not a buyer's payment: never "
                                 "applied."))
NOT_BOOKED = register("bank.not_booked", _("Not booked yet (status %(status)s): not applied."))
OTHER_CURRENCY = register(
    "bank.other_currency",
    _("A credit in %(currency)s; case %(order)s is kept in %(expected)s: never applied."))
FOREIGN_CREDIT = register(
    "bank.foreign_credit",
    _("A credit in %(currency)s; the cases are kept in %(expected)s: never applied."))
NO_REFERENCE = register("bank.no_reference",
                        _("No order id or invoice number found in the text."))
SUGGESTION = register(
    "bank.suggestion",
    _("No reference; amount and remitter fit case %(order)s (%(name)s): confirm or assign "
      "another."))
UNCONFIRMED = register(
    "bank.unconfirmed",
    _("Only one reference, to case %(order)s, and neither the amount nor the remitter fit it: "
      "confirm or assign another."))
AMBIGUOUS = register("bank.ambiguous",
                     _("The reference matches more than one case: %(orders)s."))
SURPLUS = register(
    "bank.surplus",
    _("%(surplus)s more than case %(order)s had open (%(open)s): listed for refund."),
    surplus="money", open="money")
DUPLICATE = register("bank.duplicate",
                     _("Booked before: the same bank reference in %(file)s."))
ASSIGNED = register("bank.assigned", _("Assigned by support: %(note)s"))
IGNORED = register("bank.ignored", _("Ignored by support: %(note)s"))
