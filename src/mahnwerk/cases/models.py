"""The debt case: one per unpaid order, its timeline (case events) and its notes."""

from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mahnwerk.cases.states import INCASSO_STATE, CaseState
from mahnwerk.intake.models import IncidentKind, Order, Vendor
from mahnwerk.reasons import render


class DebtCase(models.Model):
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="debt_case",
                                 verbose_name=_("order"))
    # Denormalised from the order so that lists by vendor need no join.
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="debt_cases",
                               verbose_name=_("vendor"))
    state = models.CharField(_("state"), max_length=24, choices=CaseState.choices,
                             default=CaseState.OPEN, db_index=True)
    trigger = models.CharField(_("trigger"), max_length=32, choices=IncidentKind.choices)
    #: Each debt that comes back after the case was paid or cancelled starts a new dunning
    #: cycle: letters start again at the first level; the earlier cycles' letters stay.
    cycle = models.PositiveSmallIntegerField(_("dunning cycle"), default=1)
    #: When the incident that opened the current cycle happened (the first level counts from it).
    cycle_started_at = models.DateTimeField(_("cycle started"), null=True, blank=True)
    open_amount = models.DecimalField(_("open amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    #: What the buyer owes beside the principal (``open_amount``) in the current cycle, after
    #: the payments (§ 367 BGB: costs first, then interest): the costs (dunning fees, the lump
    #: sum of § 288 (5) BGB) and the default interest the letters claimed (``cases.claims``).
    fees = models.DecimalField(_("costs"), max_digits=14, decimal_places=2, default=0,
                               db_default=0)
    interest = models.DecimalField(_("interest"), max_digits=14, decimal_places=2, default=0,
                                   db_default=0)
    #: The current cycle's charges, one per letter that claimed costs or interest: ``{"on":
    #: day, "level": n, "costs": "2.50", "interest": "0.88"}`` (``cases.claims.Charge``).
    charges = models.JSONField(_("charges"), default=list, blank=True, db_default=[])
    pursue = models.BooleanField(_("pursue (yellow)"), default=True,
                                 help_text=_("Yellow: pursue. Grey: do not pursue."))
    first_invoice_number = models.CharField(_("first invoice number"), max_length=64,
                                            blank=True)
    #: The handover file's two letter dates for the current cycle: the day the letter of the
    #: level that fills that column left (``dunning.models.DunningLevel.handover_column``).
    first_dunning_letter = models.DateField(_("first dunning letter"), null=True, blank=True)
    second_dunning_letter = models.DateField(_("second dunning letter"), null=True, blank=True)
    offer_link = models.URLField(_("offer link"), max_length=1000, blank=True)
    incasso_date = models.DateField(_("takeover by the agency"), null=True, blank=True)
    reopened = models.BooleanField(_("reordered"), default=False)
    reopened_id = models.CharField(_("new order id"), max_length=64, blank=True)
    invalid_address_computed = models.BooleanField(_("address incomplete or wrong"),
                                                   default=False)
    #: Codes from ``intake.addresses.address_problems``, comma-separated.
    address_problems = models.CharField(_("address problems"), max_length=255, blank=True)
    invalid_address_override = models.BooleanField(
        _("invalid address (set by hand)"), null=True, blank=True,
        help_text=_("Empty: use the computed value."),
    )
    invalid_address_set_by = models.CharField(_("invalid address set by"), max_length=150,
                                              blank=True)
    block_reason = models.CharField(_("block reason"), max_length=500, blank=True)
    blocked_from_state = models.CharField(max_length=24, blank=True)
    opened_at = models.DateTimeField(_("opened"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    #: When the buyer's personal data of this case was replaced (``ops.privacy``): the amounts,
    #: dates, states and ids stay for the bookkeeping.
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)
    #: The order's id, invoice number, buyer name and e-mail, folded for searching
    #: (``cases.search``): an index of the order's data, not a fact of the case.
    search_text = models.TextField(_("search text"), blank=True, default="", db_default="",
                                   editable=False)
    #: The order's buyer name, kept for sorting the case list by buyer without joining the
    #: orders (``cases.search`` writes it with the search column).
    buyer_last_name = models.CharField(_("last name"), max_length=150, blank=True, default="",
                                       db_default="", editable=False)
    buyer_first_name = models.CharField(_("first name"), max_length=150, blank=True,
                                        default="", db_default="", editable=False)

    class Meta:
        verbose_name = _("debt case")
        verbose_name_plural = _("debt cases")
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["vendor", "state"], name="case_vendor_state"),
            # The Übersicht's two grouped reads (web.figures) from the index alone, in its
            # order: by state, trigger, currency (with the ages), and by vendor and currency.
            models.Index(fields=["state", "trigger", "currency", "open_amount",
                                 "cycle_started_at", "opened_at"], name="case_overview_stock"),
            models.Index(fields=["vendor", "currency", "state", "open_amount"],
                         name="case_overview_vendor"),
            # The case list's count and open sum per currency, read from the index alone
            # (docs/benchmarks.md, "The workspace at 100,000 cases").
            models.Index(fields=["currency", "state", "open_amount"], name="case_totals"),
            # The case list sorted by buyer: its first page from the index, in its order.
            models.Index(fields=["buyer_last_name", "buyer_first_name", "order_id"],
                         name="case_buyer_sort"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(open_amount__gte=0),
                                   name="case_open_amount_not_negative"),
            models.CheckConstraint(condition=models.Q(fees__gte=0, interest__gte=0),
                                   name="case_costs_interest_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.get_state_display()})"

    @property
    def total_owed(self):
        """Principal, costs and interest together."""
        return self.open_amount + self.fees + self.interest

    @property
    def invalid_address(self) -> bool:
        if self.invalid_address_override is not None:
            return self.invalid_address_override
        return self.invalid_address_computed

    @property
    def address_problem_text(self) -> str:
        """What is wrong with the buyer's address, in the reader's language."""
        from mahnwerk.intake.addresses import describe

        return describe([c for c in self.address_problems.split(",") if c],
                        postcode=self.order.postcode, country=self.order.country)

    @property
    def incasso_state(self) -> str:
        return INCASSO_STATE[self.state]


class EventKind(models.TextChoices):
    OPENED = "opened", _("case opened")
    INCIDENT = "incident", _("incident")
    PAYMENT = "payment", _("payment")
    REORDERED = "reordered", _("reordered")
    STATE = "state", _("state changed")
    BLOCKED = "blocked", _("blocked")
    UNBLOCKED = "unblocked", _("unblocked")
    ADDRESS = "address", _("address flag")
    LETTER = "letter", _("dunning letter")
    COLLECTION = "collection", _("collection")
    NOTE = "note", _("note")
    UPDATED = "updated", _("updated")


class CaseEvent(models.Model):
    """One line of a case's timeline: who changed what, when, from which state to which."""

    case = models.ForeignKey(DebtCase, on_delete=models.CASCADE, related_name="events",
                             verbose_name=_("case"))
    #: When it was recorded (the write time).
    at = models.DateTimeField(_("recorded"), db_index=True)
    #: The business date it belongs to, where that is another day than the recording: the
    #: incident's day, a payment's day, a run's date, the day a letter left, the agency's
    #: takeover. Empty where the recording is the business moment (a note, a block) and in
    #: rows written before the field existed: ``business_date`` falls back to ``at``.
    effective_on = models.DateField(_("business date"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind.choices)
    actor = models.CharField(_("by"), max_length=150)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="+", verbose_name=_("user"))
    from_state = models.CharField(_("from state"), max_length=24, choices=CaseState.choices)
    to_state = models.CharField(_("to state"), max_length=24, choices=CaseState.choices)
    #: Why, as a code with its facts (``mahnwerk.reasons``): rendered in the reader's language.
    code = models.CharField(_("reason"), max_length=48, default="text")
    params = models.JSONField(_("facts"), default=dict, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}"

    @property
    def reason(self) -> str:
        """The reason in the reader's language."""
        return render(self.code, self.params)

    @property
    def business_date(self) -> date:
        """The day the event belongs to: ``effective_on``, else the (local) day it was
        recorded."""
        return self.effective_on or timezone.localtime(self.at).date()


class NoteVisibility(models.TextChoices):
    INTERNAL = "internal", _("internal (never leaves the system)")
    SHARED = "shared", _("shared (may go to the vendor and the agency)")


class CaseNote(models.Model):
    case = models.ForeignKey(DebtCase, on_delete=models.CASCADE, related_name="notes",
                             verbose_name=_("case"))
    visibility = models.CharField(_("visibility"), max_length=16,
                                  choices=NoteVisibility.choices,
                                  default=NoteVisibility.INTERNAL)
    text = models.TextField(_("text"))
    author = models.CharField(_("author"), max_length=150)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class LinkPurpose(models.TextChoices):
    OFFER = "offer", _("offer link (pay or resume)")
    APPROVE = "approve", _("approval link: approve")
    CANCEL = "cancel", _("approval link: cancel")


class LinkCode(models.Model):
    """The key in a link sent out (a letter's offer link, a vendor's approval link): a random
    code the database maps to its case and purpose. Nothing of the case can be read from the
    link, and the code cannot be guessed (``cases.links``)."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    case = models.ForeignKey(DebtCase, on_delete=models.CASCADE, related_name="link_codes",
                             verbose_name=_("case"))
    purpose = models.CharField(_("purpose"), max_length=16, choices=LinkPurpose.choices)
    created_at = models.DateTimeField(_("created"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("link code")
        verbose_name_plural = _("link codes")

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.case_id}"


class AccessKind(models.TextChoices):
    CASE = "case", _("case page")
    PORTAL_CASE = "portal_case", _("case page in the vendor portal")
    LETTER = "letter", _("letter")
    BUYER = "buyer", _("buyer's data")
    EXPORT = "export", _("export")


class AccessRecord(models.Model):
    """Who looked at or took out whose personal data, and when: every case page in the
    workspace and the portal, every letter opened, every export (lists, handover files, the
    print queue, a buyer's data). Administrators read it in the admin; nobody edits it."""

    at = models.DateTimeField(_("at"), db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="+", verbose_name=_("user"))
    #: The user name as it was (or the command line's user): stays when the user is deleted.
    actor = models.CharField(_("by"), max_length=150)
    kind = models.CharField(_("kind"), max_length=16, choices=AccessKind.choices)
    #: What was looked at: an order id, a letter, a buyer id, an export's name.
    target = models.CharField(_("what"), max_length=255)
    #: The orders whose data an export carried (a case page: its own order).
    order_ids = models.JSONField(_("orders"), default=list, blank=True)
    #: Where: the page's path, or the command.
    via = models.CharField(_("via"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("access record")
        verbose_name_plural = _("access log")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.get_kind_display()} {self.target}"
