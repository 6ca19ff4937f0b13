"""Dunning: policies and their levels, runs (decide, then execute), letters and the outbox.

Modelled as plainly as OCA's credit-control: a policy has levels, each level answers one
question (is this case due for me on this date?), a run records what it decided for every case
and what it did.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from mahnwerk.cases.models import DebtCase
from mahnwerk.dunning.templating import check_template
from mahnwerk.intake.models import Product, Vendor
from mahnwerk.reasons import render


class LetterKind(models.TextChoices):
    """The words a level sends: each kind has its standard letter in German and English
    (``templates/dunning/letters/<kind>_<language>.*``) that the admin can change."""

    REMINDER = "reminder", _("friendly reminder")
    FIRST = "first", _("first dunning letter")
    SECOND = "second", _("second dunning letter")
    FINAL = "final", _("final notice")


class HandoverColumn(models.TextChoices):
    """The column of the agency's handover file that a level's letter date fills."""

    FIRST = "first_dunning_letter", _("first dunning letter")
    SECOND = "second_dunning_letter", _("second dunning letter")
    NONE = "", _("none")


class DefaultStart(models.TextChoices):
    """When the buyer is in default (§ 286 BGB), counted from the first letter of the cycle."""

    AFTER_DEADLINE = "after_deadline", _("the day after the first letter's deadline")
    AFTER_LETTER = "after_letter", _("the day after the first letter left")


class DunningPolicy(models.Model):
    """When letters go out and what they may charge. One default policy (vendor empty); a
    vendor may have its own. Every change is kept (``history``)."""

    name = models.CharField(_("name"), max_length=150)
    vendor = models.OneToOneField(Vendor, on_delete=models.CASCADE, null=True, blank=True,
                                  related_name="dunning_policy", verbose_name=_("vendor"),
                                  help_text=_("Empty: the default policy for every vendor."))
    run_day = models.PositiveSmallIntegerField(
        _("day of the month of the run"), default=1,
        help_text=_("The scheduled run starts on this day of each month (1-28)."))
    escalate_after_days = models.PositiveSmallIntegerField(
        _("days after the second letter before escalation"), default=14)
    minimum_amount = models.DecimalField(_("minimum open amount"), max_digits=12,
                                         decimal_places=2, default=Decimal("5.00"))
    payment_days = models.PositiveSmallIntegerField(
        _("days the buyer has to pay"), default=14,
        help_text=_("The deadline printed in a letter: letter date plus these days."))
    offer_valid_days = models.PositiveSmallIntegerField(_("days an offer link is valid"),
                                                        default=60)
    interest_enabled = models.BooleanField(
        _("charge default interest"), default=False,
        help_text=_("§ 288 BGB: the base rate (table of base rates) plus 5 percentage points "
                    "for consumers, 9 for businesses, from the day of default."))
    fees_enabled = models.BooleanField(
        _("charge costs"), default=False,
        help_text=_("The levels' fees (never for the first letter, at most "
                    "MAHNWERK_DUNNING_FEE_CAP); for businesses the lump sum of 40 EUR "
                    "(§ 288 (5) BGB) instead, as far as the fees stay below it."))
    buyers_are_businesses = models.BooleanField(
        _("the buyers are businesses"), default=False,
        help_text=_("The platform does not say whether a buyer is a business: this policy's "
                    "buyers count as businesses (9 points, lump sum) when ticked, else as "
                    "consumers."))
    default_starts = models.CharField(
        _("default starts"), max_length=16, choices=DefaultStart.choices,
        default=DefaultStart.AFTER_DEADLINE,
        help_text=_("§ 286 BGB: the first letter puts the buyer in default."))
    print_within_days = models.PositiveSmallIntegerField(
        _("working days a paper letter may wait for printing"), default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("A letter in the print queue longer than this is flagged in the outbox "
                    "and on its case."))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dunning policy")
        verbose_name_plural = _("dunning policies")
        constraints = [
            models.UniqueConstraint(fields=["vendor"], name="one_policy_per_vendor"),
            models.UniqueConstraint(fields=["name"], condition=models.Q(vendor__isnull=True),
                                    name="one_default_policy_name"),
        ]

    def __str__(self) -> str:
        return self.name


class DunningLevel(models.Model):
    """One step of a policy, as in Tryton's account_dunning: the levels of a policy are an
    ordered list of any length (a friendly reminder, 1st letter, 2nd letter, final notice ...).
    After the last level comes the escalation to collection."""

    policy = models.ForeignKey(DunningPolicy, on_delete=models.CASCADE, related_name="levels",
                               verbose_name=_("policy"))
    number = models.PositiveSmallIntegerField(
        _("level"), validators=[MinValueValidator(1)],
        help_text=_("The order of the levels: 1 is sent first."))
    name = models.CharField(_("name"), max_length=100)
    days_after_previous = models.PositiveSmallIntegerField(
        _("days after the previous step"),
        help_text=_("The first level: days after the incident. Every other level: days after "
                    "the previous letter left."))
    template = models.CharField(_("letter"), max_length=16, choices=LetterKind.choices,
                                default=LetterKind.FIRST)
    handover_column = models.CharField(
        _("date column in the handover file"), max_length=32, choices=HandoverColumn.choices,
        default=HandoverColumn.NONE, blank=True,
        help_text=_("The agency's file has a first and a second dunning letter date; say which "
                    "one this level's letter fills, if any."))
    fee = models.DecimalField(
        _("fee"), max_digits=10, decimal_places=2, default=Decimal("0.00"),
        help_text=_("The actual cost of this letter, charged when the policy charges costs; "
                    "never for the first letter."))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dunning level")
        verbose_name_plural = _("dunning levels")
        ordering = ["policy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="one_level_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="level_from_one"),
            models.CheckConstraint(condition=models.Q(fee__gte=0), name="fee_not_negative"),
            # § 286 BGB: the letter that puts the buyer in default costs nothing.
            models.CheckConstraint(condition=models.Q(number__gt=1) | models.Q(fee=0),
                                   name="no_fee_for_the_first_letter"),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.name}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        problem = fee_problem(number=self.number, fee=self.fee)
        if problem:
            raise ValidationError({"fee": problem})


def fee_cap() -> Decimal:
    return Decimal(str(settings.MAHNWERK_DUNNING_FEE_CAP))


def fee_problem(*, number: int | None, fee: Decimal | None) -> str:
    """Why a level may not charge this fee, or ""."""
    if fee is None or fee <= 0:
        return ""
    if number == 1:
        return str(_("The first letter puts the buyer in default (§ 286 BGB): it may not be "
                     "charged. A fee is allowed from the second letter on."))
    if fee > fee_cap():
        return str(_("A dunning fee may only cover the actual cost of a letter: at most "
                     "%(cap)s (MAHNWERK_DUNNING_FEE_CAP).") % {"cap": fee_cap()})
    return ""


class BaseRate(models.Model):
    """The base rate of § 247 BGB for one half-year, as the Bundesbank publishes it (it changes
    each 1 January and 1 July). The administrator keeps the table; every half-year from the
    first to the last has its row (no gap), and no half-year two (no overlap)."""

    valid_from = models.DateField(_("valid from"), unique=True,
                                  help_text=_("1 January or 1 July: the half-year's first day."))
    rate = models.DecimalField(_("base rate (% p.a.)"), max_digits=5, decimal_places=2)
    source = models.CharField(_("source"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("base rate")
        verbose_name_plural = _("base rates")
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return f"{self.valid_from:%d.%m.%Y}: {self.rate} %"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from mahnwerk.dunning.rate_table import table_problems

        if self.valid_from is None:
            return
        others = BaseRate.objects.exclude(pk=self.pk).values_list("valid_from", flat=True)
        problems = table_problems([*others, self.valid_from], new=self.valid_from)
        if problems:
            raise ValidationError({"valid_from": problems})


class RunState(models.TextChoices):
    #: Deciding: the decisions are being written. A run killed here is decided again.
    DECIDING = "deciding", _("deciding")
    DECIDED = "decided", _("decided")
    EXECUTING = "executing", _("executing")
    DONE = "done", _("done")
    DISCARDED = "discarded", _("discarded")


class DunningRun(models.Model):
    as_of = models.DateField(_("as of"))
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("only vendor"))
    state = models.CharField(_("state"), max_length=16, choices=RunState.choices,
                             default=RunState.DECIDED)
    started_by = models.CharField(_("started by"), max_length=150)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    executed_at = models.DateTimeField(_("execution started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    #: "active" while the run is not done; unique, so two runs can never execute at once.
    lock = models.CharField(max_length=8, null=True, blank=True, unique=True, default="active")
    # Progress, written with each batch (so any page, any process reads it; docs/architecture.md
    # "The dunning run"): decisions in all, decisions executed, and what executing did so far
    # as counts per outcome (``selectors.outcome_key``: "email1", "print2", "escalated", ...).
    total = models.PositiveIntegerField(_("decisions"), default=0)
    done = models.PositiveIntegerField(_("decisions executed"), default=0)
    outcomes = models.JSONField(_("outcomes"), default=dict, blank=True)
    #: The process executing the run (a random claim; empty: none). It renews ``heartbeat_at``
    #: with every batch; a claim older than MAHNWERK_RUN_STALE_SECONDS was left by a process
    #: that died, and the run may be resumed by another.
    worker = models.CharField(max_length=32, blank=True, default="")
    heartbeat_at = models.DateTimeField(_("last sign of the execution"), null=True, blank=True)
    #: Why the execution stopped, as it was raised (the case's order id and the error): shown
    #: on the run's page until the run is resumed.
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)
    failed_order = models.CharField(_("failed at order"), max_length=64, blank=True, default="")
    failure = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("dunning run")
        verbose_name_plural = _("dunning runs")
        ordering = ["-as_of", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.as_of}"


class Action(models.TextChoices):
    SEND = "send", _("send letter")
    EXCLUDE = "exclude", _("exclude (reordered)")
    HOLD = "hold", _("hold (no dunning account)")
    SKIP = "skip", _("skip")
    ESCALATE = "escalate", _("escalate to collection")


class RunDecision(models.Model):
    run = models.ForeignKey(DunningRun, on_delete=models.CASCADE, related_name="decisions",
                            verbose_name=_("run"))
    case = models.ForeignKey(DebtCase, on_delete=models.CASCADE, related_name="decisions",
                             verbose_name=_("case"))
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    level = models.PositiveSmallIntegerField(_("level"), null=True, blank=True)
    #: Why, as a code with its facts (``mahnwerk.reasons``); words at reading time.
    code = models.CharField(_("reason"), max_length=48, default="text")
    params = models.JSONField(_("facts"), default=dict, blank=True)
    executed_at = models.DateTimeField(_("executed"), null=True, blank=True)
    outcome_code = models.CharField(_("outcome"), max_length=48, blank=True)
    outcome_params = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("run decision")
        verbose_name_plural = _("run decisions")
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case"], name="one_decision_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.action}"

    @property
    def reason(self) -> str:
        """The reason in the reader's language."""
        return render(self.code, self.params)

    @property
    def outcome(self) -> str:
        return render(self.outcome_code, self.outcome_params) if self.outcome_code else ""


