"""What support can do to one case: the command line (``mahnwerk case ORDER ACTION``) and the
case page read the same list.

A registry, so that apps to the right add their own actions without the cases app knowing
them: the collection app registers ``approve`` and ``cancel`` in its ``AppConfig.ready``.
Each action names its refusal: why it cannot be done on the case as it is now. The service
refuses with those words, and the case page offers only the actions without a refusal
(``offered``), so the page never offers what would then fail.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy

from mahnwerk.cases import services
from mahnwerk.cases.models import DebtCase


def _never(case: DebtCase) -> str | None:
    return None


@dataclass(frozen=True)
class Action:
    #: run(case=..., reason=..., actor=..., shared=...) calls one service of cases.services.
    run: Callable[..., object]
    #: What is printed afterwards; %(order)s is the order id.
    done: Any
    #: Whether --shared means something for this action.
    takes_shared: bool = False
    #: refusal(case): why the action cannot be done on the case now (None: it can); the same
    #: check the service makes before it changes anything.
    refusal: Callable[[DebtCase], str | None] = _never


ACTIONS: dict[str, Action] = {
    "block": Action(
        run=lambda *, case, reason, actor, shared: services.block_case(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Case %(order)s blocked."), refusal=services.block_refusal),
    "unblock": Action(
        run=lambda *, case, reason, actor, shared: services.unblock_case(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Case %(order)s unblocked."), refusal=services.unblock_refusal),
    "note": Action(
        run=lambda *, case, reason, actor, shared: services.add_note(
            case=case, text=reason, actor=actor, shared=shared),
        done=gettext_lazy("Note added to case %(order)s."), takes_shared=True),
    # Corrections: support's word on the address flag and on a reorder match.
    "address-valid": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=False, reason=reason, actor=actor),
        done=gettext_lazy("Address of case %(order)s set valid by hand."),
        refusal=lambda case: services.address_flag_refusal(case, False)),
    "address-invalid": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=True, reason=reason, actor=actor),
        done=gettext_lazy("Address of case %(order)s set invalid by hand."),
        refusal=lambda case: services.address_flag_refusal(case, True)),
    "address-computed": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=None, reason=reason, actor=actor),
        done=gettext_lazy("The address flag of case %(order)s follows the buyer's address "
                          "again."),
        refusal=lambda case: services.address_flag_refusal(case, None)),
    "not-reordered": Action(
        run=lambda *, case, reason, actor, shared: services.override_reorder(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Reorder match of case %(order)s undone; the case is pursued "
                          "again."),
        refusal=services.reorder_override_refusal),
}


def offered(case: DebtCase) -> set[str]:
    """The names of the actions the case allows as it is now."""
    return {name for name, action in ACTIONS.items() if action.refusal(case) is None}
