"""Reading a platform file (CSV or XLSX) into the intake services, all or nothing.

The file is streamed: rows are read, checked and written in batches, so memory stays flat however
long the file is (but for the first pass over a large order file: a line number for each of
its buyers, ``_newest_orders``). Everything happens in one database transaction: if any row is
bad, nothing is applied and every problem is reported with file, line, column, value and
reason, unless the caller asks to skip invalid rows (then the good rows are applied and the bad
ones written to a rejects file with their reasons). A dry run (``dry_run=True``, the import
page's check) does the whole import, references and the cases' reactions included, and rolls it
back: it writes nothing and says what applying would do.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import logging
import multiprocessing
import os
import queue
import signal
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import Error as DatabaseFault
from django.db import connection, transaction
from django.utils.translation import gettext as _

from mahnwerk import bulk
from mahnwerk.intake import feeds, signals
from mahnwerk.intake.feeds import Feed, Problem
from mahnwerk.intake.models import Incident
from mahnwerk.intake.services import (
    BUYER_NEWEST,
    ApplyResult,
    References,
    adapt_records,
    apply_records,
    check_references,
    digest_records,
    order_currencies,
)
from mahnwerk.spreadsheet_safety import csv_row

BOM = b"\xef\xbb\xbf"
log = logging.getLogger(__name__)


class ImportFileError(Exception):
    """The file as a whole cannot be read; nothing was applied."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    file: str
    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.column:
            where += ": " + _("column %(name)s") % {"name": self.column}
        if self.value:
            where += ", " + _("value %(value)s") % {"value": repr(self.value)}
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    feed: str
    file: str
    rows: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)
    problems: list[RowProblem] = field(default_factory=list)
    rejected_rows: int = 0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


class _Rollback(Exception):
    pass


# -- Reading -------------------------------------------------------------------------------------


@dataclass
class _Source:
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    total: int  # bytes for CSV, rows for XLSX, for the progress bar
    position: Callable[[], int]
    workbook: bool = False


