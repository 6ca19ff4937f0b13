"""Offer links: the link in every letter through which the buyer pays or resumes the plan.

The link is the product's checkout URL with a token: a random code (``cases.links``) that the
database maps to the case, so nothing of the case can be read from the link and it cannot be
guessed; it is valid for the policy's ``offer_valid_days`` from the day it was made. The
checkout, and Mahnwerk's own landing page, read it back with ``read_token``. Links sent before
the codes (signed tokens, Django's ``TimestampSigner``) are still read.

A letter on paper prints the short form of the same link (issue 11), ``<site>/z/<code>`` with
the code in groups (``short_link``), and a QR code of it; Mahnwerk's ``/z/`` page sends the
buyer on to Mahnwerk's offer page with the same code (``web.views.short_link``), which shows the
amount and the product checkout's button.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from mahnwerk.cases import links
from mahnwerk.cases.models import DebtCase, LinkCode, LinkPurpose

SALT = "mahnwerk.dunning.offer"


class OfferError(Exception):
    """A token that cannot be honoured; the message says why, for the buyer; ``expired``
    whether it was a real link that is too old."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Offer:
    case: DebtCase
    token: str


def make_token(*, case: DebtCase, valid_days: int | None = None) -> str:
    """A new offer code for the case (saved at once), valid for ``valid_days`` (the policy's
    offer days)."""
    return links.issue(case=case, purpose=LinkPurpose.OFFER, valid_days=valid_days)


def prepare_token(*, case: DebtCase, valid_days: int | None = None) -> LinkCode:
    """A new offer code, not yet saved: a run saves the codes of a batch together."""
    return links.prepare(case=case, purpose=LinkPurpose.OFFER, valid_days=valid_days)


#: The path of the short links; ``short_link`` and the URL pattern agree on it.
SHORT_PATH = "/z/"


def short_link(*, code: str) -> str:
    """The short form of an offer link, for paper: ``<site>/z/k7m2-9xq4-0c3h-zt8v``."""
    return settings.MAHNWERK_SITE_URL.rstrip("/") + SHORT_PATH + links.grouped(code)


def short_link_of(offer_link: str) -> str:
    """The short link of a letter's offer link, when it carries a code (every link made since
    issue 9); a link with a signed token (older) has none: ""."""
    token = parse_qs(urlsplit(offer_link or "").query).get("token", [""])[-1]
    return short_link(code=token) if token and links.looks_like_code(token) else ""


def offer_link(*, case: DebtCase, token: str) -> str:
    base = case.order.product.checkout_url or (
        settings.MAHNWERK_SITE_URL.rstrip("/") + "/angebot/")
    scheme, netloc, path, query, fragment = urlsplit(base)
    query = "&".join(part for part in (query, urlencode({"token": token})) if part)
    return urlunsplit((scheme, netloc, path, query, fragment))


def read_token(*, token: str, max_age_days: int) -> Offer:
    """The case a token names; raises OfferError if it was altered, expired or is not ours."""
    if links.looks_like_code(token):
        try:
            link = links.read(code=token, purposes=[LinkPurpose.OFFER],
                              valid_days=max_age_days)
        except links.LinkCodeError as exc:
            if exc.kind == "expired":
                raise OfferError(_("This payment link has expired. Please contact us for a "
                                   "new one."), expired=True) from None
            raise OfferError(_("This payment link is not valid. Please use the link from "
                               "your letter exactly as it is.")) from None
        return Offer(case=link.case, token=token)
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=max_age_days * 86400)
    except signing.SignatureExpired:
        raise OfferError(_("This payment link has expired. Please contact us for a new "
                           "one."), expired=True) from None
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
