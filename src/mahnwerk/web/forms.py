"""The forms of the workspace and the portal: they parse input, the services decide."""

from __future__ import annotations

import html

from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from mahnwerk.collection import approvals
from mahnwerk.web import reads


class OneQueryChoiceIterator(forms.models.ModelChoiceIterator):
    """A model select's options read in one query. Django reads them through
    ``QuerySet.iterator()``, on PostgreSQL a server-side cursor (declare, fetch, close), made for
    tables too big to hold: 2 ms of CPU for 50 vendors on every page of the case list, 0.45 ms
    read at once (docs/benchmarks.md, "Intake API under load"). A select's few hundred rows are
    small. Also for django-filter's fields: their ``null_label`` choice follows the empty one."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if getattr(self.field, "null_label", None) is not None:
            yield (self.field.null_value, self.field.null_label)
        fields = getattr(self.field, "label_fields", None)
        if fields:
            # Only the columns the label shows, as named rows (a model instance for each of
            # hundreds of vendors on every page of a list was a tenth of the page's CPU).
            label = self.field.label_from_instance
            for row in self.queryset.values_list("pk", *fields, named=True):
                yield (forms.models.ModelChoiceIteratorValue(row.pk, row), label(row))
            return
        for obj in self.queryset.all():  # a fresh query each time, as the cursor's
            yield self.choice(obj)


class VendorChoiceField(forms.ModelChoiceField):
    iterator = OneQueryChoiceIterator
    label_fields = ("name", "vendor_id")  # what the label shows, read as rows

    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.vendor_id})"


class BulkActionForm(forms.Form):
    """One action on the list's selection or on every case of its filter."""

    action = forms.ChoiceField(label=_("action"), choices=[])
    reason = forms.CharField(label=_("reason or note"), max_length=5000, required=False)
    shared = forms.BooleanField(
        label=_("shared note (may go to the vendor and the agency)"), required=False)
    scope = forms.ChoiceField(
        label=_("apply to"), widget=forms.RadioSelect, initial="selected",
        choices=[("selected", _("the ticked cases")),
                 ("filter", _("every case of the filter"))])

    def __init__(self, *args, actions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = actions


class SavedFilterForm(forms.Form):
    """A list's current filter kept under a name: the list, its query string, and the page
    to go back to (a run's decisions are the page of one run)."""

    name = forms.CharField(label=_("name of the filter"), max_length=100,
                           widget=forms.TextInput(attrs={"required": True}))
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    list = forms.CharField(max_length=20, required=False, widget=forms.HiddenInput)
    next = forms.CharField(max_length=500, required=False, widget=forms.HiddenInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=500,
                             widget=forms.TextInput(attrs={"required": True}))


class NoteForm(forms.Form):
    text = forms.CharField(label=_("note"), max_length=5000,
                           widget=forms.Textarea(attrs={"rows": 3, "required": True}))
    shared = forms.BooleanField(
        label=_("shared (may go to the vendor and the agency)"), required=False)


class AddressFlagForm(forms.Form):
    """Support's word on the invalid-address flag; the service refuses what makes no sense."""

    #: The choice -> the value of ``set_invalid_address`` (None: back to the computed flag).
    VALUES: dict[str, bool | None] = {"invalid": True, "valid": False, "computed": None}
    flag = forms.ChoiceField(
        label=_("address flag"), widget=forms.RadioSelect,
        choices=[("invalid", _("invalid: the letter cannot reach the buyer (set by hand)")),
                 ("valid", _("valid: the address is usable (set by hand)")),
                 ("computed", _("as computed from the buyer's newest address"))])
    reason = forms.CharField(label=_("reason"), max_length=500,
                             widget=forms.TextInput(attrs={"required": True}))

    def offer_for(self, *, override: bool | None) -> AddressFlagForm:
        """Offer only the choices that change something for a case with this override."""
        self.fields["flag"].choices = [
            (key, label) for key, label in self.fields["flag"].choices
            if self.VALUES[key] != override]
        return self

    def value(self) -> bool | None:
        return self.VALUES[self.cleaned_data["flag"]]


class RunForm(forms.Form):
    as_of = forms.DateField(label=_("as of"),
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                            input_formats=["%Y-%m-%d", "%d.%m.%Y"])
    vendor = VendorChoiceField(label=_("only vendor"), required=False,
                               queryset=reads.vendors(), empty_label=_("all vendors"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["as_of"].initial = timezone.localdate()

    def vendor_id(self) -> str | None:
        vendor = self.cleaned_data.get("vendor")
        return vendor.pk if vendor else None


class PrintAllForm(forms.Form):
    """The day the printed letters are posted (today unless support says otherwise)."""

    on = forms.DateField(label=_("posted on"),
                         widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                         input_formats=["%Y-%m-%d", "%d.%m.%Y"],
                         error_messages={"invalid": _("Give the day as 2026-12-01 or "
                                                      "01.12.2026.")})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["on"].initial = timezone.localdate()


class ReleaseForm(forms.Form):
    checked = forms.BooleanField(
        label=_("I looked the Message-ID up in the mail server's log: it was not delivered."))


class ConfirmSentForm(forms.Form):
    checked = forms.BooleanField(
        label=_("I found the Message-ID in the mail server's log: it was delivered."))


# -- Collection ----------------------------------------------------------------------------------


class VendorFilterForm(forms.Form):
    vendor = VendorChoiceField(label=_("vendor"), required=False,
                               queryset=reads.vendors(), empty_label=_("all vendors"))


class PartnerChoiceField(forms.ModelChoiceField):
    iterator = OneQueryChoiceIterator

    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.get_kind_display()})"


class HandoverExportForm(forms.Form):
    vendor = VendorChoiceField(label=_("vendor"), queryset=reads.vendors())
    partner = PartnerChoiceField(
        label=_("partner"), required=False,
        queryset=reads.active_partners(),
        empty_label=_("default (domestic collection)"))


class ApprovalDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("decision"), widget=forms.RadioSelect,
        choices=[(approvals.APPROVE, _("approve for collection")),
                 (approvals.CANCEL, _("cancel (the vendor does not want collection)"))])
    reason = forms.CharField(
        label=_("reason"), max_length=500,
        widget=forms.TextInput(attrs={
            "required": True,
            "placeholder": _("e.g. vendor's e-mail of 3 March, chat group")}))


