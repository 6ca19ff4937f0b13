"""A large file is read in a second process beside the writer (issue 12, point 4): reading,
parsing and digesting there, checking references and writing here. The import keeps its word
all the same: all or nothing, every problem with file, line, column and value, the rejects
file, the dry run, progress after each batch; and a reader that fails or dies is reported with
its line, never waited for for ever. ``MAHNWERK_IMPORT_PARALLEL_BYTES = 0`` sends even these
small files through the second process."""

import csv
import json
import multiprocessing
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext, override_settings
from openpyxl import Workbook

from mahnwerk.cases.models import DebtCase
from mahnwerk.intake import importing
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import ImportFileError, import_file
from mahnwerk.intake.models import Buyer, Incident, Order, Payment
from tests.test_bulk_import import incident_rows, order_rows
from tests.test_import import ORDER_HEADER, PRODUCTS, VENDORS, write

pytestmark = pytest.mark.django_db

#: Rows for several batches of BATCH, and a file far larger than one read buffer (8 KB), so
#: the reader goes on reading where the writer's process opened the file.
ROWS = 700
BATCH = 200


@pytest.fixture(autouse=True)
def _every_file_in_a_second_process(settings):
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = 0


@pytest.fixture
def shop(tmp_path):
    call_command("import", "vendors", str(write(tmp_path, "vendors.csv", VENDORS)),
                 "--no-progress")
    call_command("import", "products", str(write(tmp_path, "products.csv", PRODUCTS)),
                 "--no-progress")
    return tmp_path


def orders(path: Path, **kwargs):
    return import_file(path=path, feed=FEEDS["orders"], actor="test",
                       batch_size=BATCH, **kwargs)


def nothing_written() -> bool:
    return (Order.objects.count(), Buyer.objects.count()) == (0, 0)


def test_a_large_order_file_read_beside_the_writer_is_applied_as_in_one_process(
        shop, settings):
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS))
    assert os.path.getsize(path) > 8 * 8192
    report = orders(path)
    assert report.committed and report.ok
    assert (report.rows, report.applied.created) == (ROWS, ROWS)
    assert Order.objects.count() == ROWS
    assert Order.objects.get(pk="o699").first_invoice_number == "RE-699"
    newest = Order.objects.filter(buyer_id="b3").order_by("-created_at").first()
    assert Buyer.objects.get(pk="b3").last_order_at == newest.created_at

    # The digests the reader computed are the ones the writer computes: the same file read in
    # one process changes nothing, neither the orders nor their buyers.
    stamps = (dict(Order.objects.values_list("pk", "updated_at")),
              dict(Buyer.objects.values_list("pk", "updated_at")))
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    again = orders(path)
    assert (again.applied.created, again.applied.updated, again.applied.unchanged) == (
        0, 0, ROWS)
    assert stamps == (dict(Order.objects.values_list("pk", "updated_at")),
                      dict(Buyer.objects.values_list("pk", "updated_at")))
    assert multiprocessing.active_children() == [], "the reader is gone once the file is read"


def test_values_the_reader_puts_in_the_databases_form_are_stored_as_in_one_process(
        shop, settings):
    """The reader hands the writer an order's moment and amounts in the form the database is
    sent (on SQLite, text); what is stored is what an import in one process stores: an offset
    and fractions of a second, cents, an empty instalment count, and the buyer as on their
    newest order when an order half a second older follows it in the batch."""
    rows = (order_rows(ROWS)
            + "o-x1,48213,77120,b-x,x@example.org,Ada,Xu,Weg,1,10115,Berlin,DE,installments,"
              "1234.05,EUR,6,,2025-07-01T14:30:00.5+02:00,,RE-x1\n"
            + "o-x2,48213,77120,b-x,x@example.org,Ada,Yu,Gasse,2,10115,Berlin,DE,one_time,"
              "0.10,EUR,,,2025-07-01T12:30:00+00:00,,RE-x2\n")
    path = write(shop, "orders.csv", ORDER_HEADER + rows)
    fields = [f.attname for f in Order._meta.concrete_fields if f.name != "updated_at"]
    buyer_fields = [f.attname for f in Buyer._meta.concrete_fields if f.name != "updated_at"]

    def stored():
        return (list(Order.objects.order_by("pk").values_list(*fields)),
                list(Buyer.objects.order_by("pk").values_list(*buyer_fields)))

    assert orders(path).committed
    beside = stored()
    Order.objects.all().delete()
    Buyer.objects.all().delete()
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    assert orders(path).committed
    assert stored() == beside
    buyer = Buyer.objects.get(pk="b-x")
    assert (buyer.last_name, str(buyer.last_order_at)) == ("Xu",
                                                           "2025-07-01 12:30:00.500000+00:00")
    assert str(Order.objects.get(pk="o-x1").amount_total) == "1234.05"


