"""The outbox: what is queued, sent or failed; the print queue; messages stuck in sending."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mahnwerk.dunning import delivery, dispatch, outbox
from mahnwerk.dunning.models import DeliveryStatus, OutboxMessage
from mahnwerk.web import access, reads
from mahnwerk.web.forms import OutboxFilterForm, ReleaseForm
from mahnwerk.web.views.common import page_of, render_workspace

#: The print queue shows this many letters at once (oldest first).
PRINT_ROWS = 200


@access.workspace_view
def outbox_page(request: HttpRequest) -> HttpResponse:
    form = OutboxFilterForm(request.GET or None)
    status = channel = ""
    if form.is_valid():
        status = form.cleaned_data.get("status") or ""
        channel = form.cleaned_data.get("channel") or ""
    counts = outbox.status_counts()
    queue = outbox.print_queue()
    return render_workspace(request, "web/outbox.html", {
        "form": form,
        "counts": [(DeliveryStatus(key), n) for key, n in counts.items()],
        "page": page_of(request, reads.outbox_messages(status=status, channel=channel)),
        "print_queue": queue[:PRINT_ROWS], "print_total": queue.count(),
        "stuck": outbox.stuck(), "release_form": ReleaseForm(),
    }, section="outbox")


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
