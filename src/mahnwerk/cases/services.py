"""Every change of a debt case goes through ``change_cases`` (or its one-case form
``change_case``), which checks the move against the transition table and writes the case event
in the same database transaction. The functions below it are the process's own steps: opening
cases from incidents, following payments and reorders, blocking, notes and the address flag.
"""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mahnwerk import bulk, reasons
from mahnwerk.cases import reasons as case_reasons
from mahnwerk.cases import search, selectors, signals
from mahnwerk.cases.claims import Claim, charges_of, settle
from mahnwerk.cases.models import CaseEvent, CaseNote, DebtCase, EventKind, NoteVisibility
from mahnwerk.cases.states import CLOSED_STATES, REORDER_STATES, CaseState, can_move
from mahnwerk.intake.addresses import address_problems
from mahnwerk.intake.models import Incident, Order, Payment
from mahnwerk.reasons import Reason

ZERO = Decimal("0.00")


class CaseError(Exception):
    """A change the process does not allow; the message says why."""


class CaseChangedMeanwhile(CaseError):
    """The case is no longer in the state the change was decided on; nothing was written."""


@dataclass
class CaseChange:
    """One change of one case, decided on the case as the caller read it (``case.state``).

    ``reason`` is a ``mahnwerk.reasons.Reason`` (a code with its facts, rendered in the reader's
    language) or, for a person's own words, plain text. ``effective`` is the business date the
    change belongs to when that is not the moment it is recorded (a payment's day, a run's
    date, the day a letter left); a date-time counts by its day in the site's time zone."""

    case: DebtCase
    reason: Reason | str
    kind: str = EventKind.UPDATED
    to_state: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    effective: date | datetime | None = None


def business_day(value: date | datetime | None, tz: tzinfo | None = None) -> date | None:
    """A business date as the timeline stores it: a date-time by its local day (``tz``: the
    current time zone, looked up once by a caller that converts thousands)."""
    if isinstance(value, datetime):
        if not timezone.is_aware(value):
            return value.date()
        return value.astimezone(tz or timezone.get_current_timezone()).date()
    return value


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _reason(value: Reason | str) -> Reason:
    return value if isinstance(value, Reason) else reasons.text(value)


def changed_meanwhile(*, order_id: str, now: str) -> CaseChangedMeanwhile:
    return CaseChangedMeanwhile(
        _("Case %(order)s changed meanwhile: it is now %(state)s. Nothing was changed; look at "
          "the case again and decide anew.") % {"order": order_id,
                                                "state": CaseState(now).label})


def change_cases(*, items: Sequence[CaseChange], actor: str,
                 user: AbstractBaseUser | None = None,
                 at: datetime | None = None) -> int:
    """Apply changes to cases and write one case event each, all or nothing; return how many
    events were written.

    Each change applies only if its case is still in the state the caller read
    (``item.case.state``): the update is conditional on it (``UPDATE ... WHERE id = %s AND
    state = %s``), and if any case changed meanwhile nothing is written and
    ``CaseChangedMeanwhile`` says what the case is now. A conditional update rather than a row
    lock: the callers decided on a copy read earlier (a page support looked at, a run's
    decisions), and a lock taken only when writing would not notice that the copy is stale;
    the condition does, on SQLite (which has no row locks) as on PostgreSQL.

    ``to_state`` must be allowed by ``cases.states.TRANSITIONS``; ``changes`` maps field names
    to new values. A change that alters nothing writes no event. The cases passed in are
    updated in place. Writes go through ``mahnwerk.bulk`` because an import changes tens of
    thousands of cases in one call.
    """
    if not items:  # nothing to check or write: not even a savepoint
        return 0
    at = at or timezone.now()
    # Every move is checked before anything changes, so a refused change leaves no trace.
    for item in items:
        if item.to_state is not None and item.to_state != item.case.state \
                and not can_move(item.case.state, item.to_state):
            raise CaseError(
                _("Case %(order)s cannot move from %(from)s to %(to)s.") % {
                    "order": item.case.order_id, "from": CaseState(item.case.state).label,
                    "to": CaseState(item.to_state).label})
    user_id = user.pk if user is not None and user.is_authenticated else None
    tz = timezone.get_current_timezone()
    events: list[dict[str, Any]] = []
    moved: list[tuple[DebtCase, str, str]] = []
    dirty: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        case = item.case
        from_state = case.state
        diff: dict[str, list[Any]] = {}
        if item.to_state is not None and item.to_state != from_state:
            if item.to_state == CaseState.BLOCKED:
                item.changes.setdefault("blocked_from_state", from_state)
            elif from_state == CaseState.BLOCKED:
                item.changes.setdefault("blocked_from_state", "")
            if item.to_state in CLOSED_STATES:
                item.changes["pursue"] = False  # nothing more is pursued: never yellow
            item.changes["state"] = item.to_state
        for name, value in item.changes.items():
            old = getattr(case, name)
            if old != value:
                diff[name] = [_json(old), _json(value)]
                setattr(case, name, value)
        if not diff and item.kind not in (EventKind.NOTE, EventKind.LETTER,
                                          EventKind.COLLECTION):
            continue
        if "state" in diff:
            moved.append((case, from_state, case.state))
        # Every change, even one that only writes an event, touches the row under the
        # condition: an event must never record a state the case has left.
        case.updated_at = at
        fields = tuple(sorted(diff))
        dirty[fields].append({"id": case.pk, "updated_at": at, "state__was": from_state,
                              **{name: getattr(case, name) for name in fields}})
        reason = _reason(item.reason)
        events.append({
            "case_id": case.pk, "at": at, "kind": item.kind, "actor": actor,
            "user_id": user_id, "from_state": from_state, "to_state": case.state,
            "code": reason.code, "params": dict(reason.params),
            "changes": {k: v for k, v in diff.items() if k != "blocked_from_state"},
            "effective_on": business_day(item.effective, tz),
        })
    # A savepoint, so that a case that changed meanwhile undoes exactly this change and leaves
    # the caller's transaction usable (a page shows the message and reads the case again).
    with transaction.atomic():
        for fields, rows in dirty.items():
            names = [*fields, "updated_at"]
            if bulk.update_rows(DebtCase, rows, names, where=["state"]) != len(rows):
                _raise_changed(rows)
        bulk.insert_rows(CaseEvent, events)
        if moved:
            signals.cases_changed.send(sender=DebtCase, changes=moved)
    return len(events)


