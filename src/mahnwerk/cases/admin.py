"""Debt cases in the admin: read, filter, and act through the case services only.

Nothing of a case is edited in a form: every change goes through ``cases.services`` (which checks
the move against the state table and writes the case event), here through the actions "block",
"unblock" and "add note", each asking for its reason on a page of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mahnwerk.cases import display, services
from mahnwerk.cases.models import AccessRecord, CaseEvent, CaseNote, DebtCase, LinkCode

# -- Actions with a reason ------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))


class NoteForm(forms.Form):
    reason = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 4,
                                                                           "cols": 80}))
    shared = forms.BooleanField(
        label=_("shared (may go to the vendor and the agency)"), required=False)


@dataclass(frozen=True)
class CaseAction:
    title: Any
    form: type[forms.Form]
    #: run(case=..., data=cleaned form data, actor=..., user=...) calls one case service.
    run: Callable[..., object]


CASE_ACTIONS: dict[str, CaseAction] = {
    "block": CaseAction(
        title=_("Block"), form=ReasonForm,
        run=lambda *, case, data, actor, user: services.block_case(
            case=case, reason=data["reason"], actor=actor, user=user)),
    "unblock": CaseAction(
        title=_("Unblock"), form=ReasonForm,
        run=lambda *, case, data, actor, user: services.unblock_case(
            case=case, reason=data["reason"], actor=actor, user=user)),
    "note": CaseAction(
        title=_("Add a note"), form=NoteForm,
        run=lambda *, case, data, actor, user: services.add_note(
            case=case, text=data["reason"], shared=data["shared"], actor=actor, user=user)),
}


# -- Inlines: the timeline and the notes, read only -----------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CaseEventInline(ReadOnlyInline):
    model = CaseEvent
    fields = ("effective_on", "at", "kind", "actor", "from_state", "to_state", "reason",
              "changes")
    verbose_name_plural = _("timeline")


class CaseNoteInline(ReadOnlyInline):
    model = CaseNote
    fields = ("created_at", "visibility", "author", "text")


# -- Filters ---------------------------------------------------------------------------------------


class InvalidAddressFilter(admin.SimpleListFilter):
    """The address flag as it counts: set by hand where it was, computed elsewhere."""

    title = _("invalid address")
    parameter_name = "invalid_address"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request, queryset):
        invalid = Q(invalid_address_override=True) | Q(invalid_address_override__isnull=True,
                                                       invalid_address_computed=True)
        if self.value() == "yes":
            return queryset.filter(invalid)
        if self.value() == "no":
            return queryset.exclude(invalid)
        return queryset


# -- The case --------------------------------------------------------------------------------------


@admin.register(DebtCase)
class DebtCaseAdmin(admin.ModelAdmin):
    list_display = ("order", "vendor", "state", "pursue_mark", "open", "first_dunning_letter",
                    "second_dunning_letter", "incasso_date", "reopened", "reopened_id",
                    "invalid_address_flag", "opened_at")
    list_display_links = ("order",)
    list_filter = ("state", "pursue", "trigger", "reopened", InvalidAddressFilter, "currency",
                   "vendor")
    list_select_related = ("vendor",)
    search_fields = ("order__order_id", "reopened_id", "first_invoice_number",
                     "order__buyer__buyer_id", "order__buyer_email", "order__buyer_last_name",
                     "vendor__vendor_id", "vendor__name")
    date_hierarchy = "opened_at"
    inlines = (CaseEventInline, CaseNoteInline)
    actions = ("block_cases", "unblock_cases", "add_note")
    #: The admin action of each entry of CASE_ACTIONS.
    CASE_ACTION_NAMES = {"block_cases": "block", "unblock_cases": "unblock", "add_note": "note"}
    fieldsets = (
        (None, {"fields": ("order", "vendor", "state", "pursue_mark", "trigger", "open",
                           "first_invoice_number", "opened_at", "updated_at")}),
        (_("dunning and collection"), {"fields": ("first_dunning_letter",
                                                  "second_dunning_letter", "offer_link",
                                                  "incasso_date")}),
        (_("flags"), {"fields": ("reopened", "reopened_id", "invalid_address_flag",
                                 "address_problem_text", "invalid_address_override",
                                 "invalid_address_set_by", "block_reason")}),
    )

    # Every field is shown, none is edited: changes go through the case services.
    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        cases = super().get_queryset(request).select_related("order", "vendor")
        # A vendor's login sees its own cases only, should it ever be let in here.
        account = getattr(request.user, "vendor_account", None)
        if account is not None and not request.user.is_superuser:
            cases = cases.filter(vendor_id=account.vendor_id)
        return cases

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # No save buttons; instead the case actions the user may run, as buttons on top.
        allowed = self.get_actions(request)
        extra_context = {**(extra_context or {}), "show_save": False,
                         "show_save_and_continue": False, "show_save_and_add_another": False,
                         "show_delete": False,
                         "case_actions": [(name, CASE_ACTIONS[key].title)
                                          for name, key in self.CASE_ACTION_NAMES.items()
                                          if name in allowed]}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("mark"), ordering="pursue")
    def pursue_mark(self, obj):
        return format_html(
            '<span style="display:inline-block;width:0.9em;height:0.9em;border-radius:2px;'
            'border:1px solid #777;vertical-align:middle;background:{}"></span> {}',
            display.PURSUE_COLOURS[obj.pursue], display.pursue_label(obj.pursue))

    @admin.display(description=_("open amount"), ordering="open_amount")
    def open(self, obj):
        return display.money(obj.open_amount, obj.currency)

    @admin.display(description=_("invalid address"), boolean=True)
    def invalid_address_flag(self, obj):
        return obj.invalid_address

    @admin.display(description=_("address problems"))
    def address_problem_text(self, obj):
        return obj.address_problem_text or display.NONE

    @admin.action(description=_("Block selected cases"), permissions=["change"])
    def block_cases(self, request, queryset):
        return self._run_case_action(request, queryset, "block")

    @admin.action(description=_("Unblock selected cases"), permissions=["change"])
    def unblock_cases(self, request, queryset):
        return self._run_case_action(request, queryset, "unblock")

    @admin.action(description=_("Add a note to selected cases"), permissions=["add_note"])
    def add_note(self, request, queryset):
        return self._run_case_action(request, queryset, "note")

    def has_add_note_permission(self, request):
        return request.user.has_perm("cases.add_casenote")

    def _run_case_action(self, request, queryset, name: str):
        """Ask for the reason on a page of its own, then call the service for each case."""
        action = CASE_ACTIONS[name]
        form = action.form(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            actor = f"admin:{request.user.get_username()}"
            done = 0
            for case in queryset:
                try:
                    action.run(case=case, data=form.cleaned_data, actor=actor, user=request.user)
                except services.CaseError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    done += 1
            if done:
                self.message_user(request, gettext("%(action)s – cases done: %(count)d") % {
                    "action": action.title, "count": done}, messages.SUCCESS)
            return None
        cases = list(queryset[:101])
        context = {
            **self.admin_site.each_context(request),
            "title": action.title,
            "form": form,
            "cases": cases[:100],
            "more": queryset.count() - 100 if len(cases) > 100 else 0,
            "action_name": request.POST.get("action", ""),
            "select_across": request.POST.get("select_across", "0"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/cases/debtcase/case_action.html", context)


# -- The timeline and the notes on their own -------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "effective_on", "case", "kind", "actor", "from_state", "to_state",
                    "reason")
    list_filter = ("kind", "to_state", "from_state")
    list_select_related = ("case",)
    search_fields = ("case__order__order_id", "actor", "code")
    date_hierarchy = "at"


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "case", "visibility", "author", "text")
    list_filter = ("visibility",)
    list_select_related = ("case",)
    search_fields = ("case__order__order_id", "author", "text")
    date_hierarchy = "created_at"


@admin.register(LinkCode)
class LinkCodeAdmin(ReadOnlyAdmin):
    """Which links were sent for a case; the codes themselves are keys and are not shown."""

    list_display = ("case", "purpose", "created_at", "used_at")
    list_filter = ("purpose",)
    list_select_related = ("case",)
    search_fields = ("case__order__order_id",)
    fields = ("case", "purpose", "created_at", "used_at")
    date_hierarchy = "created_at"


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdmin):
    """The access log: who looked at or exported whose data. Administrators read it (the
    permission is theirs only, migration web 0003); nobody changes it."""

    list_display = ("at", "actor", "kind", "target", "orders", "via")
    list_filter = ("kind",)
    search_fields = ("actor", "target", "via")
    date_hierarchy = "at"
    fields = ("at", "actor", "user", "kind", "target", "via", "order_ids")

    @admin.display(description=_("orders"))
    def orders(self, obj: AccessRecord) -> str:
        ids = obj.order_ids or []
        shown = ", ".join(ids[:5])
        return f"{shown} … (+{len(ids) - 5})" if len(ids) > 5 else shown
