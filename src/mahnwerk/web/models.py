"""Who may see what in the workspace: the link between a vendor's login and its vendor."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mahnwerk.intake.models import Vendor


class VendorAccount(models.Model):
    """A login of a vendor: the user sees the cases of this vendor only."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="vendor_account", verbose_name=_("user"))
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="accounts",
                               verbose_name=_("vendor"))

    class Meta:
        verbose_name = _("vendor account")
        verbose_name_plural = _("vendor accounts")
        ordering = ["vendor_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user} → {self.vendor_id}"
