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


class SavedFilter(models.Model):
    """A filter of the case list a user keeps under a name: its query string, as in the URL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="saved_filters", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filter"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"],
                                               name="saved_filter_user_name")]

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"
