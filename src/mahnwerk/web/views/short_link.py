"""The short link of a letter, ``<site>/z/<code>`` (issue 11): what a buyer types from the
paper letter or opens with the phone's camera from its QR code.

Public (no login): the code is the key. A code as a person types it is read (upper or lower
case, dashes and spaces, an O for a 0: ``cases.links.normalise``); a valid offer code sends the
buyer on to Mahnwerk's offer page of the case (``/angebot/?token=<code>``: the open amount and,
when the product has a checkout, its button to pay there).
An unknown, mistyped or expired code gets a page in German and English that says so and whom
to contact (the creditor's e-mail and phone); the placeholder of a letter preview
(``dunning.letters.PREVIEW_CODE``) gets a page that says it is one.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from mahnwerk.cases import links
from mahnwerk.dunning import letters, offers
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.web.views.offer import ANY_AGE_DAYS


def _problem(request: HttpRequest, problem: str, status: int, code: str) -> HttpResponse:
    response = render(request, "web/short_link.html", {
        "creditor": settings.MAHNWERK_CREDITOR, "problem": problem, "code": code,
        "languages": [language for language, _name in settings.LANGUAGES]}, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    typed = code.strip()
    if links.normalise(typed) == links.normalise(letters.PREVIEW_CODE):
        return _problem(request, "preview", 200, typed)
    if not links.looks_like_code(typed):
        return _problem(request, "mistyped", 404, typed)
    try:  # read as the offer page reads it, to tell an expired link from an unknown one
        case = offers.read_token(token=typed, max_age_days=ANY_AGE_DAYS).case
        policy = dunning_selectors.policy_for(vendor_id=case.vendor_id)
        offers.read_token(token=typed, max_age_days=policy.offer_valid_days)
    except offers.OfferError as exc:
        return _problem(request, "expired" if exc.expired else "unknown",
                        410 if exc.expired else 404, typed)
    response = HttpResponseRedirect(
        reverse("web:offer") + "?" + urlencode({"token": links.normalise(typed)}))
    response["Referrer-Policy"] = "no-referrer"
    return response
