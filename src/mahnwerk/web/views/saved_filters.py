"""Saved filters of every list (issue 10, point 2): *Fälle*, a run's decisions, the run preview,
the outbox, *Freigaben*, *Inkasso* and the vendor portal's lists.

A saved filter is the user's own (``web.models.SavedFilter``): a name, the list it belongs to
and the list's query string. One include (``web/_saved_filters.html``) shows a list's saved
filters and the form that keeps the current one; one pair of views saves and deletes them. A
workspace list's filter is saved by a workspace user, a portal list's by a vendor login (its
rows are that vendor's anyway: the portal reads every list through the vendor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mahnwerk.web import access, filters
from mahnwerk.web.forms import RunForm, SavedFilterForm
from mahnwerk.web.models import SavedFilter, SavedList
from mahnwerk.web.views import lists


@dataclass(frozen=True)
class ListSpec:
    """Where a list lives (its URL names: the first is where a filter goes back to when the
    page is not given), the parameters its filter has, and whether it is the portal's."""

    url_names: tuple[str, ...]
    params: Callable[[], Iterable[str]]
    portal: bool = False


def _filterset(filterset: type[Any]) -> Callable[[], Iterable[str]]:
    return lambda: filterset.base_filters


LISTS: dict[str, ListSpec] = {
    SavedList.CASES: ListSpec(("web:cases",), _filterset(filters.CaseFilterSet)),
    SavedList.RUN_DECISIONS: ListSpec(("web:runs", "web:run"),
                                      _filterset(filters.DecisionFilterSet)),
    SavedList.RUN_PREVIEW: ListSpec(
        ("web:runs",), lambda: [*RunForm.base_fields, *filters.PreviewFilterForm.base_fields]),
    SavedList.OUTBOX: ListSpec(("web:outbox",), _filterset(filters.OutboxFilterSet)),
    SavedList.APPROVALS: ListSpec(("web:approvals",), _filterset(filters.ApprovalFilterSet)),
    SavedList.COLLECTION: ListSpec(("web:collection",),
                                   _filterset(filters.CollectionFilterSet)),
    SavedList.PORTAL_APPROVALS: ListSpec(
        ("web:portal",), _filterset(filters.PortalApprovalFilterSet), portal=True),
    SavedList.PORTAL_OPEN: ListSpec(("web:portal-open",),
                                    _filterset(filters.PortalOpenFilterSet), portal=True),
    SavedList.PORTAL_CLOSED: ListSpec(("web:portal-closed",),
                                      _filterset(filters.PortalClosedFilterSet), portal=True),
    SavedList.PORTAL_LETTERS: ListSpec(("web:portal-letters",),
                                       _filterset(filters.PortalLetterFilterSet), portal=True),
}


def query_of(list_name: str, data: QueryDict) -> str:
    """The query string a saved filter of this list keeps: its filter, sort and page size."""
    return lists.filter_query(data, LISTS[list_name].params())


def context(request: HttpRequest, list_name: str, query: str) -> dict[str, Any]:
    """What ``web/_saved_filters.html`` shows on a list's page: the user's saved filters of
    this list (one query) and the form that keeps the current filter."""
    return {"saved_filters": {
        "list": list_name,
        "filters": SavedFilter.objects.filter(user=request.user, list=list_name),
        "form": SavedFilterForm(initial={"query": query, "list": list_name,
                                         "next": request.path}),
        "base": request.path,
    }}


def _page(request: HttpRequest, spec: ListSpec, wanted: str) -> str:
    """The list's page to go back to: the one the form came from if it is this list's (a
    run's decisions: that run), else the list's own address; never another site."""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
        try:
            match = resolve(wanted)
        except Resolver404:
            match = None
        if match is not None and match.view_name in spec.url_names:
            return wanted
    return reverse(spec.url_names[0])


def _spec(request: HttpRequest) -> tuple[str, ListSpec] | None:
    """The list the POST names; a form without one is the case list's (as before lists
    other than *Fälle* kept filters)."""
    name = request.POST.get("list") or SavedList.CASES
    spec = LISTS.get(name)
    return (name, spec) if spec is not None else None


def _guarded(request: HttpRequest, spec: ListSpec, view: Callable[..., HttpResponse]
             ) -> HttpResponse:
    """A portal list's filter is a vendor login's, a workspace list's a workspace user's."""
    if spec.portal:
        return access.portal_view(lambda request, account: view(request))(request)
    return access.workspace_view(view)(request)


@require_POST
def saved_filter_save(request: HttpRequest) -> HttpResponse:
    found = _spec(request)
    if found is None:
        return HttpResponseBadRequest()
    name, spec = found
    return _guarded(request, spec, partial(_save, list_name=name, spec=spec))


def _save(request: HttpRequest, *, list_name: str, spec: ListSpec) -> HttpResponse:
    form = SavedFilterForm(request.POST)
    page = _page(request, spec, request.POST.get("next", ""))
    if not form.is_valid() or not form.cleaned_data["name"].strip():
        messages.error(request, _("Give the filter a name."))
        return redirect(page)
    query = query_of(list_name, QueryDict(form.cleaned_data["query"] or ""))
    name = form.cleaned_data["name"].strip()
    SavedFilter.objects.update_or_create(user=request.user, list=list_name, name=name,
                                         defaults={"query": query})
    messages.success(request, _("Filter “%(name)s” saved.") % {"name": name})
    return redirect(page + (f"?{query}" if query else ""))


@require_POST
def saved_filter_delete(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("id") or ""
    # Only the user's own: another user's filter is one that does not exist.
    saved = (SavedFilter.objects.filter(pk=raw, user_id=request.user.pk).first()
             if raw.isdigit() else None)
    list_name = saved.list if saved is not None else (request.POST.get("list")
                                                      or SavedList.CASES)
    spec = LISTS.get(list_name)
    if spec is None:
        return HttpResponseBadRequest()
    return _guarded(request, spec, partial(_delete, saved=saved, spec=spec))


def _delete(request: HttpRequest, *, saved: SavedFilter | None, spec: ListSpec
            ) -> HttpResponse:
    page = _page(request, spec, request.POST.get("next", ""))
    if saved is None:
        messages.error(request, _("There is no such saved filter of yours."))
        return redirect(page)
    saved.delete()
    messages.success(request, _("Saved filter deleted."))
    return redirect(page)


__all__ = ["LISTS", "context", "query_of", "saved_filter_delete", "saved_filter_save"]
