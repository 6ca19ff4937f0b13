"""The filters and the sorting of the workspace's lists (django-filter's FilterSets).

The parameter names are the list's URL and stay as they are: the dashboard and the top bar link
to ``/faelle/?state=…&vendor=…&trigger=…&age=…&pursue=…&q=…`` and saved filters keep the query
string. Each filter only narrows the query; what a search or an age means is the cases app's
(``cases.search``, ``cases.selectors``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from mahnwerk.cases import search
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, CLOSED_STATES, CaseState
from mahnwerk.collection import selectors as collection_selectors
from mahnwerk.collection.models import CollectionPartner, HandoverItem
from mahnwerk.dunning.models import (
    Action,
    Channel,
    DeliveryStatus,
    Letter,
    OutboxMessage,
    RunDecision,
)
from mahnwerk.intake.models import IncidentKind
from mahnwerk.web import reads
from mahnwerk.web.forms import OneQueryChoiceIterator, PlainSelect

YES_NO = [("yes", _("yes")), ("no", _("no"))]
DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]

#: The state filter's groups beside the single states: "active" is what the top bar counts as
#: open cases (``cases.states.ACTIVE_STATES``).
STATE_GROUPS = {"active": ACTIVE_STATES, "closed": CLOSED_STATES}

#: Page sizes to choose from, and the one without a choice.
PAGE_SIZES = (25, 50, 100, 200)
PAGE_SIZE = 50


class AmountField(forms.DecimalField):
    """An amount as people type it: ``100``, ``99,50``, ``1.234,50`` or ``1234.50``."""

    def to_python(self, value: Any) -> Decimal | None:
        if isinstance(value, str):
            value = value.strip().replace(" ", "").replace("€", "")
            if "," in value:
                value = value.replace(".", "").replace(",", ".")
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class OneQueryChoiceField(django_filters.fields.ModelChoiceField):
    iterator = OneQueryChoiceIterator
    widget = PlainSelect


class ModelChoiceFilter(django_filters.ModelChoiceFilter):
    """django-filter's, with the options read in one query (``forms.OneQueryChoiceIterator``)
    and drawn in Python (``forms.PlainSelect``)."""

    field_class = OneQueryChoiceField


class PlainChoiceField(django_filters.fields.ChoiceField):
    widget = PlainSelect


class ChoiceFilter(django_filters.ChoiceFilter):
    """django-filter's, its select drawn in Python (``forms.PlainSelect``): Django's option
    dicts and templates for the lists' ten selects were a tenth of the case list's CPU."""

    field_class = PlainChoiceField


class AmountFilter(django_filters.NumberFilter):
    field_class = AmountField


def _date_filter(field: str, lookup: str, label: Any) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        field_name=field, lookup_expr=lookup, label=label, input_formats=DATE_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Give the day as 2026-12-01 or 01.12.2026.")})


def _yes_no(label: Any) -> ChoiceFilter:
    return ChoiceFilter(label=label, choices=YES_NO, method="filter_flag",
                        empty_label=_("all"))


#: The list's columns: the ``sort`` value → the fields ordered by (the order id last, so that
#: pages never shift); the header links and the saved filters use these names.
SORTS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id",),
    "vendor": ("vendor__name", "vendor_id"),
    "buyer": ("buyer_last_name", "buyer_first_name"),  # kept on the case (cases.search)
    "product": ("order__product__name",),
    "state": ("state",),
    "pursue": ("pursue",),
    "trigger": ("trigger",),
    "open_amount": ("currency", "open_amount"),
    "first_letter": ("first_dunning_letter",),
    "second_letter": ("second_dunning_letter",),
    "new_order": ("reopened_id",),
    "address": ("address_flag",),
    "cycle": ("cycle",),
    "incident": ("incident_at",),
}
#: The collection list's columns (*Inkasso*): the case list's, and the agency's takeover day.
COLLECTION_SORTS: dict[str, tuple[str, ...]] = {
    **{key: SORTS[key] for key in ("vendor", "order_id", "buyer", "product", "open_amount",
                                   "first_letter", "second_letter", "state", "address")},
    "incasso": ("incasso_date",),
}
#: Without a ``sort``: by vendor, then oldest debt first.
DEFAULT_SORT = ("vendor_id", "opened_at", "order_id")


def case_queryset() -> QuerySet[DebtCase]:
    """Every case with what its row shows and the values its columns sort by."""
    return (DebtCase.objects.select_related("order", "order__product", "vendor")
            .alias(address_flag=Coalesce("invalid_address_override",
                                         "invalid_address_computed"),
                   incident_at=case_selectors.incident_day()))


def _search(placeholder: Any = None) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        label=_("Search"), method="filter_search", max_length=150,
        widget=forms.TextInput(attrs={
            "type": "search",
            "placeholder": placeholder or _("order id, invoice number, buyer's name or e-mail")}))


def _sort(sorts: dict[str, tuple[str, ...]], empty_label: Any) -> ChoiceFilter:
    return ChoiceFilter(
        label=_("sort by"), method="filter_sort", empty_label=empty_label,
        choices=[(key, key) for name in sorts for key in (name, f"-{name}")],
        widget=forms.HiddenInput)


def _pursue() -> ChoiceFilter:
    return ChoiceFilter(
        label=_("mark"), method="filter_pursue", empty_label=_("yellow and grey"),
        choices=[("yes", _("yellow (pursue)")), ("no", _("grey (do not pursue)"))])


def _amount(lookup: str, label: Any, field: str = "open_amount") -> AmountFilter:
    return AmountFilter(field_name=field, lookup_expr=lookup, label=label,
                        error_messages={"invalid": _("Give an amount such as 100 or 99,50.")})


class ListFilterSet(django_filters.FilterSet):
    """What the lists' FilterSets share: the search, a vendor shown with its id, the sort by a
    column (``SORTS``, ``LAST`` the tie-break that keeps pages from shifting)."""

    SORTS: dict[str, tuple[str, ...]] = {}
    LAST = "order_id"
    SEARCH_FIELD = "search_text"

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        if "vendor" in self.form.fields:
            field = self.form.fields["vendor"]
            field.label_from_instance = lambda obj: f"{obj.name} ({obj.vendor_id})"
            field.label_fields = ("name", "vendor_id")  # read as rows: OneQueryChoiceIterator

    def filter_search(self, rows: QuerySet, name: str, value: str) -> QuerySet:
        return search.matching(rows, value, field=self.SEARCH_FIELD)

    def filter_pursue(self, rows: QuerySet, name: str, value: str) -> QuerySet:
        return rows.filter(pursue=value == "yes")

    def filter_sort(self, rows: QuerySet, name: str, value: str) -> QuerySet:
        return rows.order_by(*sort_fields(value, sorts=self.SORTS, last=self.LAST))

    def current_sort(self) -> str:
        """The sort in force ("" for the default); an invalid other filter does not undo it."""
        if not self.is_bound:
            return ""
        self.form.is_valid()
        return self.form.cleaned_data.get("sort") or ""


class CaseFilterSet(ListFilterSet):
    """The filters of *Fälle*: every fact of a case support filters its work by."""

    q = _search()
    state = ChoiceFilter(
        label=_("state"), method="filter_state", empty_label=_("all states"),
        choices=[("active", _("all open cases (in work)")),
                 ("closed", _("closed (paid, cancelled, reordered)")), *CaseState.choices])
    vendor = ModelChoiceFilter(
        label=_("vendor"), queryset=reads.vendors(), empty_label=_("all vendors"))
    pursue = _pursue()
    age = ChoiceFilter(
        label=_("age of the debt"), method="filter_age", empty_label=_("any age"),
        choices=[(key, _("%(range)s days") % {"range": key.replace("-", "–")})
                 for key in case_selectors.AGE_BUCKETS])
    trigger = ChoiceFilter(label=_("trigger"), choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    partner = ModelChoiceFilter(
        label=_("collection partner"), queryset=reads.active_partners(),
        method="filter_partner", empty_label=_("all partners"))
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    currency = django_filters.CharFilter(
        label=_("currency"), method="filter_currency", max_length=3,
        widget=forms.TextInput(attrs={"size": 4, "placeholder": "EUR"}))
    first_letter_from = _date_filter("first_dunning_letter", "gte", _("1st letter from"))
    first_letter_to = _date_filter("first_dunning_letter", "lte", _("1st letter up to"))
    second_letter_from = _date_filter("second_dunning_letter", "gte", _("2nd letter from"))
    second_letter_to = _date_filter("second_dunning_letter", "lte", _("2nd letter up to"))
    reordered = _yes_no(_("reordered"))
    invalid_address = _yes_no(_("address incomplete or wrong"))
    blocked = _yes_no(_("blocked"))
    cycle = django_filters.NumberFilter(
        label=_("dunning cycle"), min_value=1,
        error_messages={"invalid": _("Give the cycle as a whole number, 1 or more.")},
        widget=forms.NumberInput(attrs={"min": 1, "size": 4}))
    sort = ChoiceFilter(
        label=_("sort by"), method="filter_sort", empty_label=_("vendor, oldest first"),
        choices=[(key, key) for name in SORTS for key in (name, f"-{name}")])

    #: Shown at once; the others under "more filters" (open when one of them is set).
    MAIN = ("q", "state", "vendor", "pursue", "age")

    SORTS = SORTS

    class Meta:
        model = DebtCase
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", case_queryset().order_by(*DEFAULT_SORT))
        super().__init__(data, *args, **kwargs)
        self.form.fields["sort"].widget = forms.HiddenInput()

    # -- the filters' methods ----------------------------------------------------------------

    def filter_state(self, cases: QuerySet[DebtCase], name: str, value: str
                     ) -> QuerySet[DebtCase]:
        if value in STATE_GROUPS:
            return cases.filter(state__in=STATE_GROUPS[value])
        return cases.filter(state=value)

    def filter_age(self, cases: QuerySet[DebtCase], name: str, value: str
                   ) -> QuerySet[DebtCase]:
        return case_selectors.with_age(cases, value)

    def filter_partner(self, cases: QuerySet[DebtCase], name: str,
                       value: CollectionPartner) -> QuerySet[DebtCase]:
        """The cases handed over to this partner."""
        return cases.filter(Exists(HandoverItem.objects.filter(
            case=OuterRef("pk"), handed_over=True, handover__partner=value)))

    def filter_currency(self, cases: QuerySet[DebtCase], name: str, value: str
                        ) -> QuerySet[DebtCase]:
        return cases.filter(currency=value.strip().upper())

    def filter_flag(self, cases: QuerySet[DebtCase], name: str, value: str
                    ) -> QuerySet[DebtCase]:
        yes = value == "yes"
        if name == "reordered":
            return cases.filter(reopened=yes)
        if name == "blocked":
            condition = Q(state=CaseState.BLOCKED)
        else:  # invalid_address: the flag set by hand wins over the computed one
            condition = (Q(invalid_address_override=True)
                         | Q(invalid_address_override__isnull=True,
                             invalid_address_computed=True))
        return cases.filter(condition) if yes else cases.exclude(condition)

    # -- for the page ------------------------------------------------------------------------

    def more_fields(self) -> list[forms.BoundField]:
        return [self.form[name] for name in self.form.fields
                if name not in self.MAIN and name != "sort"]

    def main_fields(self) -> list[forms.BoundField]:
        return [self.form[name] for name in self.MAIN]

    def more_in_use(self) -> bool:
        data = self.data or {}
        return any(data.get(field.name) for field in self.more_fields())


def sort_fields(value: str, *, sorts: dict[str, tuple[str, ...]] = SORTS,
                last: str = "order_id") -> list[Any]:
    """The ``order_by`` of a ``sort`` value: ``-open_amount`` → the highest amounts first.
    Empty values (no letter yet) come last either way, on SQLite as on PostgreSQL."""
    descending = value.startswith("-")
    fields = sorts.get(value.lstrip("-"))
    if not fields:
        return list(DEFAULT_SORT)
    return [F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
            for field in dict.fromkeys((*fields, last))]


# -- A run's decisions ----------------------------------------------------------------------------

#: The decision list's columns: ``sort`` value → fields (the case's order id last).
DECISION_SORTS: dict[str, tuple[str, ...]] = {
    "order_id": ("case__order_id",),
    "vendor": ("case__vendor__name", "case__vendor_id"),
    "action": ("action", "level"),
    "open_amount": ("case__currency", "case__open_amount"),
    # The reason and the outcome are stored as a code with its facts: the same kind together.
    "reason": ("code",),
    "executed": ("executed_at",),
    "outcome": ("outcome_code",),
}


class DecisionFilterSet(ListFilterSet):
    """The filters of a run's decisions: what it decides, for which vendor, which trigger,
    which open amount, which case."""

    SORTS = DECISION_SORTS
    LAST = "case__order_id"
    SEARCH_FIELD = "case__search_text"

    q = _search()
    action = ChoiceFilter(label=_("action"), choices=Action.choices,
                          empty_label=_("all actions"))
    vendor = ModelChoiceFilter(
        label=_("vendor"), field_name="case__vendor", queryset=reads.vendors(),
        empty_label=_("all vendors"))
    trigger = ChoiceFilter(label=_("trigger"), field_name="case__trigger",
                           choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    amount_min = _amount("gte", _("open amount from"), field="case__open_amount")
    amount_max = _amount("lte", _("open amount up to"), field="case__open_amount")
    executed = _yes_no(_("executed"))
    sort = _sort(DECISION_SORTS, _("vendor, order id"))

    class Meta:
        model = RunDecision
        fields: list[str] = []

    def filter_flag(self, decisions: QuerySet[RunDecision], name: str, value: str
                    ) -> QuerySet[RunDecision]:
        return decisions.filter(executed_at__isnull=value != "yes")


# -- The run preview: decisions not stored, filtered and sorted in Python ------------------------

#: The preview's columns: ``sort`` value → what a planned decision is sorted by.
PREVIEW_SORTS: dict[str, Any] = {
    "order_id": lambda p: (p.facts.order_id,),
    "vendor": lambda p: (p.facts.vendor_id,),
    "open_amount": lambda p: (p.facts.currency, p.facts.open_amount),
    "action": lambda p: (p.decision.action, p.decision.level or 0),
    "reason": lambda p: (p.decision.code,),
}


class PreviewFilterForm(forms.Form):
    """What the run preview lists (its counts cover every decision): by action, trigger and
    open amount, sorted by any column."""

    action = forms.ChoiceField(label=_("action"), required=False,
                               choices=[("", _("all actions")), *Action.choices])
    trigger = forms.ChoiceField(label=_("trigger"), required=False,
                                choices=[("", _("all triggers")), *IncidentKind.choices])
    amount_min = AmountField(label=_("open amount from"), required=False, error_messages={
        "invalid": _("Give an amount such as 100 or 99,50.")})
    amount_max = AmountField(label=_("open amount up to"), required=False, error_messages={
        "invalid": _("Give an amount such as 100 or 99,50.")})
    sort = forms.ChoiceField(required=False, widget=forms.HiddenInput, choices=[
        ("", ""), *((key, key) for name in PREVIEW_SORTS for key in (name, f"-{name}"))])

    def planned(self, planned: list[Any], *, triggers: dict[int, str]) -> list[Any]:
        """The planned decisions this filter lists, in its order (``triggers``: each case's
        trigger by its id). An invalid filter lists them all, as planned."""
        if not self.is_valid():
            return planned
        data = self.cleaned_data
        shown = [p for p in planned
                 if (not data["action"] or p.decision.action == data["action"])
                 and (not data["trigger"] or triggers.get(p.facts.case_id) == data["trigger"])
                 and (data["amount_min"] is None or p.facts.open_amount >= data["amount_min"])
                 and (data["amount_max"] is None or p.facts.open_amount <= data["amount_max"])]
        sort = data["sort"]
        if sort:
            key = PREVIEW_SORTS[sort.lstrip("-")]
            shown.sort(key=lambda p: p.facts.order_id)
            shown.sort(key=key, reverse=sort.startswith("-"))
        return shown


# -- The outbox ---------------------------------------------------------------------------------

#: The outbox's columns: ``sort`` value → fields (newest message last as the tie-break).
OUTBOX_SORTS: dict[str, tuple[str, ...]] = {
    "order_id": ("case__order_id",),
    "level": ("letter__level",),
    "channel": ("channel",),
    "to": ("to_address",),
    "status": ("status",),
    "attempts": ("attempts",),
    "error": ("last_error",),
    "sent": ("sent_at",),
}


class OutboxFilterSet(ListFilterSet):
    """The outbox's messages: by status (the top bar links ``?status=queued``), channel,
    vendor, letter level, the letter's date, or the case."""

    SORTS = OUTBOX_SORTS
    LAST = "id"
    SEARCH_FIELD = "case__search_text"

    q = _search()
    status = ChoiceFilter(label=_("status"), choices=DeliveryStatus.choices,
                          empty_label=_("all"))
    channel = ChoiceFilter(label=_("channel"), choices=Channel.choices,
                           empty_label=_("all"))
    vendor = ModelChoiceFilter(
        label=_("vendor"), field_name="case__vendor", queryset=reads.vendors(),
        empty_label=_("all vendors"))
    level = django_filters.NumberFilter(
        label=_("dunning level"), field_name="letter__level", min_value=1,
        error_messages={"invalid": _("Give the level as a whole number, 1 or more.")},
        widget=forms.NumberInput(attrs={"min": 1, "size": 4}))
    letter_from = _date_filter("letter__letter_date", "gte", _("letter date from"))
    letter_to = _date_filter("letter__letter_date", "lte", _("letter date up to"))
    sort = _sort(OUTBOX_SORTS, _("newest first"))

    class Meta:
        model = OutboxMessage
        fields: list[str] = []


