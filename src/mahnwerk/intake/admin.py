"""The platform's data in the admin: to look at, never to edit.

Vendors, products, buyers, orders, incidents and payments belong to the checkout platform; they
are written by the intake only (file import, intake API, demo data), so that cases follow every
change. Here they can be searched and read.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mahnwerk.intake.models import (
    ApiClient,
    Buyer,
    IdempotencyRecord,
    Incident,
    Order,
    Payment,
    Product,
    Vendor,
    WebhookDelivery,
)
from mahnwerk.money import format_money


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, searched and filtered; added, changed and deleted elsewhere only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Vendor)
class VendorAdmin(ReadOnlyAdmin):
    list_display = ("vendor_id", "name", "email", "enrolled", "collection_mode", "dunning_by",
                    "relationship_manager", "escalation_channel")
    list_filter = ("enrolled", "collection_mode", "dunning_by", "relationship_manager")
    search_fields = ("vendor_id", "name", "email", "relationship_manager", "escalation_channel")


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("product_id", "name", "vendor", "dunning_enabled", "checkout_url")
    list_filter = ("dunning_enabled", "vendor")
    list_select_related = ("vendor",)
    search_fields = ("product_id", "name", "vendor__vendor_id", "vendor__name")


@admin.register(Buyer)
class BuyerAdmin(ReadOnlyAdmin):
    list_display = ("buyer_id", "first_name", "last_name", "email", "postcode", "city", "country",
                    "last_order_at")
    list_filter = ("country",)
    search_fields = ("buyer_id", "email", "email_normalized", "first_name", "last_name", "city")
    show_full_result_count = False


class SalesAgentFilter(admin.SimpleListFilter):
    title = _("sales agent")
    parameter_name = "sales_agent_set"

    def lookups(self, request, model_admin):
        return [("yes", _("closed by a sales agent")), ("no", _("without sales agent"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(sales_agent="")
        if self.value() == "no":
            return queryset.filter(sales_agent="")
        return queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "created_at", "vendor", "product", "buyer_name", "payment_type",
                    "total", "installments", "country", "sales_agent")
    list_filter = ("payment_type", SalesAgentFilter, "currency", "country", "vendor")
    list_select_related = ("vendor", "product")
    search_fields = ("order_id", "buyer__buyer_id", "buyer_email", "buyer_last_name",
                     "sales_agent", "first_invoice_number")
    # Orders come by the million and have few indexes (see intake.models): no date hierarchy,
    # no second count of the whole table.
    show_full_result_count = False

    @admin.display(description=_("buyer"), ordering="buyer_last_name")
    def buyer_name(self, obj):
        return f"{obj.buyer_first_name} {obj.buyer_last_name}".strip() or obj.buyer_email

    @admin.display(description=_("total amount"), ordering="amount_total")
    def total(self, obj):
        return format_money(obj.amount_total, obj.currency)

    @admin.display(description=_("installments paid"))
    def installments(self, obj):
        if obj.installments_total is None:
            return "–"
        return f"{obj.installments_paid or 0}/{obj.installments_total}"


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("incident_id", "order", "kind", "occurred_at", "open")
    list_filter = ("kind", "currency")
    search_fields = ("incident_id", "order__order_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    @admin.display(description=_("open amount"), ordering="open_amount")
    def open(self, obj):
        return format_money(obj.open_amount, obj.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("payment_id", "order", "paid", "paid_at", "channel")
    list_filter = ("channel", "currency")
    search_fields = ("payment_id", "order__order_id")
    date_hierarchy = "paid_at"
    show_full_result_count = False

    @admin.display(description=_("amount"), ordering="amount")
    def paid(self, obj):
        return format_money(obj.amount, obj.currency)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Clients are made where their key can be shown once; here they are named and switched
    off. The key's hash and the webhook secret are never shown."""

    list_display = ("name", "key_prefix", "is_active", "has_webhook_secret", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "key_prefix")
    fields = ("name", "key_prefix", "is_active", "has_webhook_secret", "created_at")
    readonly_fields = ("key_prefix", "has_webhook_secret", "created_at")

    @admin.display(description=_("webhook secret set"), boolean=True)
    def has_webhook_secret(self, obj):
        return bool(obj.webhook_secret)

    def has_add_permission(self, request):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "client", "method", "path", "status_code", "created_at")
    list_filter = ("client", "method", "status_code")
    search_fields = ("key", "path")
    exclude = ("request_hash",)
    date_hierarchy = "created_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("client", "timestamp", "received_at")
    list_filter = ("client",)
    search_fields = ("client__name",)
    exclude = ("signature",)
    date_hierarchy = "received_at"
