"""Reading the bank statements: what support still has to decide."""

from django.db.models import QuerySet

from mahnwerk.banking.models import BankStatement, LineState, StatementLine


def open_lines() -> QuerySet[StatementLine]:
    """Credits nobody has matched, assigned or ignored yet, oldest first."""
    return (StatementLine.objects.filter(state=LineState.UNMATCHED, credit=True)
            .select_related("statement", "suggested_case").order_by("statement_id", "position"))


def refunds() -> QuerySet[StatementLine]:
    """Surpluses still to be paid back."""
    return (StatementLine.objects.filter(surplus__gt=0, refunded_at__isnull=True)
            .select_related("statement", "case").order_by("statement_id", "position"))


def recent_statements(limit: int = 20) -> list[BankStatement]:
    return list(BankStatement.objects.order_by("-imported_at", "-pk")[:limit])
