"""Bankauszüge: the bank's statements (camt.053) read in the browser, and the credits that wait
for support (issue 11, point 3).

Upload a statement and "check" it (a dry run: the report of what the import would do, nothing
booked) or "read" it (booked at once, as ``mahnwerk import-bank-statement`` does). Below, the
credits that could not be matched, each to be assigned to a case or ignored with a reason, and
the surpluses to refund. The pages only parse the request and call ``banking.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mahnwerk.banking import selectors, services
from mahnwerk.banking.models import StatementLine
from mahnwerk.web import access
from mahnwerk.web.forms import BankAssignForm, BankStatementForm, ReasonForm
from mahnwerk.web.views.common import render_workspace

#: Lines shown on the page; the rest are named by their number.
SHOWN = 200


def _page(request: HttpRequest, *, form: BankStatementForm,
          report: services.ImportReport | None = None, status: int = 200) -> HttpResponse:
    open_lines = selectors.open_lines()
    refunds = selectors.refunds()
    return render_workspace(request, "web/bank.html", {
        "form": form, "report": report, "statements": selectors.recent_statements(),
        "open_lines": open_lines[:SHOWN], "open_count": open_lines.count(),
        "refunds": refunds[:SHOWN], "refund_count": refunds.count(),
        "summary": services.summary(report) if report and not report.already_imported else "",
    }, section="bank", status=status)


@access.workspace_view(permission=access.can_work)
def bank_page(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, form=BankStatementForm())
    form = BankStatementForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose the statement file."))
        return _page(request, form=form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > settings.MAHNWERK_IMPORT_MAX_BYTES:
        messages.error(request, _("The file is too large."))
        return _page(request, form=form, status=400)
    dry_run = "check" in request.POST
    try:
        report = services.import_statement(data=upload.read(), name=upload.name,
                                           actor=access.actor(request), dry_run=dry_run)
    except services.StatementError as exc:
        messages.error(request, str(exc))
        return _page(request, form=form, status=400)
    if report.already_imported:
        messages.info(request, _("%(file)s: statement %(statement)s of %(account)s was read "
                                 "before (%(earlier)s); nothing changed.")
                      % {"file": upload.name, "statement": report.statement_id,
                         "account": report.account, "earlier": report.statement.file_name})
        return redirect("web:bank")
    if dry_run:
        return _page(request, form=BankStatementForm(), report=report)
    messages.success(request, services.summary(report))
    return redirect("web:bank")


def _line_or_404(pk: int) -> StatementLine:
    line = StatementLine.objects.select_related("statement").filter(pk=pk).first()
    if line is None:
        raise Http404(_("There is no such booking."))
    return line


@require_POST
@access.workspace_view(permission=access.can_work)
def bank_line_assign(request: HttpRequest, pk: int) -> HttpResponse:
    line = _line_or_404(pk)
    form = BankAssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Name the order the credit belongs to."))
        return redirect("web:bank")
    try:
        services.assign_line(line=line, order_id=form.cleaned_data["order_id"],
                             note=form.cleaned_data["note"], actor=access.actor(request),
                             user=request.user)
    except services.BankError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Booking %(n)d of %(file)s booked on case %(order)s.")
                         % {"n": line.position, "file": line.statement.file_name,
                            "order": form.cleaned_data["order_id"]})
    return redirect("web:bank")


@require_POST
@access.workspace_view(permission=access.can_work)
def bank_line_ignore(request: HttpRequest, pk: int) -> HttpResponse:
    line = _line_or_404(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the booking is ignored."))
        return redirect("web:bank")
    try:
        services.ignore_line(line=line, note=form.cleaned_data["reason"],
                             actor=access.actor(request))
    except services.BankError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Booking %(n)d of %(file)s ignored.")
                         % {"n": line.position, "file": line.statement.file_name})
    return redirect("web:bank")


@require_POST
@access.workspace_view(permission=access.can_work)
def bank_line_refunded(request: HttpRequest, pk: int) -> HttpResponse:
    line = _line_or_404(pk)
    try:
        services.mark_refunded(line=line, note=request.POST.get("reason", "")[:500],
                               actor=access.actor(request))
    except services.BankError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The refund of booking %(n)d of %(file)s is recorded.")
                         % {"n": line.position, "file": line.statement.file_name})
    return redirect("web:bank")