def _not_utf8(path: Path, name: str) -> ImportFileError:
    """The first line that is not UTF-8, with its bytes: a second pass over the file, in bytes,
    made only for a file the decoder refused (UTF-8 never puts a newline byte inside a
    character, so the lines decode alone as they do together)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start:exc.end].hex(" ")
                return ImportFileError(
                    _("%(file)s:%(line)d: bytes %(bytes)s are not UTF-8; save the file as UTF-8 "
                      "(in Excel: \"CSV UTF-8\") and import it again.")
                    % {"file": name, "line": number, "bytes": bad})
    return ImportFileError(  # pragma: no cover - the decoder refused a line, so one is found
        _("%(file)s: the file is not UTF-8; save it as UTF-8 and import it again.")
        % {"file": name})


def _open_csv(path: Path, name: str) -> _Source:
    handle = path.open("rb")
    head = handle.read(3)
    if not head:
        handle.close()
        raise ImportFileError(_("%(file)s: the file is empty.") % {"file": name})
    if head == BOM:
        handle.close()
        raise ImportFileError(
            _("%(file)s:1: the file starts with a byte order mark (BOM). The platform's files "
              "are UTF-8 without BOM; save it as plain UTF-8 and import it again.")
            % {"file": name})
    handle.seek(0)
    # The standard library's decoder, in C: a generator decoding line by line in Python was 3 %
    # of reading an order file. A file it refuses is read again to name the line (_not_utf8).
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise ImportFileError(_("%(file)s: the file is empty.") % {"file": name}) from None
    except csv.Error as exc:
        handle.close()
        raise ImportFileError(f"{name}:1: {exc}") from None
    except UnicodeDecodeError:
        handle.close()
        raise _not_utf8(path, name) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ImportFileError(
                        _("%(file)s:%(line)d: the CSV cannot be read: %(error)s")
                        % {"file": name, "line": reader.line_num, "error": exc}) from None
                except UnicodeDecodeError:
                    raise _not_utf8(path, name) from None
                if cells:
                    yield reader.line_num, cells
        finally:
            handle.close()

    total = os.path.getsize(path)

    def position() -> int:
        """The bytes read so far (the decoder reads ahead by a buffer: enough for a progress
        bar); all of them once the file is read and closed."""
        return total if handle.closed else handle.tell()

    return _Source(header=header, rows=rows(), total=total, position=position)


#: What openpyxl raises on a truncated or corrupt file: the zip container (BadZipFile,
#: zlib.error, EOFError, KeyError for a missing part), the XML inside (SyntaxError covers
#: ParseError) and values it cannot read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError,
            SyntaxError, NotImplementedError, TypeError, IndexError, AttributeError)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _damaged(name: str, line: int, exc: Exception) -> ImportFileError:
    return ImportFileError(
        _("%(file)s:%(line)d: the workbook is damaged and cannot be read from this row on "
          "(%(error)s); nothing was imported. Save it again from the spreadsheet program, or "
          "send it as CSV.") % {"file": name, "line": line, "error": _reason(exc)})


def _open_xlsx(path: Path, name: str) -> _Source:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, *_DAMAGED) as exc:
        raise ImportFileError(_("%(file)s: not a readable XLSX workbook (%(error)s).")
                              % {"file": name, "error": _reason(exc)}) from None
    if len(workbook.sheetnames) != 1:
        names = ", ".join(workbook.sheetnames)
        workbook.close()
        raise ImportFileError(
            _("%(file)s: the workbook has %(count)d sheets (%(names)s); an import reads exactly "
              "one. Keep the sheet with the data and delete the others.")
            % {"file": name, "count": len(workbook.sheetnames), "names": names})
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header_row = next(iterator, None)
    except _DAMAGED as exc:
        workbook.close()
        raise _damaged(name, 1, exc) from None
    if header_row is None or all(v is None for v in header_row):
        workbook.close()
        raise ImportFileError(_("%(file)s: the file is empty.") % {"file": name})
    header = ["" if v is None else str(v) for v in header_row]
    while header and header[-1] == "":
        header.pop()
    seen = [0]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 1
        try:
            for number, values in enumerate(iterator, start=2):
                seen[0] = number
                if values is None or all(v is None or v == "" for v in values):
                    continue
                yield number, list(values)
        except _DAMAGED as exc:  # raised by the sheet's reader, never by the caller's code
            raise _damaged(name, number + 1, exc) from None
        finally:
            workbook.close()

    return _Source(header=header, rows=rows(), total=sheet.max_row or 0,
                   position=lambda: seen[0], workbook=True)


def open_source(path: Path) -> _Source:
    name = path.name
    if not path.exists():
        raise ImportFileError(_("%(file)s: no such file.") % {"file": str(path)})
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _open_xlsx(path, name)
    return _open_csv(path, name)


# -- Checking and applying -----------------------------------------------------------------------


def _cell_problems(values: list[Any], header: list[str], *, formulas: bool) -> list[Problem]:
    problems = []
    if len(values) > len(header) and any(v not in (None, "") for v in values[len(header):]):
        problems.append(Problem("", "", _("the row has %(cells)d cells, the header %(cols)d")
                                % {"cells": len(values), "cols": len(header)}))
    if formulas:  # a workbook cell holding a formula, not its value
        for column, value in zip(header, values, strict=False):
            if isinstance(value, str) and value.startswith("=") and len(value) > 1:
                problems.append(Problem(column, value,
                                        _("a formula; paste the values instead")))
    return problems


@dataclass(slots=True)
class _Chunk:
    """What reading hands the writer: the rows refused while reading (line, cells, problems),
    then a batch of parsed records (line, record, cells or None), the rows read so far and the
    position for the progress bar; the last chunk also carries the ids seen twice. A reader
    may add what it read ahead for the batch's records: the orders they name, with their
    currency (``currencies``), and for incidents what their cases will read of those orders
    (``read_ahead``, ``_read_ahead``)."""

    rows: int
    position: int
    rejected: list[tuple[int, list[Any], list[Problem]]]
    batch: list[tuple[int, dict[str, Any], list[Any] | None]]
    duplicates: dict[str, list[int]] | None = None
    currencies: dict[str, str] | None = None
    read_ahead: Any = None
    packed: tuple[Any, ...] | None = None


def _chunks(source: _Source, feed: Feed, *, batch_size: int, keep_cells: bool,
            digest: bool, at: list[int]) -> Iterator[_Chunk]:
    """Read, parse and check the rows (everything that needs no database), batch by batch.

    ``keep_cells``: keep each good row's cells (for the rejects file); ``digest``: compute what
    the writer would compute from each record (``services.digest_records``) and put its values
    in the database's form (``services.adapt_records``); ``at[0]`` is the
    line being read, for a reader that stops unexpectedly."""
    header = source.header
    width = len(header)
    is_workbook = source.workbook
    key_name = feed.key
    parse = feed.parse
    seen: set[str] = set()
    duplicates: dict[str, list[int]] = {}
    rejected: list[tuple[int, list[Any], list[Problem]]] = []
    batch: list[tuple[int, dict[str, Any], list[Any] | None]] = []
    rows = 0
    for line, values in source.rows:
        at[0] = line
        rows += 1
        record, problems = parse(dict(zip(header, values, strict=False)))
        if len(values) > width or is_workbook:
            problems = _cell_problems(values, header, formulas=is_workbook) + problems
        key = record.get(key_name)
        if key and not problems:
            if key in seen:
                duplicates.setdefault(key, []).append(line)
                problems.append(Problem(key_name, key,
                                        _("the same id appears more than once in this file")))
            else:
                seen.add(key)
        if problems:
            rejected.append((line, values, problems))
            continue
        batch.append((line, record, values if keep_cells else None))
        if len(batch) >= batch_size:
            if digest:
                _prepare(feed, batch)
            yield _Chunk(rows, source.position(), rejected, batch)
            rejected, batch = [], []
    if digest and batch:
        _prepare(feed, batch)
    yield _Chunk(rows, source.position(), rejected, batch, duplicates)


@dataclass(frozen=True, slots=True)
class _NewestOrders:
    """What the first pass over an order file found (``_newest_orders``): the line of each
    buyer's newest order, and the last line the pass read. A line after it (a file that grew
    since) is taken as a buyer's newest too: writing a buyer from an older order as well is
    harmless (the upsert keeps the newer one), leaving a buyer out is not."""

    lines: set[int]
    last: int

    def __contains__(self, line: int) -> bool:
        return line in self.lines or line > self.last


def _newest_orders(handle: BinaryIO, size: int) -> _NewestOrders | None:
    """The line of each buyer's newest order in an order file (a first pass over its CSV, in
    the writer while the reader parses the first chunks, through ``handle``: the file opened
    beside the one the import reads): the writer then writes each buyer once, from that order,
    instead of once for every batch that holds one of their orders (about three times each,
    16 % of a million-order import's writer, docs/benchmarks.md). Newest as ``feeds.moment``
    reads the moments, in UTC (without an offset, German time: a clock time in the hour
    skipped in spring is an hour earlier than it reads), of equal ones the last line in the
    file. A row without a buyer cell or a moment that can be read is left out: reading the
    file refuses it, and the import with it. A file this pass cannot read gives None (no
    marks): reading it again names the line and the reason.

    Only the first ``size`` bytes are read (``_whole_lines``: the whole lines the file had
    when the import opened it): the reader, which reads to the end, then sees every line this
    pass saw, and a line added since counts as its buyer's newest (``_NewestOrders``). A pass
    that read further than the reader would mark the buyer's newest order on a line the
    reader never sends, and no order would write that buyer.

    Only the two columns are looked at, with ``csv.reader`` itself (the line numbers are
    its ``line_num``, as ``_open_csv`` gives them): 6 s of a million rows, against 8 s through
    the import's own reading and converters."""
    fromisoformat = datetime.fromisoformat
    berlin = feeds.BERLIN
    last: dict[str, tuple[datetime, int]] = {}
    get = last.get
    line = 1
    try:
        with handle:
            reader = csv.reader(io.TextIOWrapper(
                io.BufferedReader(_Head(handle, size), buffer_size=1 << 20),
                encoding="utf-8", newline=""), strict=True)
            header = next(reader)
            buyer_at, created_at = header.index("buyer_id"), header.index("created_at")
            for cells in reader:
                line = reader.line_num
                try:
                    buyer, moment = cells[buyer_at].strip(), fromisoformat(
                        cells[created_at].strip())
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=berlin).astimezone(UTC)
                except (IndexError, ValueError, OverflowError):
                    continue
                seen = get(buyer)
                if seen is None or moment >= seen[0]:
                    last[buyer] = (moment, line)
    except (OSError, StopIteration, ValueError, csv.Error):  # ValueError: not UTF-8
        return None
    return _NewestOrders({newest for _moment, newest in last.values()}, line)


