"""The admin site's name, and the logins of vendors."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mahnwerk.web.models import SavedFilter, VendorAccount

admin.site.site_header = "Mahnwerk"
admin.site.site_title = "Mahnwerk"
admin.site.index_title = _("Dunning and collection")


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "vendor")
    list_select_related = ("user", "vendor")
    list_filter = ("vendor",)
    search_fields = ("user__username", "user__email", "vendor__vendor_id", "vendor__name")
    raw_id_fields = ("user", "vendor")


@admin.register(SavedFilter)
class SavedFilterAdmin(admin.ModelAdmin):
    """The lists' saved filters: each user keeps their own on the list; an administrator sees
    them and may delete one (a user who left), nobody edits another's."""

    list_display = ("name", "list", "user", "query", "created_at")
    list_filter = ("list",)
    list_select_related = ("user",)
    search_fields = ("name", "user__username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
