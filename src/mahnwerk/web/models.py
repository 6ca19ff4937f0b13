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


class SavedList(models.TextChoices):
    """The lists a filter can be saved for: the workspace's and the vendor portal's."""

    CASES = "cases", _("cases")
    RUN_DECISIONS = "run_decisions", _("a run's decisions")
    RUN_PREVIEW = "run_preview", _("run preview")
    OUTBOX = "outbox", _("outbox")
    APPROVALS = "approvals", _("awaiting approval")
    COLLECTION = "collection", _("collection")
    PORTAL_APPROVALS = "portal_approvals", _("portal: awaiting approval")
    PORTAL_OPEN = "portal_open", _("portal: open cases")
    PORTAL_CLOSED = "portal_closed", _("portal: closed cases")
    PORTAL_LETTERS = "portal_letters", _("portal: letters")


class SavedFilter(models.Model):
    """A filter of one list a user keeps under a name: its query string, as in the URL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="saved_filters", verbose_name=_("user"))
    list = models.CharField(_("list"), max_length=20, choices=SavedList.choices,
                            default=SavedList.CASES)
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filter"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "list", "name"],
                                               name="saved_filter_user_list_name")]

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"
