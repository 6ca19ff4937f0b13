"""The cases app follows what the intake applied (see ``mahnwerk.intake.signals``).

The timeline stores codes with their facts (``mahnwerk.reasons``), read in each reader's
language. The notes written here (a reorder match) are text: they are written in the team's
language (settings.LANGUAGE_CODE), whatever the language of the request that sent the data.
"""

from django.conf import settings
from django.dispatch import receiver
from django.utils import translation

from mahnwerk import bulk
from mahnwerk.cases import search, services
from mahnwerk.cases.models import EventKind
from mahnwerk.intake import signals
from mahnwerk.intake.models import Incident, Payment


@receiver(signals.incidents_applied)
def incidents_applied(sender, ids, actor, read_ahead=None, **kwargs):
    with translation.override(settings.LANGUAGE_CODE):
        services.follow_orders_debts(order_ids=_orders_of(Incident, ids), actor=actor,
                                     kind=EventKind.INCIDENT, addresses=True,
                                     read_ahead=read_ahead)


@receiver(signals.incidents_read)
def incidents_read(sender, order_ids, **kwargs):
    """In an incident file's reading process: what following these orders' cases will read
    of the orders, read ahead (``services.read_orders_ahead``)."""
    return services.read_orders_ahead(order_ids=order_ids)


@receiver(signals.payments_applied)
def payments_applied(sender, ids, actor, sources=None, **kwargs):
    received = _latest_payments(ids)
    with translation.override(settings.LANGUAGE_CODE):
        services.follow_orders_debts(order_ids=sorted(received), actor=actor,
                                     kind=EventKind.PAYMENT, received=received,
                                     sources=sources)


@receiver(signals.orders_applied)
def orders_applied(sender, ids, actor, **kwargs):
    """A new order may be a later order of a debt of the same buyer and product, and may carry
    the buyer's corrected address (an order sent again too): both from one read."""
    with translation.override(settings.LANGUAGE_CODE):
        services.follow_orders(order_ids=ids, actor=actor)


def _latest_payments(ids):
    """For each order, the latest day of the payments that came in: the business date of the
    line the payments write on its case's timeline. A plain query (``bulk.select_rows``), as
    ``follow_orders_debts`` reads."""
    latest = {}
    for order_id, paid_at in bulk.select_rows(Payment, ("order_id", "paid_at"),
                                              where="payment_id", keys=ids):
        if order_id not in latest or paid_at > latest[order_id]:
            latest[order_id] = paid_at
    return latest


def _orders_of(model, ids):
    return sorted({order_id for (order_id,) in bulk.select_rows(
        model, ("order_id",), where=model._meta.pk.attname, keys=ids)})


@receiver(signals.orders_applied)
def orders_applied_search(sender, ids, actor, **kwargs):
    """An order sent again may carry another name, e-mail or invoice number: the search
    column of its case follows, and the buyer's name the case list sorts by."""
    search.refresh(order_ids=ids)