def test_a_file_sent_again_through_the_second_process_changes_nothing(shop):
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS))
    orders(path)
    report = orders(path)
    assert (report.applied.created, report.applied.updated, report.applied.unchanged) == (
        0, 0, ROWS)


def test_incidents_read_beside_the_writer_open_their_cases(shop):
    orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))
    report = import_file(path=write(shop, "incidents.csv", incident_rows(ROWS)),
                         feed=FEEDS["incidents"], actor="test", batch_size=BATCH)
    assert report.committed and report.applied.created == ROWS
    assert DebtCase.objects.count() == ROWS


#: Orders whose cases' addresses and reorder marks depend on the buyers' other orders: a buyer
#: whose older order lacks the address a newer one gives, a buyer known only by an address-less
#: order, one who came back under another id with the same e-mail (in another spelling).
ORDERS_OF_BUYERS = (
    "ox1,48213,77120,bx,bx@example.org,Ada,Xu,,,,,DE,one_time,99.00,EUR,,,"
    "2025-05-01T10:00:00+00:00,,RE-x1\n"
    "ox2,48213,77120,bx,bx@example.org,Ada,Xu,Neue Straße,7,50667,Köln,DE,one_time,99.00,EUR,,,"
    "2025-05-03T10:00:00+00:00,,RE-x2\n"
    "oy1,48213,77120,by,by@example.org,Bo,Yu,,,,,DE,one_time,99.00,EUR,,,"
    "2025-05-01T10:00:00+00:00,,RE-y1\n"
    "oz1,48213,77120,bz,Z+shop@example.org,Cy,Zo,Weg,1,50667,Köln,DE,one_time,99.00,EUR,,,"
    "2025-05-01T10:00:00+00:00,,RE-z1\n"
    "oz2,48213,77120,bz2,z@EXAMPLE.org,Cy,Zo,Gasse,2,10115,Berlin,DE,one_time,99.00,EUR,,,"
    "2025-05-04T10:00:00+00:00,ag-7,RE-z2\n")


def incidents_of_buyers(count: int) -> str:
    """An incident for each of ``count`` orders of ``order_rows`` and for the orders above;
    then, in the last batch, a later incident for the first ten (their cases exist by then,
    and follow the address again)."""
    return incident_rows(count) + "".join(
        f"i-{order},{order},chargeback,2025-06-01T09:00:00+02:00,99.00,EUR\n"
        for order in ("ox1", "oy1", "oz1")) + "".join(
        f"again{n},o{n},stopped_installments,2025-06-20T09:00:00+02:00,49.00,EUR\n"
        for n in range(10))


#: What an incident import leaves: each case with its reorder mark and address flag, and its
#: events (their times and ids aside).
OUTCOME = ("SELECT c.order_id, c.state, c.reopened, c.reopened_id, c.invalid_address_computed, "
           "c.address_problems, c.open_amount, e.kind, e.code, e.params, e.changes "
           "FROM cases_caseevent e JOIN cases_debtcase c ON c.id = e.case_id "
           "ORDER BY c.order_id, e.id")

