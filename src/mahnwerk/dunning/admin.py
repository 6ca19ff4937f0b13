"""Dunning in the admin: policies with their levels, and the letters' words, kept by the
administrators (every change is kept: django-simple-history). Runs, letters and the outbox are
written by the dunning services and shown in the workspace.

Levels are data: a policy has an ordered list of levels of any length, each with its wait, its
letter and the handover file's date column it fills. The form refuses what a run could not work
with, naming the level: no level at all, numbers that are not 1, 2, 3 … in order, or two levels
filling the same date column, a fee on the first letter (it puts the buyer in default, § 286
BGB) or above MAHNWERK_DUNNING_FEE_CAP. A policy's history lists its levels' changes too.

The base rates of § 247 BGB are a table of half-years: a row that would leave a gap or overlap
another is refused with the dates, and only the first or the last row may be deleted.

A letter template is checked before it is saved: its subject, HTML and text must render a
letter for a sample case, and every placeholder must be one a letter knows; each problem is
shown at its field with its line (``template_checks.check_words``). "Preview" shows the letter
the words make, for the sample case or a chosen one (an order id), from the change page, also
for words not saved yet; a policy's levels link to the preview of their letter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.dunning.models import (
    BaseRate,
    DunningLevel,
    DunningPolicy,
    LetterKind,
    LetterTemplate,
)
from mahnwerk.dunning.rates import deletable
from mahnwerk.intake.models import Vendor

# The letters and their checks (with babel, segno, the selectors) are imported where a page
# needs them: Django imports every admin module at each process's start (admin.autodiscover),
# also for a command that never shows a page.
if TYPE_CHECKING:
    from mahnwerk.dunning.letters import Words


def preview_url(*, template: str, language: str = "de", vendor_id: str | None = None) -> str:
    """The admin's preview of the letter of a kind, language and vendor (its own words, else
    the standard ones)."""
    query = {"kind": template, "language": language}
    if vendor_id:
        query["vendor"] = vendor_id
    return reverse("admin:dunning_lettertemplate_preview") + "?" + urlencode(query)


#: A level's fields as its history shows them.
LEVEL_FIELDS = ("number", "name", "template", "days_after_previous", "handover_column", "fee")


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
    fields = (*LEVEL_FIELDS, "letter_preview")
    readonly_fields = ("letter_preview",)
    ordering = ("number",)

    @admin.display(description=gettext_lazy("letter"))
    def letter_preview(self, obj: DunningLevel) -> str:
        from mahnwerk.dunning import letters

        if obj is None or obj.pk is None:
            return "–"
        return format_html_join(" · ", '<a href="{}">{}</a>', (
            (preview_url(template=obj.template, language=language,
                         vendor_id=obj.policy.vendor_id), _("preview (%(language)s)")
             % {"language": language}) for language in letters.LANGUAGES))


@admin.register(DunningPolicy)
class DunningPolicyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "vendor", "levels_shown", "escalate_after_days", "minimum_amount",
                    "payment_days", "print_within_days", "run_day")
    search_fields = ("name", "vendor__name", "vendor__vendor_id")
    autocomplete_fields = ("vendor",)
    inlines = [LevelInline]

    object_history_template = "admin/dunning/dunningpolicy/object_history.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("levels").select_related("vendor")

    def history_view(self, request: HttpRequest, object_id: str,
                     extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The policy's versions, and below them every change of its levels (which the
        policy's own history does not show: a level is a row of its own)."""
        rows = []
        if str(object_id).isdigit():
            records = (DunningLevel.history.filter(policy_id=int(object_id))
                       .select_related("history_user").order_by("-history_date", "-history_id"))
            for record in records[:200]:
                previous = record.prev_record
                if previous is not None:
                    changes = [f"{change.field}: {change.old} → {change.new}"
                               for change in record.diff_against(previous).changes]
                else:  # the first version known: what the level was then
                    changes = [f"{name}: {getattr(record, name)}" for name in LEVEL_FIELDS]
                rows.append({"record": record, "changes": changes})
        return super().history_view(request, object_id,
                                    extra_context={**(extra_context or {}), "level_history": rows})

    @admin.display(description=gettext_lazy("levels"))
    def levels_shown(self, obj: DunningPolicy) -> str:
        return " → ".join(lvl.name for lvl in sorted(obj.levels.all(), key=lambda lvl: lvl.number))


@admin.register(BaseRate)
class BaseRateAdmin(SimpleHistoryAdmin):
    list_display = ("valid_from", "rate", "source")
    ordering = ("-valid_from",)
    actions = None  # deleting several at once could leave a gap

    def has_delete_permission(self, request: HttpRequest, obj: BaseRate | None = None) -> bool:
        if obj is not None and not deletable(obj):
            return False
        return super().has_delete_permission(request, obj)


