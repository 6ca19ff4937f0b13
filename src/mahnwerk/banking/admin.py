"""The bank statements read and their lines, read only: administrators look them up (the
permissions are theirs only, migration web 0006); support works the lines on the Bankauszüge page
and nobody changes a statement here."""

from django.contrib import admin

from mahnwerk.banking.models import BankStatement, StatementLine
from mahnwerk.cases.admin import ReadOnlyAdmin


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = ("imported_at", "file_name", "account", "statement_id", "version", "lines",
                    "imported_by")
    search_fields = ("file_name", "account", "statement_id", "sha256")
    date_hierarchy = "imported_at"


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = ("statement", "position", "booking_date", "amount", "currency", "credit",
                    "state", "method", "case", "applied", "surplus", "reason")
    list_filter = ("state", "method", "credit", "currency")
    list_select_related = ("statement", "case")
    search_fields = ("entry_key", "case__order__order_id", "statement__file_name",
                     "statement__statement_id")
    raw_id_fields = ("statement", "case", "suggested_case", "payment")
    date_hierarchy = "booking_date"
