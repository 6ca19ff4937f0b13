"""Reading for collection: the master list, routing, the approval and collection lists."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from mahnwerk.cases.models import DebtCase
from mahnwerk.cases.states import CaseState
from mahnwerk.collection.models import CollectionPartner, RoutingRule


def master_list(*, vendor_id: str) -> QuerySet[DebtCase]:
    """Every case of the vendor, whatever its state (process.md section 5)."""
    return (DebtCase.objects.filter(vendor_id=vendor_id)
            .select_related("order", "order__product", "vendor")
            .prefetch_related("notes").order_by("order_id"))


def approval_list(*, vendor_id: str | None = None) -> QuerySet[DebtCase]:
    """"Warten auf Freigabe": escalated cases waiting for the vendor's word."""
    cases = DebtCase.objects.filter(state=CaseState.ON_HOLD)
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return cases.select_related("order", "order__product", "vendor").order_by(
        "vendor_id", "order_id")


def collection_list(*, vendor_id: str | None = None) -> QuerySet[DebtCase]:
    """"Inkasso - Cancelled Installments": cases on their way to or with the agency."""
    cases = DebtCase.objects.filter(state__in=[CaseState.ON_HOLD, CaseState.APPROVED,
                                               CaseState.SENT_FOR_COLLECTION])
    if vendor_id:
        cases = cases.filter(vendor_id=vendor_id)
    return cases.select_related("order", "order__product", "vendor").order_by(
        "vendor_id", "order_id")


def partner_for(*, case: DebtCase, rules: list[RoutingRule] | None = None
                ) -> CollectionPartner | None:
    """The partner of the first routing rule that matches the case."""
    rules = rules if rules is not None else active_rules()
    return route(rules=rules, vendor_id=case.vendor_id, country=case.order.country,
                 trigger=case.trigger)


def active_rules() -> list[RoutingRule]:
    return list(RoutingRule.objects.select_related("partner").filter(partner__active=True))


def route(*, rules: list[RoutingRule], vendor_id: str, country: str, trigger: str
          ) -> CollectionPartner | None:
    country = (country or settings.MAHNWERK_DEFAULT_COUNTRY).upper()
    for rule in rules:
        if rule.vendor_id and rule.vendor_id != vendor_id:
            continue
        if rule.trigger and rule.trigger != trigger:
            continue
        wanted = rule.buyer_country.upper()
        if wanted.startswith("!") and country == wanted[1:]:
            continue
        if wanted and not wanted.startswith("!") and country != wanted:
            continue
        return rule.partner
    return None
