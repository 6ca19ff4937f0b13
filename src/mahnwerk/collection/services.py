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
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from mahnwerk import bulk
from mahnwerk.cases.models import CaseNote, DebtCase, EventKind, NoteVisibility
from mahnwerk.cases.services import CaseChange, change_cases
from mahnwerk.cases.states import INCASSO_STATE, CaseState
from mahnwerk.collection import selectors
from mahnwerk.collection.handover_format import check_bytes, format_row, write_csv
from mahnwerk.collection.models import CollectionPartner, Handover, HandoverItem
from mahnwerk.dunning.models import Letter

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


def handover_problems(*, case: DebtCase, has_letter: bool | None = None) -> list[str]:
    """What keeps a case from going to an agency (process.md section 5, § 13a RDG): the agency
    must be able to tell the debtor who the creditor is, what was bought and when, and the
    principal, fees and interest separately."""
    order = case.order
    return _problems(
        address_complete=all((order.street, order.house_number, order.postcode, order.city)),
        invalid_address=case.invalid_address, open_amount=case.open_amount,
        in_house=case.vendor.dunning_by == "in_house", first=case.first_dunning_letter,
        second=case.second_dunning_letter,
        has_letter=case.letters.exists() if has_letter is None else has_letter,
        bought=bool(order.product.name and order.created_at))


def _problems(*, address_complete: bool, invalid_address: bool, open_amount: Decimal,
              in_house: bool, first: date | None, second: date | None, has_letter: bool,
              bought: bool) -> list[str]:
    problems = []
    if not address_complete and not invalid_address:  # the flag tells the agency to search
        problems.append(_("the address is incomplete and not flagged invalid"))
    if open_amount <= 0:
        problems.append(_("nothing is open"))
    if in_house:
        if not first or not second:
            problems.append(_("two letters are needed before collection"))
        elif second < first:
            problems.append(_("the letter dates are out of order"))
        if not has_letter:
            problems.append(_("no letter on record with principal, fees and interest"))
    if not bought:
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


_MASTER_FIELDS = (
    "pk", "order_id", "vendor_id", "state", "trigger", "open_amount", "first_dunning_letter",
    "second_dunning_letter", "incasso_date", "offer_link", "reopened", "reopened_id",
    "invalid_address_computed", "invalid_address_override", "order__street",
    "order__house_number", "order__postcode", "order__city", "order__country",
    "order__product__name", "order__created_at", "vendor__dunning_by",
)


def export_handover(*, vendor_id: str, actor: str, partner: CollectionPartner | None = None,
                    user: AbstractBaseUser | None = None) -> HandoverResult:
    """Write and keep the vendor's handover file for ``partner`` (default: the domestic one).

    The master list is read as plain rows (one query, plus one for the shared notes and one
    for the letters), so that a vendor with 100,000 cases is exported in seconds."""
    partner = partner or _default_partner()
    rules = selectors.active_rules()
    cases = [dict(zip(_MASTER_FIELDS, row, strict=True)) for row in
             DebtCase.objects.filter(vendor_id=vendor_id).order_by("order_id")
             .values_list(*_MASTER_FIELDS)]
    if not cases:
        raise HandoverError(_("Vendor %(vendor)s has no cases.") % {"vendor": vendor_id})
    shared: dict[int, list[str]] = {}
    for case_id, text in (CaseNote.objects.filter(case__vendor_id=vendor_id,
                                                  visibility=NoteVisibility.SHARED)
                          .order_by("created_at", "id").values_list("case_id", "text")):
        shared.setdefault(case_id, []).append(text)
    lettered = set(Letter.objects.filter(case__vendor_id=vendor_id)
                   .values_list("case_id", flat=True).distinct())
    agency_dunning = cases[0]["vendor__dunning_by"] == "agency"
    handing: set[int] = set()
    held_back: dict[str, list[str]] = {}
    for c in cases:
        invalid = (c["invalid_address_override"] if c["invalid_address_override"] is not None
                   else c["invalid_address_computed"])
        c["invalid_address"] = invalid
        wanted = c["state"] == CaseState.APPROVED or (
            agency_dunning and c["state"] in (CaseState.OPEN, CaseState.DUNNING)
            and not c["reopened"])
        if not wanted or selectors.route(rules=rules, vendor_id=vendor_id,
                                         country=c["order__country"],
                                         trigger=c["trigger"]) != partner:
            continue
        problems = _problems(
            address_complete=all((c["order__street"], c["order__house_number"],
                                  c["order__postcode"], c["order__city"])),
            invalid_address=invalid, open_amount=c["open_amount"],
            in_house=not agency_dunning, first=c["first_dunning_letter"],
            second=c["second_dunning_letter"], has_letter=c["pk"] in lettered,
            bought=bool(c["order__product__name"] and c["order__created_at"]))
        if problems:
            held_back[c["order_id"]] = problems
        else:
            handing.add(c["pk"])
    rows = []
    for c in cases:
        handed = c["pk"] in handing
        state = CaseState.SENT_FOR_COLLECTION if handed else c["state"]
        rows.append(format_row(
            vendor_id=vendor_id, order_id=c["order_id"],
            first_dunning_letter=c["first_dunning_letter"],
            second_dunning_letter=c["second_dunning_letter"], incasso_date=c["incasso_date"],
            support_comment="; ".join(shared.get(c["pk"], [])),
            status_support=STATUS_SUPPORT[state], offer_link=c["offer_link"],
            incasso_state=INCASSO_STATE[state], reopened=c["reopened"],
            reopened_id=c["reopened_id"], invalid_address=c["invalid_address"]))
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
            handed_over=len(handing), created_by=actor,
            user=user if user is not None and user.is_authenticated else None)
        bulk.insert_rows(HandoverItem, [
            {"handover_id": handover.pk, "case_id": c["pk"], "handed_over": c["pk"] in handing,
             "incasso_state": row[8]} for c, row in zip(cases, rows, strict=True)])
        to_hand_over = list(DebtCase.objects.filter(pk__in=handing).order_by("order_id"))
        change_cases(items=[CaseChange(
            case=case, kind=EventKind.COLLECTION, to_state=CaseState.SENT_FOR_COLLECTION,
            reason=_("Handed over to %(partner)s in %(file)s (export #%(export)d).")
            % {"partner": partner.name, "file": name, "export": handover.pk})
            for case in to_hand_over], actor=actor, user=user)
    return HandoverResult(handover=handover, handed_over=[c.order_id for c in to_hand_over],
                          held_back=held_back)