class HandoverCheckForm(forms.Form):
    file = forms.FileField(label=_("handover file (CSV)"),
                           help_text=_("Also a list saved from Excel: semicolons, 31.01.2020, "
                                       "true, Canceled are recognised and corrected."))


class AgencyReportForm(forms.Form):
    file = forms.FileField(label=_("the agency's report (CSV)"))
    partner = PartnerChoiceField(label=_("partner"), queryset=reads.active_partners(),
                                 empty_label=None)


# -- Übersicht (the dashboard) -------------------------------------------------------------------


class PlainSelect(forms.Select):
    """A select drawn in Python: Django draws each option through a template, which costs
    a millisecond per vendor on a page that lists hundreds. The lists' filters draw every
    select this way (``web.filters.ChoiceFilter``, ``OneQueryChoiceField``)."""

    def render(self, name, value, attrs=None, renderer=None):
        if not self.allow_multiple_selected:
            # A comprehension, not list(): list() asks a model select's iterator for its
            # length first, and Django answers that with a COUNT query of its own.
            choices = [choice for choice in self.choices]
            if not any(isinstance(label, list | tuple) for _value, label in choices):
                return self._render_flat(name, value, attrs, choices)
        return self._render_groups(name, value, attrs)

    def _render_groups(self, name, value, attrs):
        context = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((option["value"] if option["value"] is not None else "",
              mark_safe(" selected") if option["selected"] else "", option["label"])
             for _group, group_options, _index in context["optgroups"]
             for option in group_options))
        attributes = flatatt({**context["attrs"], "name": context["name"]})
        return format_html("<select{}>{}</select>", attributes, options)

    def _render_flat(self, name, value, attrs, choices):
        """The same HTML for a select without groups, straight from its choices: Django's
        ``optgroups`` builds a dict of a dozen keys for every option first, and
        ``format_html`` checks every argument for a lazy text. Each value and label is
        escaped as ``format_html`` does (``conditional_escape``: Django's ``escape`` is the
        standard library's ``html.escape``, and a safe text is kept as it is)."""
        context = forms.Widget.get_context(self, name, value, attrs)["widget"]
        wanted = set(self.format_value(value))
        parts = [f"<select{flatatt({**context['attrs'], 'name': context['name']})}>"]
        found = False
        for option_value, label in choices:
            option_value = "" if option_value is None else option_value
            selected = not found and str(option_value) in wanted
            found = found or selected
            parts.append(f'<option value="{_escaped(option_value)}"'
                         f'{" selected" if selected else ""}>{_escaped(label)}</option>')
        parts.append("</select>")
        return mark_safe("".join(parts))