def _raise_changed(rows: list[dict[str, Any]]) -> None:
    expected = {row["id"]: row["state__was"] for row in rows}
    ids = list(expected)
    for start in range(0, len(ids), 900):
        for pk, order_id, state in DebtCase.objects.filter(pk__in=ids[start:start + 900]) \
                .values_list("pk", "order_id", "state"):
            if state != expected[pk]:
                raise changed_meanwhile(order_id=order_id, now=state)
    raise CaseChangedMeanwhile(_("A case changed meanwhile; nothing was changed."))


def change_case(*, case: DebtCase, actor: str, reason: Reason | str,
                kind: str = EventKind.UPDATED, to_state: str | None = None,
                changes: dict[str, Any] | None = None,
                user: AbstractBaseUser | None = None,
                effective: date | datetime | None = None) -> bool:
    """Change one case (see ``change_cases``); True if anything was written."""
    return change_cases(
        items=[CaseChange(case=case, reason=reason, kind=kind, to_state=to_state,
                          changes=dict(changes or {}), effective=effective)],
        actor=actor, user=user) > 0


# -- Following the platform's data -------------------------------------------------------------


class IncidentFacts(NamedTuple):
    """What following a case reads of an incident: a named row of these columns, not an
    ``Incident`` (100,000 model instances cost seconds in a bank import)."""

    incident_id: str
    order_id: str
    kind: str
    occurred_at: datetime
    open_amount: Decimal
    currency: str


class _PaymentRow(NamedTuple):
    """A payment as ``follow_orders_debts`` reads it (``selectors.PaymentFacts``)."""

    order_id: str
    paid_at: datetime
    amount: Decimal


def _locked_cases(order_ids: Sequence[str]) -> list[DebtCase]:
    """The cases of these orders, locked in id order: what ``DebtCase.objects
    .select_for_update().filter(order_id__in=...).order_by("pk")`` gives (the same query, the
    same instances), read by a plain query (``bulk.select_rows``): through the ORM, this read
    was an eighth of a payment import's CPU time (py-spy, 10,000 cases)."""
    names = [field.attname for field in DebtCase._meta.concrete_fields]
    return [DebtCase.from_db(connection.alias, names, row) for row in bulk.select_rows(
        DebtCase, names, where="order_id", keys=order_ids, order_by=("id",), lock=True)]


def _claim(incident: IncidentFacts, payments: Iterable[selectors.PaymentFacts],
           charges: Sequence[dict[str, Any]], tz: tzinfo | None = None) -> tuple[Claim, Decimal]:
    """What is still owed after the latest incident, part by part (the payments since it
    applied to the charges' costs, then their interest, then the principal: § 367 BGB,
    ``cases.claims.settle``), and how much was paid since."""
    since = [p for p in payments if p.paid_at >= incident.occurred_at]
    paid = sum((p.amount for p in since), ZERO)
    return settle(principal=incident.open_amount, charges=charges_of(charges),
                  payments=selectors.paid_since(since, tz)), paid


def _claim_changes(claim: Claim, charges: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"open_amount": claim.principal, "fees": claim.costs, "interest": claim.interest,
            "charges": list(charges)}


