"""The states of a debt case and every transition between them, written down once.

This table is the whole state machine: ``cases.services.change_case`` refuses any move that is
not listed here, and docs/architecture.md draws it (tests check the drawing matches). A plain
table was chosen over django-fsm-2 because one service function performs every change and writes
the case event; the library's per-method decorators would spread the rules over many methods.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseState(models.TextChoices):
    OPEN = "open", _("Open")
    DUNNING = "dunning", _("Dunning")
    ON_HOLD = "on_hold", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    SENT_FOR_COLLECTION = "sent_for_collection", _("With the agency")
    PAID = "paid", _("Paid")
    CANCELED = "canceled", _("Canceled")
    REOPENED = "reopened", _("Reordered")
    BLOCKED = "blocked", _("Blocked")


S = CaseState

TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.DUNNING, S.ON_HOLD, S.APPROVED, S.SENT_FOR_COLLECTION, S.PAID,
                       S.CANCELED, S.REOPENED, S.BLOCKED}),
    S.DUNNING: frozenset({S.ON_HOLD, S.APPROVED, S.PAID, S.CANCELED, S.REOPENED, S.BLOCKED}),
    S.ON_HOLD: frozenset({S.APPROVED, S.PAID, S.CANCELED, S.REOPENED, S.BLOCKED}),
    S.APPROVED: frozenset({S.SENT_FOR_COLLECTION, S.PAID, S.CANCELED, S.REOPENED, S.BLOCKED}),
    S.SENT_FOR_COLLECTION: frozenset({S.PAID, S.CANCELED, S.BLOCKED}),
    # Unblocking returns to the state the case was blocked in (DebtCase.blocked_from_state).
    S.BLOCKED: frozenset({S.OPEN, S.DUNNING, S.ON_HOLD, S.APPROVED, S.SENT_FOR_COLLECTION,
                          S.PAID, S.CANCELED}),
    # A new incident on a paid order opens the debt again.
    S.PAID: frozenset({S.OPEN}),
    # A canceled or reordered case can still be paid (the buyer pays the old debt anyway).
    S.CANCELED: frozenset({S.OPEN, S.PAID}),
    # Support overrides a reorder match: the case goes back to where it stood.
    S.REOPENED: frozenset({S.OPEN, S.DUNNING, S.ON_HOLD, S.APPROVED, S.PAID}),
}

#: States in which the buyer still owes money and the case is worked on.
ACTIVE_STATES = frozenset({S.OPEN, S.DUNNING, S.ON_HOLD, S.APPROVED, S.SENT_FOR_COLLECTION,
                           S.BLOCKED})
#: States in which nothing more is pursued: such a case is always grey (``pursue`` false).
CLOSED_STATES = frozenset({S.PAID, S.CANCELED, S.REOPENED})
#: States from which a reorder by the buyer takes the case out of dunning.
REORDER_STATES = frozenset({S.OPEN, S.DUNNING, S.ON_HOLD, S.APPROVED})

#: The handover file's incasso_state for each case state (process.md section 5); an empty
#: value means "still in commercial dunning".
INCASSO_STATE: dict[str, str] = {
    S.OPEN: "",
    S.DUNNING: "",
    S.ON_HOLD: "on_hold",
    S.APPROVED: "on_hold",
    S.SENT_FOR_COLLECTION: "sent_for_collection",
    S.PAID: "paid",
    S.CANCELED: "canceled",
    S.REOPENED: "canceled",
    S.BLOCKED: "blocked",
}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def mermaid_diagram() -> str:
    """The state diagram as Mermaid text, as docs/architecture.md shows it."""
    lines = ["stateDiagram-v2", "    [*] --> open: incident"]
    for source, targets in TRANSITIONS.items():
        for target in sorted(targets):
            lines.append(f"    {source} --> {target}")
    return "\n".join(lines)
