"""The vendor portal: a vendor's own figures (open, with the agency, recovered), its open cases
(read only), its tasks, the cases waiting for its approval ("Warten auf Freigabe") to approve or
cancel, one by one or ticked together (cancelling always asks once more, on a page of its own),
for a direct-collection vendor the list of orders to mark before a run, the history of its
closed cases, the letters sent to its buyers, and its lists as CSV and XLSX.

Everything is read through the logged-in vendor (``VendorAccount``): a vendor never sees another
vendor's case, and never an internal note or the timeline (which quotes internal notes), a
buyer's address or e-mail. Every download is written to the access log with its order ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log, bulk_actions
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals, economics
from mahnwerk.collection import selectors as collection_selectors
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning import services as dunning_services
from mahnwerk.dunning.models import VendorTask
from mahnwerk.intake.models import CollectionMode
from mahnwerk.money import format_money
from mahnwerk.web import access, portal_lists, reads
from mahnwerk.web.filters import PortalApprovalFilterSet
from mahnwerk.web.models import SavedList, VendorAccount
from mahnwerk.web.views import lists, saved_filters

#: The columns of the portal's lists (``web.filters.Portal*FilterSet.SORTS``).
APPROVAL_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("buyer", gettext_lazy("buyer"), ""),
    ("product", gettext_lazy("product"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
    ("waiting", gettext_lazy("waiting since"), "nowrap"),
    ("asked", gettext_lazy("escalation status"), ""),
    ("", gettext_lazy("your decision"), ""),
]
OPEN_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("buyer", gettext_lazy("buyer"), ""),
    ("product", gettext_lazy("product"), ""),
    ("state", gettext_lazy("state"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
]
CLOSED_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("buyer", gettext_lazy("buyer"), ""),
    ("product", gettext_lazy("product"), ""),
    ("state", gettext_lazy("state"), ""),
    ("closed", gettext_lazy("closed on"), "nowrap"),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
    ("incasso", gettext_lazy("takeover by the agency"), "nowrap"),
]
LETTER_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("letter_date", gettext_lazy("letter date"), "nowrap"),
    ("dispatched", gettext_lazy("left on"), "nowrap"),
    ("level", gettext_lazy("letter"), "nowrap"),
    ("amount", gettext_lazy("amount"), "num"),
    ("channel", gettext_lazy("channel"), ""),
    ("status", gettext_lazy("status"), ""),
]


#: The saved filters' list of each of the portal's lists.
SAVED_LISTS = {"freigaben": SavedList.PORTAL_APPROVALS, "offene-faelle": SavedList.PORTAL_OPEN,
               "abgeschlossene-faelle": SavedList.PORTAL_CLOSED,
               "briefe": SavedList.PORTAL_LETTERS}


def _list(request: HttpRequest, account: VendorAccount, stem: str, columns: list[Any],
          *, letters: bool = False) -> dict[str, Any]:
    """One of the vendor's lists as its page shows it: filtered, sorted, a page of it, the
    count and the amounts of the filter, the query its downloads and bulk approval keep."""
    wanted = portal_lists.LISTS[stem]
    filters = wanted.filtered(account.vendor_id, request.GET)
    rows = filters.qs
    totals = (dunning_selectors.letter_totals(rows) if letters
              else case_selectors.totals_by_currency(rows))
    context = lists.listing(request, rows, columns=columns, sort=filters.current_sort(),
                            totals=totals, filterset=wanted.filterset)
    return {**context, "filters": filters, "stem": stem, "vendor": account.vendor,
            **saved_filters.context(request, SAVED_LISTS[stem], context["query"])}


@access.portal_view
def portal(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The vendor's figures, tasks, choices and the cases waiting for its approval (a list
    with its filters, to tick on the page or all of the filter and approve together)."""
    vendor = account.vendor
    pending = list(reads.pending_selections(vendor_id=vendor.pk))
    context = _list(request, account, "freigaben", APPROVAL_COLUMNS)
    waiting_any = (context["count"] > 0 or context["filters"].is_bound)
    return render(request, "web/portal.html", {
        **context, "section": "portal",
        "figures": collection_selectors.vendor_figures(vendor_id=vendor.pk),
        "downloads": portal_lists.LISTS.values(),
        "tasks": _distinct(reads.open_vendor_tasks(vendor_id=vendor.pk)),
        "direct": vendor.collection_mode == CollectionMode.DIRECT or bool(pending),
        "pending": pending,
        "answered": reads.answered_selections(vendor_id=vendor.pk),
        "waiting_any": waiting_any,
        "approvals": _with_expected(context["page"]),
    })