@transaction.atomic(savepoint=False)
def follow_orders_debts(*, order_ids: Sequence[str], actor: str, kind: str,
                        received: Mapping[str, datetime] | None = None,
                        sources: Mapping[str, Mapping[str, str]] | None = None,
                        addresses: bool = False,
                        read_ahead: selectors.BuyerAnswers | None = None) -> None:
    """Open or update the cases of these orders from their incidents and payments; look for a
    later order of the same buyer and product for each case opened (``mark_reorders``); with
    ``addresses`` (an incident), compute afresh the address flag of every case still worked on
    (``_address_changes``): a case opens with its own order's address, but the buyer may
    have given a newer one since, and a debt that comes back follows the address again. The
    buyers' orders are read once for both (``selectors.buyer_orders``; for an incident with
    the orders themselves, ``selectors.orders_with_their_buyers``).

    ``sources``: for an order paid by bank transfer, the statement and booking it was read
    from (``{"statement": ..., "entry": ...}``); the payment's event names them.

    ``read_ahead`` (with ``addresses``): the orders and their buyers' answers read before, by
    another process (``read_orders_ahead``: an incident file's reader); a batch whose orders it
    all answers reads none of them again.

    The timeline's business dates come from the facts: an incident's day for a case opened or
    a debt that came back, a payment's day for a payment (``received``: the latest day of the
    payments that came in, by order; without it the latest payment since the incident).

    The open amount is the latest incident's open amount less every payment since that incident:
    computed from the data each time, so applying the same data twice changes nothing. An
    incident newer than the case's current cycle on a case that was paid or cancelled opens a
    new dunning cycle (letters start again at the first level); on a case still followed it
    updates the open amount and the cycle goes on.
    """
    tz = timezone.get_current_timezone()
    for start in range(0, len(order_ids), 900):
        chunk = list(order_ids[start:start + 900])
        latest: dict[str, IncidentFacts] = {}
        # Named rows of the columns read, not model instances (see IncidentFacts), by plain
        # queries (``bulk.select_rows``): the ORM's preparing of the parameters and converting
        # of each value cost more than the queries themselves.
        for incident in map(IncidentFacts._make, bulk.select_rows(
                Incident, IncidentFacts._fields, where="order_id", keys=chunk,
                order_by=("occurred_at", "incident_id"))):
            latest[incident.order_id] = incident
        if not latest:
            continue
        payments: dict[str, list[selectors.PaymentFacts]] = defaultdict(list)
        # In the order the ORM gave them (``Payment.Meta.ordering``): the payments of one day
        # are settled in the order they come.
        for payment in map(_PaymentRow._make, bulk.select_rows(
                Payment, _PaymentRow._fields, where="order_id", keys=list(latest),
                order_by=("-paid_at",))):
            payments[payment.order_id].append(payment)
        # Locked (in id order, as a run's batch locks them), so that a change support makes at
        # this moment (a block, a cancel) either commits before and is read here, or waits and
        # then finds the case changed: never a payment refused as "changed meanwhile".
        cases = {c.order_id: c for c in _locked_cases(list(latest))}
        # Named rows again: an Order instance per new case cost more than the case itself.
        # Every case's order when the addresses are followed, with all their buyers' orders
        # (read once: nearly every case asks for them below), else the new cases' orders.
        read: selectors.BuyerOrders | selectors.BuyerAnswers | None = None
        if addresses and read_ahead is not None and read_ahead.covers(latest):
            orders = {order_id: read_ahead.orders[order_id] for order_id in latest}
            read = read_ahead
        elif addresses:
            rows = list(map(_CaseOrder._make, selectors.orders_with_their_buyers(
                order_ids=list(latest), fields=_CASE_ORDER_FIELDS)))
            orders = {o.order_id: o for o in rows if o.order_id in latest}
            read = selectors.BuyerOrders(rows)
        else:
            orders = {o.order_id: o for o in map(_CaseOrder._make, bulk.select_rows(
                Order, _CASE_ORDER_FIELDS, where="order_id",
                keys=[k for k in latest if k not in cases], order_by=("order_id",)))}
        new_rows: list[dict[str, Any]] = []
        paid_at_once: list[tuple[dict[str, Any], Reason, datetime]] = []
        items: list[CaseChange] = []
        for order_id, incident in latest.items():
            case = cases.get(order_id)
            # A debt that comes back starts a new cycle: the earlier letters' charges were
            # about the settled debt.
            charges = case.charges if case is not None and not _new_debt(case, incident) \
                else []
            claim, paid = _claim(incident, payments[order_id], charges, tz)
            open_amount = claim.principal
            source = (sources or {}).get(order_id)
            paid_reason = Reason(case_reasons.PAID_BY_TRANSFER if source else case_reasons.PAID,
                                 {"paid": reasons.money_param(paid, incident.currency),
                                  **(source or {})})
            paid_on = (received or {}).get(order_id) or max(
                (p.paid_at for p in payments[order_id] if p.paid_at >= incident.occurred_at),
                default=None)
            if case is None:
                row = _new_case(orders[order_id], incident, open_amount)
                new_rows.append(row)
                if open_amount == ZERO:
                    paid_at_once.append((row, paid_reason, paid_on or incident.occurred_at))
                continue
            items.append(_follow(case=case, incident=incident, claim=claim, charges=charges,
                                 paid_reason=paid_reason, kind=kind, paid_on=paid_on,
                                 source=source))
        # A new case is a row; the few that change again below (paid at once, reordered, their
        # address) become a DebtCase, one per case, so each change sees the one before.
        opened: dict[str, DebtCase] = {}
        if new_rows:
            _create_cases(new_rows, actor=actor)
        items += [CaseChange(case=_case_of(row, opened), reason=reason, kind=kind,
                             to_state=CaseState.PAID, effective=effective)
                  for row, reason, effective in paid_at_once]
        change_cases(items=items, actor=actor)
        # After the changes above: a case just paid no longer follows the address.
        followed = [c for c in cases.values()
                    if c.state not in selectors.SETTLED_STATES] if addresses else []
        followed_rows = [row for row in new_rows
                         if row["order_id"] not in opened] if addresses else []
        if not new_rows and not followed:
            continue
        buyers = read if read is not None else selectors.buyer_orders(of=[
            orders[order_id] for order_id in {*(row["order_id"] for row in new_rows),
                                              *(c.order_id for c in followed)}])
        if new_rows:
            # A case opened just now has no reorder match that support undid.
            matches = {row["order_id"]: later for row in new_rows
                       if (later := buyers.later_order(orders[row["order_id"]])) is not None}
            mark_reorders(cases=[_case_of(row, opened) for row in new_rows
                                 if row["order_id"] in matches], actor=actor, matches=matches)
        if addresses:
            known = {c.pk: buyers.newest_address(orders[c.order_id]) for c in followed}
            for row in followed_rows:
                address = buyers.newest_address(orders[row["order_id"]])
                if address.order_id != row["order_id"] and _address_fields(address) != (
                        row["invalid_address_computed"], row["address_problems"]):
                    case = _case_of(row, opened)
                    followed.append(case)
                    known[case.pk] = address
            change_cases(items=_address_changes(followed, known), actor=actor)


