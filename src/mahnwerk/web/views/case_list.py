"""*Fälle*, the list of every case: filters, sorting, pages, the count and the sum of the open
amounts of the filter, saved filters, exports and bulk actions (issue 10, point 2).

The page reads through the FilterSet (``web.filters``) and the cases app's selectors; the
exports through ``cases.exports``; a bulk action through ``cases.bulk_actions``, the same
services as on one case. Query count per page is fixed (no query per row): the totals are one
grouped query, the rows one query with their order, product and vendor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Page
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_filters import FilterSet

from mahnwerk.cases import bulk_actions, exports
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.web import access, case_rows
from mahnwerk.web.filters import PAGE_SIZES, CaseFilterSet
from mahnwerk.web.forms import BulkActionForm
from mahnwerk.web.models import SavedList
from mahnwerk.web.views import lists, saved_filters
from mahnwerk.web.views.common import render_workspace

#: Where a bulk action's report waits in the session for the page that shows it.
REPORT_KEY = "mahnwerk.bulk_report"

#: The list's columns: (``sort`` key or "" for a column that does not sort, header, CSS class).
COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("vendor", gettext_lazy("vendor"), ""),
    ("buyer", gettext_lazy("buyer"), ""),
    ("product", gettext_lazy("product"), ""),
    ("state", gettext_lazy("state"), "nowrap"),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("incident", gettext_lazy("incident"), "nowrap"),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
    ("new_order", gettext_lazy("new order id"), "nowrap"),
    ("address", gettext_lazy("address"), ""),
]


class CasePaginator(lists.CountedPaginator):
    """Pages of a filtered, sorted case list, told the count (from the totals query) instead
    of asking for it again.

    A page is read in two steps: the ids of its cases (the filter and the sort on the cases
    table, joining only what the sort needs), then those cases with their order, product and
    vendor (as plain values: ``case_rows.read``). One query that joined and sorted every row
    of a 100,000-case list took 0.85 s on SQLite; the two take a tenth of it
    (docs/benchmarks.md)."""

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:bottom + self.per_page])
        return self._get_page(case_rows.read(ids), number, self)


def _filter_query(data: QueryDict) -> str:
    """The list's query string without the page: what a saved filter, an export link and the
    bulk action keep."""
    return lists.filter_query(data, CaseFilterSet)


def bulk_choices(request: HttpRequest) -> list[tuple[str, str]]:
    allowed = {"work": access.can_work(request.user), "note": access.can_note(request.user)}
    return [(name, str(spec.label)) for name, spec in bulk_actions.BULK_ACTIONS.items()
            if allowed.get(spec.permission)]


@access.workspace_view
def case_list(request: HttpRequest) -> HttpResponse:
    filters = CaseFilterSet(request.GET or None)
    cases = filters.qs
    totals = case_selectors.totals_by_currency(cases)
    count = sum(total.count for total in totals)
    per_page = lists.page_size(request)
    page = CasePaginator(cases, per_page, count=count).get_page(request.GET.get("page"))
    query = _filter_query(request.GET)
    choices = bulk_choices(request)
    case_url = reverse("web:cases")
    return render_workspace(request, "web/case_list.html", {
        "filters": filters,
        "form": filters.form,
        "page": page,
        # Drawn in Python (``web.case_rows``): the template loop was a third of the page.
        # A case's page is ``case_url`` plus its order id: one reverse() for the page.
        "rows": case_rows.case_rows(page, case_url=case_url, pick=bool(choices)),
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2,
                                                            on_ends=1),
        "totals": totals,
        "count": count,
        "headers": lists.sort_headers(request, COLUMNS, filters.current_sort()),
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "query": query,
        **saved_filters.context(request, SavedList.CASES, query),
        "bulk_form": BulkActionForm(actions=choices) if choices else None,
        "bulk_limit": bulk_actions.LIMIT,
    }, section="cases")


# -- Exports -------------------------------------------------------------------------------------


def _export(request: HttpRequest, *, kind: str) -> HttpResponse:
    filters = CaseFilterSet(request.GET or None)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect(reverse("web:cases") + "?" + _filter_query(request.GET))
    cases = filters.qs
    stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
    content = exports.as_csv(cases) if kind == "csv" else exports.as_xlsx(cases)
    return lists.download(request, name=f"faelle-{stamp}.{kind}", content=content,
                          order_ids=cases.order_by().values_list("order_id", flat=True))


@access.workspace_view
def case_list_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, kind="csv")


@access.workspace_view
def case_list_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, kind="xlsx")


# -- Bulk actions --------------------------------------------------------------------------------


def _seen(request: HttpRequest) -> dict[str, str]:
    """The states the list showed: ``seen`` values ``ORDER_ID:state``."""
    seen = {}
    for value in request.POST.getlist("seen"):
        order_id, _sep, state = value.rpartition(":")
        if order_id:
            seen[order_id] = state
    return seen


@require_POST
@access.workspace_view(permission=access.can_note)
def case_list_bulk(request: HttpRequest) -> HttpResponse:
    return bulk(request, filtered=lambda data: CaseFilterSet(data or None),
                filterset=CaseFilterSet, list_url=reverse("web:cases"), section="cases")


def bulk(request: HttpRequest, *, filtered: Callable[[QueryDict], FilterSet],
         filterset: type[FilterSet], list_url: str, section: str) -> HttpResponse:
    """A bulk action on a list's ticked cases or on every case of its filter
    (``filtered(query)``), through ``cases.bulk_actions``: the same services as on one case;
    then the report of what it did, and back to the list (``list_url``) as it was."""
    query = lists.filter_query(QueryDict(request.POST.get("query", "")), filterset)
    back = list_url + (f"?{query}" if query else "")
    choices = bulk_choices(request)
    form = BulkActionForm(request.POST, actions=choices)
    if not form.is_valid():
        messages.error(request, _("Choose an action the list offers you."))
        return redirect(back)
    scope = form.cleaned_data["scope"]
    if scope == "filter":
        filters = filtered(QueryDict(query))
        if filters.is_bound and not filters.form.is_valid():
            messages.error(request, _("Please check the filter: nothing was changed."))
            return redirect(back)
        case_ids = list(filters.qs.values_list("pk", flat=True)[:bulk_actions.LIMIT + 1])
    else:
        chosen = request.POST.getlist("order")
        # Only the list's own cases: a ticked order id not on it is not found.
        found = dict(filtered(QueryDict()).qs.filter(order_id__in=chosen[:bulk_actions.LIMIT + 1])
                     .order_by().values_list("order_id", "pk"))
        case_ids = [found[order] for order in chosen if order in found]
    try:
        report = bulk_actions.apply(
            action=form.cleaned_data["action"], case_ids=case_ids,
            reason=form.cleaned_data["reason"], shared=form.cleaned_data["shared"],
            actor=access.actor(request), user=request.user,
            seen=_seen(request) if scope == "selected" else None)
    except bulk_actions.BulkError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    # Post, redirect, get: reloading the report must not apply the action again.
    request.session[REPORT_KEY] = {"action": report.action, "done": report.done,
                                   "refused": report.refused, "back": back,
                                   "section": section}
    return redirect("web:cases-bulk-report")


@access.workspace_view
def case_list_bulk_report(request: HttpRequest) -> HttpResponse:
    """What the last bulk action did, shown once (then the list)."""
    kept = request.session.pop(REPORT_KEY, None)
    if not kept or kept.get("action") not in bulk_actions.BULK_ACTIONS:
        return redirect("web:cases")
    report = bulk_actions.BulkReport(action=kept["action"], done=list(kept["done"]),
                                     refused=[tuple(item) for item in kept["refused"]])
    return render_workspace(request, "web/bulk_report.html", {
        "report": report, "back": kept.get("back") or reverse("web:cases"),
    }, section=kept.get("section") or "cases")


__all__ = ["bulk", "bulk_choices", "case_list", "case_list_bulk", "case_list_bulk_report",
           "case_list_csv", "case_list_xlsx"]
