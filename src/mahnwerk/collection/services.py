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
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk import bulk
from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase, EventKind, NoteVisibility
from mahnwerk.cases.services import CaseChange, change_cases
from mahnwerk.cases.states import INCASSO_STATE, CaseState
from mahnwerk.collection import reasons as why
from mahnwerk.collection import selectors
from mahnwerk.collection.handover_format import (
    check_bytes,
    field_record,
    format_date,
    protect,
    write_csv,
)
from mahnwerk.collection.models import CollectionPartner, Handover, HandoverItem
from mahnwerk.dunning.models import Letter
from mahnwerk.dunning.selectors import policy_for
from mahnwerk.intake.models import DunningBy, Vendor
from mahnwerk.money import format_money
from mahnwerk.reasons import Reason, money_param

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


def _address_complete(*parts: str, computed_invalid: bool) -> bool:
    """The order's address is complete, or the buyer's newest known address is: the computed
    flag follows that one (``cases.selectors.newest_addresses``), so a case whose buyer
    corrected the address on a later order is not held back as incomplete."""
    return all(parts) or not computed_invalid


def _problems(*, address_complete: bool, invalid_address: bool, open_amount: Decimal,
              in_house: bool, first: date | None, second: date | None, has_letter: bool,
              bought: bool) -> list[str]:
    """What keeps a case from going to an agency (process.md section 5, § 13a RDG): the agency
    must be able to tell the debtor who the creditor is, what was bought and when, and the
    principal, fees and interest separately."""
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


#: The master list's columns: the case's own, read for every case with one plain query.
_MASTER_FIELDS = (
    "pk", "order_id", "state", "first_dunning_letter", "second_dunning_letter", "incasso_date",
    "offer_link", "reopened", "reopened_id", "invalid_address_computed",
    "invalid_address_override",
)
(_PK, _ORDER, _STATE, _FIRST, _SECOND, _TAKEN, _LINK, _REOPENED, _REOPENED_ID, _INVALID,
 _OVERRIDE) = range(len(_MASTER_FIELDS))
#: What the check before handover needs besides: only read for the cases that may go.
_CHECK_FIELDS = (
    "pk", "trigger", "open_amount", "order__street", "order__house_number", "order__postcode",
    "order__city", "order__country", "order__product__name", "order__created_at", "currency",
)


def _plain_rows(query: QuerySet) -> list[tuple]:
    """A ``values_list`` query's rows as the database driver returns them, without Django's
    per-value converters (they cost seconds on 100,000 rows). Values are of the column's
    Python type on PostgreSQL and on SQLite (whose driver converts declared types), except
    that a SQLite boolean may come as 0/1; read them as truth values."""
    sql, params = query.query.get_compiler(using=query.db).as_sql()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _shared_notes(vendor_id: str) -> dict[int, str]:
    """Each case's shared notes joined with "; ", oldest first (internal notes never leave)."""
    texts: dict[int, list[str]] = {}
    for case_id, text in (CaseNote.objects.filter(case__vendor_id=vendor_id,
                                                  visibility=NoteVisibility.SHARED)
                          .order_by("case_id", "created_at", "id")
                          .values_list("case_id", "text")):
        texts.setdefault(case_id, []).append(text)
    return {case_id: "; ".join(parts) for case_id, parts in texts.items()}