class LetterTemplateForm(forms.ModelForm):
    """The template's words, refused unless they render a letter for a sample case."""

    preview_case = forms.CharField(
        label=gettext_lazy("preview with the case of order"), required=False, max_length=64,
        help_text=gettext_lazy("Empty: a sample case. Not saved; for the button "
                               "\"Preview\" below."))

    class Meta:
        model = LetterTemplate
        fields = ("template", "language", "vendor", "subject", "body_html", "body_text")

    def clean(self) -> dict[str, Any]:
        from mahnwerk.dunning import letters, template_checks

        data = super().clean()
        parts = [part for part, _html in template_checks.PARTS]
        if any(part in self.errors for part in parts) or not all(part in data for part in parts):
            return data  # a syntax error is named already (LetterTemplate.clean)
        problems = template_checks.check_words(
            letters.Words(subject=data["subject"], body_html=data["body_html"],
                          body_text=data["body_text"]),
            language=data.get("language") or "de", vendor=data.get("vendor"))
        for part, texts in problems.items():
            self.add_error(part, [ValidationError(
                _("The letter does not render with a sample case: %(problem)s")
                % {"problem": text}, code="template_render") for text in texts])
        return data


@admin.register(LetterTemplate)
class LetterTemplateAdmin(SimpleHistoryAdmin):
    form = LetterTemplateForm
    list_display = ("template", "language", "vendor", "subject", "preview_link")
    list_filter = ("template", "language")
    search_fields = ("subject", "vendor__name", "vendor__vendor_id")
    autocomplete_fields = ("vendor",)
    change_form_template = "admin/dunning/lettertemplate/change_form.html"

    @admin.display(description=gettext_lazy("preview"))
    def preview_link(self, obj: LetterTemplate) -> str:
        return format_html('<a href="{}">{}</a>', reverse(
            "admin:dunning_lettertemplate_preview") + "?" + urlencode({"template": obj.pk}),
            _("preview"))

    def get_urls(self):
        # Before the model's own URLs: "<object_id>/" would take "preview/" otherwise.
        return [path("preview/", self.admin_site.admin_view(self.preview_view),
                     name="dunning_lettertemplate_preview"), *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The letter of a template: GET for saved words (``?template=PK`` or ``?kind=…&
        language=…&vendor=…``), POST from the change form for words not saved yet; with
        ``case`` (an order id) for that case, else for the sample case. Stores nothing."""
        from mahnwerk.dunning import template_checks

        if not self.has_view_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        words, kind, language, vendor, saved = self._words(data)
        order_id = (data.get("preview_case") or data.get("case") or "").strip()
        case = None
        if order_id:
            case = (DebtCase.objects.select_related("order", "order__product", "vendor")
                    .filter(order_id=order_id).first())
            if case is None:
                messages.warning(request, _("There is no case for order %(order)s; the preview "
                                            "shows the sample case.") % {"order": order_id})
            else:
                access_log.record(kind=AccessKind.LETTER, target=case.order_id,
                                  order_ids=[case.order_id], user=request.user, via=request.path)
        problems = template_checks.check_words(words, language=language, vendor=vendor)
        preview = None
        if not problems:
            preview = template_checks.preview_words(words, template=kind, language=language,
                                                    vendor=vendor, case=case)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": _("Preview of the letter"),
            "preview": preview, "problems": problems, "words": words, "saved": saved,
            "kind": LetterKind(kind).label, "language": language, "vendor": vendor,
            "order_id": order_id if case is not None else "",
            "query": {key: value for key, value in request.GET.items() if key != "case"},
        }
        return TemplateResponse(request, "admin/dunning/lettertemplate/preview.html", context)

    def _words(self, data) -> tuple[Words, str, str, Vendor | None, LetterTemplate | None]:
        """The words to preview and their kind, language and vendor, from the request."""
        from mahnwerk.dunning import letters

        saved = None
        if data.get("template", "").isdigit():
            saved = LetterTemplate.objects.select_related("vendor").filter(
                pk=int(data["template"])).first()
        if saved is not None:
            return (letters.Words(subject=saved.subject, body_html=saved.body_html,
                                  body_text=saved.body_text),
                    saved.template, saved.language, saved.vendor, saved)
        kind = data.get("kind") or data.get("template") or LetterKind.FIRST
        if kind not in LetterKind.values:
            kind = LetterKind.FIRST
        language = letters.language_of(data.get("language"))
        vendor_id = data.get("vendor") or ""
        vendor = Vendor.objects.filter(pk=vendor_id).first() if vendor_id else None
        if "subject" in data:  # the change form's words, not saved
            words = letters.Words(subject=data.get("subject", ""),
                                  body_html=data.get("body_html", ""),
                                  body_text=data.get("body_text", ""))
        else:
            words = letters.words_for(vendor_id=vendor.pk if vendor else "", template=kind,
                                      language=language)
        return words, kind, language, vendor, None