def read_orders_ahead(*, order_ids: Sequence[str]) -> selectors.BuyerAnswers:
    """What ``follow_orders_debts`` reads of these orders for an incident (the orders, each
    one's later order and its buyer's newest address), read now, for ``read_ahead``.

    For the reading process of an incident file, beside the writer (``intake.signals
    .incidents_read``): it reads the committed orders with a connection of its own, once the
    writer's transaction has begun; an incident import never changes them, so the answers stay
    true while the writer goes on; the writer then neither queries the orders and their
    buyers' orders nor unpickles them (a hundred thousand incidents: a third of the writer's
    time, docs/benchmarks.md)."""
    return selectors.answer_for(order_ids=order_ids, fields=_CASE_ORDER_FIELDS,
                                make=_CaseOrder._make)


#: States whose debt was settled: a newer incident starts a new dunning cycle.
SETTLED_STATES = frozenset({CaseState.PAID, CaseState.CANCELED})


def _new_debt(case: DebtCase, incident: IncidentFacts) -> bool:
    """Whether the incident is a new debt on a case whose debt was settled (a new cycle)."""
    cycle_start = case.cycle_started_at or case.opened_at
    settled = case.state in SETTLED_STATES or (
        case.state == CaseState.BLOCKED and case.blocked_from_state in SETTLED_STATES)
    return settled and incident.occurred_at > cycle_start


def _follow(*, case: DebtCase, incident: IncidentFacts, claim: Claim,
            charges: Sequence[dict[str, Any]], paid_reason: Reason, kind: str,
            paid_on: datetime | None, source: Mapping[str, str] | None = None) -> CaseChange:
    """The change the latest incident and the payments since make to an existing case."""
    open_amount = claim.principal
    changes: dict[str, Any] = {**_claim_changes(claim, charges), "trigger": incident.kind}
    if open_amount > ZERO and _new_debt(case, incident):
        changes.update(cycle=case.cycle + 1, cycle_started_at=incident.occurred_at,
                       first_dunning_letter=None, second_dunning_letter=None, offer_link="",
                       incasso_date=None, pursue=True)
        reason = Reason(case_reasons.NEW_CYCLE, {
            "kind": incident.kind, "date": reasons.date_param(incident.occurred_at),
            "amount": reasons.money_param(open_amount, incident.currency),
            "cycle": case.cycle + 1})
        if case.state == CaseState.BLOCKED:  # it stays blocked; unblocking opens the new debt
            changes["blocked_from_state"] = CaseState.OPEN
            return CaseChange(case=case, reason=reason, kind=kind, changes=changes,
                              effective=incident.occurred_at)
        changes["block_reason"] = ""  # a block of the earlier cycle was lifted by its payment
        return CaseChange(case=case, reason=reason, kind=kind, to_state=CaseState.OPEN,
                          changes=changes, effective=incident.occurred_at)
    if claim.total == ZERO and case.state != CaseState.PAID:
        return CaseChange(case=case, reason=paid_reason, kind=kind, to_state=CaseState.PAID,
                          changes=changes, effective=paid_on or incident.occurred_at)
    if kind == EventKind.PAYMENT:
        reason = Reason(case_reasons.PAYMENT_BY_TRANSFER if source else case_reasons.PAYMENT,
                        {"open": reasons.money_param(claim.total, incident.currency),
                         **(source or {})})
        return CaseChange(case=case, reason=reason, kind=kind, changes=changes,
                          effective=paid_on)
    reason = Reason(case_reasons.INCIDENT, {
        "id": incident.incident_id, "kind": incident.kind,
        "open": reasons.money_param(open_amount, incident.currency)})
    return CaseChange(case=case, reason=reason, kind=kind, changes=changes,
                      effective=incident.occurred_at)


