"""Cases: one case with its timeline, notes and letters, and support's actions."""

from __future__ import annotations

import re
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from mahnwerk.cases import access_log
from mahnwerk.cases import actions as case_actions
from mahnwerk.cases import selectors as case_selectors
from mahnwerk.cases import services as case_services
from mahnwerk.cases.models import AccessKind, DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import approvals, economics
from mahnwerk.dunning import delivery, letters
from mahnwerk.dunning import selectors as dunning_selectors
from mahnwerk.dunning import services as dunning_services
from mahnwerk.dunning.models import Letter
from mahnwerk.intake.addresses import describe
from mahnwerk.money import format_money
from mahnwerk.web import access, reads
from mahnwerk.web.forms import (
    AddressFlagForm,
    ApprovalDecisionForm,
    NoteForm,
    ReasonForm,
)
from mahnwerk.web.views.common import case_or_404, render_workspace


@access.workspace_view
def case_detail(request: HttpRequest, order_id: str) -> HttpResponse:
    case = case_or_404(order_id)
    access_log.record(kind=AccessKind.CASE, target=case.order_id, order_ids=[case.order_id],
                      user=request.user, via=request.path)
    on_hold = case.state == CaseState.ON_HOLD
    policy = dunning_selectors.policy_for(vendor_id=case.vendor_id)
    prefetch_related_objects([policy], "levels")
    related, related_total = case_selectors.related_orders(case=case)
    case_letters = list(reads.letters_of(case=case))
    return render_workspace(request, "web/case_detail.html", {
        "case": case,
        # What can happen next: only the actions the case allows now (cases.actions, the
        # same refusals the services make).
        "offered": case_actions.offered(case),
        # What a run as of today would do with it, or what else comes next in its state.
        "next_decision": dunning_services.next_decision(case=case, policy=policy,
                                                        as_of=timezone.localdate()),
        "next_by_state": NEXT_BY_STATE.get(case.state, ""),
        # What each next step can be expected to bring, net of its costs (the observed
        # figures as kept for the Übersicht), and why it is not handed over if it owes less
        # than the policy's minimum.
        "estimates": economics.case_estimates(case=case),
        "below_minimum": economics.below_handover_minimum(
            case=case, minimum=policy.handover_minimum_amount),
        "withdrawable": approvals.withdrawal_refusal(case) is None,
        "on_hold": on_hold,
        "escalation": approvals.escalation_status(case=case) if on_hold else "",
        "approval_form": ApprovalDecisionForm(prefix="approval"),
        "timeline": case_selectors.timeline(case=case),
        "notes": case_selectors.notes(case=case),
        "letters": case_letters,
        "block_form": ReasonForm(prefix="block"),
        "unblock_form": ReasonForm(prefix="unblock"),
        "note_form": NoteForm(prefix="note"),
        # The letters the case may still get in this cycle, to preview (any number of
        # levels); none for a paid, blocked or grey case, and why.
        "levels": dunning_services.levels_to_preview(case=case, policy=policy,
                                                     letters=case_letters),
        "no_preview": dunning_services.preview_refusal(case=case),
        # Its letters waiting to be printed, and for how long (flagged when too long).
        "print_items": dunning_selectors.print_items(case_id=case.pk),
        # The order's debts and payments, and the buyer's other orders.
        "ledger": case_selectors.order_ledger(case=case),
        "related": related,
        "related_more": related_total - len(related),
        "reorder_has_case": _reorder_has_case(case, related),
        **_corrections(case),
    }, section="cases")


#: What comes next for a case no run looks at any more, by its state.
NEXT_BY_STATE = {
    CaseState.ON_HOLD: gettext_lazy("Waiting for the vendor's approval: the vendor approves or "
                                    "cancels in the portal or through the links of the approval "
                                    "e-mail; a decision that came by e-mail or chat is recorded "
                                    "here."),
    CaseState.APPROVED: gettext_lazy("Approved for collection: the vendor's next handover file "
                                     "(Collection) hands it over to the agency."),
    CaseState.SENT_FOR_COLLECTION: gettext_lazy("With the agency: its monthly report brings the "
                                                "takeover date and what it recovered."),
    CaseState.PAID: gettext_lazy("Paid: nothing more is done. A new debt of the order (a "
                                 "payment charged back) opens a new dunning cycle."),
    CaseState.CANCELED: gettext_lazy("Cancelled: nothing more is done. A payment that still "
                                     "comes in is recorded."),
    CaseState.REOPENED: gettext_lazy("Reordered: the buyer bought again, so the case is not "
                                     "pursued. If the new order is no reorder, undo the match "
                                     "below."),
    CaseState.BLOCKED: gettext_lazy("Blocked: no letter and no handover until it is "
                                    "unblocked."),
}


