"""Collection in the workspace: "Warten auf Freigabe", the collection list, the handover files
and support's record of a vendor's decision (issue 4, items 2, 4 and 8).

The pages only parse input and call the collection app: ``selectors.approval_list`` and
``collection_list`` for the lists, ``spreadsheets`` for the XLSX files, ``export_handover`` for
the agency's file and ``approvals.decide_approval`` for a decision that reached support by mail
or chat (the same path as the portal, the signed links and ``mahnwerk case ORDER approve``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, npgettext
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log, bulk_actions
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import (
    approvals,
    economics,
    handover_format,
    reports,
    selectors,
    services,
    spreadsheets,
)
from mahnwerk.formats import format_day
from mahnwerk.intake.models import Vendor
from mahnwerk.web import access, reads
from mahnwerk.web.filters import (
    ApprovalFilterSet,
    CollectionFilterSet,
)
from mahnwerk.web.forms import (
    AgencyReportForm,
    ApprovalDecisionForm,
    BulkActionForm,
    HandoverCheckForm,
    HandoverExportForm,
    ReasonForm,
    VendorFilterForm,
)
from mahnwerk.web.models import SavedList
from mahnwerk.web.views import case_list, lists, saved_filters
from mahnwerk.web.views.common import case_or_404, page_of, render_workspace

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The columns of the collection list (``web.filters.COLLECTION_SORTS``).
COLLECTION_COLUMNS = [
    ("vendor", gettext_lazy("vendor"), ""),
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("buyer", gettext_lazy("buyer"), ""),
    ("product", gettext_lazy("product"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
    ("incasso", gettext_lazy("takeover by the agency"), "nowrap"),
    ("state", gettext_lazy("state"), "nowrap"),
    ("address", gettext_lazy("address"), ""),
]

#: A successful export lists at most this many held-back cases in its message.
HELD_BACK_SHOWN = 20


# -- Helpers -------------------------------------------------------------------------------------


def _vendor_filter(request: HttpRequest) -> tuple[VendorFilterForm, Vendor | None]:
    form = VendorFilterForm(request.GET or None)
    vendor = form.cleaned_data.get("vendor") if form.is_valid() else None
    return form, vendor


# -- "Warten auf Freigabe" -----------------------------------------------------------------------


#: *Freigaben*' columns (``web.filters.APPROVAL_SORTS``), in the order of the rows' cells.
APPROVAL_COLUMNS = [
    ("order_id", gettext_lazy("order id"), "nowrap"),
    ("vendor", gettext_lazy("vendor"), ""),
    ("buyer", gettext_lazy("buyer"), ""),
    ("open_amount", gettext_lazy("open amount"), "num"),
    ("product", gettext_lazy("product"), ""),
    ("first_letter", gettext_lazy("1st letter"), "nowrap"),
    ("second_letter", gettext_lazy("2nd letter"), "nowrap"),
    ("waiting", gettext_lazy("waiting since"), "nowrap"),
    ("asked", gettext_lazy("vendor asked"), ""),
    ("state", gettext_lazy("status"), ""),
]


def _approval_filters(data: QueryDict | None) -> ApprovalFilterSet:
    return ApprovalFilterSet(data or None,
                             queryset=selectors.with_waiting(selectors.approval_list()))


@access.workspace_view
def approval_list_page(request: HttpRequest) -> HttpResponse:
    """*Freigaben*: the filter, sorted by any column, page numbers and size, the count and the
    open amounts of the filter; a fixed number of queries per page (the request's stage and
    the waiting day are columns of the rows' query, ``selectors.with_waiting``)."""
    filters = _approval_filters(request.GET)
    cases = filters.qs
    context = lists.listing(request, cases, columns=APPROVAL_COLUMNS,
                            sort=filters.current_sort(),
                            totals=case_selectors.totals_by_currency(cases),
                            filterset=ApprovalFilterSet)
    context.update(saved_filters.context(request, SavedList.APPROVALS, context["query"]))
    today = timezone.localdate()
    rows = [(case, approvals.escalation_status(case=case),
             selectors.facts_of(case, today=today)) for case in context["page"]]
    return render_workspace(request, "web/approval_list.html", {
        **context, "filters": filters, "rows": rows,
        "here": request.get_full_path(),
        "reminder_days": settings.MAHNWERK_APPROVAL_REMINDER_DAYS,
        # Longer than a reminder and an escalation take: marked.
        "long_wait": settings.MAHNWERK_APPROVAL_REMINDER_DAYS
        + settings.MAHNWERK_APPROVAL_ESCALATION_DAYS,
    }, section="approvals")


def _approvals_export(request: HttpRequest, *, kind: str) -> HttpResponse:
    """*Freigaben*' current filter as CSV or XLSX (``freigaben-V42.xlsx`` for one vendor)."""
    filters = _approval_filters(request.GET)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect(reverse("web:approvals") + "?"
                        + lists.filter_query(request.GET, ApprovalFilterSet))
    cases = list(filters.qs)
    vendor = filters.form.cleaned_data.get("vendor") if filters.is_bound else None
    name = f"freigaben-{vendor.pk}.{kind}" if vendor else f"freigaben.{kind}"
    content = (spreadsheets.approval_list_csv(cases=cases) if kind == "csv"
               else spreadsheets.approval_list_xlsx(cases=cases))
    return lists.download(request, name=name, content=content,
                          order_ids=[case.order_id for case in cases])


def _back(request: HttpRequest) -> str:
    """Back to the list as it was (its filter and page), never to another site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("web:approvals")


@require_POST
@access.workspace_view(permission=access.can_work)
def approvals_ask(request: HttpRequest) -> HttpResponse:
    """Ask and remind the vendors now: the schedule's step (``ask_and_follow_up``)."""
    counts = approvals.ask_and_follow_up(actor=access.actor(request))
    if not any(counts.values()):
        messages.info(request, _("Nothing to do: every vendor with a waiting case was asked "
                                 "already, and no reminder or escalation is due yet."))
    else:
        messages.success(request, _("%(asked)s; %(reminded)s; %(escalated)s.") % {
            "asked": ngettext("%(count)d vendor asked about %(cases)s",
                              "%(count)d vendors asked about %(cases)s", counts["asked"])
            % {"count": counts["asked"],
               "cases": npgettext("vendors asked about", "%(count)d case", "%(count)d cases",
                                  counts["cases"]) % {"count": counts["cases"]}},
            "reminded": ngettext("%(count)d vendor reminded", "%(count)d vendors reminded",
                                 counts["reminded"]) % {"count": counts["reminded"]},
            "escalated": ngettext("%(count)d escalated to the relationship manager",
                                  "%(count)d escalated to the relationship manager",
                                  counts["escalated"]) % {"count": counts["escalated"]}})
    return redirect(_back(request))


@require_POST
@access.workspace_view(permission=access.can_record_decision)
def approvals_decide(request: HttpRequest) -> HttpResponse:
    """The vendor's word on one row (its own buttons and reason) or on the ticked rows (the
    bar above the list), recorded by support or the relationship manager. Cancelling asks
    once more, on a page of its own, before anything changes."""
    row = request.POST.get("row", "")
    if row:
        decision, _sep, order_id = row.partition(":")
        orders = [order_id]
        reason = request.POST.get(f"reason-{order_id}", "").strip()
    else:
        decision = request.POST.get("decision", "")
        orders = [order for order in request.POST.getlist("order") if order]
        reason = request.POST.get("reason", "").strip()
    if decision not in (approvals.APPROVE, approvals.CANCEL):
        messages.error(request, _("Choose approve or cancel."))
        return redirect(_back(request))
    if not row and request.POST.get("scope") == "filter":
        # Every case of the list's filter (the cancel's confirmation then names them all).
        filters = _approval_filters(QueryDict(request.POST.get("query", "")))
        if filters.is_bound and not filters.form.is_valid():
            messages.error(request, _("Please check the filter: nothing was changed."))
            return redirect(_back(request))
        orders = list(filters.qs.values_list("order_id", flat=True)[:bulk_actions.LIMIT + 1])
        if len(orders) > bulk_actions.LIMIT:
            messages.error(request, ngettext(
                "The filter holds more than %(limit)s case; decide on at most %(limit)s at a "
                "time. Narrow the filter.",
                "The filter holds more than %(limit)s cases; decide on at most %(limit)s at a "
                "time. Narrow the filter.", bulk_actions.LIMIT) % {"limit": bulk_actions.LIMIT})
            return redirect(_back(request))
    if not orders:
        messages.error(request, _("Tick the cases the vendor decided on first."))
        return redirect(_back(request))
    if not reason or len(reason) > 500:
        messages.error(request, _("Give a reason of at most 500 characters (where did the "
                                  "vendor's word come from, e.g. \"per WhatsApp-Gruppe\"); "
                                  "nothing was changed."))
        return redirect(_back(request))
    cases = list(DebtCase.objects.select_related("vendor", "order", "order__product")
                 .filter(order_id__in=orders).order_by("order_id"))
    found = {case.order_id for case in cases}
    gone = [order for order in orders if order not in found]
    approve = decision == approvals.APPROVE
    if not approve and request.POST.get("confirmed") != "yes":
        return render_workspace(request, "web/approval_confirm.html", {
            "cases": cases, "reason": reason, "next": _back(request), "gone": gone,
        }, section="approvals")
    outcome = approvals.decide_approvals(cases=cases, approve=approve,
                                         actor=access.actor(request), reason=reason,
                                         user=request.user)
    done = [order for order, refused in outcome.items() if refused is None]
    if done:
        text = (ngettext("%(count)d case approved for collection: %(orders)s.",
                         "%(count)d cases approved for collection: %(orders)s.", len(done))
                if approve else
                ngettext("%(count)d case cancelled at the vendor's wish: %(orders)s.",
                         "%(count)d cases cancelled at the vendor's wish: %(orders)s.",
                         len(done)))
        messages.success(request, text % {"count": len(done), "orders": ", ".join(done)})
    for refused in outcome.values():
        if refused:
            messages.warning(request, refused)
    for order in gone:
        messages.warning(request, _("There is no case for order %(order)s.") % {"order": order})
    return redirect(_back(request))


@access.workspace_view
def approvals_xlsx(request: HttpRequest) -> HttpResponse:
    return _approvals_export(request, kind="xlsx")


@access.workspace_view
def approvals_csv(request: HttpRequest) -> HttpResponse:
    return _approvals_export(request, kind="csv")


# -- "Inkasso" and the handover files ------------------------------------------------------------


def _collection_filters(data: QueryDict | None) -> CollectionFilterSet:
    """*Inkasso*'s filter over its cases, and those blocked on their way (to unblock them)."""
    cases = selectors.collection_list(with_blocked=True).alias(
        address_flag=Coalesce("invalid_address_override", "invalid_address_computed"))
    return CollectionFilterSet(data or None, queryset=cases)


@access.workspace_view
def collection_page(request: HttpRequest) -> HttpResponse:
    filters = _collection_filters(request.GET)
    cases = filters.qs
    context = lists.listing(request, cases, columns=COLLECTION_COLUMNS,
                            sort=filters.current_sort(),
                            totals=case_selectors.totals_by_currency(cases),
                            filterset=CollectionFilterSet)
    # Why a case owing less than its policy's minimum is not handed over, on its row.
    default, by_vendor = economics.handover_minimums()
    page = context["page"]
    page.object_list = list(page.object_list)
    for case in page.object_list:
        case.below_minimum = economics.below_handover_minimum(
            case=case, minimum=by_vendor.get(case.vendor_id, default))
    choices = case_list.bulk_choices(request)
    return render_workspace(request, "web/collection_list.html", {
        **context, "filters": filters,
        **saved_filters.context(request, SavedList.COLLECTION, context["query"]),
        "bulk_form": BulkActionForm(actions=choices) if choices else None,
        "bulk_url": reverse("web:collection-bulk"), "bulk_limit": bulk_actions.LIMIT,
        "vendor_counts": selectors.vendor_counts(
            cases=cases.exclude(state=CaseState.BLOCKED)),
        "partners": reads.active_partners(),
        "export_form": HandoverExportForm(prefix="other"),
    }, section="collection")


def _collection_export(request: HttpRequest, *, kind: str) -> HttpResponse:
    """*Inkasso*'s current filter as CSV or XLSX (``inkasso-V42.xlsx`` for one vendor)."""
    filters = _collection_filters(request.GET)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter."))
        return redirect("web:collection")
    cases = list(filters.qs)
    vendor = filters.form.cleaned_data.get("vendor") if filters.is_bound else None
    name = f"inkasso-{vendor.pk}.{kind}" if vendor else f"inkasso.{kind}"
    content = (spreadsheets.collection_list_csv(cases=cases) if kind == "csv"
               else spreadsheets.collection_list_xlsx(cases=cases))
    return lists.download(request, name=name, content=content,
                          order_ids=[case.order_id for case in cases])


@require_POST
@access.workspace_view(permission=access.can_note)
def collection_bulk(request: HttpRequest) -> HttpResponse:
    """A bulk action on *Inkasso*'s ticked cases or its whole filter: the same service and
    report as *Fälle*'s (``case_list.bulk``)."""
    return case_list.bulk(request, filtered=_collection_filters, filterset=CollectionFilterSet,
                          list_url=reverse("web:collection"), section="collection")


@access.workspace_view
def collection_xlsx(request: HttpRequest) -> HttpResponse:
    return _collection_export(request, kind="xlsx")


@access.workspace_view
def collection_csv(request: HttpRequest) -> HttpResponse:
    return _collection_export(request, kind="csv")


@require_POST
@access.workspace_view(permission=access.can_work)
def handover_export(request: HttpRequest) -> HttpResponse:
    """Write and keep the vendor's handover file; the approved cases go to the agency."""
    prefix = "other" if "other-vendor" in request.POST else None
    form = HandoverExportForm(request.POST, prefix=prefix)
    if not form.is_valid():
        messages.error(request, _("Choose a vendor (and a partner, if not the default one)."))
        return redirect("web:collection")
    vendor = form.cleaned_data["vendor"]
    try:
        result = services.export_handover(vendor_id=vendor.pk,
                                          partner=form.cleaned_data.get("partner"),
                                          actor=access.actor(request), user=request.user)
    except services.HandoverError as exc:
        messages.error(request, str(exc))
        return redirect("web:collection")
    handover = result.handover
    access_log.record(kind=AccessKind.EXPORT, target=handover.file_name, user=request.user,
                      order_ids=handover.items.values_list("case__order_id", flat=True),
                      via=request.path)
    messages.success(request, _("Handover file %(file)s written: %(rows)s, %(handed)s.") % {
        "file": handover.file_name,
        "rows": ngettext("%(count)d row", "%(count)d rows", handover.rows)
        % {"count": handover.rows},
        "handed": ngettext("%(count)d case handed over to %(partner)s",
                           "%(count)d cases handed over to %(partner)s", handover.handed_over)
        % {"count": handover.handed_over,
           "partner": handover.partner.name if handover.partner else "-"}})
    if result.held_back:
        shown = list(result.held_back.items())[:HELD_BACK_SHOWN]
        listed = "; ".join(f"{order}: {', '.join(problems)}" for order, problems in shown)
        if len(result.held_back) > len(shown):
            listed += " …"
        messages.warning(request, ngettext("%(count)d approved case stays back: %(cases)s",
                                           "%(count)d approved cases stay back: %(cases)s",
                                           len(result.held_back))
                         % {"count": len(result.held_back), "cases": listed})
    return redirect("web:handovers")


@access.workspace_view
def handover_list(request: HttpRequest) -> HttpResponse:
    form, vendor = _vendor_filter(request)
    return render_workspace(request, "web/handover_list.html", {
        "form": form, "vendor": vendor,
        "page": page_of(request, selectors.handovers(vendor_id=vendor.pk if vendor else None)),
        "reports": selectors.agency_reports(), "open_rows": selectors.open_report_rows(),
        "report_form": AgencyReportForm(),
    }, section="collection")


@access.workspace_view
def handover_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The file exactly as it was written and handed over."""
    handover = selectors.handover_file(pk=pk)
    if handover is None:
        raise Http404
    access_log.record(kind=AccessKind.EXPORT, target=handover.file_name, user=request.user,
                      order_ids=handover.items.values_list("case__order_id", flat=True),
                      via=request.path)
    response = HttpResponse(bytes(handover.content), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, handover.file_name)
    return response


# -- The vendor's decision, recorded by support --------------------------------------------------


@require_POST
@access.workspace_view(permission=access.can_record_decision)
def case_approval(request: HttpRequest, order_id: str) -> HttpResponse:
    case = case_or_404(order_id)
    form = ApprovalDecisionForm(request.POST, prefix="approval")
    if not form.is_valid():
        messages.error(request, _("Choose approve or cancel and give a reason."))
        return redirect("web:case", order_id=case.order_id)
    approve = form.cleaned_data["decision"] == approvals.APPROVE
    try:
        approvals.decide_approval(case=case, approve=approve, actor=access.actor(request),
                                  reason=form.cleaned_data["reason"], user=request.user)
    except approvals.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        done = (_("Case %(order)s approved for collection.") if approve
                else _("Case %(order)s cancelled at the vendor's wish."))
        messages.success(request, done % {"order": case.order_id})
    return redirect("web:case", order_id=case.order_id)


@require_POST
@access.workspace_view(permission=access.can_work)
def report_row_clear(request: HttpRequest, pk: int) -> HttpResponse:
    """Support dealt with a row of an agency report that could not be applied."""
    row = selectors.open_report_rows().filter(pk=pk).first()
    form = ReasonForm(request.POST)
    if row is None:
        messages.error(request, _("This row is not open any more."))
    elif not form.is_valid():
        messages.error(request, _("Say what was done about the row."))
    else:
        reports.clear_row(row=row, actor=access.actor(request), user=request.user,
                          note=form.cleaned_data["reason"])
        messages.success(request, _("Line %(line)d of %(file)s cleared.")
                         % {"line": row.line, "file": row.report.file_name})
    return redirect(reverse("web:handovers") + "#reports")


# -- Files support brings in: a handover file to check, the agency's report ------------------


@access.workspace_view
def handover_check(request: HttpRequest) -> HttpResponse:
    """The validator (``mahnwerk check-handover``) for a file made by hand: every problem
    with line, column, value and fix; "check and correct" downloads the corrected file when
    every fix is certain."""
    form = HandoverCheckForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        report = handover_format.check_bytes(upload.read(), name=upload.name,
                                             collect_fixed=True)
        if "fix" in request.POST and not report.ok:
            fixed = handover_format.fixed_file(report, name=upload.name)
            if fixed is not None:
                name, content = fixed
                response = HttpResponse(content, content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = content_disposition_header(True, name)
                return response
            messages.warning(request, ngettext(
                "Not corrected: %(count)d problem has no certain fix and needs a person (those "
                "without a fix below).",
                "Not corrected: %(count)d problems have no certain fix and need a person "
                "(those without a fix below).", len(report.uncertain))
                % {"count": len(report.uncertain)})
    return render_workspace(request, "web/handover_check.html", {
        "form": form, "report": report}, section="collection")


@require_POST
@access.workspace_view(permission=access.can_work)
def agency_report_upload(request: HttpRequest) -> HttpResponse:
    """Read the agency's monthly report (``mahnwerk import-agency-report``)."""
    form = AgencyReportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose the report file and the partner who sent it."))
        return redirect(reverse("web:handovers") + "#reports")
    upload = form.cleaned_data["file"]
    try:
        result = reports.import_report_data(data=upload.read(), name=upload.name,
                                            partner=form.cleaned_data["partner"],
                                            actor=access.actor(request))
    except reports.ReportError as exc:
        messages.error(request, str(exc))
    else:
        if result.already_imported:
            messages.info(request, _("%(file)s was read before (on %(date)s); nothing changed.")
                          % {"file": upload.name,
                             "date": format_day(result.report.created_at)})
        else:
            applied = ngettext("%(count)d row applied", "%(count)d rows applied",
                               result.applied) % {"count": result.applied}
            if result.problems:
                # Rows that need support are a warning, not a success (issue 10).
                refused = ngettext("%(count)d row could not be applied (listed below)",
                                   "%(count)d rows could not be applied (listed below)",
                                   len(result.problems)) % {"count": len(result.problems)}
                messages.warning(request, _("%(file)s: %(applied)s, %(refused)s.")
                                 % {"file": upload.name, "applied": applied,
                                    "refused": refused})
            else:
                messages.success(request, _("%(file)s: %(applied)s.")
                                 % {"file": upload.name, "applied": applied})
    return redirect(reverse("web:handovers") + "#reports")