@access.portal_view
def portal_open(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The vendor's open cases (read only)."""
    return render(request, "web/portal_open.html", {
        **_list(request, account, "offene-faelle", OPEN_COLUMNS), "section": "open"})


def _with_expected(cases: Iterable[Any]) -> list[dict[str, object]]:
    """Each waiting case (read by ``portal_lists.waiting_rows``) with where the vendor's
    answer stands and what approving or cancelling can be expected to bring ("expected: …",
    as in the approval e-mail)."""
    cases = list(cases)
    expected = economics.many_estimates(cases=cases) if cases else {}
    # The newest request's moments are columns of the rows (``waiting_rows``:
    # ``collection.selectors.with_waiting``), as in *Freigaben*: no query per row.
    return [{"case": case,
             "escalation": approvals.request_status(
                 vendor=case.vendor, asked_at=case.asked_at, reminded_at=case.reminded_at,
                 escalated_at=case.escalated_at),
             "expected": economics.expected_text(expected[case.pk])} for case in cases]


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
        "estimates": economics.case_estimates(case=case),
        "withdrawable": approvals.withdrawal_refusal(case) is None,
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


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()[:500]


def _confirm_cancel(request: HttpRequest, account: VendorAccount, cases: list[DebtCase],
                    *, action: str) -> HttpResponse:
    """The second step before cancelling: which cases, what cancelling means, the reason."""
    return render(request, "web/portal_cancel.html", {
        "vendor": account.vendor, "section": "portal", "cases": cases, "action": action,
        "reason": _reason(request),
    })


def _decide(request: HttpRequest, case: DebtCase, *, approve: bool) -> str | None:
    """One decision through ``decide_approval``; the refusal's words, or None when done."""
    try:
        # The timeline stores a code (the vendor's reason as written): each reader reads it in
        # their own language, and a refusal reaches the vendor in the vendor's.
        approvals.decide_approval(
            case=case, approve=approve, actor=f"portal:{request.user.get_username()}",
            reason=_reason(request), user=request.user)
    except approvals.ApprovalError as exc:
        return str(exc)
    return None


@require_POST
@access.portal_view
def portal_approval(request: HttpRequest, order_id: str, account: VendorAccount
                    ) -> HttpResponse:
    """The vendor's answer to "Warten auf Freigabe": approve the case for collection or cancel
    it, with an optional reason; cancelling asks once more first (``confirm``). A block by
    support wins and the vendor is told."""
    case = _own_case(order_id, account)
    action = request.POST.get("action")
    if action not in (approvals.APPROVE, approvals.CANCEL):
        return HttpResponseBadRequest()
    approve = action == approvals.APPROVE
    if (not approve and request.POST.get("confirm") != "yes"
            and case.state == CaseState.ON_HOLD):
        return _confirm_cancel(request, account, [case],
                               action=reverse("web:portal-approval", args=[case.order_id]))
    refused = _decide(request, case, approve=approve)
    if refused:
        messages.error(request, refused)
    else:
        text = (_("Case %(order)s approved for collection.") if approve
                else _("Case %(order)s cancelled at the vendor's wish."))
        messages.success(request, text % {"order": case.order_id})
    return redirect(reverse("web:portal") + "#approvals")


@require_POST
@access.portal_view
def portal_withdraw(request: HttpRequest, order_id: str, account: VendorAccount
                    ) -> HttpResponse:
    """The vendor takes back a case already with the agency: first a page that asks once
    more and names the agency's withdrawal fee, then (``confirm``) the withdrawal."""
    case = _own_case(order_id, account)
    back = reverse("web:portal-case", args=[case.order_id])
    refused = approvals.withdrawal_refusal(case)
    if refused:
        messages.error(request, refused)
        return redirect(back)
    if request.POST.get("confirm") != "yes":
        partner, fee = approvals.withdrawal_fee(case)
        return render(request, "web/withdraw_confirm.html", {
            "vendor": account.vendor, "section": "portal", "portal": True, "cases": [case],
            "partner": partner, "fee": fee, "reason": _reason(request), "back": back,
            "action": reverse("web:portal-withdraw", args=[case.order_id])})
    try:
        fee = approvals.withdraw_from_agency(
            case=case, actor=f"portal:{request.user.get_username()}", reason=_reason(request),
            user=request.user)
    except approvals.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Case %(order)s withdrawn from the agency; the withdrawal "
                                    "fee is %(fee)s.") % {
            "order": case.order_id, "fee": format_money(fee, case.currency)})
    return redirect(back)