# -- Freigaben: the cases waiting for their vendor's approval --------------------------------------

#: *Freigaben*' columns (and the portal's waiting cases, without the vendor).
APPROVAL_SORTS: dict[str, tuple[str, ...]] = {
    **{key: SORTS[key] for key in ("order_id", "vendor", "buyer", "open_amount", "product",
                                   "first_letter", "second_letter", "trigger", "state")},
    "waiting": ("waiting_since",),
    "asked": ("asked_at",),
}
ASKED_CHOICES = [("not_asked", _("not asked yet")), ("asked", _("asked, no reminder yet")),
                 ("reminded", _("reminded")),
                 ("escalated", _("escalated to the relationship manager"))]


class ApprovalFilterSet(ListFilterSet):
    """*Freigaben*: by vendor, where the request to the vendor stands, since when the case
    waits, its amount, its trigger, yellow or grey, and the search."""

    SORTS = APPROVAL_SORTS

    q = _search()
    vendor = ModelChoiceFilter(
        label=_("vendor"), queryset=reads.vendors(), empty_label=_("all vendors"))
    asked = ChoiceFilter(
        label=_("vendor asked"), choices=ASKED_CHOICES, method="filter_asked",
        empty_label=_("all"))
    waiting_from = _date_filter("waiting_since", "gte", _("waiting since, from"))
    waiting_to = _date_filter("waiting_since", "lte", _("waiting since, up to"))
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    trigger = ChoiceFilter(label=_("trigger"), choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    pursue = _pursue()
    sort = _sort(APPROVAL_SORTS, _("vendor, order id"))

    class Meta:
        model = DebtCase
        fields: list[str] = []

    def filter_asked(self, cases: QuerySet[DebtCase], name: str, value: str
                     ) -> QuerySet[DebtCase]:
        return collection_selectors.asked_stage(cases, value)


# -- Inkasso: the cases waiting for, approved for or with the agency ------------------------------


class CollectionFilterSet(ListFilterSet):
    """*Inkasso*: by vendor, state, partner, amount, trigger, yellow or grey, the address,
    blocked or not, and the search."""

    SORTS = COLLECTION_SORTS

    q = _search()
    vendor = ModelChoiceFilter(
        label=_("vendor"), queryset=reads.vendors(), empty_label=_("all vendors"))
    state = ChoiceFilter(
        label=_("state"), empty_label=_("all states"),
        choices=[(state.value, state.label) for state in (
            CaseState.ON_HOLD, CaseState.APPROVED, CaseState.SENT_FOR_COLLECTION,
            CaseState.BLOCKED)])
    partner = ModelChoiceFilter(
        label=_("collection partner"), queryset=reads.active_partners(),
        method="filter_partner", empty_label=_("all partners"))
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    trigger = ChoiceFilter(label=_("trigger"), choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    pursue = _pursue()
    invalid_address = _yes_no(_("address incomplete or wrong"))
    blocked = _yes_no(_("blocked"))
    sort = _sort(COLLECTION_SORTS, _("vendor, order id"))

    filter_partner = CaseFilterSet.filter_partner
    filter_flag = CaseFilterSet.filter_flag

    class Meta:
        model = DebtCase
        fields: list[str] = []


# -- The vendor portal's lists: always one vendor's rows (the base queryset), never a vendor filter

PORTAL_SEARCH = _("order id, invoice number or buyer's name")


class PortalApprovalFilterSet(ListFilterSet):
    """The vendor's cases waiting for its approval."""

    SORTS = {key: value for key, value in APPROVAL_SORTS.items() if key != "vendor"}

    q = _search(PORTAL_SEARCH)
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    trigger = ChoiceFilter(label=_("trigger"), choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    waiting_from = _date_filter("waiting_since", "gte", _("waiting since, from"))
    sort = _sort(SORTS, _("order id"))

    class Meta:
        model = DebtCase
        fields: list[str] = []


PORTAL_OPEN_SORTS = {key: SORTS[key] for key in (
    "order_id", "buyer", "product", "state", "open_amount", "first_letter", "second_letter")}


class PortalOpenFilterSet(ListFilterSet):
    """The vendor's open cases."""

    SORTS = PORTAL_OPEN_SORTS

    q = _search(PORTAL_SEARCH)
    state = ChoiceFilter(
        label=_("state"), empty_label=_("all states"),
        choices=[(state.value, state.label) for state in CaseState if state in ACTIVE_STATES])
    pursue = _pursue()
    trigger = ChoiceFilter(label=_("trigger"), choices=IncidentKind.choices,
                           empty_label=_("all triggers"))
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    sort = _sort(PORTAL_OPEN_SORTS, _("oldest debt first"))

    class Meta:
        model = DebtCase
        fields: list[str] = []


PORTAL_CLOSED_SORTS = {
    **{key: SORTS[key] for key in ("order_id", "buyer", "product", "state", "open_amount",
                                   "first_letter", "second_letter")},
    "closed": ("closed_at",),
    "incasso": ("incasso_date",),
}


class PortalClosedFilterSet(ListFilterSet):
    """The vendor's history: paid, cancelled and reordered cases."""

    SORTS = PORTAL_CLOSED_SORTS

    q = _search(PORTAL_SEARCH)
    state = ChoiceFilter(
        label=_("state"), empty_label=_("all states"),
        choices=[(state.value, state.label) for state in CaseState if state in CLOSED_STATES])
    closed_from = _date_filter("closed_at", "date__gte", _("closed from"))
    closed_to = _date_filter("closed_at", "date__lte", _("closed up to"))
    amount_min = _amount("gte", _("open amount from"))
    amount_max = _amount("lte", _("open amount up to"))
    sort = _sort(PORTAL_CLOSED_SORTS, _("most recently closed first"))

    class Meta:
        model = DebtCase
        fields: list[str] = []


PORTAL_LETTER_SORTS: dict[str, tuple[str, ...]] = {
    "order_id": ("case__order_id",),
    "letter_date": ("letter_date",),
    "dispatched": ("dispatched_on",),
    "level": ("level", "cycle"),
    "amount": ("currency", "amount"),
    "channel": ("outbox__channel",),
    "status": ("outbox__status",),
}


class PortalLetterFilterSet(ListFilterSet):
    """The letters sent to the vendor's buyers."""

    SORTS = PORTAL_LETTER_SORTS
    LAST = "id"
    SEARCH_FIELD = "case__search_text"

    q = _search(PORTAL_SEARCH)
    level = django_filters.NumberFilter(
        label=_("dunning level"), min_value=1,
        error_messages={"invalid": _("Give the level as a whole number, 1 or more.")},
        widget=forms.NumberInput(attrs={"min": 1, "size": 4}))
    channel = ChoiceFilter(label=_("channel"), field_name="outbox__channel",
                           choices=Channel.choices, empty_label=_("all"))
    status = ChoiceFilter(label=_("status"), field_name="outbox__status",
                          choices=DeliveryStatus.choices, empty_label=_("all"))
    letter_from = _date_filter("letter_date", "gte", _("letter date from"))
    letter_to = _date_filter("letter_date", "lte", _("letter date up to"))
    sort = _sort(PORTAL_LETTER_SORTS, _("newest first"))

    class Meta:
        model = Letter
        fields: list[str] = []


__all__ = [
    "APPROVAL_SORTS",
    "DECISION_SORTS",
    "OUTBOX_SORTS",
    "PAGE_SIZE",
    "PAGE_SIZES",
    "SORTS",
    "ApprovalFilterSet",
    "CaseFilterSet",
    "CollectionFilterSet",
    "DecisionFilterSet",
    "ListFilterSet",
    "OutboxFilterSet",
    "PortalApprovalFilterSet",
    "PortalClosedFilterSet",
    "PortalLetterFilterSet",
    "PortalOpenFilterSet",
    "PreviewFilterForm",
    "sort_fields",
]
