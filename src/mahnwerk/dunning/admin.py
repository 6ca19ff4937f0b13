"""Dunning in the admin: policies with their levels, and the letters' words, kept by the
administrators (every change is kept: django-simple-history). Runs, letters and the outbox are
written by the dunning services and shown in the workspace.

Levels are data: a policy has an ordered list of levels of any length, each with its wait, its
letter and the handover file's date column it fills. The form refuses what a run could not work
with, naming the level: no level at all, numbers that are not 1, 2, 3 … in order, or two levels
filling the same date column.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from mahnwerk.dunning.models import DunningLevel, DunningPolicy, LetterTemplate


class LevelFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if not kept:
            raise ValidationError(_("A policy needs at least one level: the first letter."))
        numbers = sorted(level["number"] for level in kept)
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValidationError(
                _("The levels must be numbered 1, 2, 3 … without gaps; they are %(numbers)s.")
                % {"numbers": ", ".join(str(n) for n in numbers)})
        columns: dict[str, int] = {}
        for level in sorted(kept, key=lambda item: item["number"]):
            column = level.get("handover_column")
            if not column:
                continue
            if column in columns:
                raise ValidationError(
                    _("Levels %(first)d and %(second)d both fill the handover file's column "
                      "%(column)s; only one level may.")
                    % {"first": columns[column], "second": level["number"], "column": column})
            columns[column] = level["number"]


class LevelInline(admin.TabularInline):
    model = DunningLevel
    formset = LevelFormSet
    extra = 0
    fields = ("number", "name", "template", "days_after_previous", "handover_column", "fee")
    ordering = ("number",)


@admin.register(DunningPolicy)
class DunningPolicyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "vendor", "levels_shown", "escalate_after_days", "minimum_amount",
                    "payment_days", "print_within_days", "run_day")
    search_fields = ("name", "vendor__name", "vendor__vendor_id")
    autocomplete_fields = ("vendor",)
    inlines = [LevelInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("levels").select_related("vendor")

    @admin.display(description=gettext_lazy("levels"))
    def levels_shown(self, obj: DunningPolicy) -> str:
        return " → ".join(lvl.name for lvl in sorted(obj.levels.all(), key=lambda lvl: lvl.number))


@admin.register(LetterTemplate)
class LetterTemplateAdmin(SimpleHistoryAdmin):
    list_display = ("template", "language", "vendor", "subject")
    list_filter = ("template", "language")
    search_fields = ("subject", "vendor__name", "vendor__vendor_id")
    autocomplete_fields = ("vendor",)