class _Head(io.RawIOBase):
    """The first ``size`` bytes of a binary file (``_newest_orders``)."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        super().__init__()
        self.handle = handle
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        with memoryview(buffer) as view:
            got = self.handle.readinto(view[:self.left]) or 0  # type: ignore[attr-defined]
        self.left -= got
        return got


def _whole_lines(handle: BinaryIO) -> int:
    """How many bytes of the file are whole lines now: up to its last line break (a file that
    is being written may end in half a line). Reads only its last block; without a line
    break there, 0 (the pass then reads nothing, and no order is marked)."""
    size = os.fstat(handle.fileno()).st_size
    back = min(size, 1 << 16)
    handle.seek(size - back)
    cut = handle.read(back).rfind(b"\n")
    handle.seek(0)
    return size - back + cut + 1 if cut >= 0 else 0


def _prepare(feed: Feed, batch: list[tuple[int, dict[str, Any], list[Any] | None]]) -> None:
    """What the reading process computes for the writer: the digests, then the values in the
    database's form (the writer applies them with ``apply_records(adapted=True)``)."""
    records = [record for _l, record, _c in batch]
    digest_records(feed=feed, records=records)
    adapt_records(feed=feed, records=records)


def _read_ahead(chunk: _Chunk) -> Any:
    """In the reader of an incident file: the first answer of ``signals.incidents_read`` for
    the orders of the chunk's incidents (what following their cases will read of them), read
    with the reader's own connection; raises the database's error."""
    order_ids = sorted({record["order_id"] for _line, record, _cells in chunk.batch})
    if not order_ids:
        return None
    for _receiver, answer in signals.incidents_read.send(sender=Incident, order_ids=order_ids):
        if answer is not None:
            return answer
    return None