def reads_orders(sql: str) -> bool:
    """Whether a query reads orders: not the last rowid, nor the check, before the commit, that
    the rows written refer to stored orders (``bulk.references_checked_at_the_end``)."""
    return ('FROM "intake_order"' in sql and "MAX(rowid)" not in sql
            and 'SELECT 1 FROM "intake_order"' not in sql)


#: A file's import in a process of its own, on the SQLite file named by DATABASE_URL (no other
#: process can read an in-memory test database): prints whether it committed, the rows it
#: created, how often the writer read the orders, and its problems.
IMPORT_IN_A_PROCESS = """
import json, sys
from pathlib import Path
import django
django.setup()
from django.db import connection
from mahnwerk.intake.feeds import FEEDS
from mahnwerk.intake.importing import import_file
from tests.test_import_parallel import reads_orders
reads = []
def count(execute, sql, params, many, context):
    if reads_orders(sql):
        reads.append(sql)
    return execute(sql, params, many, context)
with connection.execute_wrapper(count):
    report = import_file(path=Path(sys.argv[1]), feed=FEEDS[sys.argv[2]], actor="test",
                         batch_size=int(sys.argv[3]))
print(json.dumps([report.committed, report.applied.created, len(reads),
                  [str(p) for p in report.problems]]))
"""