def _create_cases(rows: list[dict[str, Any]], *, actor: str) -> None:
    """Insert new cases (rows of ``_new_case``), give each row its id and the moment it was
    written (``updated_at``), and write each one's "opened" event."""
    now = timezone.now()
    tz = timezone.get_current_timezone()
    for row in rows:
        row["updated_at"] = now
    bulk.insert_rows(DebtCase, rows)
    ids = dict(bulk.select_rows(DebtCase, ("order_id", "id"), where="order_id",
                                keys=[row["order_id"] for row in rows]))
    for row in rows:
        row["id"] = ids[row["order_id"]]
    bulk.insert_rows(CaseEvent, [{
        "case_id": row["id"], "at": now, "kind": EventKind.OPENED, "actor": actor,
        "user_id": None, "from_state": CaseState.OPEN, "to_state": CaseState.OPEN,
        "code": case_reasons.OPENED,
        "params": {"kind": row["trigger"],
                   "amount": reasons.money_param(row["open_amount"], row["currency"])},
        "changes": _NO_CHANGES, "effective_on": business_day(row["opened_at"], tz)}
        for row in rows])


#: The changes of an "opened" event: one object for every row, which ``bulk.insert_rows``
#: turns into JSON once (it adapts the same object in a column once) instead of per case.
_NO_CHANGES: dict[str, Any] = {}


def _case_of(row: dict[str, Any], opened: dict[str, DebtCase]) -> DebtCase:
    """The written case of a row of ``_new_case`` (after ``_create_cases``): made once, kept in
    ``opened`` (by order id), so that every later change sees the changes before it."""
    case = opened.get(row["order_id"])
    if case is None:
        case = opened[row["order_id"]] = DebtCase(**row)
        case._state.adding = False
    return case


#: What opening a case reads of its order (``_new_case``, ``search.for_new_case``).
_NEW_CASE_ORDER_FIELDS = tuple(dict.fromkeys((
    "order_id", "vendor_id", "street", "house_number", "postcode", "city", "country",
    "first_invoice_number", *search.ORDER_FIELDS, *search.SORT_FIELDS)))
#: What following a case reads of its order: the above, and what the reorder match and the
#: address flag compare (``selectors.BuyerOrders``).
_CASE_ORDER_FIELDS = tuple(dict.fromkeys((*_NEW_CASE_ORDER_FIELDS,
                                          *selectors.BUYER_ORDER_FIELDS)))
#: An order as ``follow_orders_debts`` reads it: a named row of ``_CASE_ORDER_FIELDS``.
_CaseOrder = namedtuple("_CaseOrder", _CASE_ORDER_FIELDS)


def _new_case(order: Any, incident: IncidentFacts, open_amount: Decimal) -> dict[str, Any]:
    """The row of a new case of ``order`` (an ``Order`` or a named row of
    ``_NEW_CASE_ORDER_FIELDS``): the columns ``_create_cases`` writes, the others left to
    their defaults. A row, not a ``DebtCase``: an import opens a hundred thousand cases, and
    only the few that change again in the same call need an instance (``_case_of``)."""
    problems = address_problems(street=order.street, house_number=order.house_number,
                                postcode=order.postcode, city=order.city, country=order.country)
    return {
        "order_id": order.order_id, "vendor_id": order.vendor_id, "state": CaseState.OPEN,
        "trigger": incident.kind, "open_amount": open_amount, "currency": incident.currency,
        "pursue": True, "first_invoice_number": order.first_invoice_number,
        "invalid_address_computed": bool(problems), "address_problems": ",".join(problems),
        "opened_at": incident.occurred_at, "cycle": 1, "cycle_started_at": incident.occurred_at,
        "search_text": search.for_new_case(order, order.first_invoice_number),
        **search.sort_fields_of(order),
        "reopened": False, "reopened_id": "", "offer_link": "", "invalid_address_set_by": "",
        "block_reason": "", "blocked_from_state": "",
    }


def mark_reorders(*, cases: Sequence[DebtCase], actor: str,
                  matches: Mapping[str, selectors.LaterOrder] | None = None) -> int:
    """Mark each case whose buyer later ordered the same product again (process.md §6).

    A case that is still being dunned goes grey and into state reopened, with an internal note;
    one that is further on (blocked, with the agency, paid) only records the new order, which the
    handover file passes on as ``reopened``. ``matches`` (by the case's order id): the later
    orders when the caller has found them already (``follow_orders_debts``), else
    ``_reorder_matches`` looks for them.
    """
    if matches is None:
        matches = _reorder_matches(cases=[c for c in cases if not c.reopened])
    items = []
    notes = []
    now = timezone.now()
    for case in cases:
        new_order = matches.get(case.order_id)
        if new_order is None:
            continue
        if new_order.sales_agent:
            why = Reason(case_reasons.RECLOSED, {"agent": new_order.sales_agent,
                                                 "order": new_order.order_id})
        else:
            why = Reason(case_reasons.REORDERED, {"order": new_order.order_id})
        text = why.render()
        changes: dict[str, Any] = {"reopened": True, "reopened_id": new_order.order_id}
        to_state = None
        if case.state in REORDER_STATES:
            to_state = CaseState.REOPENED
            changes["pursue"] = False
        items.append(CaseChange(case=case, reason=why, kind=EventKind.REORDERED,
                                to_state=to_state, changes=changes,
                                effective=new_order.created_at))
        notes.append({"case_id": case.pk, "visibility": NoteVisibility.INTERNAL, "text": text,
                      "author": actor, "created_at": now})
    change_cases(items=items, actor=actor)
    bulk.insert_rows(CaseNote, notes)
    return len(items)