def _reorder_has_case(case: DebtCase, related: list[case_selectors.RelatedOrder]) -> bool:
    """Whether the new order of a reorder has a case of its own (to link to it)."""
    if not case.reopened_id:
        return False
    for order in related:
        if order.order_id == case.reopened_id:
            return order.case_state is not None
    return case_selectors.case_exists(order_id=case.reopened_id)


def _corrections(case: DebtCase) -> dict[str, object]:
    """What the case page shows and offers for the address flag and a reorder match."""
    known = case_selectors.newest_addresses(cases=[case]).get(case.pk)
    codes = [c for c in case.address_problems.split(",") if c]
    return {
        # The address the computed flag follows, when it is another order's.
        "known_address": known if known is not None and known.order_id != case.order_id
        else None,
        "address_problem_text": describe(codes, postcode=known.postcode, country=known.country)
        if known is not None else case.address_problem_text,
        # Paid or cancelled: nothing more is done with the case, so nothing is corrected
        # (cases.services.address_flag_refusal).
        "address_offered": any(case_actions.ACTIONS[name].refusal(case) is None
                               for name in ("address-valid", "address-invalid",
                                            "address-computed")),
        "address_form": AddressFlagForm(prefix="address").offer_for(
            override=case.invalid_address_override),
        "not_reordered_form": ReasonForm(prefix="not_reordered"),
    }


def _form_problem(form: forms.Form) -> str:
    """What is wrong with a posted form, in one line."""
    if "reason" in form.errors or "text" in form.errors:
        return _("Give a reason.")
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


def _case_action(request: HttpRequest, order_id: str, *,
                 form: ReasonForm | NoteForm | AddressFlagForm,
                 act: Callable[[DebtCase], object], done: str | Callable[[], str]
                 ) -> HttpResponse:
    case = case_or_404(order_id)
    seen = request.POST.get("seen_state", "")
    if not form.is_valid():
        messages.error(request, _form_problem(form))
    elif seen and seen != case.state:
        # Support decided on the page as it was shown; the case has moved on since.
        messages.error(request, str(case_services.changed_meanwhile(order_id=case.order_id,
                                                                    now=case.state)))
    else:
        try:
            act(case)
        except case_services.CaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, (done() if callable(done) else done)
                             % {"order": case.order_id})
    return redirect("web:case", order_id=case.order_id)


@require_POST
@access.workspace_view(permission=access.can_work)
def case_block(request: HttpRequest, order_id: str) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="block")
    return _case_action(
        request, order_id, form=form, done=_("Case %(order)s blocked."),
        act=lambda case: case_services.block_case(
            case=case, reason=form.cleaned_data["reason"], actor=access.actor(request),
            user=request.user))


@require_POST
@access.workspace_view(permission=access.can_work)
def case_unblock(request: HttpRequest, order_id: str) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="unblock")
    return _case_action(
        request, order_id, form=form, done=_("Case %(order)s unblocked."),
        act=lambda case: case_services.unblock_case(
            case=case, reason=form.cleaned_data["reason"], actor=access.actor(request),
            user=request.user))


@require_POST
@access.workspace_view(permission=access.can_note)
def case_note(request: HttpRequest, order_id: str) -> HttpResponse:
    form = NoteForm(request.POST, prefix="note")
    return _case_action(
        request, order_id, form=form, done=_("Note added to case %(order)s."),
        act=lambda case: case_services.add_note(
            case=case, text=form.cleaned_data["text"], shared=form.cleaned_data["shared"],
            actor=access.actor(request), user=request.user))


_ADDRESS_DONE = {
    True: gettext_lazy("Address of case %(order)s set invalid by hand."),
    False: gettext_lazy("Address of case %(order)s set valid by hand."),
    None: gettext_lazy("The address flag of case %(order)s follows the buyer's address again."),
}


@require_POST
@access.workspace_view(permission=access.can_work)
def case_address(request: HttpRequest, order_id: str) -> HttpResponse:
    form = AddressFlagForm(request.POST, prefix="address")
    return _case_action(
        request, order_id, form=form, done=lambda: str(_ADDRESS_DONE[form.value()]),
        act=lambda case: case_services.set_invalid_address(
            case=case, value=form.value(), reason=form.cleaned_data["reason"],
            actor=access.actor(request), user=request.user))


@require_POST
@access.workspace_view(permission=access.can_work)
def case_not_reordered(request: HttpRequest, order_id: str) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="not_reordered")
    return _case_action(
        request, order_id, form=form,
        done=_("Reorder match of case %(order)s undone; the case is pursued again."),
        act=lambda case: case_services.override_reorder(
            case=case, reason=form.cleaned_data["reason"], actor=access.actor(request),
            user=request.user))


