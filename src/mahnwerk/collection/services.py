"""Collection services: the check before handover and the handover file.

    export_handover   writes ``<vendor_id>.csv`` for a partner from the vendor's whole master
                      list; the approved cases routed to that partner (and, for vendors whose
                      agency sends the letters, the open cases that pass the exclusion check)
                      are handed over and move to sent_for_collection. The file is checked
                      against the contract before it is kept; a file that would break a rule
                      is refused, naming the case and the rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from mahnwerk.cases.models import DebtCase, EventKind
from mahnwerk.cases.services import CaseChange, change_cases
from mahnwerk.cases.states import CaseState
from mahnwerk.collection import selectors
from mahnwerk.collection.handover_format import check_bytes, format_row, write_csv
from mahnwerk.collection.models import CollectionPartner, Handover, HandoverItem, RoutingRule

#: The support team's own words for each state, as in the old lists ("status_support").
STATUS_SUPPORT = {
    CaseState.OPEN: "Offen",
    CaseState.DUNNING: "Laufend",
    CaseState.ON_HOLD: "Warten auf Freigabe",
    CaseState.APPROVED: "Freigabe",
    CaseState.SENT_FOR_COLLECTION: "Freigabe",
    CaseState.PAID: "Bezahlt",
    CaseState.CANCELED: "Storniert",
    CaseState.REOPENED: "Erneut bestellt",
    CaseState.BLOCKED: "Blockiert",
}


class HandoverError(Exception):
    """A handover file that may not be written; the message names the case and the rule."""


def handover_problems(*, case: DebtCase) -> list[str]:
    """What keeps a case from going to an agency (process.md section 5, § 13a RDG): the agency
    must be able to tell the debtor who the creditor is, what was bought and when, and the
    principal, fees and interest separately."""
    problems = []
    order = case.order
    complete = all((order.street, order.house_number, order.postcode, order.city))
    if not complete and not case.invalid_address:  # the flag tells the agency to search
        problems.append(_("the address is incomplete and not flagged invalid"))
    if case.open_amount <= 0:
        problems.append(_("nothing is open"))
    if case.vendor.dunning_by == "in_house":
        if not case.first_dunning_letter or not case.second_dunning_letter:
            problems.append(_("two letters are needed before collection"))
        elif case.second_dunning_letter < case.first_dunning_letter:
            problems.append(_("the letter dates are out of order"))
        if not case.letters.exists():
            problems.append(_("no letter on record with principal, fees and interest"))
    if not order.product.name or not order.created_at:
        problems.append(_("what was bought and when is unknown"))
    return problems


@dataclass(frozen=True)
class HandoverResult:
    handover: Handover
    handed_over: list[str]
    held_back: dict[str, list[str]]


def _default_partner() -> CollectionPartner:
    partner = CollectionPartner.objects.filter(kind="domestic", active=True).order_by("pk").first()
    if partner is None:
        raise HandoverError(_("No active domestic collection partner is set up."))
    return partner


def export_handover(*, vendor_id: str, actor: str, partner: CollectionPartner | None = None,
                    user: AbstractBaseUser | None = None) -> HandoverResult:
    """Write and keep the vendor's handover file for ``partner`` (default: the domestic one)."""
    partner = partner or _default_partner()
    rules = list(RoutingRule.objects.select_related("partner").filter(partner__active=True))
    cases = list(selectors.master_list(vendor_id=vendor_id))
    if not cases:
        raise HandoverError(_("Vendor %(vendor)s has no cases.") % {"vendor": vendor_id})
    agency_dunning = cases[0].vendor.dunning_by == "agency"
    to_hand_over: list[DebtCase] = []
    held_back: dict[str, list[str]] = {}
    for case in cases:
        wanted = case.state == CaseState.APPROVED or (
            agency_dunning and case.state in (CaseState.OPEN, CaseState.DUNNING)
            and not case.reopened)
        if not wanted or selectors.partner_for(case=case, rules=rules) != partner:
            continue
        problems = handover_problems(case=case)
        if problems:
            held_back[case.order_id] = problems
        else:
            to_hand_over.append(case)
    handing = {c.pk for c in to_hand_over}
    rows = []
    for case in cases:
        state = CaseState.SENT_FOR_COLLECTION if case.pk in handing else case.state
        shared = "; ".join(n.text for n in case.notes.all() if n.visibility == "shared")
        rows.append(format_row(
            vendor_id=case.vendor_id, order_id=case.order_id,
            first_dunning_letter=case.first_dunning_letter,
            second_dunning_letter=case.second_dunning_letter, incasso_date=case.incasso_date,
            support_comment=shared, status_support=STATUS_SUPPORT[state],
            offer_link=case.offer_link,
            incasso_state="sent_for_collection" if case.pk in handing else case.incasso_state,
            reopened=case.reopened, reopened_id=case.reopened_id,
            invalid_address=case.invalid_address))
    content = write_csv(rows)
    name = f"{vendor_id}.csv"
    report = check_bytes(content, name=name)
    if report.problems:
        first = report.problems[0]
        order = rows[first.line - 2][1] if first.line >= 2 else ""
        raise HandoverError(_("The file would break the contract for order %(order)s: "
                              "%(problem)s. Nothing was written or handed over.")
                            % {"order": order, "problem": first})
    with transaction.atomic():
        handover = Handover.objects.create(
            vendor_id=vendor_id, partner=partner, file_name=name, content=content,
            sha256=hashlib.sha256(content).hexdigest(), rows=len(rows),
            handed_over=len(to_hand_over), created_by=actor,
            user=user if user is not None and user.is_authenticated else None)
        HandoverItem.objects.bulk_create([
            HandoverItem(handover=handover, case=case, handed_over=case.pk in handing,
                         incasso_state=row[8]) for case, row in zip(cases, rows, strict=True)])
        change_cases(items=[CaseChange(
            case=case, kind=EventKind.COLLECTION, to_state=CaseState.SENT_FOR_COLLECTION,
            reason=_("Handed over to %(partner)s in %(file)s (export #%(export)d).")
            % {"partner": partner.name, "file": name, "export": handover.pk})
            for case in to_hand_over], actor=actor, user=user)
    return HandoverResult(handover=handover, handed_over=[c.order_id for c in to_hand_over],
                          held_back=held_back)