@transaction.atomic(savepoint=False)
def follow_orders(*, order_ids: Sequence[str], actor: str) -> tuple[int, int]:
    """Orders came in, new or sent again (``intake.signals.orders_applied``). Two questions
    are asked of the same buyers' orders, read once for both (``selectors.orders_followed``):
    is an order a later order of a case of the same buyer and product (the case is marked
    reordered, ``mark_reorders``, process.md §6), and does it carry the buyer's newest address,
    which the flag of every case of that buyer still worked on follows (``_address_changes``).
    Reorders first: a case marked reordered is still worked on, and its flag follows.

    Returns how many cases were marked reordered and how many flags changed."""
    marked = changed = 0
    for start in range(0, len(order_ids), 900):
        chunk = list(order_ids[start:start + 900])
        found = selectors.orders_followed(order_ids=chunk)
        if found is None:
            continue
        rows = found.rows
        case_rows = [rows[case.order_id] for case in found.cases]
        # Every order of the cases' buyers: those read for the new orders, unless a case's
        # buyer was reached through an e-mail they share with another buyer id.
        orders = found.orders if found.covers(case_rows) else selectors.buyer_orders(
            of=case_rows)
        new_ids = set(chunk)
        reordered = [case for case in found.cases
                     if not case.reopened and case.order_id not in new_ids
                     and _reordered_by(rows[case.order_id], found.new)]
        if reordered:
            marked += mark_reorders(cases=reordered, actor=actor, matches=_reorder_matches(
                cases=reordered, later=partial(_later_orders, orders, rows)))
        followed = [case for case in found.cases if case.state not in selectors.SETTLED_STATES]
        changed += change_cases(items=_address_changes(followed, {
            case.pk: orders.newest_address(rows[case.order_id]) for case in followed}),
            actor=actor)
    return marked, changed


def _later_orders(orders: selectors.BuyerOrders, rows: Mapping[str, selectors.BuyerOrder], *,
                  cases: Sequence[DebtCase], skip: Collection[tuple[str, str]] = ()
                  ) -> dict[str, selectors.LaterOrder]:
    """``selectors.later_orders_for`` from orders read already (``rows``: each case's order)."""
    return {case.order_id: match for case in cases
            if (match := orders.later_order(rows[case.order_id], skip=skip)) is not None}


def _reordered_by(order: selectors.BuyerOrder, new: Iterable[selectors.BuyerOrder]) -> bool:
    """Whether one of the orders ``new`` is a later order of ``order``'s buyer (by buyer id
    or normalised e-mail) for the same product."""
    return any(n.product_id == order.product_id and n.created_at > order.created_at
               and (n.buyer_id == order.buyer_id
                    or (n.buyer_email_normalized
                        and n.buyer_email_normalized == order.buyer_email_normalized))
               for n in new)


# -- Support's actions ---------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CaseError(_("Give a reason."))
    return reason


# Each action's refusal says why it cannot be done on the case as it is now (None: it can). The
# service refuses with it, and the case page (through ``cases.actions``) offers only the actions
# without one, so the page never offers what the service would refuse.


def block_refusal(case: DebtCase) -> str | None:
    if case.state == CaseState.BLOCKED:
        return _("Case %(order)s is already blocked: %(reason)s") % {
            "order": case.order_id, "reason": case.block_reason}
    if not can_move(case.state, CaseState.BLOCKED):
        return _("Case %(order)s is %(state)s: no letter and no handover is due any more, so "
                 "there is nothing to block.") % {"order": case.order_id,
                                                  "state": CaseState(case.state).label}
    return None


def unblock_refusal(case: DebtCase) -> str | None:
    if case.state != CaseState.BLOCKED:
        return _("Case %(order)s is not blocked.") % {"order": case.order_id}
    return None


def block_case(*, case: DebtCase, reason: str, actor: str,
               user: AbstractBaseUser | None = None) -> CaseEvent | None:
    reason = _require_reason(reason)
    refused = block_refusal(case)
    if refused:
        raise CaseError(refused)
    return change_case(case=case, actor=actor, user=user, reason=reason, kind=EventKind.BLOCKED,
                       to_state=CaseState.BLOCKED, changes={"block_reason": reason[:500]})


def unblock_case(*, case: DebtCase, reason: str, actor: str,
                 user: AbstractBaseUser | None = None) -> CaseEvent | None:
    reason = _require_reason(reason)
    refused = unblock_refusal(case)
    if refused:
        raise CaseError(refused)
    return change_case(case=case, actor=actor, user=user, reason=reason,
                       kind=EventKind.UNBLOCKED,
                       to_state=case.blocked_from_state or CaseState.OPEN,
                       changes={"block_reason": ""})


def set_pursue(*, case: DebtCase, pursue: bool, reason: str, actor: str,
               user: AbstractBaseUser | None = None) -> bool:
    """Mark a case yellow (pursue) or grey (do not pursue), with the reason on the timeline.

    A paid, cancelled or reordered case is refused yellow: nothing more is pursued on it, so
    it stays grey (a new debt on it starts a new cycle, yellow again)."""
    reason = _require_reason(reason)
    if pursue and case.state in CLOSED_STATES:
        raise CaseError(_("Case %(order)s is %(state)s: nothing more is pursued on it, so it "
                          "stays grey.") % {"order": case.order_id,
                                            "state": CaseState(case.state).label})
    if case.pursue == pursue:
        raise CaseError((_("Case %(order)s is already yellow.") if pursue
                         else _("Case %(order)s is already grey.")) % {"order": case.order_id})
    return change_case(case=case, actor=actor, user=user,
                       reason=Reason(case_reasons.MARKED_YELLOW if pursue
                                     else case_reasons.MARKED_GREY, {"reason": reason}),
                       changes={"pursue": pursue})


