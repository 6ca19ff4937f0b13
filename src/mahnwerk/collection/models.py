"""Collection: partners and routing, the vendor's approval, handover files, agency reports."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.models import IncidentKind, Vendor


class PartnerKind(models.TextChoices):
    DOMESTIC = "domestic", _("domestic collection")
    FOREIGN = "foreign", _("foreign collection")
    FACTORING = "factoring", _("factoring")


class CollectionPartner(models.Model):
    """A collection agency or factoring partner. Its report arrives in its own columns; the
    mapping turns them into the canonical ones of agency-report.md."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=PartnerKind.choices)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    handover_format = models.CharField(_("handover format"), max_length=32,
                                       default="process-csv-v1",
                                       help_text=_("process-csv-v1: the twelve-column CSV of "
                                                   "process.md section 5."))
    report_mapping = models.JSONField(
        _("report column mapping"), default=dict, blank=True,
        help_text=_("The partner's column name for each canonical column, e.g. "
                    "{\"order_id\": \"Bestellnummer\"}. Missing: the canonical name."))
    report_date_format = models.CharField(
        _("report date format"), max_length=32, blank=True,
        help_text=_("strftime format of the report's dates, e.g. %d.%m.%Y; empty: ISO 8601."))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("collection partner")
        verbose_name_plural = _("collection partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Which partner takes a case: the first matching rule by priority wins. An empty
    condition matches anything; ``buyer_country`` "!DE" matches every country but Germany."""

    priority = models.PositiveSmallIntegerField(_("priority"), default=100)
    partner = models.ForeignKey(CollectionPartner, on_delete=models.CASCADE,
                                related_name="rules", verbose_name=_("partner"))
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="+", verbose_name=_("vendor"))
    buyer_country = models.CharField(_("buyer country"), max_length=3, blank=True)
    trigger = models.CharField(_("trigger"), max_length=32, choices=IncidentKind.choices,
                               blank=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.priority}: {self.partner}"


class ApprovalRequest(models.Model):
    """One request to a vendor listing all its cases waiting for approval."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="approval_requests",
                               verbose_name=_("vendor"))
    cases = models.ManyToManyField(DebtCase, related_name="approval_requests",
                                   verbose_name=_("cases"))
    sent_at = models.DateTimeField(_("asked"))
    reminded_at = models.DateTimeField(_("reminded"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated to the relationship manager"), null=True,
                                        blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-sent_at"]
        permissions = [("record_vendor_decision",
                        _("Can record a vendor's decision (approve or cancel) on a case"))]

    def __str__(self) -> str:
        return f"{self.vendor} {self.sent_at:%Y-%m-%d}"


class Handover(models.Model):
    """One exported handover file, kept as it was written."""

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="handovers",
                               verbose_name=_("vendor"))
    partner = models.ForeignKey(CollectionPartner, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="handovers", verbose_name=_("partner"))
    file_name = models.CharField(_("file name"), max_length=255)
    content = models.BinaryField(_("content"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    rows = models.PositiveIntegerField(_("rows"))
    handed_over = models.PositiveIntegerField(_("cases handed over"))
    created_by = models.CharField(_("by"), max_length=150)
    #: Which columns left and on what ground: ``[[column, ground code], ...]``
    #: (``handover_format.FIELD_GROUNDS``), recorded when the file was written.
    fields = models.JSONField(_("fields handed over"), default=list, blank=True)
    #: When the free text of anonymised cases was taken out of the stored copy (``sha256``
    #: stays that of the file as it was sent).
    redacted_at = models.DateTimeField(_("redacted"), null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"


class HandoverItem(models.Model):
    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(DebtCase, on_delete=models.PROTECT, related_name="handover_items")
    incasso_state = models.CharField(max_length=24, blank=True)
    handed_over = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("handover row")
        verbose_name_plural = _("handover rows")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.incasso_state or '-'}"


class AgencyReport(models.Model):
    """A monthly report of a partner, read once: the same file twice changes nothing."""

    partner = models.ForeignKey(CollectionPartner, on_delete=models.PROTECT,
                                related_name="reports", verbose_name=_("partner"))
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    applied = models.PositiveIntegerField(_("rows applied"), default=0)
    created_by = models.CharField(_("by"), max_length=150)
    created_at = models.DateTimeField(_("imported"), auto_now_add=True)

    class Meta:
        verbose_name = _("agency report")
        verbose_name_plural = _("agency reports")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["partner", "sha256"],
                                               name="one_import_per_report")]

    def __str__(self) -> str:
        return f"{self.partner}: {self.file_name}"


class ReportRow(models.Model):
    """A row of an agency report that could not be applied, for support to clear up."""

    report = models.ForeignKey(AgencyReport, on_delete=models.CASCADE, related_name="open_rows",
                               verbose_name=_("report"))
    line = models.PositiveIntegerField(_("line"))
    order_id = models.CharField(_("order id"), max_length=64, blank=True)
    values = models.JSONField(_("values"), default=dict)
    problem = models.CharField(_("problem"), max_length=500)
    cleared_at = models.DateTimeField(_("cleared"), null=True, blank=True)

    class Meta:
        verbose_name = _("report row to clear up")
        verbose_name_plural = _("report rows to clear up")
        ordering = ["report", "line"]

    def __str__(self) -> str:
        return f"{self.report} #{self.line}: {self.problem[:40]}"


class VendorInvoice(models.Model):
    """A recovered amount booked for the vendor ("Der Betrag kann dann als Rechnung
    hinzugefügt werden")."""

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("vendor"))
    case = models.ForeignKey(DebtCase, on_delete=models.PROTECT, related_name="invoices",
                             verbose_name=_("case"))
    report = models.ForeignKey(AgencyReport, on_delete=models.PROTECT, related_name="invoices",
                               verbose_name=_("report"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    collected_on = models.DateField(_("collected on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("invoice record")
        verbose_name_plural = _("invoice records")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.amount} {self.currency}"


class PartnerFee(models.Model):
    """What a partner charges, as its contract says, from a day on. A change of the contract is
    a new row from its day: the earlier rows stay, so an estimate or an invoice can be read
    against the fees of its time (the history)."""

    partner = models.ForeignKey(CollectionPartner, on_delete=models.CASCADE,
                                related_name="fees", verbose_name=_("partner"))
    valid_from = models.DateField(_("valid from"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    success_fee_percent = models.DecimalField(
        _("success fee (% of what is collected)"), max_digits=5, decimal_places=2,
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)])
    success_fee_minimum = models.DecimalField(
        _("minimum success fee"), max_digits=10, decimal_places=2, default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Charged when a case is collected and the percentage comes to less."))
    withdrawal_fee = models.DecimalField(
        _("withdrawal fee (gross)"), max_digits=10, decimal_places=2, default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Charged when the vendor withdraws a case already handed over, e.g. "
                    "81.24 EUR."))
    note = models.CharField(_("note"), max_length=255, blank=True)
    #: Who changed a row and how (a mistyped fee corrected): kept beside the rows by day.
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("partner fee")
        verbose_name_plural = _("partner fees")
        ordering = ["partner", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["partner", "currency", "valid_from"],
                                               name="one_fee_per_partner_day")]

    def __str__(self) -> str:
        return f"{self.partner} {self.valid_from:%Y-%m-%d}"
