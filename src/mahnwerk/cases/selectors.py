"""Reading debt cases: lists, one case with its timeline, reorder matches, the JSON shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, REORDER_STATES
from mahnwerk.intake.models import Order


def later_orders_for(*, cases: Sequence[DebtCase]) -> dict[str, Order]:
    """For each case, the earliest later order by the same buyer for the same product.

    The buyer is matched by normalised e-mail, then by buyer id (process.md §6).
    """
    if not cases:
        return {}
    originals = {o.pk: o for o in Order.objects.filter(pk__in=[c.order_id for c in cases])}
    result: dict[str, Order] = {}
    for start in range(0, len(cases), 300):
        chunk = [originals[c.order_id] for c in cases[start:start + 300]]
        products = {o.product_id for o in chunk}
        buyers = {o.buyer_id for o in chunk}
        emails = {o.buyer_email_normalized for o in chunk if o.buyer_email_normalized}
        candidates = list(
            Order.objects.filter(product_id__in=products)
            .filter(Q(buyer_id__in=buyers) | Q(buyer_email_normalized__in=emails))
            .order_by("created_at", "order_id")
        )
        for original in chunk:
            for candidate in candidates:
                if (candidate.pk != original.pk
                        and candidate.product_id == original.product_id
                        and candidate.created_at > original.created_at
                        and ((original.buyer_email_normalized
                              and candidate.buyer_email_normalized
                              == original.buyer_email_normalized)
                             or candidate.buyer_id == original.buyer_id)):
                    result[original.pk] = candidate
                    break
    return result


def cases_reordered_by(*, order_ids: Sequence[str]) -> list[DebtCase]:
    """Cases not yet marked reordered whose buyer placed one of these orders for the same
    product after the case's own order."""
    new_orders = list(Order.objects.filter(pk__in=order_ids))
    if not new_orders:
        return []
    products = {o.product_id for o in new_orders}
    buyers = {o.buyer_id for o in new_orders}
    emails = {o.buyer_email_normalized for o in new_orders if o.buyer_email_normalized}
    candidates = (
        DebtCase.objects.filter(reopened=False, order__product_id__in=products)
        .filter(Q(order__buyer_id__in=buyers) | Q(order__buyer_email_normalized__in=emails))
        .exclude(order_id__in=order_ids)
        .select_related("order")
    )
    return [c for c in candidates
            if any(n.product_id == c.order.product_id and n.created_at > c.order.created_at
                   and (n.buyer_id == c.order.buyer_id
                        or (n.buyer_email_normalized
                            and n.buyer_email_normalized == c.order.buyer_email_normalized))
                   for n in new_orders)]


def case_list(*, vendor_id: str | None = None, state: str | None = None,
              active_only: bool = False) -> QuerySet[DebtCase]:
    cases = DebtCase.objects.select_related("order", "order__product", "vendor")
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    if state:
        cases = cases.filter(state=state)
    if active_only:
        cases = cases.filter(state__in=ACTIVE_STATES)
    return cases.order_by("vendor_id", "opened_at", "order_id")


def get_case(*, order_id: str) -> DebtCase:
    """The case of an order; raises DebtCase.DoesNotExist."""
    return DebtCase.objects.select_related("order", "order__product", "order__buyer",
                                           "vendor").get(order_id=order_id)


def _date(value: Any) -> str | None:
    return value.isoformat() if value else None


def case_to_dict(case: DebtCase) -> dict[str, Any]:
    """A case in the names of the handover file where the file has the field."""
    order = case.order
    return {
        "order_id": case.order_id,
        "vendor_id": case.vendor_id,
        "state": case.state,
        "incasso_state": case.incasso_state,
        "pursue": case.pursue,
        "trigger": case.trigger,
        "open_amount": f"{case.open_amount:.2f}",
        "currency": case.currency,
        "first_dunning_letter": _date(case.first_dunning_letter),
        "second_dunning_letter": _date(case.second_dunning_letter),
        "incasso_date": _date(case.incasso_date),
        "offer_link": case.offer_link,
        "reopened": case.reopened,
        "reopened_id": case.reopened_id,
        "invalid_address": case.invalid_address,
        "address_problems": case.address_problems,
        "block_reason": case.block_reason,
        "first_invoice_number": case.first_invoice_number,
        "product_id": order.product_id,
        "product_name": order.product.name,
        "buyer_id": order.buyer_id,
        "buyer_name": f"{order.buyer_first_name} {order.buyer_last_name}".strip(),
        "buyer_email": order.buyer_email,
        "ordered_at": order.created_at.isoformat(),
        "opened_at": case.opened_at.isoformat(),
    }


def timeline(*, case: DebtCase) -> list[dict[str, Any]]:
    return [
        {"at": e.at.isoformat(), "kind": e.kind, "by": e.actor, "from_state": e.from_state,
         "to_state": e.to_state, "reason": e.reason, "changes": e.changes}
        for e in case.events.all().order_by("at", "id")
    ]


def notes(*, case: DebtCase, shared_only: bool = False) -> list[dict[str, Any]]:
    qs = case.notes.all()
    if shared_only:
        qs = qs.filter(visibility="shared")
    return [{"at": n.created_at.isoformat(), "visibility": n.visibility, "by": n.author,
             "text": n.text} for n in qs]


__all__ = ["REORDER_STATES", "case_list", "case_to_dict", "cases_reordered_by", "get_case",
           "later_orders_for", "notes", "timeline"]
