"""The forms of the workspace and the portal: they parse input, the services decide."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mahnwerk.collection import approvals
from mahnwerk.dunning.models import Action
from mahnwerk.web import reads


class VendorChoiceField(forms.ModelChoiceField):
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
    name = forms.CharField(label=_("name of the filter"), max_length=100,
                           widget=forms.TextInput(attrs={"required": True}))
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)


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


class PreviewFilterForm(forms.Form):
    """What the run preview lists (its counts cover every decision)."""

    action = forms.ChoiceField(label=_("action"), required=False,
                               choices=[("", _("all actions")), *Action.choices])


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


# -- Collection ----------------------------------------------------------------------------------


class VendorFilterForm(forms.Form):
    vendor = VendorChoiceField(label=_("vendor"), required=False,
                               queryset=reads.vendors(), empty_label=_("all vendors"))


class PartnerChoiceField(forms.ModelChoiceField):
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
