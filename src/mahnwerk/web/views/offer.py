"""The buyer's page behind the offer link, when the product has no checkout of its own.

Public (no login): the signed token is the buyer's key. The token is read twice: once to find
the case (any age, so that an expired link can be told apart from a forged one), then with the
validity of the case's vendor policy (``offer_valid_days``). A forged or foreign token answers
400, an expired one 410, each with the words of ``dunning.offers.OfferError``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from mahnwerk.cases.states import ACTIVE_STATES, CaseState
from mahnwerk.dunning import letters, offers
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.web import reads

#: Long enough for any policy: the first reading only finds the case.
ANY_AGE_DAYS = 36500
#: The placeholder token of a letter preview (``dunning.letters.PREVIEW_PATH``).
PREVIEW_TOKEN = letters.PREVIEW_PATH.rstrip("/").rsplit("/", 1)[-1]


def _read(token: str) -> tuple[int, dict[str, Any]]:
    """The answer to a token: its status code and what the page shows."""
    if token == PREVIEW_TOKEN:
        return 200, {"preview": True}
    if not token:
        return 400, {"error": _("This payment link is not valid. Please use the link from your "
                                "letter exactly as it is.")}
    try:
        case = offers.read_token(token=token, max_age_days=ANY_AGE_DAYS).case
    except offers.OfferError as exc:
        return 400, {"error": str(exc)}
    policy = dunning_selectors.policy_for(vendor_id=case.vendor_id)
    try:
        offers.read_token(token=token, max_age_days=policy.offer_valid_days)
    except offers.OfferError as exc:
        return 410, {"error": str(exc)}
    if case.state == CaseState.PAID or not case.total_owed:
        return 200, {"case": case, "settled": True}
    if case.state not in ACTIVE_STATES:
        return 200, {"case": case, "closed": True}
    pay_url = ""
    if case.order.product.checkout_url:
        pay_url = offers.offer_link(case=case, token=token)
    return 200, {"case": case, "pay_url": pay_url}


@never_cache
def offer_page(request: HttpRequest, token: str | None = None) -> HttpResponse:
    """The page speaks the language of the case's letters (German unless a letter was in
    English), not the browser's: the buyer reads the words and amounts of the letter."""
    with translation.override(settings.LANGUAGE_CODE):
        status, context = _read((token or request.GET.get("token") or "").strip())
    case = context.get("case")
    latest = reads.letters_of(case=case).last() if case is not None else None
    language = letters.language_of(latest.language if latest else settings.LANGUAGE_CODE)
    with translation.override(language):
        response = render(request, "web/offer.html", {
            "creditor": settings.MAHNWERK_CREDITOR, **context}, status=status)
    response["Content-Language"] = language
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
