"""A payment or a reorder stops the dunning at once: a letter still in the outbox for that case
is cancelled, not sent (issue 3, item 5)."""

from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from mahnwerk.cases.signals import cases_changed
from mahnwerk.cases.states import CaseState

STOPPING = {
    CaseState.PAID: _("the case is paid"),
    CaseState.REOPENED: _("the buyer ordered again"),
    CaseState.CANCELED: _("the case was cancelled"),
    CaseState.BLOCKED: _("the case was blocked"),
}


@receiver(cases_changed)
def stop_letters(sender, changes, **kwargs):
    from mahnwerk.dunning.outbox import cancel_for_case

    for case, _from_state, to_state in changes:
        if to_state in STOPPING:
            cancel_for_case(case=case, reason=str(STOPPING[to_state]))
