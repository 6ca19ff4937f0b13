"""Bank statements (camt.053) and their lines, each matched to a case or kept for support."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from mahnwerk.cases.models import DebtCase
from mahnwerk.intake.models import Payment
from mahnwerk.reasons import Reason


class BankStatement(models.Model):
    """A statement file, read once: the same file (by its SHA-256) or the same statement of the
    same account (by the bank's statement id) again changes nothing."""

    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    account = models.CharField(_("account"), max_length=140)
    statement_id = models.CharField(_("statement id"), max_length=140)
    version = models.CharField(_("format"), max_length=32)
    lines = models.PositiveIntegerField(_("lines"), default=0)
    imported_by = models.CharField(_("imported by"), max_length=150)
    imported_at = models.DateTimeField(_("imported"), auto_now_add=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-imported_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["account", "statement_id"],
                                               name="one_import_per_bank_statement")]

    def __str__(self) -> str:
        return f"{self.account} {self.statement_id} ({self.file_name})"


class LineState(models.TextChoices):
    MATCHED = "matched", _("matched")
    UNMATCHED = "unmatched", _("unmatched")
    IGNORED = "ignored", _("ignored")
    DUPLICATE = "duplicate", _("duplicate")


class MatchMethod(models.TextChoices):
    EXACT = "exact", _("reference as printed")
    TOLERANT = "tolerant", _("reference, other spelling")
    TYPO = "typo", _("reference with one typo")
    INVOICE = "invoice", _("invoice number")
    SUPPORT = "support", _("assigned by support")


class StatementLine(models.Model):
    """One booking (or one transfer of a batch booking) of a statement."""

    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE,
                                  related_name="statement_lines", verbose_name=_("statement"))
    position = models.PositiveIntegerField(_("booking"))
    account = models.CharField(_("account"), max_length=140)
    entry_key = models.CharField(_("bank reference"), max_length=140)
    booking_date = models.DateField(_("booking date"), null=True, blank=True)
    value_date = models.DateField(_("value date"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    credit = models.BooleanField(_("credit"))
    remitter_name = models.CharField(_("remitter"), max_length=140, blank=True)
    remitter_iban = models.CharField(_("remitter's IBAN"), max_length=34, blank=True)
    remittance_text = models.CharField(_("remittance text"), max_length=1000, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=LineState.choices)
    method = models.CharField(_("matched by"), max_length=16, choices=MatchMethod.choices,
                              blank=True)
    case = models.ForeignKey(DebtCase, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="statement_lines", verbose_name=_("case"))
    suggested_case = models.ForeignKey(DebtCase, on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="+",
                                       verbose_name=_("suggested case"))
    #: Order ids of the cases a reference matched when it matched more than one.
    candidates = models.JSONField(_("candidates"), default=list, blank=True)
    payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+", verbose_name=_("payment"))
    applied = models.DecimalField(_("applied"), max_digits=14, decimal_places=2, default=0)
    #: Money above the case's open amount, to be paid back to the remitter.
    surplus = models.DecimalField(_("to refund"), max_digits=14, decimal_places=2, default=0)
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)
    #: Why the line is listed (a code of banking.reasons with its facts).
    reason_code = models.CharField(max_length=64, blank=True)
    reason_params = models.JSONField(default=dict, blank=True)
    #: Support's own words when assigning, ignoring or refunding, and who did it.
    note = models.CharField(_("note"), max_length=500, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["statement_id", "position", "pk"]
        constraints = [models.UniqueConstraint(
            fields=["account", "entry_key"], condition=~Q(state="duplicate"),
            name="one_line_per_bank_booking")]
        indexes = [models.Index(fields=["state"], name="banking_line_state")]

    def __str__(self) -> str:
        return f"{self.statement_id}/{self.position}: {self.amount} {self.currency}"

    @property
    def reason(self) -> str:
        return Reason(self.reason_code, self.reason_params).render() if self.reason_code else ""
