"""One action on many cases (the list's selection or its whole filter), through the same
services as on one case, and a report of what it did to each.

Every case is changed on its own (``change_case``'s savepoint), so a case that cannot take the
action (a paid case is not blocked, an unblocked one not unblocked) or that changed since
support looked at the list is refused with its reason and the others go on. A registry, as
``cases.actions``: the collection app adds "ask the vendor" in its ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mahnwerk.cases import services
from mahnwerk.cases.models import DebtCase

#: The most cases one bulk action acts on: a larger filter is refused as a whole, with the
#: advice to narrow it (each case is its own change with its event).
LIMIT = 2000

#: ``each(case=, reason=, actor=, user=, shared=)`` changes one case or raises ``CaseError``.
Each = Callable[..., object]
#: ``together(cases=, reason=, actor=, user=)`` acts on all at once and returns, per order id,
#: None (done) or why the case was refused.
Together = Callable[..., Mapping[str, str | None]]


@dataclass(frozen=True)
class BulkAction:
    label: Any
    each: Each | None = None
    together: Together | None = None
    #: Whether the action needs a reason (the note's text for a note).
    needs_reason: bool = True
    #: Whether "shared" means something (a note).
    takes_shared: bool = False
    #: Who may: "work" (change cases) or "note" (add notes).
    permission: str = "work"


BULK_ACTIONS: dict[str, BulkAction] = {
    "block": BulkAction(
        label=gettext_lazy("block"),
        each=lambda *, case, reason, actor, user, shared: services.block_case(
            case=case, reason=reason, actor=actor, user=user)),
    "unblock": BulkAction(
        label=gettext_lazy("unblock"),
        each=lambda *, case, reason, actor, user, shared: services.unblock_case(
            case=case, reason=reason, actor=actor, user=user)),
    "note": BulkAction(
        label=gettext_lazy("add a note"), takes_shared=True, permission="note",
        each=lambda *, case, reason, actor, user, shared: services.add_note(
            case=case, text=reason, actor=actor, user=user, shared=shared)),
    "yellow": BulkAction(
        label=gettext_lazy("mark yellow (pursue)"),
        each=lambda *, case, reason, actor, user, shared: services.set_pursue(
            case=case, pursue=True, reason=reason, actor=actor, user=user)),
    "grey": BulkAction(
        label=gettext_lazy("mark grey (do not pursue)"),
        each=lambda *, case, reason, actor, user, shared: services.set_pursue(
            case=case, pursue=False, reason=reason, actor=actor, user=user)),
}


class BulkError(Exception):
    """The bulk action as a whole cannot run (unknown action, no reason, too many cases)."""


@dataclass
class BulkReport:
    """What a bulk action did: the order ids done, and those refused with their reason."""

    action: str
    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(BULK_ACTIONS[self.action].label)

    @property
    def total(self) -> int:
        return len(self.done) + len(self.refused)


def apply(*, action: str, case_ids: Sequence[int], reason: str, actor: str,
          user: AbstractBaseUser | None = None, shared: bool = False,
          seen: Mapping[str, str] | None = None) -> BulkReport:
    """Apply ``action`` to the cases ``case_ids`` (in that order) and report each.

    ``seen`` maps order ids to the state support saw them in on the list: a case that has
    moved on since is refused as changed meanwhile, as on a case page."""
    try:
        spec = BULK_ACTIONS[action]
    except KeyError:
        raise BulkError(_("Unknown bulk action “%(action)s”.") % {"action": action}) from None
    reason = (reason or "").strip()
    if spec.needs_reason and not reason:
        raise BulkError(_("Give a reason."))
    if not case_ids:
        raise BulkError(_("No cases selected: tick the cases, or choose the whole filter."))
    if len(case_ids) > LIMIT:
        raise BulkError(_("The selection holds %(count)s cases; a bulk action acts on at most "
                          "%(limit)s. Narrow the filter.") % {"count": len(case_ids),
                                                               "limit": LIMIT})
    report = BulkReport(action=action)
    cases = _cases(case_ids)
    ready: list[DebtCase] = []
    for case in cases:
        shown = (seen or {}).get(case.order_id)
        if shown and shown != case.state:
            report.refused.append((case.order_id, str(services.changed_meanwhile(
                order_id=case.order_id, now=case.state))))
        else:
            ready.append(case)
    if spec.together is not None:
        outcome = spec.together(cases=ready, reason=reason, actor=actor, user=user)
        for case in ready:
            why = outcome.get(case.order_id)
            if why:
                report.refused.append((case.order_id, why))
            else:
                report.done.append(case.order_id)
    else:
        assert spec.each is not None
        for case in ready:
            try:
                spec.each(case=case, reason=reason, actor=actor, user=user, shared=shared)
            except services.CaseError as exc:
                report.refused.append((case.order_id, str(exc)))
            else:
                report.done.append(case.order_id)
    order = {case.order_id: n for n, case in enumerate(cases)}
    report.refused.sort(key=lambda item: order[item[0]])
    return report


def _cases(case_ids: Sequence[int]) -> list[DebtCase]:
    found: dict[int, DebtCase] = {}
    for start in range(0, len(case_ids), 900):
        found.update((c.pk, c) for c in DebtCase.objects.filter(
            pk__in=list(case_ids[start:start + 900])).select_related("order", "vendor"))
    return [found[pk] for pk in case_ids if pk in found]


__all__ = ["BULK_ACTIONS", "LIMIT", "BulkAction", "BulkError", "BulkReport", "apply"]
