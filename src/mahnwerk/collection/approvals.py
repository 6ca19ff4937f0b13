"""The vendor's approval ("Freigabe") before a case goes to collection.

Escalated cases of vendors with collection_mode = approval wait in state on_hold. Each vendor
gets one request listing all its waiting cases, by e-mail with signed links (approve / cancel)
and in the vendor portal. No answer within ``MAHNWERK_APPROVAL_REMINDER_DAYS`` sends a reminder;
no answer ``MAHNWERK_APPROVAL_ESCALATION_DAYS`` after that escalates to the vendor's
relationship manager, who writes to the vendor's chat group (the escalation channel). Every step
is on the cases' timelines. Support records a decision that came by mail or chat with
``mahnwerk case ORDER approve|cancel --reason``: the same ``decide_approval`` as the portal and
the links.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk.cases import links
from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.services import CaseChange, CaseError, change_case, change_cases
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import reasons as why
from mahnwerk.collection import selectors
from mahnwerk.collection.models import ApprovalRequest
from mahnwerk.formats import format_day
from mahnwerk.intake.models import CollectionMode, Vendor
from mahnwerk.money import format_money
from mahnwerk.reasons import Reason

SALT = "mahnwerk.collection.approval"
APPROVE, CANCEL = "approve", "cancel"


class ApprovalError(Exception):
    """A decision that cannot be taken; the message says why, for the vendor or support."""


def decision_refusal(case: DebtCase) -> str | None:
    """Why the vendor's decision cannot be recorded on the case as it is now (None: it can);
    the case page offers the decision only when there is none."""
    if case.state == CaseState.BLOCKED:
        return (_("Order %(order)s was blocked by support in the meantime (%(reason)s); the "
                  "block wins and nothing was changed. Support will get in touch.")
                % {"order": case.order_id, "reason": case.block_reason})
    if case.state != CaseState.ON_HOLD:
        return _("Order %(order)s is no longer waiting for a decision (now: %(state)s).") % {
            "order": case.order_id, "state": case.get_state_display()}
    return None


def decide_approval(*, case: DebtCase, approve: bool, actor: str, reason: str = "",
                    user: AbstractBaseUser | None = None,
                    effective: date | datetime | None = None) -> None:
    """Approve a waiting case for collection, or cancel it at the vendor's wish.
    ``effective``: the day the vendor decided, when that was before it is recorded."""
    case.refresh_from_db()
    refused = decision_refusal(case)
    if refused:
        raise ApprovalError(refused)
    if approve:
        code = why.APPROVED_SAYING if reason else why.APPROVED
    else:
        code = why.CANCEL_REQUESTED_SAYING if reason else why.CANCEL_REQUESTED
    # The vendor's own words stay as they were written.
    params = {"who": actor, "reason": reason} if reason else {"who": actor}
    with transaction.atomic():
        change_case(case=case, actor=actor, user=user, kind=EventKind.COLLECTION,
                    to_state=CaseState.APPROVED if approve else CaseState.CANCELED,
                    reason=Reason(code, params), effective=effective)
        for request in case.approval_requests.filter(closed_at__isnull=True):
            if not request.cases.filter(state=CaseState.ON_HOLD).exists():
                request.closed_at = timezone.now()
                request.save(update_fields=["closed_at"])


# -- Signed links -----------------------------------------------------------------------------


def make_link_token(*, case: DebtCase, action: str) -> str:
    """A random code for the case and the action (``cases.links``): nothing of the case can be
    read from the link; valid ``MAHNWERK_APPROVAL_LINK_DAYS`` from today."""
    return links.issue(case=case, purpose=action)


@dataclass(frozen=True)
class LinkDecision:
    case: DebtCase
    action: str


def read_link_token(*, token: str, vendor_id: str | None = None) -> LinkDecision:
    """The case and action of a signed link; refuses a tampered, expired or used link and a
    link of another vendor (``vendor_id``: the logged-in vendor, if any)."""
    max_age = settings.MAHNWERK_APPROVAL_LINK_DAYS * 86400
    if links.looks_like_code(token):
        try:
            link = links.read(code=token, purposes=[APPROVE, CANCEL],
                              valid_days=settings.MAHNWERK_APPROVAL_LINK_DAYS)
        except links.LinkCodeError as exc:
            if exc.kind == "expired":
                raise ApprovalError(_("This link has expired. Please decide in the vendor "
                                      "portal or answer our e-mail.")) from None
            raise ApprovalError(_("This link is not valid. Please use it exactly as it was "
                                  "sent.")) from None
        data = {"case": link.case_id, "vendor": link.case.vendor_id, "action": link.purpose}
    else:
        data = _signed_link(token, max_age=max_age)
    case = DebtCase.objects.select_related("order", "vendor").filter(pk=data.get("case")).first()
    if case is None or case.vendor_id != data.get("vendor") or data.get("action") not in (
            APPROVE, CANCEL):
        raise ApprovalError(_("This link is not valid."))
    if vendor_id is not None and vendor_id != case.vendor_id:
        raise ApprovalError(_("This link belongs to another vendor."))
    if case.state != CaseState.ON_HOLD and case.state != CaseState.BLOCKED:
        raise ApprovalError(_("This link was used already: order %(order)s is %(state)s.")
                            % {"order": case.order_id, "state": case.get_state_display()})
    return LinkDecision(case=case, action=data["action"])


def link_is_known(*, token: str) -> bool:
    """Whether a link is one we sent (whatever its age or use): a forged or mangled one is
    not."""
    if links.looks_like_code(token):
        try:
            links.read(code=token, purposes=[APPROVE, CANCEL], valid_days=None)
        except links.LinkCodeError:
            return False
        return True
    try:
        signing.TimestampSigner(salt=SALT).unsign_object(token)
    except signing.BadSignature:
        return False
    return True


def _signed_link(token: str, *, max_age: int) -> dict:
    """A link sent before the codes: a signed token (Django's TimestampSigner)."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age)
    except signing.SignatureExpired:
        raise ApprovalError(_("This link has expired. Please decide in the vendor portal or "
                              "answer our e-mail.")) from None
    except signing.BadSignature:
        raise ApprovalError(_("This link is not valid. Please use it exactly as it was sent."
                              )) from None
    return data if isinstance(data, dict) else {}


def link_url(*, case: DebtCase, action: str) -> str:
    return (settings.MAHNWERK_SITE_URL.rstrip("/") + "/freigabe/"
            + make_link_token(case=case, action=action) + "/")


# -- Requests, reminders, escalation --------------------------------------------------------


def _mail_vendor(*, vendor: Vendor, cases: list[DebtCase], reminder: bool) -> None:
    lines = []
    for case in cases:
        lines.append(_("Order %(order)s, %(buyer)s, %(product)s, open %(amount)s\n"
                       "  approve: %(approve)s\n  cancel:  %(cancel)s") % {
            "order": case.order_id,
            "buyer": f"{case.order.buyer_first_name} {case.order.buyer_last_name}".strip(),
            "product": case.order.product.name,
            "amount": format_money(case.open_amount, case.currency),
            "approve": link_url(case=case, action=APPROVE),
            "cancel": link_url(case=case, action=CANCEL)})
    subject = (_("Reminder: approval for collection") if reminder
               else _("Your approval for collection"))
    body = _("Hello %(vendor)s,\n\nthese buyers received two dunning letters and did not pay. "
             "May we hand them to the collection agency? Please approve or cancel each order "
             "(also possible in the vendor portal: %(portal)s).\n\n%(cases)s\n") % {
        "vendor": vendor.name, "portal": settings.MAHNWERK_SITE_URL.rstrip("/") + "/portal/",
        "cases": "\n\n".join(lines)}
    transaction.on_commit(lambda: send_mail(subject, body, None, [vendor.email],
                                            fail_silently=False))


def request_approvals(*, actor: str, now: datetime | None = None,
                      effective: date | None = None) -> list[ApprovalRequest]:
    """Ask each vendor once about all its waiting cases that no open request lists yet.
    ``effective``: the business date of the cases' lines, when it is not today (the demo plays
    a month that lies in the past)."""
    now = now or timezone.now()
    asked = set(ApprovalRequest.objects.filter(closed_at__isnull=True)
                .values_list("cases", flat=True))
    by_vendor: dict[str, list[DebtCase]] = {}
    for case in selectors.approval_list().filter(vendor__collection_mode=CollectionMode.APPROVAL):
        if case.pk not in asked:
            by_vendor.setdefault(case.vendor_id, []).append(case)
    return [_ask(cases=cases, actor=actor, now=now, effective=effective)
            for cases in by_vendor.values()]


def _ask(*, cases: list[DebtCase], actor: str, now: datetime,
         effective: date | None = None) -> ApprovalRequest:
    """One request to the vendor of these cases (all of one vendor), on their timelines."""
    vendor = cases[0].vendor
    with transaction.atomic():
        request = ApprovalRequest.objects.create(vendor=vendor, sent_at=now)
        request.cases.add(*cases)
        change_cases(items=[CaseChange(
            case=case, kind=EventKind.COLLECTION, effective=effective,
            reason=Reason(why.APPROVAL_ASKED, {"vendor": vendor.name,
                                               "email": vendor.email}))
            for case in cases],
            actor=actor)
        _mail_vendor(vendor=vendor, cases=cases, reminder=False)
    return request


def ask_vendors_about(*, cases: Sequence[DebtCase], actor: str, now: datetime | None = None
                      ) -> dict[str, str | None]:
    """Ask the vendors now about these cases (a bulk action of the case list): one request
    per vendor, as ``request_approvals`` makes, for the cases waiting for approval that no
    open request lists yet. Returns, per order id, None (asked) or why the case was not."""
    now = now or timezone.now()
    pending = {case.pk: case for case in cases}
    asked = dict(ApprovalRequest.cases.through.objects.filter(
        debtcase_id__in=list(pending), approvalrequest__closed_at__isnull=True)
        .values_list("debtcase_id", "approvalrequest__sent_at"))
    outcome: dict[str, str | None] = {}
    by_vendor: dict[str, list[DebtCase]] = {}
    for case in cases:
        if case.state != CaseState.ON_HOLD:
            outcome[case.order_id] = _(
                "Case %(order)s is not waiting for the vendor's approval (now: %(state)s).") % {
                "order": case.order_id, "state": case.get_state_display()}
        elif case.vendor.collection_mode != CollectionMode.APPROVAL:
            outcome[case.order_id] = _(
                "Vendor %(vendor)s marks the orders to pursue itself (direct collection): it "
                "is not asked for approval.") % {"vendor": case.vendor.name}
        elif case.pk in asked:
            outcome[case.order_id] = _(
                "The vendor was asked about case %(order)s on %(date)s; reminder and "
                "escalation follow by themselves.") % {"order": case.order_id,
                                                       "date": format_day(asked[case.pk])}
        else:
            by_vendor.setdefault(case.vendor_id, []).append(case)
            outcome[case.order_id] = None
    for group in by_vendor.values():
        _ask(cases=group, actor=actor, now=now)
    return outcome


def follow_up_approvals(*, actor: str = "schedule", now: datetime | None = None
                        ) -> dict[str, int]:
    """Remind vendors who did not answer; then escalate to their relationship manager."""
    now = now or timezone.now()
    remind = timedelta(days=settings.MAHNWERK_APPROVAL_REMINDER_DAYS)
    escalate = timedelta(days=settings.MAHNWERK_APPROVAL_ESCALATION_DAYS)
    counts = {"reminded": 0, "escalated": 0}
    for request in ApprovalRequest.objects.filter(closed_at__isnull=True).select_related(
            "vendor"):
        waiting = list(request.cases.filter(state=CaseState.ON_HOLD)
                       .select_related("order", "order__product"))
        if not waiting:
            request.closed_at = now
            request.save(update_fields=["closed_at"])
            continue
        vendor = request.vendor
        if request.reminded_at is None and now - request.sent_at >= remind:
            with transaction.atomic():
                request.reminded_at = now
                request.save(update_fields=["reminded_at"])
                reason = Reason(why.APPROVAL_REMINDED, {"vendor": vendor.name})
                change_cases(items=[CaseChange(case=c, kind=EventKind.COLLECTION, reason=reason)
                                    for c in waiting], actor=actor)
                _mail_vendor(vendor=vendor, cases=waiting, reminder=True)
            counts["reminded"] += 1
        elif (request.reminded_at is not None and request.escalated_at is None
              and now - request.reminded_at >= escalate):
            with transaction.atomic():
                request.escalated_at = now
                request.save(update_fields=["escalated_at"])
                reason = Reason(why.APPROVAL_ESCALATED, {
                    "manager": vendor.relationship_manager or "",
                    "channel": vendor.escalation_channel or ""})
                change_cases(items=[CaseChange(case=c, kind=EventKind.COLLECTION, reason=reason)
                                    for c in waiting], actor=actor)
            counts["escalated"] += 1
    return counts


def escalation_status(*, case: DebtCase) -> str:
    """Column M of the old list: where the vendor's answer stands."""
    if hasattr(case, "asked_at"):  # read with the list (``selectors.with_waiting``)
        return request_status(vendor=case.vendor, asked_at=case.asked_at,
                              reminded_at=case.reminded_at, escalated_at=case.escalated_at)
    request = case.approval_requests.select_related("vendor").order_by("-sent_at").first()
    if request is None:
        return ""
    return request_status(vendor=request.vendor, asked_at=request.sent_at,
                          reminded_at=request.reminded_at, escalated_at=request.escalated_at)


def request_status(*, vendor: Vendor, asked_at: datetime | None,
                   reminded_at: datetime | None, escalated_at: datetime | None) -> str:
    """``escalation_status`` from the newest request's moments, read already for a whole page
    (``selectors.waiting_facts``): no query."""
    if asked_at is None:
        return ""
    if escalated_at:
        return _("escalated to %(manager)s (%(channel)s) on %(date)s") % {
            "manager": vendor.relationship_manager or "-",
            "channel": vendor.escalation_channel or "-",
            "date": format_day(escalated_at)}
    if reminded_at:
        return _("reminded on %(date)s") % {"date": format_day(reminded_at)}
    return _("asked on %(date)s") % {"date": format_day(asked_at)}


def ask_and_follow_up(*, actor: str, now: datetime | None = None) -> dict[str, int]:
    """The approval step of the schedule and of ``mahnwerk approvals``: new requests first,
    then reminders and escalations; returns what was done."""
    requests = request_approvals(actor=actor, now=now)
    counts = follow_up_approvals(actor=actor, now=now)
    return {"asked": len(requests), "cases": sum(r.cases.count() for r in requests), **counts}


# -- Several decisions at once (Freigaben in the workspace) -----------------------------------


def decide_approvals(*, cases: Sequence[DebtCase], approve: bool, actor: str, reason: str,
                     user: AbstractBaseUser | None = None) -> dict[str, str | None]:
    """The vendor's word on several waiting cases (a row or a selection of *Freigaben*): each
    case through ``decide_approval`` in its own transaction, so a case that cannot be decided
    (blocked meanwhile, decided already) holds back no other. Returns, per order id, None (done)
    or why not, in the words of the refusal."""
    outcome: dict[str, str | None] = {}
    for case in cases:
        try:
            decide_approval(case=case, approve=approve, actor=actor, reason=reason, user=user)
        except (ApprovalError, CaseError) as exc:
            outcome[case.order_id] = str(exc)
        else:
            outcome[case.order_id] = None
    return outcome