def import_and_undo(path: Path, feed: str, parallel: int, tmp_path: Path) -> tuple[list, list]:
    """Import the file (``MAHNWERK_IMPORT_PARALLEL_BYTES = parallel``) and undo it: [committed,
    rows created, the writer's reads of the orders, its problems], and the cases and events it
    left (``OUTCOME``)."""
    if connection.vendor == "sqlite":  # on a copy, in a process of its own
        copy = tmp_path / f"mahnwerk-{feed}-{parallel}.sqlite3"
        with sqlite3.connect(copy) as target:
            target.executescript("\n".join(connection.connection.iterdump()))
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_IN_A_PROCESS, str(path), feed, str(BATCH)],
            env={**os.environ, "DATABASE_URL": f"sqlite:///{copy}",
                 "DJANGO_SETTINGS_MODULE": "mahnwerk.settings",
                 "MAHNWERK_IMPORT_PARALLEL_BYTES": str(parallel)},
            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
            timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        with sqlite3.connect(copy) as stored:
            return json.loads(done.stdout.splitlines()[-1]), stored.execute(OUTCOME).fetchall()
    with override_settings(MAHNWERK_IMPORT_PARALLEL_BYTES=parallel), \
            CaptureQueriesContext(connection) as queries:
        report = import_file(path=path, feed=FEEDS[feed], actor="test", batch_size=BATCH)
    with connection.cursor() as cursor:
        cursor.execute(OUTCOME)
        outcome = cursor.fetchall()
    DebtCase.objects.all().delete()
    Incident.objects.all().delete()
    Payment.objects.all().delete()
    return [report.committed, report.applied.created,
            sum(map(reads_orders, (q["sql"] for q in queries))),
            [str(p) for p in report.problems]], outcome


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_orders_an_incident_file_reads_are_read_ahead_and_open_the_same_cases(
        shop, settings, tmp_path):
    """The reader of an incident file reads what opening and following their cases reads of the
    orders (their buyers' other orders: a later order of the product, the newest address),
    with a connection of its own, while the writer writes: the writer reads none of it, and
    the cases, reorder marks, address flags and events are those an import in one process
    leaves. (SQLite's test database lives in memory, where no other process can read it: there
    the imports run in a process of their own, each on a copy of it in a file.)"""
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS) + ORDERS_OF_BUYERS))
    path = write(shop, "incidents.csv", incidents_of_buyers(ROWS))
    one, in_one = import_and_undo(path, "incidents", -1, tmp_path)
    beside, read_beside = import_and_undo(path, "incidents", 0, tmp_path)

    assert one[:2] == beside[:2] == [True, ROWS + 3 + 10], (one, beside)
    assert one[2] > 0 and beside[2] == 0, "the writer read no order: the reader did"
    assert read_beside == in_one
    cases = {row[0]: row for row in read_beside}
    assert tuple(cases["ox1"][4:6]) == (False, "")  # the newer order's address counts
    assert cases["oy1"][4] and cases["oy1"][5]  # no address anywhere
    assert tuple(cases["oz1"][2:4]) == (True, "oz2")  # the same e-mail, another id, again
    assert tuple(cases["o1"][2:4]) == (True, "o41")  # order_rows: buyer b1 forty hours later
    assert multiprocessing.active_children() == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_orders_found_by_the_reader_are_checked_as_the_writer_checks_them(
        shop, settings, tmp_path):
    """The reader of an incident or payment file finds the orders its rows name, with their
    currency, so the writer reads none of them; a row naming an order that is not stored (the
    writer asks for it once more), or in another currency than its order's, is still refused
    with its line, as in one process. The payments then follow their cases as in one
    process."""
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))
    lines = incident_rows(ROWS).splitlines(keepends=True)
    lines[301] = lines[301].replace(",o300,", ",o-unknown,")
    lines[602] = lines[602].replace(",EUR", ",CHF")
    bad = write(shop, "incidents.csv", "".join(lines))
    in_one = import_and_undo(bad, "incidents", -1, tmp_path)[0]
    beside = import_and_undo(bad, "incidents", 0, tmp_path)[0]
    assert in_one[3] == beside[3] and [p.split(": ")[0] for p in beside[3]] == [
        "incidents.csv:302", "incidents.csv:603"]
    assert "o-unknown" in beside[3][0] and "CHF" in beside[3][1]
    assert not beside[0]
    assert beside[2] == 1, "the writer asked only for the order the reader did not find"

    incidents = write(shop, "incidents.csv", incident_rows(ROWS))
    payments = write(shop, "payments.csv", "payment_id,order_id,amount,currency,paid_at,"
                     "channel\n" + "".join(
                         f"p{n},o{n},{'99.00' if n % 2 else '40.00'},EUR,"
                         f"2025-06-10T09:00:00+02:00,other\n" for n in range(ROWS)))

    def payments_on_their_cases(parallel):
        import_file(path=incidents, feed=FEEDS["incidents"], actor="test", batch_size=BATCH)
        return import_and_undo(payments, "payments", parallel, tmp_path)

    (one, after_one), (read, after_read) = map(payments_on_their_cases, (-1, 0))
    assert one[:2] == read[:2] == [True, ROWS], (one, read)
    assert one[2] > 0 and read[2] == 0, "the writer read no order: the reader did"
    assert after_read == after_one
    assert {"paid", "open"} <= {row[1] for row in after_read}  # (others reordered)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reader_that_cannot_read_the_orders_leaves_them_to_the_writer(
        shop, settings, monkeypatch):
    if connection.vendor == "sqlite":
        pytest.skip("the reader reads ahead with a connection of its own, which SQLite's "
                    "in-memory test database cannot give; CI runs this test on PostgreSQL")
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))

    def unreachable(order_ids):
        raise OperationalError("connection refused")

    monkeypatch.setattr(importing, "order_currencies", unreachable)  # in the forked reader
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = 0
    with CaptureQueriesContext(connection) as queries:
        report = import_file(path=write(shop, "incidents.csv", incident_rows(ROWS)),
                             feed=FEEDS["incidents"], actor="test", batch_size=BATCH)
    assert report.committed and report.applied.created == ROWS
    assert DebtCase.objects.count() == ROWS
    assert any('FROM "intake_order"' in q["sql"] for q in queries)


def test_a_bad_row_after_good_batches_leaves_nothing_behind(shop, capsys):
    bad = order_rows(ROWS + 1, start=ROWS).replace(",DE,", ",XX,")
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS) + bad)
    with pytest.raises(CommandError, match="nichts wurde importiert"):
        call_command("import", "orders", str(path), "--no-progress",
                     "--batch-size", str(BATCH))
    assert f"orders.csv:{ROWS + 2}: Spalte country, Wert 'XX'" in capsys.readouterr().err
    assert nothing_written()


