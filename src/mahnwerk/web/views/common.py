"""What every workspace page shows: the navigation and the dashboard line."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.claims import half_year_start
from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.dunning import outbox
from mahnwerk.dunning.models import DeliveryStatus
from mahnwerk.web import access

PAGE_SIZE = 50


def dashboard() -> dict[str, Any]:
    """The numbers of the line under the navigation: two grouped counts, one query; with them
    whether the current half-year has a base rate (``no_base_rate``: the warning)."""
    states, messages, has_rate = outbox.case_and_message_counts(
        states=ACTIVE_STATES, statuses=(DeliveryStatus.QUEUED, DeliveryStatus.FAILED))
    return {
        "no_base_rate": not has_rate,
        "half_year": half_year_start(timezone.localdate()),
        "open": sum(n for state, n in states.items() if state in ACTIVE_STATES),
        "dunning": states.get(CaseState.DUNNING, 0),
        "on_hold": states.get(CaseState.ON_HOLD, 0),
        "queued": messages.get(DeliveryStatus.QUEUED, 0),
        "failed": messages.get(DeliveryStatus.FAILED, 0),
    }


def render_workspace(request: HttpRequest, template: str, context: dict[str, Any],
                     *, section: str, status: int = 200) -> HttpResponse:
    context = {
        **context,
        "section": section,
        "dashboard": dashboard(),
        "can_work": access.can_work(request.user),
        "can_note": access.can_note(request.user),
        "can_decide": access.can_record_decision(request.user),
        "warn_base_rate": access.can_work(request.user) or request.user.is_superuser,
    }
    return render(request, template, context, status=status)


def page_of(request: HttpRequest, items: Any, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def case_or_404(order_id: str) -> DebtCase:
    try:
        return case_selectors.get_case(order_id=order_id)
    except DebtCase.DoesNotExist:
        raise Http404(_("There is no case for order %(order)s.") % {"order": order_id}
                      ) from None
