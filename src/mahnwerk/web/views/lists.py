"""What every list of the workspace and the portal shares: sortable column headers, page
numbers and the page size, the count and the totals of the filter, the filter's query string
and the download of a list (one helper, not one copy per list)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.http import content_disposition_header
from django_filters import FilterSet

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.web.filters import PAGE_SIZE, PAGE_SIZES

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: A column: (``sort`` key, header, CSS class).
Column = tuple[str, Any, str]


def page_size(request: HttpRequest) -> int:
    """``per_page`` from the URL if it is one of ``PAGE_SIZES``, else the default."""
    try:
        size = int(request.GET.get("per_page") or PAGE_SIZE)
    except ValueError:
        return PAGE_SIZE
    return size if size in PAGE_SIZES else PAGE_SIZE


def sort_headers(request: HttpRequest, columns: list[Column], current: str
                 ) -> list[dict[str, Any]]:
    """Each column's header: its link sorts by it (again: the other way round); the page
    starts at 1, every other parameter stays."""
    headers = []
    for key, label, css in columns:
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("preview_page", None)
        direction = ""
        if key and current == key:
            direction, query["sort"] = "ascending", f"-{key}"
        elif key and current == f"-{key}":
            direction, query["sort"] = "descending", key
        else:
            query["sort"] = key
        headers.append({"key": key, "label": label, "css": css, "direction": direction,
                        "url": "?" + query.urlencode() if key else ""})
    return headers


class CountedPaginator(Paginator):
    """A paginator told the count (from the list's totals query) instead of asking again."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def filter_query(data: QueryDict, filterset: type[FilterSet] | Iterable[str]) -> str:
    """A list's query string without the page: its filter, sort and page size, what an
    export link, a saved filter and a bulk action over the whole filter keep. ``filterset``
    is the list's FilterSet, or the names of its parameters."""
    names = (set(filterset.base_filters) if isinstance(filterset, type)
             else set(filterset)) | {"per_page"}
    kept = QueryDict(mutable=True)
    for name in data:
        if name in names:
            values = [v for v in data.getlist(name) if v]
            if values:
                kept.setlist(name, values)
    return kept.urlencode()


def listing(request: HttpRequest, rows: QuerySet, *, columns: list[Column], sort: str,
            totals: list[Any] | None = None, count: int | None = None,
            filterset: type[FilterSet] | None = None) -> dict[str, Any]:
    """What a list page shows around its rows: the page of ``rows`` (sorted and filtered
    already), the page numbers and sizes, the sortable headers, the count and the totals of
    the filter, and its query string (for the exports and the bulk actions)."""
    per_page = page_size(request)
    if count is None and totals is not None:
        count = sum(total.count for total in totals)
    paginator = (CountedPaginator(rows, per_page, count=count) if count is not None
                 else Paginator(rows, per_page))
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "per_page": per_page, "page_sizes": PAGE_SIZES,
        "headers": sort_headers(request, columns, sort),
        "totals": totals or [], "count": paginator.count,
        "query": filter_query(request.GET, filterset) if filterset else "",
    }


def download(request: HttpRequest, *, name: str, content: bytes | str,
             order_ids: Iterable[str]) -> HttpResponse:
    """A list as a file (``.csv`` or ``.xlsx`` by its name), written to the access log with
    the orders it holds."""
    access_log.record(kind=AccessKind.EXPORT, target=name, user=request.user,
                      order_ids=order_ids, via=request.get_full_path())
    kind = "text/csv; charset=utf-8" if name.endswith(".csv") else XLSX
    response = HttpResponse(content, content_type=kind)
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