def test_an_unknown_product_found_by_the_writer_is_named_with_its_line(shop):
    text = ORDER_HEADER + order_rows(ROWS)
    lines = text.splitlines(keepends=True)
    lines[451] = lines[451].replace(",77120,", ",99999,")
    report = orders(write(shop, "orders.csv", "".join(lines)))
    assert [(p.line, p.column, p.value) for p in report.problems] == [
        (452, "product_id", "99999")]
    assert "unbekanntes Produkt" in report.problems[0].reason
    assert not report.committed and nothing_written()


def test_the_same_id_twice_is_named_with_the_line_it_first_appeared_on(shop):
    text = ORDER_HEADER + order_rows(ROWS) + order_rows(501, start=500)
    report = orders(write(shop, "orders.csv", text))
    assert [(p.line, p.value) for p in report.problems] == [(ROWS + 2, "o500")]
    assert "dieselbe ID wie in Zeile 502" in report.problems[0].reason
    assert nothing_written()


def test_skip_invalid_applies_the_good_rows_and_writes_the_bad_ones_with_their_lines(shop):
    lines = (ORDER_HEADER + order_rows(ROWS)).splitlines(keepends=True)
    lines[10] = lines[10].replace(",DE,", ",XX,")  # refused by the reader (line 11)
    lines[600] = lines[600].replace(",77120,", ",99999,")  # by the writer (line 601)
    rejects = shop / "rejects.csv"
    report = orders(write(shop, "orders.csv", "".join(lines)), skip_invalid=True,
                    rejects_path=rejects)
    assert report.committed and report.rejected_rows == 2
    assert report.applied.created == ROWS - 2 == Order.objects.count()
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["order_id"], r["line"]) for r in rows] == [("o9", "11"), ("o599", "601")]
    assert "unbekanntes Produkt" in rows[1]["problems"]
    assert rows[1]["city"] == "Köln", "the rejected row is written as it came"


def test_a_broken_csv_line_after_good_batches_is_named_and_nothing_is_applied(shop):
    text = ORDER_HEADER + order_rows(ROWS) + 'o9999,"48213,77120\n'
    with pytest.raises(ImportFileError, match=rf"orders.csv:{ROWS + 2}: .*CSV"):
        orders(write(shop, "orders.csv", text))
    assert nothing_written()
    assert multiprocessing.active_children() == []


def test_a_byte_that_is_not_utf8_is_named_with_its_line(shop):
    path = shop / "orders.csv"
    path.write_bytes((ORDER_HEADER + order_rows(ROWS)).encode()
                     + order_rows(ROWS + 1, start=ROWS).encode("latin-1"))
    with pytest.raises(ImportFileError,  # the ß of Heidestraße in Latin-1
                       match=rf"orders.csv:{ROWS + 2}: die Bytes df sind kein UTF-8"):
        orders(path)
    assert nothing_written()


def test_a_dry_run_says_what_would_change_and_writes_nothing(shop):
    report = orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)), dry_run=True)
    assert report.ok and not report.committed
    assert report.applied.created == ROWS
    assert nothing_written()


def test_progress_and_each_batch_are_reported_as_the_writer_goes(shop):
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS))
    seen, rows = [], []
    orders(path, progress=lambda done, total: seen.append((done, total)),
           on_batch=lambda report, done, total: rows.append(report.rows))
    assert len(seen) == 4  # batches of 200, 200, 200 and 100
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (os.path.getsize(path), os.path.getsize(path))
    assert rows == [200, 400, 600, 700]


def test_a_workbook_is_read_in_the_second_process_too(shop):
    workbook = Workbook()
    for row in csv.reader((ORDER_HEADER + order_rows(ROWS)).splitlines()):
        workbook.active.append(row)
    workbook.active["N3"] = 99.5  # a number cell
    workbook.save(shop / "orders.xlsx")
    report = orders(shop / "orders.xlsx")
    assert report.committed and report.applied.created == ROWS
    assert str(Order.objects.get(pk="o1").amount_total) == "99.50"


