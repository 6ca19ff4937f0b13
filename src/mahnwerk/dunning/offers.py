"""Offer links: the link in every letter through which the buyer pays or resumes the plan.

The link is the product's checkout URL with a signed token that names the case (Django's
``TimestampSigner``: an HMAC with the project's secret key, so it cannot be guessed or altered,
and it carries its own date, so it expires). The checkout, and Mahnwerk's own landing page,
read it back with ``read_offer_token``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase

SALT = "mahnwerk.dunning.offer"


class OfferError(Exception):
    """A token that cannot be honoured; the message says why, for the buyer."""


@dataclass(frozen=True)
class Offer:
    case: DebtCase
    token: str


def make_token(*, case: DebtCase) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object(
        {"case": case.pk, "order": case.order_id}, compress=True)


def offer_link(*, case: DebtCase, token: str) -> str:
    base = case.order.product.checkout_url or (
        settings.MAHNWERK_SITE_URL.rstrip("/") + "/angebot/")
    scheme, netloc, path, query, fragment = urlsplit(base)
    query = "&".join(part for part in (query, urlencode({"token": token})) if part)
    return urlunsplit((scheme, netloc, path, query, fragment))


def read_token(*, token: str, max_age_days: int) -> Offer:
    """The case a token names; raises OfferError if it was altered, expired or is not ours."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=max_age_days * 86400)
    except signing.SignatureExpired:
        raise OfferError(_("This payment link has expired. Please contact us for a new "
                           "one.")) from None
    except signing.BadSignature:
        raise OfferError(_("This payment link is not valid. Please use the link from your "
                           "letter exactly as it is.")) from None
    if not isinstance(data, dict) or "case" not in data:
        raise OfferError(_("This payment link is not valid."))
    case = (DebtCase.objects.select_related("order", "order__product", "vendor")
            .filter(pk=data["case"], order_id=data.get("order")).first())
    if case is None:
        raise OfferError(_("This payment link belongs to no open claim."))
    return Offer(case=case, token=token)