@transaction.atomic
def add_note(*, case: DebtCase, text: str, actor: str, shared: bool = False,
             user: AbstractBaseUser | None = None, event: Reason | None = None) -> CaseNote:
    """A note, and its line on the timeline. A note the system writes passes ``event``, the
    same facts as a code, so the timeline reads in its reader's language (the note is text)."""
    text = _require_reason(text)
    note = CaseNote.objects.create(
        case=case, text=text, author=actor, created_at=timezone.now(),
        visibility=NoteVisibility.SHARED if shared else NoteVisibility.INTERNAL)
    change_case(case=case, actor=actor, user=user, kind=EventKind.NOTE,
                reason=event or Reason(case_reasons.NOTE_SHARED if shared
                                       else case_reasons.NOTE_INTERNAL, {"text": text}))
    return note


def set_invalid_address(*, case: DebtCase, value: bool | None, reason: str, actor: str,
                        user: AbstractBaseUser | None = None) -> CaseEvent | None:
    """Override the computed invalid_address flag (``None`` goes back to the computed value,
    computed afresh from the buyer's newest known address); refusals: ``address_flag_refusal``."""
    reason = _require_reason(reason)
    refused = address_flag_refusal(case, value)
    if refused:
        raise CaseError(refused)
    changes: dict[str, Any] = {"invalid_address_override": value,
                               "invalid_address_set_by": actor if value is not None else ""}
    if value is None:
        changes.update(_computed_address(case))
    return change_case(case=case, actor=actor, user=user, kind=EventKind.ADDRESS,
                       reason=_address_flag_reason(case=case, value=value, changes=changes,
                                                   reason=reason),
                       changes=changes)


def reorder_override_refusal(case: DebtCase) -> str | None:
    if case.state != CaseState.REOPENED and not case.reopened:
        return _("Case %(order)s is not marked as reordered: there is no reorder match to "
                 "undo.") % {"order": case.order_id}
    if case.state in selectors.SETTLED_STATES:
        return _("Case %(order)s is %(state)s: nothing more is done with it, so the reorder "
                 "match stays as it is.") % {"order": case.order_id,
                                             "state": CaseState(case.state).label}
    return None


def override_reorder(*, case: DebtCase, reason: str, actor: str,
                     user: AbstractBaseUser | None = None) -> CaseEvent | None:
    """Support decides the later order is no reorder: the case is pursued again.

    A case taken out of dunning by the match (state reopened) goes back to open or dunning and
    is yellow again; one that was further on (blocked, with the agency) only loses the
    reopened flag, which the next handover file passes on. The undone match is on the
    timeline and in an internal note, and that order is never matched to the case again
    (``selectors.rejected_reorders``).
    """
    reason = _require_reason(reason)
    refused = reorder_override_refusal(case)
    if refused:
        raise CaseError(refused)
    why = Reason(case_reasons.NOT_REORDERED, {"new": case.reopened_id or None,
                                              "reason": reason})
    changes: dict[str, Any] = {"reopened": False, "reopened_id": ""}
    to_state = None
    if case.state == CaseState.REOPENED:
        to_state = CaseState.DUNNING if case.first_dunning_letter else CaseState.OPEN
        changes["pursue"] = True
    with transaction.atomic():
        written = change_case(case=case, actor=actor, user=user, reason=why,
                              kind=EventKind.REORDERED, to_state=to_state, changes=changes)
        # The note is text (in the writer's language); the timeline keeps the code.
        CaseNote.objects.create(case=case, text=why.render(), author=actor,
                                created_at=timezone.now(), visibility=NoteVisibility.INTERNAL)
    return written


# -- Corrections: the address flag follows the buyer's newest address ---------------------------
#
# Which address counts (process.md §6 says "the buyer's address at order time"; the handover
# file's invalid_address tells the agency whether it must search for the buyer): the buyer's
# NEWEST KNOWN address, i.e. the address of the buyer's latest order that carries one, the
# buyer matched by buyer id or normalised e-mail as for reorders
# (``selectors.newest_addresses``). So an address corrected on a later order, or on the order
# itself when the platform sends it again, clears the flag; a later order with a broken address
# sets it. The intake has no buyer feed of its own: the buyer record is the newest order's data
# (the file import writes it with the batch that holds the buyer's newest order), and what a
# case follows is read from the orders themselves, which ``orders_applied`` announces.
#
# Only cases still worked on follow (not paid or cancelled). A flag set by hand
# (``invalid_address_override``) wins and stays: the computed value underneath is still kept up
# to date, with an event that says the hand-set flag stays, so "back to the computed value"
# gives the current answer.


def _computed_address(case: DebtCase,
                      address: selectors.KnownAddress | None = None) -> dict[str, Any]:
    """The computed flag's fields for the buyer's newest known address."""
    if address is None:
        address = selectors.newest_addresses(cases=[case]).get(case.pk)
    if address is None:  # pragma: no cover - every case has its order
        return {}
    invalid, problems = _address_fields(address)
    return {"invalid_address_computed": invalid, "address_problems": problems}