@require_POST
@access.portal_view
def portal_approvals(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The ticked cases of "Warten auf Freigabe", approved or (after the second step)
    cancelled together, each through ``decide_approval`` as one at a time; says what was done
    and, case by case, what was refused (blocked by support, no longer waiting). Only the
    vendor's own cases are found: an order of another vendor is "not among your cases waiting",
    as one that does not exist."""
    action = request.POST.get("action")
    if action not in (approvals.APPROVE, approvals.CANCEL):
        return HttpResponseBadRequest()
    approve = action == approvals.APPROVE
    query = lists.filter_query(
        QueryDict(request.POST.get("query", "")), PortalApprovalFilterSet)
    back = redirect(reverse("web:portal") + (f"?{query}" if query else "") + "#approvals")
    if request.POST.get("scope") == "filter":
        # Every case of the filter: the vendor's own waiting cases, narrowed by the filter.
        filters = portal_lists.LISTS["freigaben"].filtered(account.vendor_id,
                                                           QueryDict(query))
        if filters.is_bound and not filters.form.is_valid():
            messages.error(request, _("Please check the filter: nothing was changed."))
            return back
        order_ids = list(filters.qs.values_list("order_id", flat=True)[:bulk_actions.LIMIT])
    else:
        order_ids = list(dict.fromkeys(o for o in request.POST.getlist("order") if o))
    if not order_ids:
        messages.warning(request, _("Tick the cases to decide first."))
        return back
    found = {case.order_id: case for case in case_selectors.case_list(
        vendor_id=account.vendor_id).filter(order_id__in=order_ids)}
    still_waiting = [found[o] for o in order_ids
                     if o in found and found[o].state == CaseState.ON_HOLD]
    if not approve and request.POST.get("confirm") != "yes" and still_waiting:
        return _confirm_cancel(request, account, still_waiting,
                               action=reverse("web:portal-approvals"))
    done, refused = [], []
    for order_id in order_ids:
        case = found.get(order_id)
        if case is None:
            refused.append(_("Order %(order)s is not among your cases waiting for a decision.")
                           % {"order": order_id})
            continue
        why = _decide(request, case, approve=approve)
        if why:
            refused.append(why)
        else:
            done.append(order_id)
    if done:
        text = (ngettext("%(count)d case approved for collection: %(orders)s.",
                         "%(count)d cases approved for collection: %(orders)s.", len(done))
                if approve else
                ngettext("%(count)d case cancelled at your wish: %(orders)s.",
                         "%(count)d cases cancelled at your wish: %(orders)s.", len(done)))
        messages.success(request, text % {"count": len(done), "orders": ", ".join(done)})
    for text in refused:
        messages.error(request, text)
    return back


@access.portal_view
def portal_closed(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The history: the vendor's paid, cancelled and reordered cases, newest closing first."""
    return render(request, "web/portal_closed.html", {
        **_list(request, account, "abgeschlossene-faelle", CLOSED_COLUMNS),
        "section": "closed"})


@access.portal_view
def portal_letters(request: HttpRequest, account: VendorAccount) -> HttpResponse:
    """The letters sent to the vendor's buyers: date, level, amount, channel and status; never
    the buyer's address or e-mail."""
    context = _list(request, account, "briefe", LETTER_COLUMNS, letters=True)
    return render(request, "web/portal_letters.html", {
        **context, "section": "letters",
        "rows": [{"letter": letter, "label": dunning_selectors.letter_label(letter.level),
                  "amount": letter.principal + letter.fees + letter.interest,
                  "channel": portal_lists.letter_channel(letter),
                  "status": portal_lists.letter_status(letter)} for letter in context["page"]],
    })


@access.portal_view
def portal_export(request: HttpRequest, name: str, fmt: str, account: VendorAccount
                  ) -> HttpResponse:
    """One of the vendor's lists as CSV or XLSX, as its current filter shows it, logged with
    the orders it holds."""
    wanted = portal_lists.LISTS.get(name)
    if wanted is None or fmt not in portal_lists.FORMATS:
        raise Http404
    filters = wanted.filtered(account.vendor_id, request.GET)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect("web:portal")
    table = wanted.build(filters.qs)
    file_name = f"{wanted.stem}-{account.vendor_id}.{fmt}"
    content = portal_lists.as_csv(table) if fmt == "csv" else portal_lists.as_xlsx(table)
    return lists.download(request, name=file_name, content=content, order_ids=table.order_ids)