def _reads_beside() -> bool:
    """Whether a reader may read the database with a connection of its own: such a connection
    sees only what is committed, so not when the import runs inside a transaction of its
    caller's (whose writes it would miss); not an in-memory SQLite database (no other process
    can open it); on SQLite, only in a process of one thread (the forked reader would inherit
    SQLite's record of the file locks of another thread's open connection, which its own
    connection must not share); and not with a pool of connections (the forked reader would
    take the writer's connection from its copy of the pool)."""
    if connection.in_atomic_block or connection.settings_dict.get("OPTIONS", {}).get("pool"):
        return False
    if connection.vendor == "sqlite":
        return threading.active_count() == 1 and not connection.is_in_memory_db()
    return True


def _in_a_second_process(path: Path) -> bool:
    limit = settings.MAHNWERK_IMPORT_PARALLEL_BYTES
    return limit >= 0 and os.path.getsize(path) >= limit


def import_file(*, path: Path, feed: Feed, actor: str, skip_invalid: bool = False,
                rejects_path: Path | None = None, batch_size: int | None = None,
                progress: Callable[[int, int], None] | None = None,
                dry_run: bool = False,
                on_batch: Callable[[ImportReport, int, int], None] | None = None
                ) -> ImportReport:
    """Read, check and apply one platform file; see the module text for the rules.

    ``progress(done, total)`` and ``on_batch(report, done, total)`` are called after each batch
    (bytes of a CSV, rows of a workbook; the report so far has the rows read and the problems
    found); ``dry_run`` rolls everything back at the end (``committed`` stays False) and keeps
    the counts of what would have been applied when the file is clean.

    A file of ``MAHNWERK_IMPORT_PARALLEL_BYTES`` or more is read, parsed and digested in a
    second process (``_Reader``) while this one checks the references and writes; the report
    is the same either way. On SQLite, outside a transaction of the caller's, the database
    checks the references of the rows written once, before the commit, not as each row is
    written (``bulk.references_checked_at_the_end``)."""
    batch_size = batch_size or settings.MAHNWERK_IMPORT_BATCH_SIZE
    source = open_source(path)
    name = path.name
    report = ImportReport(feed=feed.name, file=name)
    header_problems = feed.header_problems(source.header)
    if header_problems:
        source.rows.close()
        report.problems = [RowProblem(name, 1, p.column, p.value, p.reason)
                           for p in header_problems]
        return report

    rejects = _Rejects(rejects_path, source.header) if rejects_path else None
    duplicates: dict[str, list[int]] = {}
    known = References()

    def reject(line: int, raw: list[Any] | None, problems: list[Problem]) -> None:
        report.rejected_rows += 1
        report.problems.extend(RowProblem(name, line, p.column, p.value, p.reason)
                               for p in problems)
        if rejects:
            rejects.write(line, raw or [], problems)

    def apply(chunk: _Chunk) -> None:
        report.rows = chunk.rows
        for line, raw, problems in chunk.rejected:
            reject(line, raw, problems)
        if chunk.duplicates:
            duplicates.update(chunk.duplicates)
        batch = chunk.batch
        if not batch:
            return
        if chunk.currencies:
            known.currencies.update(chunk.currencies)
        records = [record for _line, record, _raw in batch]
        good = []
        for (line, record, raw), problems in zip(
                batch, check_references(feed=feed, records=records, known=known),
                strict=True):
            if problems:
                reject(line, raw, problems)
            else:
                good.append(record)
        if skip_invalid or not report.problems:
            report.applied.add(apply_records(feed=feed, records=good, actor=actor,
                                             adapted=reader is not None,
                                             read_ahead=chunk.read_ahead))
        bulk.keep_long_lived()  # the ids read so far stay to the end: out of the GC's walk
        if progress:
            progress(chunk.position, source.total)
        if on_batch:
            on_batch(report, chunk.position, source.total)

    reader = None
    if _in_a_second_process(path):
        # Each buyer written once, from their newest order, when the whole file is applied
        # or nothing: with --skip-invalid a refused newest order leaves the next newest.
        once = (path if feed.name == "orders" and not source.workbook and not skip_invalid
                else None)
        try:
            # The orders that incidents and payments name, and what an incident's case
            # opening reads of them, read ahead by the reader: neither import changes them.
            reader = _Reader(source, feed, name=name, batch_size=batch_size,
                             keep_cells=rejects is not None, buyers_once_from=once,
                             read_ahead=feed.name in ("incidents", "payments")
                             and _reads_beside())
        except (AssertionError, OSError) as exc:
            # A daemonic process may not start one (AssertionError), or the system cannot
            # fork now: this process reads the file itself, as it does a small one.
            log.warning("import of %s reads in one process: %s", name, _reason(exc))
    if reader:
        chunks: Iterator[_Chunk] = reader.chunks()
    else:
        chunks = _chunks(source, feed, batch_size=batch_size, keep_cells=True, digest=False,
                         at=[1])
    try:
        # SQLite's check of every reference as each row is written, once for all the rows at
        # the end (bulk.references_checked_at_the_end): after the reader has its own
        # connection, since a new one checks each row again.
        with bulk.references_checked_at_the_end() as check_references_written, \
                transaction.atomic(), bulk.long_lived_heap():
            if reader:
                reader.begin()
            for chunk in chunks:
                apply(chunk)
            if dry_run or (report.problems and not skip_invalid):
                raise _Rollback
            check_references_written()
            report.committed = True
    except _Rollback:
        if not (dry_run and report.ok):
            report.applied = ApplyResult()
    finally:
        if reader:
            reader.stop()
        if rejects:
            rejects.close()
    if duplicates:
        _name_first_lines(report, path, feed, duplicates)
    return report


