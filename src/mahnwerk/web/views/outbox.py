"""The outbox: what is queued, sent or failed; the print queue; messages stuck in sending."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log
from mahnwerk.cases.models import AccessKind
from mahnwerk.dunning import delivery, dispatch, letters, outbox
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning.models import DeliveryStatus, Letter, OutboxMessage
from mahnwerk.web import access, list_tables, portal_lists, reads
from mahnwerk.web.filters import OutboxFilterSet
from mahnwerk.web.forms import ConfirmSentForm, PrintAllForm, ReleaseForm
from mahnwerk.web.models import SavedList
from mahnwerk.web.views import lists, saved_filters
from mahnwerk.web.views.common import render_workspace

#: The columns of the outbox's messages (``web.filters.OUTBOX_SORTS``).
OUTBOX_COLUMNS = [
    ("order_id", gettext_lazy("case"), "nowrap"),
    ("level", gettext_lazy("letter"), "nowrap"),
    ("channel", gettext_lazy("channel"), ""),
    ("to", gettext_lazy("to"), ""),
    ("status", gettext_lazy("status"), ""),
    ("attempts", gettext_lazy("attempts"), "num"),
    ("error", gettext_lazy("last error"), ""),
    ("sent", gettext_lazy("sent"), "nowrap"),
]

#: The print queue shows this many letters at once (oldest first).
PRINT_ROWS = 200


def _filters(data: Any) -> OutboxFilterSet:
    return OutboxFilterSet(data or None, queryset=reads.outbox_messages())


@access.workspace_view
def outbox_page(request: HttpRequest) -> HttpResponse:
    filters = _filters(request.GET)
    messages_ = filters.qs
    # Each message is one letter: the letters' count and sum are the messages'.
    totals = dunning_selectors.letter_totals(
        Letter.objects.filter(pk__in=messages_.order_by().values("letter_id")))
    context = lists.listing(request, messages_, columns=OUTBOX_COLUMNS,
                            sort=filters.current_sort(), totals=totals,
                            filterset=OutboxFilterSet)
    counts = outbox.status_counts()
    return render_workspace(request, "web/outbox.html", {
        **context, "form": filters.form,
        **saved_filters.context(request, SavedList.OUTBOX, context["query"]),
        "counts": [(DeliveryStatus(key), n) for key, n in counts.items()],
        "print_queue": dunning_selectors.print_items(limit=PRINT_ROWS),
        "print_total": outbox.print_queue().count(),
        "print_overdue": len(dunning_selectors.print_overdue()),
        "print_form": PrintAllForm(),
        "stuck": outbox.stuck(), "release_form": ReleaseForm(),
        "confirm_form": ConfirmSentForm(),
    }, section="outbox")


@access.workspace_view
def outbox_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The outbox's messages of the current filter as CSV or XLSX."""
    if fmt not in portal_lists.FORMATS:
        raise Http404
    filters = _filters(request.GET)
    if filters.is_bound and not filters.form.is_valid():
        messages.error(request, _("Please check the filter: nothing was exported."))
        return redirect(reverse("web:outbox") + "?"
                        + lists.filter_query(request.GET, OutboxFilterSet))
    table = list_tables.outbox(filters.qs)
    content = portal_lists.as_csv(table) if fmt == "csv" else portal_lists.as_xlsx(table)
    return lists.download(request, name=f"ausgang.{fmt}", content=content,
                          order_ids=table.order_ids)


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


def _act_checked(request: HttpRequest, pk: int, form: type, refusal: str, action: Any,
                 done: str) -> HttpResponse:
    """A stuck message's action, only with its check ticked (the mail server's log read)."""
    _message_or_404(pk)  # an unknown message is a 404 before anything else
    if not form(request.POST).is_valid():
        messages.error(request, refusal)
        return redirect("web:outbox")
    return _act(request, pk, action, done)


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_release(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_checked(request, pk, ReleaseForm,
                        _("First check in the mail server's log that the message was "
                          "not delivered, and confirm it."), dispatch.release_stuck,
                        _("Letter %(level)d of case %(order)s is queued again."))


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_confirm_sent(request: HttpRequest, pk: int) -> HttpResponse:
    """The other half of "Queue again": the message was delivered before its worker died."""
    return _act_checked(request, pk, ConfirmSentForm,
                        _("First find the Message-ID in the mail server's log to make "
                          "sure it was delivered, and confirm it."), dispatch.confirm_stuck_sent,
                        _("Letter %(level)d of case %(order)s is recorded as sent."))


@require_POST
@access.workspace_view(permission=access.can_work)
def outbox_post(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, dispatch.send_by_post,
                _("Letter %(level)d of case %(order)s is in the print queue."))