def _escaped(value) -> str:
    """``conditional_escape``, without ``keep_lazy``'s look through every argument for a lazy
    text (a third of a select's time)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


class OverviewFilterForm(forms.Form):
    """The overview's filter: one vendor or all, and the period of the money recovered and
    the runs (the open debts are always as of today)."""

    #: The longest period the month-by-month figures are asked for.
    MAX_DAYS = 5 * 366
    vendor = VendorChoiceField(label=_("vendor"), required=False, queryset=reads.vendors(),
                               empty_label=_("all vendors"), widget=PlainSelect)
    since = forms.DateField(
        label=_("period from"), required=False, input_formats=["%Y-%m-%d", "%d.%m.%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Period from: give the day as 2026-12-01 or "
                                     "01.12.2026.")})
    until = forms.DateField(
        label=_("period to"), required=False, input_formats=["%Y-%m-%d", "%d.%m.%Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Period to: give the day as 2026-12-01 or "
                                     "01.12.2026.")})

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(
                _("Period: the first day (%(since)s) is after the last (%(until)s).")
                % {"since": date_format(since, "SHORT_DATE_FORMAT"),
                   "until": date_format(until, "SHORT_DATE_FORMAT")})
        if since and until and (until - since).days > self.MAX_DAYS:
            raise forms.ValidationError(
                _("Period: at most five years at once, here from %(since)s to %(until)s.")
                % {"since": date_format(since, "SHORT_DATE_FORMAT"),
                   "until": date_format(until, "SHORT_DATE_FORMAT")})
        return data


class OverviewPaymentsForm(OverviewFilterForm):
    """The payments behind one figure: a route (empty: every route) and a currency."""

    route = forms.RegexField(label=_("route"), required=False, max_length=16,
                             regex=r"^(offer_link|agency|vendor|no_letter|letter[1-9][0-9]?)$",
                             error_messages={"invalid": _("Route: unknown; follow a figure of the "
                                                          "overview.")})
    currency = forms.RegexField(label=_("currency"), required=False, max_length=3,
                                regex=r"^[A-Z]{3}$",
                                error_messages={"invalid": _("Currency: three capital letters "
                                                             "such as EUR.")})

# -- The month in the browser: the import page, vendors' portal logins --------------------------


FEED_CHOICES = [
    ("vendors", _("vendors (vendors.csv)")),
    ("products", _("products (products.csv)")),
    ("orders", _("orders (orders.csv)")),
    ("incidents", _("incidents (incidents.csv)")),
    ("payments", _("payments (payments.csv)")),
]


class ImportUploadForm(forms.Form):
    feed = forms.ChoiceField(label=_("the file holds"), choices=FEED_CHOICES)
    file = forms.FileField(label=_("file (CSV or XLSX)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}))


class VendorLoginForm(forms.Form):
    email = forms.EmailField(label=_("the vendor contact's e-mail"), max_length=254)
    first_name = forms.CharField(label=_("first name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("last name"), max_length=150, required=False)


class BankStatementForm(forms.Form):
    file = forms.FileField(label=_("the bank's statement (camt.053 XML)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xml"}))


class BankAssignForm(forms.Form):
    order_id = forms.CharField(label=_("order id"), max_length=64,
                               widget=forms.TextInput(attrs={"required": True}))
    note = forms.CharField(label=_("note"), max_length=500, required=False)
