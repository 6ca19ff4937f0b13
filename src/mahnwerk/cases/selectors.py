"""Reading debt cases: lists, one case with its timeline, reorder matches, the JSON shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, QuerySet

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import ACTIVE_STATES, REORDER_STATES
from mahnwerk.intake.models import Order, Vendor


class LaterOrder(NamedTuple):
    order_id: str
    created_at: datetime
    sales_agent: str


def later_orders_for(*, cases: Sequence[DebtCase]) -> dict[str, LaterOrder]:
    """For each case, the earliest later order by the same buyer for the same product.

    The buyer is matched by normalised e-mail, then by buyer id (process.md §6). Plain tuples
    rather than model objects: an import asks this for a hundred thousand new cases.
    """
    if not cases:
        return {}
    result: dict[str, LaterOrder] = {}
    fields = ("order_id", "product_id", "buyer_id", "buyer_email_normalized", "created_at",
              "sales_agent")
    for start in range(0, len(cases), 400):
        chunk = list(Order.objects.filter(pk__in=[c.order_id for c in cases[start:start + 400]])
                     .values_list(*fields))
        products = {row[1] for row in chunk}
        by_buyer: dict[tuple[str, str], list[tuple]] = {}
        by_email: dict[tuple[str, str], list[tuple]] = {}
        for row in Order.objects.filter(product_id__in=products,
                                        buyer_id__in={row[2] for row in chunk}
                                        ).values_list(*fields):
            by_buyer.setdefault((row[1], row[2]), []).append(row)
        emails = {row[3] for row in chunk if row[3]}
        if emails:
            for row in Order.objects.filter(product_id__in=products,
                                            buyer_email_normalized__in=emails
                                            ).values_list(*fields):
                by_email.setdefault((row[1], row[3]), []).append(row)
        for order_id, product_id, buyer_id, email, created_at, _agent in chunk:
            found = by_buyer.get((product_id, buyer_id), [])
            if email:
                found = found + by_email.get((product_id, email), [])
            later = [row for row in found if row[4] > created_at and row[0] != order_id]
            if later:
                first = min(later, key=lambda row: (row[4], row[0]))
                result[order_id] = LaterOrder(first[0], first[4], first[5])
    return result


def cases_reordered_by(*, order_ids: Sequence[str]) -> list[DebtCase]:
    """Cases not yet marked reordered whose buyer placed one of these orders for the same
    product after the case's own order."""
    if not DebtCase.objects.filter(reopened=False).exists():
        return []
    new_orders = list(Order.objects.filter(pk__in=order_ids))
    if not new_orders:
        return []
    products = {o.product_id for o in new_orders}
    buyers = {o.buyer_id for o in new_orders}
    emails = {o.buyer_email_normalized for o in new_orders if o.buyer_email_normalized}
    # Two plain queries rather than one with OR: each can use its index (order_reorder_*).
    base = DebtCase.objects.filter(reopened=False).exclude(order_id__in=order_ids)
    found = {c.pk: c for c in base.filter(order__buyer_id__in=buyers,
                                          order__product_id__in=products)
             .select_related("order")}
    if emails:
        found.update((c.pk, c) for c in base.filter(order__buyer_email_normalized__in=emails,
                                                    order__product_id__in=products)
                     .select_related("order"))
    return [c for c in found.values()
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


def count_by_state(*, vendor_id: str | None = None) -> dict[str, int]:
    """How many cases are in each state (states without cases are left out)."""
    cases = DebtCase.objects.all()
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return dict(cases.order_by().values_list("state").annotate(n=Count("id")))


def vendor_exists(*, vendor_id: str) -> bool:
    return Vendor.objects.filter(pk=vendor_id).exists()


__all__ = ["REORDER_STATES", "case_list", "case_to_dict", "cases_reordered_by", "count_by_state",
           "get_case", "later_orders_for", "notes", "timeline", "vendor_exists"]
