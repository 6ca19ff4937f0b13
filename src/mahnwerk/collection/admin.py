"""Collection in the admin: partners and routing are set up here; the rest is read only.

Partners and routing rules are configuration, kept by the administrators. Approval requests,
handover files with their rows, agency reports with the rows to clear up and the invoice records
are written by the collection services (``approvals``, ``services.export_handover``,
``reports.import_report``), which write the cases' timelines at the same time; here they are
searched and read. A handover's file content is not shown: its SHA-256, its rows, who wrote it
and when say which file it was.
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from mahnwerk.collection.models import (
    AgencyReport,
    ApprovalRequest,
    CollectionPartner,
    Handover,
    HandoverItem,
    PartnerFee,
    ReportRow,
    RoutingRule,
    VendorInvoice,
)
from mahnwerk.money import format_money


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, searched and filtered; written by the collection services only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- Configuration --------------------------------------------------------------------------------


class PartnerFeeInline(admin.TabularInline):
    """A partner's fees by the day they apply from: a new contract is a new row; the earlier
    rows stay (the route economics read each against its time)."""

    model = PartnerFee
    extra = 0
    fields = ("valid_from", "currency", "success_fee_percent", "success_fee_minimum",
              "withdrawal_fee", "note")


@admin.register(CollectionPartner)
class CollectionPartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "contact_email", "handover_format", "report_date_format",
                    "active")
    list_filter = ("kind", "active")
    search_fields = ("name", "contact_email")
    inlines = (PartnerFeeInline,)


@admin.register(PartnerFee)
class PartnerFeeAdmin(SimpleHistoryAdmin):
    """The fees of every partner, each row with its own history of changes."""

    list_display = ("partner", "valid_from", "currency", "success_fee_percent",
                    "success_fee_minimum", "withdrawal_fee", "note")
    list_filter = ("partner", "currency")
    list_select_related = ("partner",)
    search_fields = ("partner__name", "note")
    date_hierarchy = "valid_from"


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("priority", "partner", "vendor", "buyer_country", "trigger")
    list_display_links = ("priority", "partner")
    list_filter = ("partner", "trigger")
    list_select_related = ("partner", "vendor")
    search_fields = ("partner__name", "vendor__vendor_id", "vendor__name", "buyer_country")
    raw_id_fields = ("vendor",)


# -- The vendor's approval ------------------------------------------------------------------------


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = ("vendor", "sent_at", "case_count", "reminded_at", "escalated_at",
                    "closed_at")
    list_filter = (("closed_at", admin.EmptyFieldListFilter),
                   ("reminded_at", admin.EmptyFieldListFilter),
                   ("escalated_at", admin.EmptyFieldListFilter))
    list_select_related = ("vendor",)
    search_fields = ("vendor__vendor_id", "vendor__name", "cases__order__order_id")
    date_hierarchy = "sent_at"
    fields = ("vendor", "sent_at", "reminded_at", "escalated_at", "closed_at", "case_list")
    readonly_fields = ("case_list",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(case_total=Count("cases", distinct=True))

    @admin.display(description=_("cases"), ordering="case_total")
    def case_count(self, obj):
        return obj.case_total

    @admin.display(description=_("cases"))
    def case_list(self, obj):
        return ", ".join(str(case) for case in obj.cases.order_by("order_id")) or "-"


# -- Handover files -------------------------------------------------------------------------------


@admin.register(Handover)
class HandoverAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "vendor", "partner", "rows", "handed_over", "sha256",
                    "created_by", "created_at")
    list_filter = ("partner", "vendor")
    list_select_related = ("vendor", "partner")
    search_fields = ("file_name", "sha256", "vendor__vendor_id", "vendor__name", "created_by")
    date_hierarchy = "created_at"
    # Never the file's content (buyers' names and addresses): its fingerprint says which it was.
    fields = ("file_name", "vendor", "partner", "rows", "handed_over", "sha256", "created_by",
              "user", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")


@admin.register(HandoverItem)
class HandoverItemAdmin(ReadOnlyAdmin):
    list_display = ("case", "handover", "incasso_state", "handed_over")
    list_filter = ("handed_over", "incasso_state")
    list_select_related = ("case", "handover")
    search_fields = ("case__order__order_id", "handover__file_name")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("handover__content")


# -- Agency reports -------------------------------------------------------------------------------


@admin.register(AgencyReport)
class AgencyReportAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "partner", "rows", "applied", "sha256", "created_by",
                    "created_at")
    list_filter = ("partner",)
    list_select_related = ("partner",)
    search_fields = ("file_name", "sha256", "partner__name", "created_by")
    date_hierarchy = "created_at"


@admin.register(ReportRow)
class ReportRowAdmin(ReadOnlyAdmin):
    list_display = ("report", "line", "order_id", "problem", "cleared_at")
    list_filter = (("cleared_at", admin.EmptyFieldListFilter), "report__partner")
    list_select_related = ("report", "report__partner")
    search_fields = ("order_id", "problem", "report__file_name")


@admin.register(VendorInvoice)
class VendorInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("case", "vendor", "amount_shown", "collected_on", "report", "created_at")
    list_filter = ("currency", "vendor")
    list_select_related = ("case", "vendor", "report", "report__partner")
    search_fields = ("case__order__order_id", "vendor__vendor_id", "vendor__name",
                     "report__file_name")
    date_hierarchy = "created_at"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_shown(self, obj):
        """The amount as the reader writes it (German: 1.234,50 €)."""
        return format_money(obj.amount, obj.currency)
