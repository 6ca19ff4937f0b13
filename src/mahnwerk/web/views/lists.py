"""What every list of the workspace shares: sortable column headers and the page size."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from mahnwerk.web.filters import PAGE_SIZE, PAGE_SIZES

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