def _address_fields(address: selectors.KnownAddress) -> tuple[bool, str]:
    """The computed flag and the problems (comma-separated codes) of an address."""
    problems = address_problems(**address.parts())
    return bool(problems), ",".join(problems)


def _address_reason(case: DebtCase, address: selectors.KnownAddress,
                    computed: dict[str, Any]) -> Reason:
    """What the timeline says when the buyer's newest address changed the computed flag: the
    address (and what is wrong with it), then what that means for the case."""
    params: dict[str, Any] = {"order": address.order_id,
                              "date": reasons.date_param(address.created_at),
                              "address": address.one_line()}
    unusable = computed["invalid_address_computed"]
    if unusable:
        params["problems"] = case_reasons.address_problems_param(
            [c for c in computed["address_problems"].split(",") if c],
            postcode=address.postcode, country=address.country)
    if case.invalid_address_override is not None:
        params.update(flag=_flag(case.invalid_address_override),
                      who=case.invalid_address_set_by or None)
        code = (case_reasons.ADDRESS_UNUSABLE_BY_HAND if unusable
                else case_reasons.ADDRESS_COMPLETE_BY_HAND)
    elif unusable:
        code = (case_reasons.ADDRESS_UNUSABLE if case.invalid_address_computed
                else case_reasons.ADDRESS_UNUSABLE_FLAGGED)
    else:
        code = (case_reasons.ADDRESS_COMPLETE_UNFLAGGED if case.invalid_address_computed
                else case_reasons.ADDRESS_COMPLETE)
    return Reason(code, params)


def _flag(invalid: bool) -> str:
    """The address flag as a code for a reason's parameter (``label:address_flag``)."""
    return "invalid" if invalid else "valid"


def _address_changes(cases: Iterable[DebtCase],
                     addresses: Mapping[int, selectors.KnownAddress]) -> list[CaseChange]:
    """The change of each case whose flag or problems differ from what the buyer's newest
    known address (``addresses``, by case pk) gives."""
    items = []
    for case in cases:
        address = addresses.get(case.pk)
        if address is None:
            continue
        computed = _computed_address(case, address)
        if (computed["invalid_address_computed"], computed["address_problems"]) == (
                case.invalid_address_computed, case.address_problems):
            continue
        items.append(CaseChange(case=case, kind=EventKind.ADDRESS, changes=computed,
                                reason=_address_reason(case, address, computed)))
    return items


def address_flag_refusal(case: DebtCase, value: bool | None) -> str | None:
    """Why a hand-set address flag (``value``; None: back to the computed one) makes no sense.

    A paid or cancelled case is refused: nothing more is done with it, and its flag no longer
    follows the buyer's address either. A case with the agency may be changed: the next
    handover file carries the whole master list, flag included, to the agency.
    """
    labels = {True: _("invalid"), False: _("valid")}
    if case.state in selectors.SETTLED_STATES:
        return _("Case %(order)s is %(state)s: nothing more is done with it, so its address "
                 "flag is not changed.") % {"order": case.order_id,
                                            "state": CaseState(case.state).label}
    if value is None and case.invalid_address_override is None:
        return _("The address flag of case %(order)s is not set by hand: it already follows "
                 "the buyer's address.") % {"order": case.order_id}
    if value is not None and case.invalid_address_override == value:
        return _("The address of case %(order)s is already set %(flag)s by hand (by "
                 "%(who)s).") % {"order": case.order_id, "flag": labels[value],
                                 "who": case.invalid_address_set_by or "–"}
    return None


def _address_flag_reason(*, case: DebtCase, value: bool | None, changes: dict[str, Any],
                         reason: str) -> Reason:
    if value is True:
        return Reason(case_reasons.ADDRESS_SET_INVALID, {"reason": reason})
    if value is False:
        return Reason(case_reasons.ADDRESS_SET_VALID, {"reason": reason})
    computed = changes.get("invalid_address_computed", case.invalid_address_computed)
    return Reason(case_reasons.ADDRESS_COMPUTED, {"flag": _flag(computed), "reason": reason})


def _reorder_matches(*, cases: Sequence[DebtCase],
                     later: Callable[..., dict[str, selectors.LaterOrder]] | None = None
                     ) -> dict[str, selectors.LaterOrder]:
    """``selectors.later_orders_for`` (or ``later``, the same from orders read already),
    without the matches support undid: a rejected match is not made again when the platform
    sends that order again (a subscription's order changes every month). Costs one more query
    only when a matched case has such a rejection."""
    later = later or selectors.later_orders_for
    matches = later(cases=cases)
    if not matches:
        return matches
    matched = [c for c in cases if c.order_id in matches]
    rejected = selectors.rejected_reorders(case_ids=[c.pk for c in matched])
    if not rejected:
        return matches
    by_pk = {c.pk: c.order_id for c in matched}
    skip = {(by_pk[pk], order_id) for pk, order_id in rejected if pk in by_pk}
    again = [c for c in matched if (c.order_id, matches[c.order_id].order_id) in skip]
    if not again:
        return matches
    for case in again:
        del matches[case.order_id]
    matches.update(later(cases=again, skip=skip))
    return matches