#: What joins the text values of a record, and the records, in a packed chunk (``_packed``):
#: the unit and record separators, which no value of a parsed record holds (``feeds.Feed.parse``
#: refuses every control character in a value).
_UNIT, _RECORD = "\x1f", "\x1e"


def _packed(chunk: _Chunk) -> _Chunk:
    """The chunk as the reader sends it: its records' text values joined into one string (the
    rest, numbers and None, as a list a key beside it), instead of a dict of twenty-odd values
    for each record: pickling a million orders' dicts took the reader 3 s more
    (docs/benchmarks.md). ``_unpacked`` makes the same dicts again (their keys in another
    order, which nothing reads). Records whose keys or kinds of values differ go as they are."""
    batch = chunk.batch
    if not batch:
        return chunk
    first = batch[0][1]
    names = list(first)
    texts = [name for name in names if first[name].__class__ is str]
    records = [record for _line, record, _cells in batch]
    if len(texts) < 2 or any(len(record) != len(names) for record in records):
        return chunk
    try:
        joined = _RECORD.join(map(_UNIT.join, map(itemgetter(*texts), records)))
        others = {name: [record[name] for record in records]
                  for name in names if first[name].__class__ is not str}
    except (KeyError, TypeError):  # a key missing, or a value that is not text
        return chunk
    if joined.count(_UNIT) != len(records) * (len(texts) - 1) \
            or joined.count(_RECORD) != len(records) - 1:
        return chunk  # a value holding a separator, which parsing never lets through
    chunk.batch = [(line, {}, cells) for line, _record, cells in batch]
    chunk.packed = (texts, others, joined)
    return chunk