class LetterTemplate(models.Model):
    """The words of a letter of one kind and language; a vendor may have its own.

    Subject, HTML and text are Django templates; they are compiled when saved, and a syntax
    error is refused with its line (``dunning.templating.check_template``)."""

    template = models.CharField(_("letter"), max_length=16, choices=LetterKind.choices,
                                default=LetterKind.FIRST)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES,
                                default="de")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="letter_templates", verbose_name=_("vendor"),
                               help_text=_("Empty: the standard letter."))
    subject = models.CharField(_("subject"), max_length=255)
    body_html = models.TextField(_("HTML body"))
    body_text = models.TextField(_("text body"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("letter template")
        verbose_name_plural = _("letter templates")
        constraints = [
            models.UniqueConstraint(fields=["template", "language", "vendor"],
                                    name="one_template_per_kind_language_vendor"),
            models.UniqueConstraint(fields=["template", "language"],
                                    condition=models.Q(vendor__isnull=True),
                                    name="one_standard_template"),
        ]

    def __str__(self) -> str:
        return f"{self.get_template_display()} ({self.language}) {self.vendor or ''}".strip()

    def clean(self) -> None:
        from django.core.exceptions import ValidationError


        errors: dict[str, list[ValidationError]] = {}
        for field in ("subject", "body_html", "body_text"):
            try:
                check_template(getattr(self, field), field=field)
            except ValidationError as exc:
                errors.update(exc.error_dict)
        if errors:
            raise ValidationError(errors)


class Letter(models.Model):
    """A dunning letter as it was written: a case gets each level once per dunning cycle.

    ``letter_date`` is the date printed on it; ``dispatched_on`` the day it left (the mail
    server accepted it, or it was posted), empty while it has not: only a letter that left
    counts, and the policy's waits count from that day."""

    case = models.ForeignKey(DebtCase, on_delete=models.PROTECT, related_name="letters",
                             verbose_name=_("case"))
    cycle = models.PositiveSmallIntegerField(_("dunning cycle"), default=1)
    level = models.PositiveSmallIntegerField(_("level"))
    template = models.CharField(_("letter"), max_length=16, choices=LetterKind.choices,
                                default=LetterKind.FIRST)
    #: The handover file's column this letter's date fills when it leaves (from its level).
    handover_column = models.CharField(max_length=32, choices=HandoverColumn.choices,
                                       blank=True, default=HandoverColumn.NONE)
    dispatched_on = models.DateField(_("left on"), null=True, blank=True)
    #: Set when the letter was cancelled before it left (the case was paid, blocked ...): it
    #: does not count, and the same level may be written again in the same cycle.
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    run = models.ForeignKey(DunningRun, on_delete=models.PROTECT, null=True, blank=True,
                            related_name="letters", verbose_name=_("run"))
    letter_date = models.DateField(_("letter date"))
    deadline = models.DateField(_("pay by"))
    language = models.CharField(_("language"), max_length=5, default="de")
    principal = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)
    fees = models.DecimalField(_("fees"), max_digits=14, decimal_places=2, default=0)
    interest = models.DecimalField(_("interest"), max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3)
    offer_link = models.URLField(_("offer link"), max_length=1000)
    subject = models.CharField(_("subject"), max_length=255)
    body_html = models.TextField(_("HTML body"))
    body_text = models.TextField(_("text body"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    #: When the letter's text (the buyer's name and address) was removed (``ops.privacy``);
    #: its date, level and amounts stay.
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

    class Meta:
        verbose_name = _("letter")
        verbose_name_plural = _("letters")
        ordering = ["-letter_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "cycle", "level"],
                                    condition=models.Q(withdrawn_at__isnull=True),
                                    name="one_letter_per_cycle_and_level"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} #{self.level} {self.letter_date}"

    @property
    def total(self):
        return self.principal + self.fees + self.interest


class Channel(models.TextChoices):
    EMAIL = "email", _("e-mail")
    PRINT = "print", _("print and post")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    BOUNCED = "bounced", _("bounced")
    CANCELLED = "cancelled", _("cancelled")
    PRINTED = "printed", _("printed")


class OutboxMessage(models.Model):
    """A letter waiting for delivery, written in the same transaction as the case change.

    E-mail goes out through Django's mail backends by the outbox worker; letters to buyers
    without an e-mail address wait in the print queue."""

    letter = models.OneToOneField(Letter, on_delete=models.PROTECT, related_name="outbox",
                                  verbose_name=_("letter"))
    case = models.ForeignKey(DebtCase, on_delete=models.PROTECT, related_name="outbox",
                             verbose_name=_("case"))
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    to_address = models.CharField(_("to"), max_length=254, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    message_id = models.CharField(_("message id"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    #: The day the letter entered the print queue (its run's date; for an e-mail that failed
    #: and goes by post, the day it was moved): how long it waited counts from it.
    print_since = models.DateField(_("in the print queue since"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.letter} → {self.to_address or self.get_channel_display()}"


class VendorTask(models.Model):
    """Something a vendor must do before its buyers can be dunned, e.g. attach the dunning
    account ("MahnwesenCopeCart", telesales agent with 0 %) to products."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="dunning_tasks",
                               verbose_name=_("vendor"))
    run = models.ForeignKey(DunningRun, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="vendor_tasks", verbose_name=_("run"))
    products = models.ManyToManyField(Product, related_name="+", verbose_name=_("products"))
    text = models.TextField(_("task"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        verbose_name = _("vendor task")
        verbose_name_plural = _("vendor tasks")
        constraints = [
            models.UniqueConstraint(fields=["vendor", "run"], name="one_task_per_vendor_run"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor}: {self.text[:50]}"


class DirectSelection(models.Model):
    """A direct-collection vendor's answer for one case and dunning cycle: pursue (and hand to
    collection) or not.

    Before a run these vendors get the list of order ids the run would dun; an unmarked case
    (``pursue`` empty) is not pursued (process.md section 4, "Important!"). A debt that comes
    back (a new cycle) is a new question: the answer about the earlier debt does not carry
    over."""

    case = models.ForeignKey(DebtCase, on_delete=models.CASCADE,
                             related_name="direct_selections", verbose_name=_("case"))
    cycle = models.PositiveSmallIntegerField(_("dunning cycle"), default=1)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("vendor"))
    pursue = models.BooleanField(_("pursue"), null=True, blank=True)
    requested_at = models.DateTimeField(_("asked"), auto_now_add=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("direct-collection selection")
        verbose_name_plural = _("direct-collection selections")
        constraints = [
            models.UniqueConstraint(fields=["case", "cycle"],
                                    name="one_direct_selection_per_cycle"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.cycle}: {self.pursue}"
