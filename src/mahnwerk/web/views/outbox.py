"""The outbox: what is queued, sent or failed; the print queue; messages stuck in sending."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.dunning import delivery, dispatch, letters, outbox
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning.models import DeliveryStatus, OutboxMessage
from mahnwerk.web import access, reads
from mahnwerk.web.filters import PAGE_SIZES, OutboxFilterSet
from mahnwerk.web.forms import PrintAllForm, ReleaseForm
from mahnwerk.web.views import lists
from mahnwerk.web.views.common import render_workspace

#: The columns of the outbox's messages (``web.filters.OUTBOX_SORTS``).
OUTBOX_COLUMNS = [
    ("order_id", gettext_lazy("case"), "nowrap"),
    ("level", gettext_lazy("letter"), "nowrap"),
    ("channel", gettext_lazy("channel"), ""),
    ("", gettext_lazy("to"), ""),
    ("status", gettext_lazy("status"), ""),
    ("attempts", gettext_lazy("attempts"), "num"),
    ("", gettext_lazy("last error"), ""),
    ("sent", gettext_lazy("sent"), "nowrap"),
]

#: The print queue shows this many letters at once (oldest first).
PRINT_ROWS = 200


@access.workspace_view
def outbox_page(request: HttpRequest) -> HttpResponse:
    filters = OutboxFilterSet(request.GET or None, queryset=reads.outbox_messages())
    counts = outbox.status_counts()
    per_page = lists.page_size(request)
    page = Paginator(filters.qs, per_page).get_page(request.GET.get("page"))
    return render_workspace(request, "web/outbox.html", {
        "form": filters.form,
        "counts": [(DeliveryStatus(key), n) for key, n in counts.items()],
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2,
                                                            on_ends=1),
        "per_page": per_page, "page_sizes": PAGE_SIZES,
        "headers": lists.sort_headers(request, OUTBOX_COLUMNS, filters.current_sort()),
        "print_queue": dunning_selectors.print_items(limit=PRINT_ROWS),
        "print_total": outbox.print_queue().count(),
        "print_overdue": len(dunning_selectors.print_overdue()),
        "print_form": PrintAllForm(),
        "stuck": outbox.stuck(), "release_form": ReleaseForm(),
    }, section="outbox")


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_print_all(request: HttpRequest) -> HttpResponse:
    """Every letter of the print queue in one PDF to download, marked posted on the day given;
    a refusal comes back as the page's message and nothing is marked."""
    form = PrintAllForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values()
                                         for e in errors))
        return redirect("web:outbox")
    on = form.cleaned_data["on"]
    made: list[bytes] = []
    try:
        posted = dispatch.print_and_post(on=on, actor=access.actor(request), save=made.append)
    except (outbox.OutboxError, letters.LetterPdfError) as exc:
        messages.error(request, str(exc))
        return redirect("web:outbox")
    if not posted:
        messages.info(request, _("Nothing to print."))
        return redirect("web:outbox")
    messages.success(request, ngettext(
        "%(count)d letter printed into one PDF and marked posted on %(date)s.",
        "%(count)d letters printed into one PDF and marked posted on %(date)s.",
        len(posted)) % {"count": len(posted), "date": date_format(on, "SHORT_DATE_FORMAT")})
    name = f"Mahnungen-Druck-{on:%Y-%m-%d}.pdf"
    access_log.record(kind=AccessKind.EXPORT, target=name, user=request.user,
                      order_ids=dunning_selectors.order_ids_of(messages=posted),
                      via=request.path)
    response = HttpResponse(made[0], content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_deliver(request: HttpRequest) -> HttpResponse:
    counts = delivery.deliver_due()
    messages.success(request, _("Delivery done: %(sent)d sent, %(retry)d to retry, "
                                "%(failed)d failed.") % counts)
    return redirect("web:outbox")


def _message_or_404(pk: int) -> OutboxMessage:
    try:
        return reads.outbox_message(pk=pk)
    except OutboxMessage.DoesNotExist:
        raise Http404 from None


def _act(request: HttpRequest, pk: int, action: Callable[..., None], done: str) -> HttpResponse:
    """Run one outbox service on a message; its refusal or ``done`` (with the letter's level
    and the case's order id) as the page's message."""
    message = _message_or_404(pk)
    try:
        action(message=message, actor=access.actor(request))
    except outbox.OutboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done % {"level": message.letter.level,
                                          "order": message.case.order_id})
    return redirect("web:outbox")


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_printed(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, dispatch.mark_printed,
                _("Letter %(level)d of case %(order)s marked printed."))


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_release(request: HttpRequest, pk: int) -> HttpResponse:
    _message_or_404(pk)  # an unknown message is a 404 before anything else
    if not ReleaseForm(request.POST).is_valid():
        messages.error(request, _("First check in the mail server's log that the message was "
                                  "not delivered, and confirm it."))
        return redirect("web:outbox")
    return _act(request, pk, dispatch.release_stuck,
                _("Letter %(level)d of case %(order)s is queued again."))


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_post(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, dispatch.send_by_post,
                _("Letter %(level)d of case %(order)s is in the print queue."))