def test_a_reader_that_dies_is_reported_with_the_last_line_the_writer_got_and_nothing_is_applied(
        shop, monkeypatch):
    """The writer names the last line it got. (The reader sends from a thread, a few batches
    ahead: here it dies once the two batches before were sent, so they are the ones got.)"""
    real, calls, budgets = importing.digest_records, [], []

    class Budget(importing._Budget):
        def __init__(self, limit):
            super().__init__(limit)
            budgets.append(self)

    def dying(**kwargs):
        calls.append(1)
        if len(calls) == 3:  # in the reader: the third batch is never sent
            with budgets[-1].changed:
                assert budgets[-1].changed.wait_for(lambda: budgets[-1].used == 0, timeout=60)
            os.kill(os.getpid(), signal.SIGKILL)
        real(**kwargs)

    monkeypatch.setattr(importing, "digest_records", dying)
    monkeypatch.setattr(importing, "_Budget", Budget)
    killed_reader_is_named_after(shop, 401)  # the last line of the second batch


def killed_reader_is_named_after(shop: Path, line: int) -> None:
    """An import of ROWS orders whose reader is killed (SIGKILL) fails, names ``line`` (the
    last line the writer got) and the exit code, writes nothing and leaves no process."""
    with pytest.raises(ImportFileError) as error:
        orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))
    assert f"orders.csv:{line}:" in str(error.value)
    assert "-9" in str(error.value)
    assert nothing_written()
    assert multiprocessing.active_children() == []


def test_a_reader_that_fails_unexpectedly_is_reported_with_its_line(shop, monkeypatch):
    real = FEEDS["orders"].parse

    def failing(raw):
        if raw["order_id"] == "o300":
            raise TypeError("kaputt")
        return real(raw)

    monkeypatch.setattr(importing, "_chunks", _with_parse(importing._chunks, failing))
    with pytest.raises(ImportFileError, match=r"orders.csv:302: .*TypeError: kaputt"):
        orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))
    assert nothing_written()


def _with_parse(chunks, parse):
    """``_chunks`` reading with another ``parse`` (the feed itself is frozen)."""

    class Feed:
        def __init__(self, feed):
            self.name, self.key, self.parse = feed.name, feed.key, parse

    def reading(source, feed, **kwargs):
        return chunks(source, Feed(feed), **kwargs)

    return reading


def test_a_writer_that_gives_up_stops_its_reader(shop):
    def cancel(report, done, total):
        raise RuntimeError("abgebrochen")

    with pytest.raises(RuntimeError, match="abgebrochen"):
        orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)), on_batch=cancel)
    assert multiprocessing.active_children() == []
    assert nothing_written()


def test_a_reader_whose_writer_is_gone_ends_by_itself(tmp_path):
    """The writer's end of the pipe is closed (as when the writer was killed): the reader ends
    at its next chunk instead of waiting for ever."""
    path = write(tmp_path, "orders.csv", ORDER_HEADER + order_rows(ROWS))
    source = importing.open_source(path)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=importing._Reader._run,
                              args=(sender, source, FEEDS["orders"], 10, False, receiver))
    process.start()
    sender.close()
    receiver.close()
    process.join(timeout=30)
    assert process.exitcode == 1


def test_a_reader_forked_from_a_worker_that_ignores_sigterm_still_ends_on_it(shop, monkeypatch):
    """A web or Celery worker has its own SIGTERM handler; the reader forked from it does not
    keep it, so the writer's ``terminate`` ends it (not only the ``kill`` after 5 s)."""
    ended = []
    real_stop = importing._Reader.stop

    def stop(self):
        real_stop(self)
        ended.append(self.process.exitcode)

    def cancel(report, done, total):
        raise RuntimeError("abgebrochen")

    monkeypatch.setattr(importing._Reader, "stop", stop)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with pytest.raises(RuntimeError):
            orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)), on_batch=cancel)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert ended in ([-signal.SIGTERM], [0])  # 0: it had sent its last chunk and ended
    assert nothing_written()