def _date(value: object) -> date | None:
    """A date column's raw value (ISO text or ``date``) as a date."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]


def export_handover(*, vendor_id: str, actor: str, partner: CollectionPartner | None = None,
                    user: AbstractBaseUser | None = None,
                    effective: date | None = None) -> HandoverResult:
    """Write and keep the vendor's handover file for ``partner`` (default: the domestic one).

    The master list is read as plain rows: one query for every case's own columns, one for the
    shared notes, and one joining order, product and letters for the cases that may go (so a
    vendor with 100,000 cases is exported in under two seconds on SQLite). The cases to hand
    over are read again, locked, inside the transaction that moves them through
    ``change_cases`` (an event each): one that changed state meanwhile refuses the export
    instead of being moved on a stale reading. ``effective``: the business date of the cases'
    lines, when it is not today (the demo plays a month that lies in the past)."""
    partner = partner or _default_partner()
    rules = selectors.active_rules()
    cases = _plain_rows(DebtCase.objects.filter(vendor_id=vendor_id).order_by("order_id")
                        .values_list(*_MASTER_FIELDS))
    if not cases:
        raise HandoverError(_("Vendor %(vendor)s has no cases.") % {"vendor": vendor_id})
    shared = _shared_notes(vendor_id)
    agency_dunning = Vendor.objects.filter(pk=vendor_id).values_list(
        "dunning_by", flat=True).first() == DunningBy.AGENCY
    wanted_states = [CaseState.APPROVED]
    if agency_dunning:
        wanted_states += [CaseState.OPEN, CaseState.DUNNING]
    details = {row[0]: row for row in _plain_rows(
        DebtCase.objects.filter(vendor_id=vendor_id, state__in=wanted_states)
        # A letter of the case's current cycle that left (a withdrawn one, one still waiting or
        # one of a settled earlier debt does not count).
        .annotate(lettered=Exists(Letter.objects.filter(
            case_id=OuterRef("pk"), cycle=OuterRef("cycle"), withdrawn_at__isnull=True,
            dispatched_on__isnull=False)))
        .values_list(*_CHECK_FIELDS, "lettered"))}
    handing: dict[int, str] = {}  # pk -> the state the case was read in
    minimum = policy_for(vendor_id=vendor_id).handover_minimum_amount
    below: list[int] = []  # cases held back because they owe less than the policy's minimum
    held_back: dict[str, list[str]] = {}
    routed: dict[tuple[str, str], bool] = {}  # (country, trigger): goes to this partner?
    for c in cases:
        d = details.get(c[_PK])
        if d is None:  # not in a state to go (or it changed between the two readings)
            continue
        state = c[_STATE]
        if state not in wanted_states or (state != CaseState.APPROVED and c[_REOPENED]):
            continue
        (_pk, trigger, open_amount, street, house_number, postcode, city, country, product,
         bought, currency, has_letter) = d
        ours = routed.get((country, trigger))
        if ours is None:
            ours = routed[country, trigger] = selectors.route(
                rules=rules, vendor_id=vendor_id, country=country, trigger=trigger) == partner
        if not ours:
            continue
        problems = _problems(
            address_complete=_address_complete(street, house_number, postcode, city,
                                               computed_invalid=c[_INVALID]),
            invalid_address=_invalid_address(c), open_amount=Decimal(str(open_amount)),
            in_house=not agency_dunning, first=_date(c[_FIRST]), second=_date(c[_SECOND]),
            has_letter=bool(has_letter), bought=bool(product and bought))
        if minimum and Decimal(str(open_amount)) < minimum:
            problems.append(_("the open amount is below the policy's minimum for the agency "
                              "(%(minimum)s)") % {"minimum": format_money(minimum, currency)})
            below.append(c[_PK])
        if problems:
            held_back[c[_ORDER]] = problems
        else:
            handing[c[_PK]] = state
    rows = _file_rows(vendor_id, cases, handing, shared)
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
        to_hand_over = _lock_unchanged(vendor_id, handing)
        handover = Handover.objects.create(
            vendor_id=vendor_id, partner=partner, file_name=name, content=content,
            sha256=hashlib.sha256(content).hexdigest(), rows=len(rows),
            handed_over=len(handing), created_by=actor, fields=field_record(),
            user=user if user is not None and user.is_authenticated else None)
        bulk.insert_rows(HandoverItem, [
            {"handover_id": handover.pk, "case_id": c[_PK], "handed_over": c[_PK] in handing,
             "incasso_state": row[8]} for c, row in zip(cases, rows, strict=True)])
        reason = Reason(why.HANDED_OVER, {"partner": partner.name, "file": name,
                                          "export": handover.pk})
        change_cases(items=[CaseChange(case=case, kind=EventKind.COLLECTION,
                                       to_state=CaseState.SENT_FOR_COLLECTION, reason=reason,
                                       effective=effective)
                            for case in to_hand_over], actor=actor, user=user)
        note_below_minimum(case_ids=below, minimum=minimum, actor=actor, user=user,
                           effective=effective)
    return HandoverResult(handover=handover, handed_over=[c.order_id for c in to_hand_over],
                          held_back=held_back)


def note_below_minimum(*, case_ids: list[int], minimum: Decimal, actor: str,
                       user: AbstractBaseUser | None = None,
                       effective: date | None = None) -> int:
    """Write on each case held back for owing less than the policy's minimum why it was not
    handed over: once per dunning cycle (a later export does not repeat it)."""
    if not case_ids:
        return 0
    noted = CaseEvent.objects.filter(
        case_id=OuterRef("pk"), code=why.BELOW_HANDOVER_MINIMUM,
        at__gte=Coalesce(OuterRef("cycle_started_at"), OuterRef("opened_at")))
    cases = list(DebtCase.objects.filter(pk__in=case_ids).exclude(Exists(noted)))
    return change_cases(items=[CaseChange(
        case=case, kind=EventKind.COLLECTION, effective=effective,
        reason=Reason(why.BELOW_HANDOVER_MINIMUM, {
            "amount": money_param(case.open_amount, case.currency),
            "minimum": money_param(minimum, case.currency)})) for case in cases],
        actor=actor, user=user)


def _invalid_address(c: tuple) -> bool:
    """``DebtCase.invalid_address`` of a master-list row: support's word over the computed."""
    return bool(c[_INVALID] if c[_OVERRIDE] is None else c[_OVERRIDE])


