"""The vendor's page behind the signed links of the approval e-mail ("Freigabe").

Public (no login): the signed token is the key. A GET only shows what the link is about (order,
buyer, product, open amount, the letters) and the one action it stands for, with one button:
mail scanners open every link of an e-mail, so a GET never changes anything. The POST decides
through ``collection.approvals.decide_approval``, the same path as the portal and the command
line. A vendor who is logged in opens its own links only.

A refused link shows the service's words (``ApprovalError``) with a status that says what kind
of refusal it is, the same on GET and POST:

* 400: the link is not ours, or it was mangled on its way (the signature does not hold);
* 403: the link belongs to another vendor than the one logged in;
* 410: the link expired, was used already, or its case is gone (nothing left to decide);
* 409: support blocked the case in the meantime: the block wins, nothing was changed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals
from mahnwerk.web import access

BAD_REQUEST, FORBIDDEN, CONFLICT, GONE = 400, 403, 409, 410


def _refusal_status(token: str, vendor_id: str | None) -> int:
    """The status of a link ``read_link_token`` refused; the service already said why."""
    if not approvals.link_is_known(token=token):  # forged or mangled: a bad request
        return BAD_REQUEST
    if vendor_id is not None:
        try:
            approvals.read_link_token(token=token)
        except approvals.ApprovalError:
            pass
        else:
            return FORBIDDEN  # good for its own vendor, not for this one
    return GONE


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, "web/approval_link.html", {
        "creditor": settings.MAHNWERK_CREDITOR, **context}, status=status)
    # The token is the key: no search engine, no referrer may carry it further.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def approval_link(request: HttpRequest, token: str) -> HttpResponse:
    account = access.vendor_account(request.user)
    vendor_id = account.vendor_id if account is not None else None
    try:
        decision = approvals.read_link_token(token=token, vendor_id=vendor_id)
    except approvals.ApprovalError as exc:
        return _page(request, {"error": str(exc)}, status=_refusal_status(token, vendor_id))
    case = decision.case
    context = {"case": case, "approve": decision.action == approvals.APPROVE}
    if request.method != "POST":
        # The page shows the buyer's name: an access, by the vendor the link was sent to.
        access_log.record(kind=AccessKind.PORTAL_CASE, target=case.order_id,
                          order_ids=[case.order_id], user=request.user,
                          actor="" if request.user.is_authenticated
                          else f"link:{case.vendor_id}", via=request.path[:20] + "…")
        return _page(request, context)
    try:
        # The timeline stores a code: each reader reads it in their own language.
        approvals.decide_approval(
            case=case, approve=context["approve"], actor=f"link:{case.vendor_id}",
            user=request.user if request.user.is_authenticated else None)
    except approvals.ApprovalError as exc:
        # decide_approval read the case afresh: blocked meanwhile, or decided meanwhile.
        status = CONFLICT if case.state == CaseState.BLOCKED else GONE
        return _page(request, {**context, "error": str(exc)}, status=status)
    return _page(request, {**context, "done": True})
