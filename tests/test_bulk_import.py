"""A file of many rows goes through the bulk writes (issue 12, item 4): on PostgreSQL through
COPY (plain rows) and COPY into a temporary table with INSERT ... ON CONFLICT (upserts), on
SQLite through executemany; the results are the same, and nothing is half-written."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection

from mahnwerk import bulk
from mahnwerk.cases.models import CaseEvent, DebtCase
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import import_file
from mahnwerk.intake.models import Buyer, Incident, Order, Vendor
from tests.test_import import ORDER_HEADER, PRODUCTS, VENDORS, write

pytestmark = pytest.mark.django_db

#: More rows than bulk.COPY_UPSERT_FROM in one batch, so PostgreSQL takes the COPY paths.
MANY = bulk.COPY_UPSERT_FROM + 100


FIRST = datetime(2025, 5, 1, 10, tzinfo=UTC)


def order_rows(count: int, *, city: str = "Köln", start: int = 0) -> str:
    return "".join(
        f"o{n},48213,77120,b{n % 40},buyer{n % 40}@example.org,Erika,Muster{n % 40},"
        f"Heidestraße,{n % 90 + 1},51147,{city},DE,one_time,99.00,EUR,,,"
        f"{(FIRST + timedelta(hours=n)).isoformat()},,RE-{n}\n" for n in range(start, count))


def incident_rows(count: int) -> str:
    return "incident_id,order_id,kind,occurred_at,open_amount,currency\n" + "".join(
        f"i{n},o{n},chargeback,2025-06-01T09:00:00+02:00,99.00,EUR\n" for n in range(count))


def run_import(feed: str, path: Path, *args: str) -> None:
    call_command("import", feed, str(path), "--no-progress", *args)


@pytest.fixture
def shop(tmp_path):
    run_import("vendors", write(tmp_path, "vendors.csv", VENDORS))
    run_import("products", write(tmp_path, "products.csv", PRODUCTS))
    return tmp_path


def test_a_large_order_file_sent_again_with_changes_updates_only_the_changed_rows(shop, capsys):
    run_import("orders", write(shop, "orders.csv", ORDER_HEADER + order_rows(MANY)))
    assert Order.objects.count() == MANY
    assert Buyer.objects.count() == 40
    untouched = dict(Order.objects.filter(city="Köln").values_list("pk", "updated_at"))
    capsys.readouterr()

    moved = MANY // 3  # the first third of the orders moved to Berlin
    text = ORDER_HEADER + order_rows(moved, city="Berlin") + order_rows(MANY, start=moved)
    run_import("orders", write(shop, "orders2.csv", text))

    assert f"0 neu, {moved} geändert, {MANY - moved} unverändert" in capsys.readouterr().out
    assert Order.objects.filter(city="Berlin").count() == moved
    assert dict(Order.objects.filter(city="Köln").values_list("pk", "updated_at")) == {
        pk: at for pk, at in untouched.items() if int(pk[1:]) >= moved}
    # Each buyer keeps the address of their newest order, whichever file brought it.
    newest = Order.objects.filter(buyer_id="b0").order_by("-created_at", "-order_id").first()
    assert Buyer.objects.get(pk="b0").city == newest.city


def test_a_large_incident_file_opens_every_case_with_its_event(shop):
    run_import("orders", write(shop, "orders.csv", ORDER_HEADER + order_rows(MANY)))
    run_import("incidents", write(shop, "incidents.csv", incident_rows(MANY)))
    assert Incident.objects.count() == MANY
    assert DebtCase.objects.count() == MANY
    assert CaseEvent.objects.filter(kind="opened").count() == MANY
    case = DebtCase.objects.get(order_id="o7")
    assert (str(case.open_amount), case.first_invoice_number) == ("99.00", "RE-7")
    assert "|o7|" in case.search_text
    # 40 buyers ordered the one product again and again: a case whose buyer ordered it later
    # is marked reordered, with its event; the buyer's latest order's case stays open.
    reopened = DebtCase.objects.filter(state="reopened")
    assert reopened.count() == CaseEvent.objects.filter(kind="reordered").count() > 0
    assert DebtCase.objects.filter(state="open").count() == 40


def test_a_bad_row_after_batches_were_written_leaves_nothing_behind(shop, capsys):
    bad = order_rows(MANY + 1, start=MANY).replace(",DE,", ",XX,")  # the last row is wrong
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(MANY) + bad)
    with pytest.raises(CommandError, match="nichts wurde importiert"):
        run_import("orders", path, "--batch-size", str(bulk.COPY_UPSERT_FROM + 10))
    assert f"orders.csv:{MANY + 2}: Spalte country, Wert 'XX'" in capsys.readouterr().err
    assert (Order.objects.count(), Buyer.objects.count()) == (0, 0)


def _vendor(n: int, name: str, enrolled: bool = True) -> dict:
    return {"vendor_id": f"v{n}", "name": name, "email": f"v{n}@example.com",
            "enrolled": enrolled, "collection_mode": "approval", "dunning_by": "in_house",
            "relationship_manager": "", "escalation_channel": "", "content_hash": "",
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}


@pytest.mark.parametrize("many", [MANY, 60], ids=["a file's batch", "an API request's"])
def test_an_upsert_of_many_rows_updates_the_named_fields_and_keeps_the_others(many):
    bulk.insert_rows(Vendor, [_vendor(n, f"Alt {n}") for n in range(many)])
    rows = [_vendor(n, f"Neu {n}", enrolled=False) for n in range(0, many, 2)]
    rows += [_vendor(many + n, f"Neu {many + n}") for n in range(10)]
    bulk.insert_rows(Vendor, rows, conflict="vendor_id", update=["name"])
    assert Vendor.objects.count() == many + 10
    assert Vendor.objects.get(pk="v2").name == "Neu 2"
    assert Vendor.objects.get(pk="v2").enrolled is True, "a field not named is not updated"
    assert Vendor.objects.get(pk="v3").name == "Alt 3"


@pytest.mark.parametrize("many", [MANY, 60], ids=["a file's batch", "an API request's"])
def test_an_upsert_that_names_a_row_twice_keeps_the_last_one_as_one_by_one_would(many):
    rows = [_vendor(n % 20, f"Zeile {n}") for n in range(many)]
    bulk.insert_rows(Vendor, rows, conflict="vendor_id", update=["name"])
    assert Vendor.objects.count() == 20
    assert Vendor.objects.get(pk="v5").name == f"Zeile {max(range(5, many, 20))}"


@pytest.mark.parametrize("many", [MANY, 60], ids=["a file's batch", "an API request's"])
def test_an_upsert_when_newer_keeps_a_stored_row_that_is_newer(many):
    def buyer(n: int, city: str, day: int) -> dict:
        return {"buyer_id": f"b{n}", "email": "", "email_normalized": "", "first_name": "",
                "last_name": "", "street": "", "house_number": "", "postcode": "",
                "city": city, "country": "DE", "content_hash": "",
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
                "last_order_at": datetime(2025, 5, day, tzinfo=UTC)}

    bulk.insert_rows(Buyer, [buyer(n, "Köln", 10) for n in range(many)])
    rows = [buyer(n, "Berlin", 5 if n % 2 else 20) for n in range(many)]
    bulk.insert_rows(Buyer, rows, conflict="buyer_id", update=["city", "last_order_at"],
                     update_when_newer="last_order_at")
    assert Buyer.objects.get(pk="b0").city == "Berlin"  # newer: updated
    assert Buyer.objects.get(pk="b1").city == "Köln"  # older: the stored row stays


def test_a_long_import_leaves_no_dead_rows_in_the_staging_table_between_batches():
    """Found by the scaling benchmark on PostgreSQL: the staging table of an upsert through
    COPY was emptied with DELETE, whose rows stay (dead, unprunable) until the import's single
    transaction ends, so every batch's INSERT ... SELECT and DELETE read all the batches before
    it again: a million orders took 311 s, the incidents 444 s. After each batch the table
    holds nothing, not even dead rows."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the staging table is PostgreSQL's COPY path")
    sizes = []
    for batch in range(3):
        rows = [_vendor(batch * MANY + n, f"Händler {n}") for n in range(MANY)]
        bulk.insert_rows(Vendor, rows, conflict="vendor_id", update=["name"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(pg_relation_size(c.oid)) FROM pg_class c "
                           "WHERE c.relname LIKE 'mahnwerk_bulk_intake_vendor_%%' "
                           "AND c.relnamespace = pg_my_temp_schema()")
            sizes.append(cursor.fetchone()[0])
    assert Vendor.objects.count() == 3 * MANY
    assert sizes == [0, 0, 0], f"staging table bytes after each batch: {sizes}"


def test_a_table_that_grows_by_a_large_import_is_analysed_in_the_same_transaction():
    """Found by the scaling benchmark on PostgreSQL: after a million orders were imported the
    planner still had the statistics of an empty orders table and read all of them for each
    batch of 400 new cases (444 s for 100,000 incidents). A table that grows by many rows is
    analysed as it grows, inside the import's own transaction, so the next query of the same
    import (and the next file) is planned for its real size."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    bulk._growth.clear()
    size = bulk.ANALYZE_AFTER + 500
    bulk.insert_rows(Vendor, [_vendor(n, f"Händler {n}") for n in range(size)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'intake_vendor'")
        assert cursor.fetchone()[0] >= size
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'intake_vendor'")
        assert cursor.fetchone()[0] > 0, "the planner has column statistics"


def own_buyer_rows(count: int, *, city: str = "Köln", hours: int = 0) -> str:
    """Orders of ``count`` buyers, one each: more buyers in one batch than
    bulk.COPY_UPSERT_FROM, so PostgreSQL writes them through COPY too."""
    return ORDER_HEADER + "".join(
        f"x{n}-{hours},48213,77120,c{n},c{n}@example.org,Erika,Muster,Heidestraße,{n % 90 + 1},"
        f"51147,{city},DE,one_time,99.00,EUR,,,{(FIRST + timedelta(hours=hours)).isoformat()},,"
        f"RE-{n}\n" for n in range(count))


@pytest.fixture(params=["in one process", "beside a reader"])
def reading(request, settings):
    """A file read in the importing process (each batch writes its buyers), or in a second
    process beside it (each buyer written once, from their newest order's row, at the end)."""
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1 if request.param == "in one process" else 0


def test_buyers_sent_again_with_the_same_orders_are_not_touched(shop, reading):
    path = write(shop, "orders.csv", own_buyer_rows(MANY))
    run_import("orders", path)
    stamps = dict(Buyer.objects.values_list("pk", "updated_at"))
    run_import("orders", path)
    assert dict(Buyer.objects.values_list("pk", "updated_at")) == stamps


def test_a_buyer_whose_stored_order_is_newer_keeps_the_address_of_that_order(shop, reading):
    run_import("orders", write(shop, "new.csv", own_buyer_rows(MANY, city="Bonn", hours=48)))
    stamps = dict(Buyer.objects.values_list("pk", "updated_at"))
    run_import("orders", write(shop, "old.csv", own_buyer_rows(MANY, city="Köln")))
    assert set(Buyer.objects.values_list("city", flat=True)) == {"Bonn"}
    assert dict(Buyer.objects.values_list("pk", "updated_at")) == stamps
    run_import("orders", write(shop, "newer.csv", own_buyer_rows(MANY, city="Ulm", hours=72)))
    assert set(Buyer.objects.values_list("city", flat=True)) == {"Ulm"}


def test_a_buyer_written_outside_the_intake_is_compared_by_their_fields(shop, reading):
    """A buyer without a digest (written by an older version, or by hand) that an order names
    with the same data is left as it is; one with other data takes the order's."""
    at = FIRST + timedelta(hours=-1)
    same = {"email": "c0@example.org", "email_normalized": "c0@example.org",
            "first_name": "Erika", "last_name": "Muster", "street": "Heidestraße",
            "house_number": "1", "postcode": "51147", "city": "Köln", "country": "DE",
            "last_order_at": FIRST, "content_hash": "", "updated_at": at}
    Buyer.objects.create(buyer_id="c0", **same)
    Buyer.objects.create(buyer_id="c1", **{**same, "email": "c1@example.org",
                                           "email_normalized": "c1@example.org",
                                           "house_number": "2", "city": "Bonn"})
    Buyer.objects.update(updated_at=at)  # auto_now set it on create
    run_import("orders", write(shop, "orders.csv", own_buyer_rows(MANY)))
    kept, changed = Buyer.objects.get(pk="c0"), Buyer.objects.get(pk="c1")
    assert (kept.updated_at, kept.content_hash) == (at, "")
    assert changed.city == "Köln" and changed.content_hash and changed.updated_at > at


def test_an_anonymised_buyer_named_anew_by_a_newer_order_is_no_longer_anonymised(
        shop, reading):
    """The platform sends changed data for a buyer whose data was anonymised: the buyer takes
    it, and no longer says they are anonymised."""
    run_import("orders", write(shop, "orders.csv", own_buyer_rows(MANY)))
    Buyer.objects.filter(pk="c0").update(last_name="", street="", anonymised_at=FIRST)
    run_import("orders", write(shop, "newer.csv", own_buyer_rows(MANY, city="Ulm", hours=1)))
    buyer = Buyer.objects.get(pk="c0")
    assert (buyer.last_name, buyer.street, buyer.city) == ("Muster", "Heidestraße", "Ulm")
    assert buyer.anonymised_at is None


def test_rows_found_missing_but_written_meanwhile_are_upserted_not_refused():
    """An import finds these vendors missing and inserts them plainly (through COPY on
    PostgreSQL); one was written meanwhile by another request: the batch goes as an upsert
    instead, in the same transaction, and nothing is refused or lost."""
    bulk.insert_rows(Vendor, [_vendor(7, "Schon da")])
    rows = [_vendor(n, f"Neu {n}") for n in range(MANY)]
    bulk.insert_new_rows(Vendor, rows, conflict="vendor_id", update=["name"])
    assert Vendor.objects.count() == MANY
    assert Vendor.objects.get(pk="v7").name == "Neu 7"
    assert Vendor.objects.get(pk=f"v{MANY - 1}").name == f"Neu {MANY - 1}"


@pytest.mark.parametrize("many", [MANY, 3], ids=["a file's batch", "a few"])
def test_the_same_id_twice_among_rows_found_missing_keeps_the_later_one(many):
    """Rows found missing are inserted plainly; one id twice among them (an API request that
    names an order twice) is refused by its unique column: everything goes as the upsert then,
    the later row wins, and every row is there."""
    rows = [_vendor(n, f"Neu {n}") for n in range(many)]
    rows.append(_vendor(1, "Später"))
    rows.append(_vendor(many, "Danach"))
    bulk.insert_new_rows(Vendor, rows, conflict="vendor_id", update=["name"])
    assert Vendor.objects.count() == many + 1
    assert Vendor.objects.get(pk="v1").name == "Später"
    assert Vendor.objects.get(pk=f"v{many}").name == "Danach"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("sent", ["new orders", "new orders beside more",
                                  "an order sent again"])
def test_a_reference_to_a_row_that_was_never_written_refuses_the_whole_import(
        shop, settings, monkeypatch, sent):
    """SQLite does not check each reference as a large import writes its rows; the import
    checks, before it commits, what the rows it wrote refer to: the new rows, and the rows it
    updated (PostgreSQL checks them all at the commit). An order whose buyer was never written
    (a fault of the import's own, made here) leaves nothing behind, and afterwards SQLite
    checks each row again as it is written."""
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    before = 0 if sent == "new orders" else 40
    if before:
        run_import("orders", write(shop, "orders.csv", ORDER_HEADER + order_rows(before)))
    stored = dict(Order.objects.values_list("pk", "buyer_id"))
    monkeypatch.setattr("mahnwerk.intake.services._apply_buyers",
                        lambda records, adapted=False: None)
    rows = (order_rows(2, start=1) if sent == "an order sent again"
            else order_rows(before + 5, start=before))
    path = write(shop, "more.csv", ORDER_HEADER + rows.replace(",b", ",new-b"))
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        run_import("orders", path)
    assert dict(Order.objects.values_list("pk", "buyer_id")) == stored
    assert not Buyer.objects.filter(buyer_id__startswith="new-").exists()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA foreign_keys").fetchone() == (1,)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dry_run_leaves_every_reference_checked_as_it_is_written_again(shop, settings):
    """The references of a large import are checked once at its end; a dry run (rolled back)
    leaves SQLite checking each one as it is written again, as a committed import does."""
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(20))
    report = import_file(path=path, feed=FEEDS["orders"], actor="test", dry_run=True)
    assert report.ok and not report.committed and not Order.objects.exists()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA foreign_keys").fetchone() == (1,)