class _USDates(dict):
    """A date column's raw value -> MM/DD/YYYY, each distinct date formatted once."""

    def __missing__(self, value: object) -> str:
        text = self[value] = format_date(_date(value))
        return text


def _file_rows(vendor_id: str, cases: list[tuple], handing: dict[int, str],
               shared: dict[int, str]) -> list[list[str]]:
    """The file's rows, as ``format_row`` writes them, without a call per cell: dates repeat,
    so each is formatted once; the support status is protected once per state."""
    us = _USDates()
    status = {state: protect(text) for state, text in STATUS_SUPPORT.items()}
    sent = CaseState.SENT_FOR_COLLECTION
    return [[
        vendor_id, c[_ORDER], us[c[_FIRST]], us[c[_SECOND]], us[c[_TAKEN]],
        protect(shared[c[_PK]]) if c[_PK] in shared else "",
        status[sent if c[_PK] in handing else c[_STATE]], c[_LINK] or "",
        INCASSO_STATE[sent if c[_PK] in handing else c[_STATE]],
        "True" if c[_REOPENED] else "False", c[_REOPENED_ID] or "",
        "True" if _invalid_address(c) else "False",
    ] for c in cases]


def _lock_unchanged(vendor_id: str, handing: dict[int, str]) -> list[DebtCase]:
    """The cases to hand over, locked until the transaction ends, in order-id order; refused
    (HandoverError) if any of them changed state since the master list was read."""
    if not handing:
        return []
    current = list(DebtCase.objects.select_for_update().filter(
        vendor_id=vendor_id, state__in=set(handing.values())).order_by("order_id")
        .only("pk", "order_id", "state"))
    to_hand_over = [case for case in current if handing.get(case.pk) == case.state]
    if len(to_hand_over) != len(handing):
        changed = len(handing) - len(to_hand_over)
        raise HandoverError(ngettext(
            "%(count)d case changed while the file was being written. Nothing was written or "
            "handed over; export again.",
            "%(count)d cases changed while the file was being written. Nothing was written or "
            "handed over; export again.", changed) % {"count": changed})
    return to_hand_over