def _unpacked(chunk: _Chunk) -> _Chunk:
    """The chunk with the records ``_packed`` joined made again."""
    if chunk.packed is None:
        return chunk
    texts, others, joined = chunk.packed
    rows = joined.split(_RECORD)
    if len(rows) != len(chunk.batch):
        raise ValueError("a packed chunk holds another number of records than its lines")
    width = len(texts)
    records = []
    for values in map(methodcaller("split", _UNIT), rows):
        if len(values) != width:
            raise ValueError("a packed record holds another number of values than its names")
        records.append(dict(zip(texts, values)))  # noqa: B905 (counted just above)
    for name, values in others.items():
        for record, value in zip(records, values, strict=True):
            record[name] = value
    chunk.batch = [(line, record, cells)
                   for (line, _empty, cells), record in zip(chunk.batch, records, strict=True)]
    chunk.packed = None
    return chunk


class _Budget:
    """Bytes on their way (``_Reader``): ``take`` waits while what is on its way and this
    much would exceed the limit (one message alone always goes), ``give_back`` once sent.
    Bytes, not a count of chunks (a bounded ``queue.Queue``): a chunk's size follows
    ``MAHNWERK_IMPORT_BATCH_SIZE`` and the file's rows, the memory it takes does not wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.changed = threading.Condition()

    def take(self, size: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
            self.used += size

    def give_back(self, size: int) -> None:
        with self.changed:
            self.used -= size
            self.changed.notify_all()


class _Reader:
    """The reading, parsing and digesting of a file (``_chunks``) in a second process beside
    the writer, so that the two use both cores; the chunks come back through a pipe.

    The process is forked after the file was opened and its header checked: it reads on from
    there. For an order file it never touches the database (the writer's connection stays the
    parent's; the child ends with ``os._exit``, closing nothing). For incidents and payments
    (``read_ahead``) it also reads the orders their rows name, and what the cases will read of
    them, with a connection of its own, which sees only what is committed: the orders, which
    neither import changes (the writer closes its own connection before the fork, so that no
    connection is shared; only outside a transaction of the caller's, ``_reads_beside``). If
    that read fails, the writer reads them itself. It reads at most ``AHEAD_BYTES`` of
    chunks ahead of the writer, so memory stays bounded. It is a daemon (ended when
    the importing process ends normally) and ends by itself when the writer's end of the pipe
    is gone (the writer killed). Whatever it raises comes back as the same located
    ``ImportFileError``; if it dies, the writer says so with the last line it got, and never
    waits for it for ever: each side closes its copy of the other's end, so a reader that dies
    in the middle of a chunk is seen as the end of the pipe."""

    #: How often the writer looks whether the reader is still there (seconds).
    POLL = 1.0
    #: A reader that sends nothing for this long is stopped (a chunk takes well under a second).
    STALLED_AFTER = 600.0

    def __init__(self, source: _Source, feed: Feed, *, name: str, batch_size: int,
                 keep_cells: bool, buyers_once_from: Path | None = None,
                 read_ahead: bool = False) -> None:
        context = multiprocessing.get_context("fork")
        self.name = name
        self.line = 1  # the last line the writer got
        # The first pass's own handle, opened now: the file the import opened a moment ago,
        # even if another file takes its name while the import runs. This process reads it
        # (``chunks``) while the reader parses the first chunks.
        self.first_pass: BinaryIO | None = None
        self.first_pass_size = 0
        self.receiver, sender = context.Pipe(duplex=False)
        # Set by the writer once its transaction has begun (``begin``): the reader reads the
        # database only then. On SQLite the writer then holds the database's one write lock,
        # so no order can be committed between what the reader reads and what the writer
        # writes.
        self.began = context.Event()
        try:
            if buyers_once_from:
                self.first_pass = buyers_once_from.open("rb")
                self.first_pass_size = _whole_lines(self.first_pass)
            if read_ahead:
                # The reader opens a connection of its own: one that is open now would be
                # shared by both processes (their messages mixed on one socket, or SQLite's
                # file locks and memory map in a forked copy). This process opens a new one
                # when it next queries.
                connection.close()
            self.process = context.Process(
                target=self._run, args=(sender, source, feed, batch_size, keep_cells,
                                        self.receiver, self.first_pass, read_ahead,
                                        self.began),
                name=f"mahnwerk import reader ({name})", daemon=True)
            self.process.start()
        except BaseException:  # no reader (import_file reads in this process): nothing open
            if self.first_pass:
                self.first_pass.close()
            self.receiver.close()
            raise
        finally:
            sender.close()
        source.rows.close()  # the child reads on; this process never will

    #: How far (bytes of pickled chunks) the reader may read ahead of the writer: enough for
    #: the chunks it parses while the writer makes its first pass over an order file (a
    #: million orders: about 7 s, some 50 chunks of 1 MB). Beyond it the reader waits.
    AHEAD_BYTES = 64 * 1024 * 1024

    @staticmethod
    def _run(sender: Connection, source: _Source, feed: Feed, batch_size: int,
             keep_cells: bool, receiver: Connection | None = None,
             first_pass: BinaryIO | None = None, read_ahead: bool = False,
             began: Any = None) -> None:
        if receiver is not None:
            receiver.close()  # the writer's end: once the writer is gone, sending fails
        if first_pass is not None:
            first_pass.close()  # the writer's to read
        # Not the handlers of the process it was forked from (a web or Celery worker's): the
        # writer ends it with SIGTERM, and Ctrl-C is the writer's to handle.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        gc.freeze()  # the heap inherited from the parent: out of the collector's walk
        # The chunks leave through a thread, up to AHEAD_BYTES ahead of the writer: while the
        # writer makes its first pass over an order file, this process parses on instead of
        # waiting at a full pipe (the pass and the parsing then share the two cores). The
        # thread writes while this one parses (a write to the pipe waits without the GIL).
        ahead = _Budget(_Reader.AHEAD_BYTES)
        outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

        def deliver() -> None:
            while (data := outbox.get()) is not None:
                try:
                    sender.send_bytes(data)
                except OSError:  # the writer is gone (BrokenPipeError): nobody reads any more
                    os._exit(1)
                ahead.give_back(len(data))

        courier = threading.Thread(target=deliver, name="import reader's sender", daemon=True)
        courier.start()

        def send(message: tuple[Any, ...]) -> None:
            data = bytes(ForkingPickler.dumps(message))
            ahead.take(len(data))
            outbox.put(data)

        at = [1]
        reading = read_ahead
        try:
            for chunk in _chunks(source, feed, batch_size=batch_size, keep_cells=keep_cells,
                                 digest=True, at=at):
                if reading and not began.is_set():
                    reading = _Reader._wait_for(began)
                if reading:
                    try:
                        chunk.currencies = order_currencies(
                            {record["order_id"] for _line, record, _cells in chunk.batch})
                        if feed.name == "incidents":
                            chunk.read_ahead = _read_ahead(chunk)
                    except DatabaseFault as exc:  # any (InterfaceError too): the writer reads
                        log.warning("import reader: the orders could not be read ahead (%s); "
                                    "the writer reads them", _reason(exc))
                        reading = False
                send(("chunk", _packed(chunk)))
                gc.freeze()  # the ids read so far, as keep_long_lived in the writer
        except ImportFileError as exc:
            send(("error", str(exc)))
        except Exception as exc:  # a fault in reading: said with its line, as the writer
            send(("fault", at[0], _reason(exc)))
        if read_ahead:
            with contextlib.suppress(Exception):  # its own (see __init__): goodbye, not dropped
                connection.close()
        send(("end",))
        outbox.put(None)
        courier.join()

    def begin(self) -> None:
        """The writer's transaction has begun: the reader may read the database."""
        self.began.set()

    @staticmethod
    def _wait_for(began: Any) -> bool:
        """In the reader: wait until the writer's transaction has begun (True), or give up
        reading ahead if the writer is gone meanwhile (False: it ends by itself at its next
        send)."""
        parent = os.getppid()
        while not began.wait(_Reader.POLL):
            if os.getppid() != parent:
                return False
        return True

    def chunks(self) -> Iterator[_Chunk]:
        """The reader's chunks in order. For an order file read once for its buyers
        (``buyers_once_from``), first the pass over it (``_newest_orders``), here while the
        reader parses the first chunks; then every order says whether it is its buyer's
        newest (``services.BUYER_NEWEST``)."""
        newest = None
        if self.first_pass is not None:
            handle, self.first_pass = self.first_pass, None
            newest = _newest_orders(handle, self.first_pass_size)
        while True:
            message = self._next()
            if message[0] == "end":
                return
            if message[0] == "error":
                raise ImportFileError(message[1])
            if message[0] == "fault":
                raise ImportFileError(
                    _("%(file)s:%(line)d: the file could not be read from this row on "
                      "(%(error)s); nothing was imported.")
                    % {"file": self.name, "line": message[1], "error": message[2]})
            chunk = _unpacked(message[1])
            if chunk.batch:
                self.line = chunk.batch[-1][0]
            if chunk.rejected:
                self.line = max(self.line, chunk.rejected[-1][0])
            if newest is not None:
                for line, record, _cells in chunk.batch:
                    record[BUYER_NEWEST] = line in newest
            yield chunk

    def _next(self) -> tuple[Any, ...]:
        waited = 0.0
        while True:
            try:
                if self.receiver.poll(self.POLL):
                    return self.receiver.recv()
            except (EOFError, OSError):
                # Every sending end is closed: the reader is gone (OSError: in the middle of
                # a message, as it can be while its thread sends a chunk).
                self.process.join(timeout=self.POLL)
                raise self._stopped(self.process.exitcode) from None
            if not self.process.is_alive():
                raise self._stopped(self.process.exitcode)
            waited += self.POLL
            if waited >= self.STALLED_AFTER:
                raise self._stopped(None)

    def _stopped(self, code: int | None) -> ImportFileError:
        reason = (_("it sent nothing for %(seconds)d seconds") % {
                      "seconds": self.STALLED_AFTER} if code is None
                  else _("it ended with exit code %(code)d") % {"code": code})
        return ImportFileError(
            _("%(file)s:%(line)d: the process reading the file stopped after this line "
              "(%(reason)s); nothing was imported.")
            % {"file": self.name, "line": self.line, "reason": reason})

    def stop(self) -> None:
        """End the reader (done, or the writer gave up) and wait for it; never blocks long."""
        if self.first_pass is not None:
            self.first_pass.close()
        if self.process.is_alive():
            self.process.terminate()
        self.receiver.close()  # and if it did not end: its next send fails
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


def _name_first_lines(report: ImportReport, path: Path, feed: Feed,
                      duplicates: dict[str, list[int]]) -> None:
    """Say where each duplicated id first appeared (a second, cheap pass over the file)."""
    first: dict[str, int] = {}
    source = open_source(path)
    index = source.header.index(feed.key)
    for line, values in source.rows:
        key = str(values[index]).strip() if index < len(values) and values[index] else ""
        if key in duplicates and key not in first:
            first[key] = line
    for i, problem in enumerate(report.problems):
        if problem.column == feed.key and problem.value in first \
                and problem.line != first[problem.value]:
            report.problems[i] = RowProblem(
                problem.file, problem.line, problem.column, problem.value,
                _("the same id as on line %(line)d of this file") % {
                    "line": first[problem.value]})


class _Rejects:
    """The rejects file: the bad rows as they came, with their line and reasons; a value a
    spreadsheet would run as a formula gets a leading apostrophe (``spreadsheet_safety``)."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([*header, "line", "problems"])

    def write(self, line: int, values: list[Any], problems: list[Problem]) -> None:
        reasons = "; ".join(
            f"{p.column}: {p.reason}" if p.column else p.reason for p in problems)
        self.writer.writerow(csv_row(["" if v is None else v for v in values] + [line, reasons]))

    def close(self) -> None:
        self.handle.close()
