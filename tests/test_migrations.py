"""Upgrading a database of the previous release (issue 8): the letters' days and the cases' dates
come out as the new rules read them."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BERLIN = ZoneInfo("Europe/Berlin")
OLD = [("intake", "0001_initial"), ("cases", "0001_initial"),
       ("dunning", "0002_standard_policy")]


def _old_release():
    """An empty database at the previous release's schema; returns its historical models."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys=OFF")
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'DROP TABLE "{table}"')
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    executor.loader.build_graph()
    return executor.loader.project_state(OLD).apps


def _upgrade() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upgrade_dates_letters_by_the_day_they_left_and_forgets_those_that_never_did():
    if connection.vendor != "sqlite":
        pytest.skip("rebuilds the in-memory SQLite test database from the old release's schema")
    old = _old_release()
    vendor = old.get_model("intake", "Vendor").objects.create(
        vendor_id="V1", name="V", email="v@example.com", enrolled=True,
        collection_mode="approval", dunning_by="in_house")
    product = old.get_model("intake", "Product").objects.create(
        product_id="P1", vendor=vendor, name="Kurs", dunning_enabled=True)
    buyer = old.get_model("intake", "Buyer").objects.create(
        buyer_id="B1", email="k@example.org", email_normalized="k@example.org")
    run = old.get_model("dunning", "DunningRun").objects.create(
        as_of=date(2026, 10, 1), started_by="t", state="done", lock=None)

    def case_with_letter(order_id: str, *, status: str, channel: str = "email",
                         sent_at: datetime | None = None):
        order = old.get_model("intake", "Order").objects.create(
            order_id=order_id, product=product, vendor=vendor, buyer=buyer,
            buyer_email="k@example.org", buyer_email_normalized="k@example.org",
            street="Hauptstr.", house_number="1", postcode="10115", city="Berlin", country="DE",
            payment_type="installments", amount_total=Decimal("300"), currency="EUR",
            created_at=datetime(2026, 8, 1, tzinfo=BERLIN))
        # The old release set the case's date when the letter was queued.
        case = old.get_model("cases", "DebtCase").objects.create(
            order=order, vendor=vendor, state="dunning", trigger="chargeback",
            open_amount=Decimal("300"), currency="EUR",
            opened_at=datetime(2026, 9, 1, tzinfo=BERLIN), first_dunning_letter=run.as_of,
            updated_at=datetime(2026, 10, 2, tzinfo=BERLIN))
        letter = old.get_model("dunning", "Letter").objects.create(
            case=case, level=1, run=run, letter_date=run.as_of, deadline=date(2026, 10, 15),
            principal=Decimal("300"), currency="EUR", offer_link="https://x", subject="s",
            body_html="h", body_text="t")
        old.get_model("dunning", "OutboxMessage").objects.create(
            letter=letter, case=case, channel=channel, to_address="k@example.org",
            status=status, sent_at=sent_at)

    # Blocked (the letter cancelled) and unblocked before the upgrade: it never left.
    case_with_letter("O-CANCELLED", status="cancelled")
    # Posted by the print shop four days after its run.
    case_with_letter("O-PRINTED", status="printed", channel="print",
                     sent_at=datetime(2026, 10, 5, 11, tzinfo=BERLIN))
    case_with_letter("O-SENT", status="sent", sent_at=datetime(2026, 10, 1, 9, tzinfo=BERLIN))
    _upgrade()

    from mahnwerk.cases.models import DebtCase
    from mahnwerk.dunning import services

    dates = dict(DebtCase.objects.values_list("order_id", "first_dunning_letter"))
    assert dates == {"O-CANCELLED": None, "O-PRINTED": date(2026, 10, 5),
                     "O-SENT": date(2026, 10, 1)}
    planned = {p.facts.order_id: p.decision for p in
               services.preview_run(as_of=date(2026, 10, 17))}
    assert (planned["O-CANCELLED"].action, planned["O-CANCELLED"].level) == ("send", 1), \
        "a letter that never left is written again, not counted"
    assert planned["O-PRINTED"].code == "run.not_due", "14 days from the posting day"
    assert (planned["O-SENT"].action, planned["O-SENT"].level) == ("send", 2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upgrade_keeps_the_filters_saved_before_on_the_case_list():
    """Before issue 10's last gaps only *Fälle* kept filters: they stay the case list's, and
    the same name may now be kept on another list."""
    if connection.vendor != "sqlite":
        pytest.skip("rebuilds the in-memory SQLite test database from the old release's schema")
    before = [("web", "0004_saved_filters")]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys=OFF")
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'DROP TABLE "{table}"')
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    executor.loader.build_graph()
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="support")
    old.get_model("web", "SavedFilter").objects.create(user=user, name="Alpha offen",
                                                       query="vendor=VALPHA")
    _upgrade()

    from mahnwerk.web.models import SavedFilter

    kept = SavedFilter.objects.get()
    assert (kept.list, kept.name, kept.query) == ("cases", "Alpha offen", "vendor=VALPHA")
    SavedFilter.objects.create(user_id=user.pk, list="outbox", name="Alpha offen")
    assert SavedFilter.objects.filter(name="Alpha offen").count() == 2