# -- Letters -------------------------------------------------------------------------------------


def _preview(case: DebtCase, level: int) -> letters.ComposedLetter:
    """The case's letter of one of its policy's levels; a level the policy lacks is a 404."""
    refused = dunning_services.preview_refusal(case=case)
    if refused:
        raise _NoPreview(refused)
    try:
        return letters.preview(case=case, level=level, letter_date=timezone.localdate(),
                               policy=dunning_selectors.policy_for(vendor_id=case.vendor_id))
    except letters.NoSuchLevel:
        raise Http404 from None


def _pdf(content: bytes, filename: str, *, download: bool) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


class _NoPreview(Exception):
    """The case gets no letter (``dunning.services.preview_refusal``): there is none to
    preview."""


@access.workspace_view
def letter_preview(request: HttpRequest, order_id: str, level: int) -> HttpResponse:
    case = case_or_404(order_id)
    try:
        composed = _preview(case, level)
    except _NoPreview as exc:
        messages.warning(request, str(exc))
        return redirect("web:case", order_id=case.order_id)
    _logged(request, case)
    return render_workspace(request, "web/letter.html", {
        "case": case, "composed": composed, "preview": True, "level": level,
    }, section="cases")


@access.workspace_view
def letter_preview_pdf(request: HttpRequest, order_id: str, level: int) -> HttpResponse:
    case = case_or_404(order_id)
    try:
        composed = _preview(case, level)
    except _NoPreview as exc:
        messages.warning(request, str(exc))
        return redirect("web:case", order_id=case.order_id)
    _logged(request, case)
    try:
        content = letters.preview_pdf(composed, case)
    except letters.LetterPdfError as exc:
        messages.error(request, _("The PDF could not be made: %(error)s") % {"error": exc})
        return redirect("web:letter-preview", order_id=case.order_id, level=level)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", case.order_id)
    return _pdf(content, f"Vorschau-Mahnung-{safe}-{level}.pdf", download=True)


def _letter_or_404(request: HttpRequest, pk: int) -> Letter:
    try:
        letter = reads.letter(pk=pk)
    except Letter.DoesNotExist:
        raise Http404 from None
    _logged(request, letter.case)
    return letter


def _logged(request: HttpRequest, case: DebtCase) -> None:
    """A letter (or its preview) shows the buyer's name and address: an access."""
    access_log.record(kind=AccessKind.LETTER, target=case.order_id, order_ids=[case.order_id],
                      user=request.user, via=request.path)


@access.workspace_view
def letter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter_or_404(request, pk)
    return render_workspace(request, "web/letter.html", {
        "case": letter.case, "composed": letter, "letter": letter, "level": letter.level,
        "preview": False,
    }, section="cases")


@access.workspace_view
def letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter_or_404(request, pk)
    try:
        content = letters.render_pdf(letter)
    except letters.LetterPdfError as exc:
        messages.error(request, _("The PDF could not be made: %(error)s") % {"error": exc})
        return redirect("web:letter", pk=letter.pk)
    return _pdf(content, delivery.attachment_name(letter),
                download=request.GET.get("download") == "1")


@require_POST
@access.workspace_view(permission=access.can_record_decision)
def case_withdraw(request: HttpRequest, order_id: str) -> HttpResponse:
    """The vendor wants a case back that is already with the agency: first a page that asks
    once more and names the agency's withdrawal fee, then (``confirm``) the withdrawal."""
    case = case_or_404(order_id)
    refused = approvals.withdrawal_refusal(case)
    if refused:
        messages.error(request, refused)
        return redirect("web:case", order_id=case.order_id)
    reason = request.POST.get("reason", "").strip()[:500]
    if request.POST.get("confirm") != "yes":
        partner, fee = approvals.withdrawal_fee(case)
        return render_workspace(request, "web/withdraw_confirm.html", {
            "cases": [case], "partner": partner, "fee": fee, "reason": reason,
            "action": reverse("web:case-withdraw", args=[case.order_id]),
            "back": reverse("web:case", args=[case.order_id]),
        }, section="cases")
    try:
        fee = approvals.withdraw_from_agency(case=case, actor=access.actor(request),
                                             reason=reason, user=request.user)
    except approvals.ApprovalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Case %(order)s withdrawn from the agency; the withdrawal "
                                    "fee is %(fee)s.") % {
            "order": case.order_id, "fee": format_money(fee, case.currency)})
    return redirect("web:case", order_id=case.order_id)
