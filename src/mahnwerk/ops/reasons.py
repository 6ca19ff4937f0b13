"""The reasons the operations app writes onto a case's timeline (``mahnwerk.reasons``)."""

from django.utils.translation import gettext_lazy as _

from mahnwerk.reasons import register

RETENTION = register(
    "ops.anonymised_retention",
    _("Personal data anonymised: closed for longer than %(days)s days (retention). Amounts, "
      "dates and ids stay for the bookkeeping."))
ERASURE = register(
    "ops.anonymised_erasure",
    _("Personal data anonymised at the buyer's request (Art. 17 GDPR): %(request)s. Amounts, "
      "dates and ids stay for the bookkeeping."))