def test_a_process_that_may_not_fork_a_reader_reads_the_file_itself(shop, monkeypatch):
    def refused(self):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(multiprocessing.get_context("fork").Process, "start", refused)
    report = orders(write(shop, "orders.csv", ORDER_HEADER + order_rows(ROWS)))
    assert report.committed and report.applied.created == ROWS == Order.objects.count()


def test_vendors_and_products_first_named_in_a_later_batch_are_found_and_checked(shop):
    """The writer remembers the vendors and products it found in earlier batches of the file;
    one named first in a later batch is still looked up, and still has to fit its vendor."""
    lines = (ORDER_HEADER + order_rows(ROWS)).splitlines(keepends=True)
    lines[650] = lines[650].replace(",48213,77120,", ",48214,77121,")  # fits: line 651
    lines[660] = lines[660].replace(",48213,77120,", ",48213,77121,")  # does not: line 661
    report = orders(write(shop, "orders.csv", "".join(lines)))
    assert [(p.line, p.column, p.value) for p in report.problems] == [
        (661, "product_id", "77121")]
    assert "das Produkt gehört zu Vendor 48214, nicht zu 48213" in report.problems[0].reason


def _buyer_row(order: str, last_name: str, created_at: str, product: str = "77120",
               buyer: str = "b-x") -> str:
    return (f"{order},48213,{product},{buyer},{buyer}@example.org,Ada,{last_name},Weg,1,10115,"
            f"Berlin,DE,one_time,10.00,EUR,,,{created_at},,RE-{order}\n")


def _buyer_writes(monkeypatch) -> list[dict]:
    """The buyer rows the writer sends to the database."""
    from mahnwerk import bulk

    written: list[dict] = []
    insert_rows = bulk.insert_rows

    def spying(model, rows, **kwargs):
        if model is Buyer:
            written.extend(rows)
        return insert_rows(model, rows, **kwargs)

    monkeypatch.setattr(bulk, "insert_rows", spying)
    return written


def test_a_buyer_is_written_once_from_their_newest_order_in_the_whole_file(
        shop, settings, monkeypatch):
    """The writer looks through the file first for each buyer's newest order, and so
    writes each buyer once instead of once for every batch that holds one of their orders.
    Newest by the moment, not by the text: an order at 12:30 UTC written with an offset is
    newer than one at 13:00+02:00; of two at the same moment the later line wins; German clock
    times without an offset in the hour skipped in spring (02:30 is 01:30 UTC, 03:00 is 01:00
    UTC). The buyers stored are those an import in one process stores."""
    rows = (_buyer_row("o-x1", "Newest", "2025-07-01T12:30:00+00:00")  # batch 1
            + _buyer_row("o-y1", "Newer", "2025-03-30T02:30:00", buyer="b-y")
            + order_rows(BATCH)                                         # batch 1 and 2
            + _buyer_row("o-x2", "Older", "2025-07-01T13:00:00+02:00")  # batch 2
            + _buyer_row("o-y2", "Older", "2025-03-30T03:00:00", buyer="b-y")
            + order_rows(2 * BATCH, start=BATCH)
            + _buyer_row("o-x3", "Tie later line", "2025-07-01T14:30:00+02:00"))
    path = write(shop, "orders.csv", ORDER_HEADER + rows)
    written = _buyer_writes(monkeypatch)
    assert orders(path).committed
    buyer_fields = [f.attname for f in Buyer._meta.concrete_fields if f.name != "updated_at"]
    beside = list(Buyer.objects.order_by("pk").values_list(*buyer_fields))
    assert Buyer.objects.get(pk="b-x").last_name == "Tie later line"
    assert Buyer.objects.get(pk="b-y").last_name == "Newer"
    assert sorted(row["buyer_id"] for row in written) == sorted(
        Buyer.objects.values_list("pk", flat=True)), "each buyer written once"

    Order.objects.all().delete()
    Buyer.objects.all().delete()
    settings.MAHNWERK_IMPORT_PARALLEL_BYTES = -1
    assert orders(path).committed
    assert list(Buyer.objects.order_by("pk").values_list(*buyer_fields)) == beside
    assert len(written) > 2 * len(beside), "in one process, once a batch"


