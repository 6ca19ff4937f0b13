"""The error pages: 404 in the workspace's look and the reader's language, with what was not
found when the view said it ("There is no case for order …"). 403 and 500 are Django's own
handlers with the templates ``403.html`` and ``500.html``; the 500 page is plain HTML that needs
neither the database nor the request (it is shown when either may be what failed)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.template import loader
from django.urls import Resolver404


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: the view's own words, if it gave any (never the URL resolver's)."""
    message = ""
    if not isinstance(exception, Resolver404) and exception.args \
            and isinstance(exception.args[0], str):
        message = exception.args[0]
    content = loader.get_template("404.html").render({"message": message}, request)
    return HttpResponseNotFound(content)
