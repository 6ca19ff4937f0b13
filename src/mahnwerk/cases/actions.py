"""What support can do to one case from the command line (``mahnwerk case ORDER ACTION``).

A registry, so that apps to the right add their own actions without the cases app knowing
them: the collection app registers ``approve`` and ``cancel`` in its ``AppConfig.ready``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy

from mahnwerk.cases import services


@dataclass(frozen=True)
class Action:
    #: run(case=..., reason=..., actor=..., shared=...) calls one service of cases.services.
    run: Callable[..., object]
    #: What is printed afterwards; %(order)s is the order id.
    done: Any
    #: Whether --shared means something for this action.
    takes_shared: bool = False


ACTIONS: dict[str, Action] = {
    "block": Action(
        run=lambda *, case, reason, actor, shared: services.block_case(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Case %(order)s blocked.")),
    "unblock": Action(
        run=lambda *, case, reason, actor, shared: services.unblock_case(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Case %(order)s unblocked.")),
    "note": Action(
        run=lambda *, case, reason, actor, shared: services.add_note(
            case=case, text=reason, actor=actor, shared=shared),
        done=gettext_lazy("Note added to case %(order)s."), takes_shared=True),
    # Corrections: support's word on the address flag and on a reorder match.
    "address-valid": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=False, reason=reason, actor=actor),
        done=gettext_lazy("Address of case %(order)s set valid by hand.")),
    "address-invalid": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=True, reason=reason, actor=actor),
        done=gettext_lazy("Address of case %(order)s set invalid by hand.")),
    "address-computed": Action(
        run=lambda *, case, reason, actor, shared: services.set_invalid_address(
            case=case, value=None, reason=reason, actor=actor),
        done=gettext_lazy("The address flag of case %(order)s follows the buyer's address "
                          "again.")),
    "not-reordered": Action(
        run=lambda *, case, reason, actor, shared: services.override_reorder(
            case=case, reason=reason, actor=actor),
        done=gettext_lazy("Reorder match of case %(order)s undone; the case is pursued "
                          "again.")),
}


