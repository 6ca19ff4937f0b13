"""The language of the pages: German, the team's language, unless a person chose English.

Django's ``LocaleMiddleware`` would follow the browser's Accept-Language, so a support agent
with an English browser would suddenly see English screens; here only the language cookie
(set by the switch at the foot of every page, Django's ``set_language`` view) counts. The
rest (Content-Language, Vary) is ``LocaleMiddleware``'s own.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseNotAllowed
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class TeamLanguageMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


def client_address(request: HttpRequest) -> str | None:
    """The client's address for the sign-in lockout (django-axes' AXES_CLIENT_IP_CALLABLE).

    With ``MAHNWERK_PROXY_COUNT`` = N trusted proxies, each appending the address it saw to
    X-Forwarded-For, the client is the N-th hop from the right of ``X-Forwarded-For +
    REMOTE_ADDR``; whatever a client wrote into the header itself stands further left and is
    never read. Written here, five lines, rather than through django-ipware: its strict chain
    check answers no address at all for an honest client behind one proxy (seen with 8.0), and
    the lockout needs exactly this rule, the one Werkzeug's ProxyFix and nginx's real_ip apply.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.MAHNWERK_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                 if hop.strip()]
    hops = [*forwarded, remote] if remote else forwarded
    return hops[-(count + 1)] if len(hops) > count else remote


class FormOnlyAddressMiddleware:
    """A page in the workspace's look for a GET on an address that only takes a form.

    Django's ``require_POST`` answers such a GET (a reloaded, bookmarked or pasted confirmation
    page) with an empty 405, which a browser shows as a blank page. Django has no ``handler405``
    to set, so this turns exactly those empty answers into ``405.html`` (status and ``Allow``
    header kept); the API's own 405s carry a body and are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if response.status_code != 405 or response.content or request.method != "GET":
            return response
        from django.template import loader

        page = HttpResponseNotAllowed(
            [method.strip() for method in response.get("Allow", "").split(",") if method.strip()],
            loader.get_template("405.html").render({}, request))
        return page
