"""The vendor portal: a vendor's own open cases (read only), its tasks, the cases waiting for
its approval ("Warten auf Freigabe") to approve or cancel, and for a direct-collection vendor
the list of orders to mark before a run.

Everything is read through the logged-in vendor (``VendorAccount``): a vendor never sees another
vendor's case, and never an internal note or the timeline (which quotes internal notes).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.collection import approvals
from mahnwerk.collection import selectors as collection_selectors
from mahnwerk.dunning import services as dunning_services
from mahnwerk.dunning.models import VendorTask
from mahnwerk.intake.models import CollectionMode
from mahnwerk.web import access, reads
from mahnwerk.web.models import VendorAccount
from mahnwerk.web.views.common import page_of


@access.portal_view
def portal(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    vendor = account.vendor
    cases = case_selectors.case_list(vendor_id=vendor.pk, active_only=True)
    pending = list(reads.pending_selections(vendor_id=vendor.pk))
    return render(request, "web/portal.html", {
        "vendor": vendor,
        "page": page_of(request, cases),
        "tasks": _distinct(reads.open_vendor_tasks(vendor_id=vendor.pk)),
        "direct": vendor.collection_mode == CollectionMode.DIRECT or bool(pending),
        "pending": pending,
        "answered": reads.answered_selections(vendor_id=vendor.pk),
        "approvals": [{"case": case, "escalation": approvals.escalation_status(case=case)}
                      for case in collection_selectors.approval_list(vendor_id=vendor.pk)],
    })


def _distinct(tasks: Iterable[VendorTask]) -> list[VendorTask]:
    """Each run that finds the same products again writes the same task: show it once."""
    seen: set[str] = set()
    return [task for task in tasks if not (task.text in seen or seen.add(task.text))]


def _own_case(order_id: str, account: VendorAccount) -> DebtCase:
    try:
        case = case_selectors.get_case(order_id=order_id)
    except DebtCase.DoesNotExist:
        case = None
    if case is None or case.vendor_id != account.vendor_id:
        # The same answer for "no such case" and "another vendor's case".
        raise Http404
    return case


@access.portal_view
def portal_case(request: HttpRequest, order_id: str, account: VendorAccount) -> HttpResponse:
    case = _own_case(order_id, account)
    access_log.record(kind=AccessKind.PORTAL_CASE, target=case.order_id,
                      order_ids=[case.order_id], user=request.user, via=request.path)
    return render(request, "web/portal_case.html", {
        "vendor": account.vendor, "case": case,
        "notes": case_selectors.notes(case=case, shared_only=True),
    })


@require_POST
@access.portal_view
def portal_selection(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The vendor's marks: every listed order is answered, a ticked one with "pursue"."""
    listed = [order_id for order_id in request.POST.getlist("order") if order_id]
    ticked = set(request.POST.getlist("pursue"))
    if not listed:
        messages.info(request, _("There was nothing to mark."))
        return redirect("web:portal")
    choices = {order_id: order_id in ticked for order_id in listed}
    try:
        count = dunning_services.answer_direct_selection(
            vendor_id=account.vendor_id, choices=choices,
            actor=f"portal:{request.user.get_username()}")
    except dunning_services.RunError as exc:
        messages.error(request, str(exc))
    else:
        pursued = sum(choices.values())
        messages.success(request, ngettext(
            "Thank you: %(count)d order answered, %(pursued)d of them to be pursued and handed "
            "to collection.",
            "Thank you: %(count)d orders answered, %(pursued)d of them to be pursued and "
            "handed to collection.", count) % {"count": count, "pursued": pursued})
    return redirect("web:portal")


@require_POST
@access.portal_view
def portal_approval(request: HttpRequest, order_id: str, account: VendorAccount
                    ) -> HttpResponse:
    """The vendor's answer to "Warten auf Freigabe": approve the case for collection or cancel
    it, with an optional reason; a block by support wins and the vendor is told."""
    case = _own_case(order_id, account)
    action = request.POST.get("action")
    if action not in (approvals.APPROVE, approvals.CANCEL):
        return HttpResponseBadRequest()
    approve = action == approvals.APPROVE
    try:
        # The timeline stores a code (the vendor's reason as written): each reader reads it in
        # their own language, and a refusal reaches the vendor in the vendor's.
        approvals.decide_approval(
            case=case, approve=approve, actor=f"portal:{request.user.get_username()}",
            reason=request.POST.get("reason", "").strip()[:500], user=request.user)
    except approvals.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        text = (_("Case %(order)s approved for collection.") if approve
                else _("Case %(order)s cancelled at the vendor's wish."))
        messages.success(request, text % {"order": case.order_id})
    return redirect(reverse("web:portal") + "#approvals")