def test_with_skip_invalid_a_refused_newest_order_leaves_the_buyer_of_the_next_newest(shop):
    """Skipping invalid rows, the newest order of a buyer may be refused by the writer (here
    its product is unknown): the buyer is then as their newest order that was applied."""
    rows = (_buyer_row("o-x1", "Applied", "2025-07-01T10:00:00+00:00")
            + order_rows(BATCH)
            + _buyer_row("o-x2", "Refused", "2025-07-02T10:00:00+00:00", product="99999"))
    path = write(shop, "orders.csv", ORDER_HEADER + rows)
    report = orders(path, skip_invalid=True, rejects_path=shop / "rejects.csv")
    assert report.committed and report.rejected_rows == 1
    assert Buyer.objects.get(pk="b-x").last_name == "Applied"


def test_rows_the_first_pass_did_not_see_still_write_their_buyers(shop, monkeypatch):
    """A file that grew after the writer's first pass (or a pass that stopped early): the rows
    after the last line it read write their buyers as every batch did before, so that no
    order is left without its buyer."""
    seen_until = BATCH  # the header and the first BATCH - 1 orders: not the order of b-z

    def partly(handle, size):
        found = newest_orders(handle, size)
        return importing._NewestOrders({line for line in found.lines if line <= seen_until},
                                       seen_until)

    newest_orders = importing._newest_orders
    monkeypatch.setattr(importing, "_newest_orders", partly)
    rows = (order_rows(BATCH)
            + _buyer_row("o-z1", "Only after", "2025-07-01T10:00:00+00:00", buyer="b-z")
            + order_rows(2 * BATCH, start=BATCH))
    report = orders(write(shop, "orders.csv", ORDER_HEADER + rows))
    assert report.committed and report.ok
    assert Buyer.objects.get(pk="b-z").last_name == "Only after"
    assert Buyer.objects.count() == 41  # b0 … b39 of order_rows, and b-z


def test_an_order_added_to_the_file_after_the_reader_read_it_leaves_the_buyer_as_read(
        shop, monkeypatch):
    """The writer's pass reads the whole lines the file had when the import opened it. A line
    added later, after the reader had read to the end, is not the buyer's newest order: the
    buyer is written from the orders the reader sent (a pass that read the added line marked
    it alone, which the reader never sent, and the buyer was not written at all)."""
    path = write(shop, "orders.csv", ORDER_HEADER + order_rows(20)
                 + _buyer_row("o-x1", "Read", "2025-07-01T10:00:00+00:00"))

    def after_the_reader(handle, size):
        for child in multiprocessing.active_children():  # it has sent everything and ended
            child.join(timeout=60)
        with path.open("a", encoding="utf-8") as grown:
            grown.write(_buyer_row("o-x2", "Added", "2025-07-01T11:00:00+00:00"))
        return newest_orders(handle, size)

    newest_orders = importing._newest_orders
    monkeypatch.setattr(importing, "_newest_orders", after_the_reader)
    report = orders(path)
    assert report.committed and report.ok and report.applied.created == 21
    assert Buyer.objects.get(pk="b-x").last_name == "Read"
    assert not Order.objects.filter(pk="o-x2").exists()


def test_a_reader_that_dies_in_the_middle_of_a_chunk_is_reported_and_nothing_is_applied(
        shop, monkeypatch):
    """The reader's thread may be killed while it writes a chunk into the pipe: the writer
    then finds the message cut off, and says so as for any reader that stopped (with the last
    line it got), not with the pipe's own error."""
    from multiprocessing.connection import Connection

    send_bytes, sent = Connection.send_bytes, []

    def cut_off(self, data, *args):
        sent.append(1)
        if len(sent) == 2:  # in the reader: half of the second chunk, then gone
            self._send(struct.pack("!i", len(data)) + bytes(data)[:len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        send_bytes(self, data, *args)

    monkeypatch.setattr(Connection, "send_bytes", cut_off)
    killed_reader_is_named_after(shop, 201)  # the last line of the first batch
