"""Fast bulk writes for the import path: plain ``executemany`` with the backend's own adapters.

Django's ``bulk_create`` and ``bulk_update`` prepare every value through the field machinery and,
for updates, build one ``CASE WHEN`` per field; on a million-order import that cost minutes
(docs/benchmarks.md). These helpers issue the same SQL on SQLite and PostgreSQL and adapt values
once per field type. They bypass model ``save()`` and signals on purpose: callers are services
that write the matching case events themselves.

The reads of the same path (``select_rows``, ``fetch``) are plain queries too, whose values come
back as the ORM's ``values_list`` would give them.
"""

from __future__ import annotations

import decimal
import gc
import json
import threading
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from django.db import IntegrityError, connection, models, transaction

Adapter = Callable[[Any], Any] | None


def _sqlite_moment(value: datetime) -> str:
    """What Django's SQLite backend stores for an aware date-time: naive UTC text (an aware
    UTC value's text without its "+00:00": one call less per value than ``replace``)."""
    if value.tzinfo is None:
        return str(value)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return str(value)[:-6]


#: ``json.dumps(value, ensure_ascii=False)`` without making its encoder anew for every value
#: (2 of its 7 µs for a case event's facts; an import writes one for every case it opens).
_json_text = json.JSONEncoder(ensure_ascii=False).encode


def _adapter(field: models.Field) -> Adapter:
    sqlite = connection.vendor == "sqlite"
    if isinstance(field, models.DateTimeField):
        return _sqlite_moment if sqlite else None
    if isinstance(field, models.DateField):
        return date.isoformat if sqlite else None
    if isinstance(field, models.JSONField):
        return _json_text
    return None


def _column(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)


def stored_forms(model: type[models.Model], names: Sequence[str]
                 ) -> list[tuple[str, Callable[[Any], Any]]]:
    """For the fields ``names``, those whose values ``insert_rows`` would adapt, with the
    adapter; on SQLite a ``Decimal`` too (to ``str``, as the sqlite3 module does with the
    adapter Django registers). For a caller that prepares rows ahead, in another process (the
    file import's reader): it passes the adapted names to ``insert_rows(adapted=...)``, whose
    writer then neither adapts them (13 % of an order import's writer) nor receives a
    ``datetime`` or ``Decimal`` through the pipe (a ``str`` unpickles several times cheaper)."""
    sqlite = connection.vendor == "sqlite"
    forms = []
    for name in names:
        field = _column(model, name)
        adapt = _adapter(field)
        if adapt is None and sqlite and isinstance(field, models.DecimalField):
            adapt = str
        if adapt is not None:
            forms.append((name, adapt))
    return forms


def _params(model: type[models.Model], names: Sequence[str], rows: Sequence[dict[str, Any]],
            adapted: Collection[str] = ()) -> list[Sequence[Any]]:
    """The rows' values of ``names``, adapted for the backend (but the names in ``adapted``,
    whose values the caller adapted already: ``stored_forms``). An ``itemgetter`` takes them
    out of each row at once and only the columns that need it are adapted (a loop over every
    column of every row was 13 % of the order import's writer, docs/benchmarks.md)."""
    getter = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    plan = [(i, adapt) for i, (name, adapt) in enumerate(
                (n, _adapter(_column(model, n))) for n in names)
            if adapt is not None and name not in adapted]
    if not plan:
        return [getter(row) for row in rows]
    params = []
    last: dict[int, tuple[Any, Any]] = {}  # the same object (e.g. "now") is adapted once
    for row in rows:
        values = list(getter(row))
        for i, adapt in plan:
            value = values[i]
            if value is not None:
                seen = last.get(i)
                if seen is not None and seen[0] is value:
                    values[i] = seen[1]
                else:
                    form = adapt(value)
                    last[i] = (value, form)
                    values[i] = form
        params.append(values)
    return params


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]], *,
                conflict: str | None = None, update: Sequence[str] = (),
                update_when_newer: str | None = None,
                update_when_digest_differs: str | None = None, compare: Sequence[str] = (),
                names: Sequence[str] | None = None, adapted: Collection[str] = ()) -> None:
    """Insert ``rows`` (dicts of field attnames; with ``names``, those keys of them, else all
    keys of the first row). With ``conflict`` (a unique column's field), an existing row is
    updated with the fields in ``update`` instead; with ``update_when_newer`` (a field name)
    only if the new row's value is not older; with ``update_when_digest_differs`` (the field
    of a digest of the values, as ``intake.services._upsert`` keeps) only if the stored digest
    differs, and a stored row without a digest (``""``) only if one of the fields in
    ``compare`` differs: so a caller need not read the stored rows to leave equal ones alone.
    On PostgreSQL, many rows go through ``COPY`` (``COPY_FROM``, ``COPY_UPSERT_FROM``).
    ``adapted``: fields whose values the caller adapted for the backend already
    (``stored_forms``)."""
    if not rows:
        return
    _insert_rows(model, rows, conflict=conflict, update=update,
                 update_when_newer=update_when_newer,
                 update_when_digest_differs=update_when_digest_differs, compare=compare,
                 names=names, adapted=adapted)
    if connection.vendor == "postgresql":
        _grown(model._meta.db_table, len(rows))


def insert_new_rows(model: type[models.Model], rows: Sequence[dict[str, Any]], *,
                    conflict: str, update: Sequence[str], names: Sequence[str] | None = None,
                    adapted: Collection[str] = ()) -> None:
    """Insert rows the caller found missing a moment ago: on PostgreSQL many of them through
    a plain ``COPY`` into the table, which costs the server a third less than an upsert through
    a staging table (a million orders: 23 s against 33 s, measured with psycopg alone). If
    another transaction wrote one of them meanwhile (the unique ``conflict`` column refuses the
    COPY), they go as the upsert ``insert_rows(conflict=..., update=...)`` would have sent
    them, in the same transaction (the COPY is undone by its savepoint). For a few rows on
    PostgreSQL, that upsert straight away.

    On SQLite a plain ``INSERT`` too: its ``ON CONFLICT … DO UPDATE`` clause alone made the
    million orders' insert 21 % slower (13.0 s against 10.7 s, sqlite3 alone,
    docs/benchmarks.md). Without a savepoint (one per batch slowed SQLite's inserts, see
    ``intake.services.apply_records``): a refused row ends only its own statement, the rows
    before it stay inserted, and the upsert of all of them then writes each as it would have
    (the same id twice among the rows, too: the later one wins)."""
    if connection.vendor == "postgresql" and len(rows) >= COPY_FROM:
        try:
            with transaction.atomic():
                insert_rows(model, rows, names=names, adapted=adapted)
            return
        except IntegrityError:
            pass
    elif connection.vendor == "sqlite":
        try:
            insert_rows(model, rows, names=names, adapted=adapted)
            return
        except IntegrityError:
            pass
    insert_rows(model, rows, conflict=conflict, update=update, names=names, adapted=adapted)


def _insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]], *,
                 conflict: str | None, update: Sequence[str], update_when_newer: str | None,
                 update_when_digest_differs: str | None, compare: Sequence[str],
                 names: Sequence[str] | None, adapted: Collection[str]) -> None:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = list(names or rows[0])
    columns = [_column(model, name).column for name in names]
    quoted = ", ".join(quote(c) for c in columns)
    on_conflict = ""
    if conflict:
        sets = ", ".join(f"{quote(_column(model, n).column)} = excluded."
                         f"{quote(_column(model, n).column)}" for n in update)
        on_conflict = (f" ON CONFLICT ({quote(_column(model, conflict).column)}) "
                       f"DO UPDATE SET {sets}")
        conditions = []
        if update_when_newer:
            column = quote(_column(model, update_when_newer).column)
            conditions.append(f"({table}.{column} IS NULL "
                              f"OR excluded.{column} >= {table}.{column})")
        if update_when_digest_differs:
            digest = quote(_column(model, update_when_digest_differs).column)
            differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
            fields = " OR ".join(f"{table}.{c} {differs} excluded.{c}" for c in (
                quote(_column(model, name).column) for name in compare)) or "FALSE"
            conditions.append(f"{table}.{digest} <> excluded.{digest} "
                              f"AND ({table}.{digest} <> '' OR {fields})")
        if conditions:
            on_conflict += " WHERE " + " AND ".join(conditions)
    if connection.vendor == "postgresql" and not conflict and len(rows) >= COPY_FROM:
        _copy(table, quoted, _params(model, names, rows, adapted))
        return
    if connection.vendor == "postgresql" and conflict and len(rows) >= COPY_UPSERT_FROM:
        # An upsert through COPY: the rows into a temporary table of the same columns (the
        # session's own, made once), then one INSERT ... SELECT ... ON CONFLICT from it (COPY
        # itself cannot update); the staging table is emptied again in the same transaction
        # with TRUNCATE: rows removed by DELETE would stay (dead) until the import's one
        # transaction ends, and each later batch would read them all again (quadratic: a
        # million orders took 311 s on PostgreSQL).
        rows = _last_of_each(rows, conflict, update_when_newer)  # an INSERT touches a row once
        staging = quote(f"mahnwerk_bulk_{model._meta.db_table}_"
                        f"{zlib.crc32(quoted.encode()):08x}")
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} AS "
                           f"SELECT {quoted} FROM {table} WITH NO DATA")
            _copy(staging, quoted, _params(model, names, rows, adapted))
            cursor.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM {staging}"
                           f"{on_conflict}")
            cursor.execute(f"TRUNCATE {staging}")
        return
    if connection.vendor == "postgresql" and len(rows) > 1:
        # One statement for all the rows (an API request's batch), the values as one array
        # a column: PostgreSQL plans and starts its executor once instead of once a row, which
        # pipelined statements still do (the 50 upserts of a request's orders, and of their
        # buyers, took 8 ms of the server each; docs/benchmarks.md), and the statement's text
        # stays the same whatever the number of rows (prepared once; psycopg converts it once,
        # where a VALUES list of 700 placeholders was parsed again on every request). One
        # INSERT may not touch a row twice.
        if conflict:
            rows = _last_of_each(rows, conflict, update_when_newer)
        params = _params(model, names, rows, adapted)
        arrays = ", ".join(f"%s::{_column(model, name).db_type(connection)}[]"
                           for name in names)
        _execute_bound(f"INSERT INTO {table} ({quoted}) SELECT * FROM unnest({arrays})"
                       f"{on_conflict}", [list(values) for values in zip(*params, strict=True)])
        return
    params = _params(model, names, rows, adapted)
    if conflict:  # rows that may be updated: what they refer to is checked at the end
        _note_references(model, names, params)
    _executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"
                 f"{on_conflict}", params)


def _execute_bound(sql: str, params: Sequence[Any]) -> None:
    """One statement through a cursor that binds on the server (see ``_executemany``)."""
    with _bound_cursor() as bound:
        bound.execute(sql, params)


def _bound_cursor() -> Any:
    """A psycopg cursor that binds on the server, on Django's connection and in its wrapper
    (see ``_executemany``)."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def _executemany(sql: str, params: Sequence[Sequence[Any]]) -> int:
    """One statement for many rows; returns how many rows it changed (sqlite3 and psycopg 3
    both report the total of an executemany as its rowcount).

    On PostgreSQL through a cursor that binds on the server: Django's psycopg cursors bind on
    the client (``ClientCursor``, its default without ``server_side_binding``), so each row's
    statement went as text and was parsed and planned again: the 50 upserts of the orders, and
    those of their buyers, of one intake API request took PostgreSQL about 25 ms each (measured
    with bench/api_cpu_benchmark.py); bound on the server, the rows go pipelined with one
    statement that psycopg prepares once per connection. Only here, not for every query (the
    setting ``server_side_binding`` would change how Django sends all of them, which Django's
    documentation warns some queries do not survive). The same connection and transaction, in
    Django's cursor wrapper (its errors, its query log and ``execute_wrapper``); only the
    query counters of django-prometheus, which live in the client-binding cursor class, do not
    count it. 50 rows of buyers: 6 ms of the server's CPU bound on the client, 1.5 ms on the
    server (measured here)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
            return cursor.rowcount
    with _bound_cursor() as bound:
        bound.executemany(sql, params)
        return bound.rowcount


#: From this many rows a write on PostgreSQL goes through COPY (an upsert through COPY into a
#: temporary table): 100,000 handover rows take 0.23 s instead of 1.3 s with (pipelined)
#: executemany (docs/benchmarks.md).
COPY_FROM = 50
#: From this many rows an upsert on PostgreSQL goes through COPY into a temporary table: an
#: import's batch of 2,000 does, an API request's batch of a few dozen is cheaper as one
#: pipelined executemany than as four statements.
COPY_UPSERT_FROM = 500


#: A table that has grown by this many rows, and by half of what it held when it was last
#: analysed, is analysed again (``_grown``).
ANALYZE_AFTER = 10_000
#: table -> [rows written by this process since its last ANALYZE, rows it held then]
_growth: dict[str, list[int]] = {}


def _grown(table: str, count: int) -> None:
    """PostgreSQL plans each query by the table's statistics, which autovacuum refreshes only
    after a commit, and a while later. A file import writes a million orders, or a hundred
    thousand cases, in one transaction and queries them in the same transaction and in the
    next file's import straight after: with the statistics of an empty table the planner read
    all million orders for each batch of 400 new cases (the reorder check; the incidents of the
    scaling benchmark took 444 s). So a table that has grown by half since this process last
    analysed it (and by at least ``ANALYZE_AFTER`` rows) is analysed again, as PostgreSQL's
    manual advises after bulk loading ("Populating a Database": run ANALYZE afterwards).
    ANALYZE in a transaction sees the rows it wrote itself; SKIP_LOCKED leaves a table that
    another session is analysing (or vacuuming) alone instead of waiting for it. No package does
    this for Django; it is a counter and one statement."""
    seen = _growth.get(table)
    if seen is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass",
                           [table])
            found = cursor.fetchone()
        seen = _growth[table] = [0, int(found[0]) if found else 0]
    seen[0] += count
    if seen[0] >= max(ANALYZE_AFTER, seen[1] // 2):
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE (SKIP_LOCKED) {connection.ops.quote_name(table)}")
        seen[1] += seen[0]
        seen[0] = 0


def _last_of_each(rows: Sequence[dict[str, Any]], key: str, newer: str | None
                  ) -> list[dict[str, Any]]:
    """One row per ``key``: the last one, or with ``newer`` the last of the newest."""
    kept: dict[Any, dict[str, Any]] = {}
    for row in rows:
        found = kept.get(row[key])
        if found is None or newer is None or found[newer] is None or (
                row[newer] is not None and row[newer] >= found[newer]):
            kept[row[key]] = row
    return list(kept.values()) if len(kept) < len(rows) else list(rows)


def _copy(table: str, columns: str, params: list[Sequence[Any]]) -> None:
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # psycopg's own cursor (Django's wrapper has no copy()); its errors as Django's
        # (an IntegrityError, as any other write says it).
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for values in params:
                copy.write_row(values)


def update_rows(model: type[models.Model], rows: Sequence[dict[str, Any]],
                fields: Sequence[str], *, where: Sequence[str] = ()) -> int:
    """``UPDATE ... SET fields WHERE pk = ...`` for each row (dicts with the pk and ``fields``);
    returns how many rows changed.

    ``where`` names fields whose expected (old) values the rows carry under ``"<name>__was"``:
    a row whose stored value differs is left alone, so the caller compares the count it gets
    back with the rows it sent (a conditional update: the optimistic check of a case's state).
    """
    if not rows:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = model._meta.pk
    sets = ", ".join(f"{quote(_column(model, name).column)} = %s" for name in fields)
    conditions = "".join(f" AND {quote(_column(model, name).column)} = %s" for name in where)
    sql = f"UPDATE {table} SET {sets} WHERE {quote(pk.column)} = %s{conditions}"
    if where:
        adapters = [_adapter(_column(model, name)) for name in where]
        rows = [{**row, **{f"{name}__was": (adapt(row[f"{name}__was"]) if adapt and
                                             row[f"{name}__was"] is not None
                                             else row[f"{name}__was"])
                           for name, adapt in zip(where, adapters, strict=True)}}
                for row in rows]
    values_of = _params(model, [*fields, pk.attname], rows)
    _note_references(model, fields, values_of)
    expected = [[row[f"{name}__was"] for name in where] for row in rows]
    # Rows that get the same values (a handover moving 50,000 cases to one state at one time)
    # go in one statement per chunk of ids instead of one statement each.
    same: dict[tuple[Any, ...], list[Any]] = {}
    for values, was in zip(values_of, expected, strict=True):
        same.setdefault((*values[:-1], *was), []).append(values[-1])
    changed = 0
    width = len(fields)
    with connection.cursor() as cursor:
        single = []
        for key, ids in same.items():
            values, was = list(key[:width]), list(key[width:])
            if len(ids) < 8:
                single.extend([*values, pk_value, *was] for pk_value in ids)
                continue
            for start in range(0, len(ids), 900):
                chunk = ids[start:start + 900]
                cursor.execute(f"UPDATE {table} SET {sets} WHERE {quote(pk.column)} "
                               f"IN ({', '.join(['%s'] * len(chunk))}){conditions}",
                               [*values, *chunk, *was])
                changed += cursor.rowcount
        if single:
            changed += _executemany(sql, single)
    return changed


@contextmanager
def references_checked_at_the_end() -> Iterator[Callable[[], None]]:
    """For one large write on SQLite: the database's own check of each reference (foreign
    key) as each row is written is off, and the ``check`` this yields looks at the rows written
    since, all at once; the caller calls it inside its transaction, before the commit, as
    SQLite would have checked its deferred references then.

    Checking each row as it was written cost a million orders 4 s of the writer's 35 (their
    vendor, product and buyer, docs/benchmarks.md); checking the same references afterwards,
    one query a reference, about 1 s. The same as Django's ``loaddata`` does
    (``constraint_checks_disabled``, then ``check_constraints``), but only the rows written
    since, not whole tables: a row is new if its rowid is above the table's largest before
    (SQLite gives a new row one above the largest; an upsert that updates keeps the row's),
    and what rows written by an upsert or an update refer to is kept as they are written
    (``_note_references``).

    Only outside a transaction (SQLite ignores the setting inside one); elsewhere, and on
    PostgreSQL (which checks every reference, deferred, at the commit), ``check`` does nothing.
    The setting is back on when the block ends, whatever happens."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield lambda: None
        return
    tables = _referring_tables()
    with connection.cursor() as cursor:
        marks = {table: _last_rowid(cursor, table) for table in tables}
    disabled = connection.disable_constraint_checking()
    referred: dict[tuple[str, str], set[Any]] = {}
    _checking.referred = referred if disabled else None
    try:
        yield ((lambda: _check_references_after(tables, marks, referred)) if disabled
               else (lambda: None))
    finally:
        _checking.referred = None
        if disabled:
            connection.enable_constraint_checking()


#: While a ``references_checked_at_the_end`` block runs in this thread (with its connection):
#: ``referred``, the values that rows written by an upsert or an update refer to (which may be
#: rows that were stored before, whose rowid does not mark them new), by (table referred to,
#: its column); checked at the end too.
_checking = threading.local()


def _note_references(model: type[models.Model], names: Sequence[str],
                     params: Sequence[Sequence[Any]]) -> None:
    """Keep the values of the references among ``names`` (``_checking.referred``)."""
    referred = getattr(_checking, "referred", None)
    if referred is None:
        return
    for i, name in enumerate(names):
        field = _column(model, name)
        if field.is_relation and field.db_constraint and field.remote_field:
            target = field.target_field
            referred.setdefault((target.model._meta.db_table, target.column), set()).update(
                values[i] for values in params if values[i] is not None)


def _last_rowid(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT MAX(rowid) FROM {connection.ops.quote_name(table)}")
    return cursor.fetchone()[0] or 0


def _referring_tables() -> dict[str, list[tuple[str, str, str]]]:
    """Every table with foreign keys: its (column, table referred to, column there)."""
    from django.apps import apps

    existing = set(connection.introspection.table_names())
    tables: dict[str, list[tuple[str, str, str]]] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.db_table not in existing:
            continue
        keys = [(field.column, field.target_field.model._meta.db_table,
                 field.target_field.column)
                for field in meta.local_concrete_fields
                if field.is_relation and field.db_constraint and field.remote_field]
        if keys:
            tables.setdefault(meta.db_table, []).extend(keys)
    return tables


def _check_references_after(tables: dict[str, list[tuple[str, str, str]]],
                            marks: dict[str, int],
                            referred: dict[tuple[str, str], set[Any]]) -> None:
    """Raise IntegrityError, naming the value, if a row written since ``marks`` (the largest
    rowid of each table before) refers to a row that does not exist, or a value in
    ``referred`` (what updated rows refer to) names no row.

    One query a reference. Where the rows written since are most of the table (a first
    import), each value referred to is looked up once (``DISTINCT``, in the column's index if
    it has one: a million orders' 316,740 buyers in 0.2 s, against 1.0 s row by row); else row
    by row, in the rowid range of the rows written, so that a small import into a large table
    reads only its own rows."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, keys in tables.items():
            last = _last_rowid(cursor, table)
            if last <= marks[table]:
                continue  # nothing written
            most = last - marks[table] >= marks[table]
            for column, parent, target in keys:
                missing = f"NOT EXISTS (SELECT 1 FROM {quote(parent)} p WHERE p.{quote(target)} = "
                if most:
                    sql = (f"SELECT v FROM (SELECT DISTINCT {quote(column)} AS v FROM "
                           f"{quote(table)} WHERE rowid > %s) WHERE v IS NOT NULL AND "
                           f"{missing}v) LIMIT 1")
                else:
                    sql = (f"SELECT c.{quote(column)} FROM {quote(table)} c WHERE c.rowid > %s "
                           f"AND c.{quote(column)} IS NOT NULL AND {missing}c.{quote(column)}) "
                           f"LIMIT 1")
                cursor.execute(sql, [marks[table]])
                found = cursor.fetchone()
                if found is not None:
                    raise IntegrityError(
                        f"FOREIGN KEY constraint failed: {table}.{column} = {found[0]!r}, "
                        f"written just now, refers to {parent}.{target}, which holds no such "
                        f"row")
        for (parent, target), values in referred.items():
            asked = list(values)
            for start in range(0, len(asked), 900):
                chunk = asked[start:start + 900]
                condition, params = one_of(quote(target), chunk)
                cursor.execute(f"SELECT {quote(target)} FROM {quote(parent)} WHERE {condition}",
                               params)
                missing = set(chunk) - {row[0] for row in cursor.fetchall()}
                if missing:
                    raise IntegrityError(
                        f"FOREIGN KEY constraint failed: a row updated just now refers to "
                        f"{parent}.{target} = {min(missing)!r}, which holds no such row")


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """Keep the garbage collector off what is already in memory while a bulk job runs.

    A job that holds a large, long-lived index (a bank import's 100,000 parsed bookings and
    every case's references) and then creates millions of short-lived rows makes CPython's
    oldest-generation collection walk that index again and again: 5 of 31 s in the bank
    benchmark. ``gc.freeze()`` moves what exists now out of the collector's sight and
    ``gc.unfreeze()`` gives it back when the job ends (the standard library's own remedy, no
    package does more); cycles made during the job are still collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def keep_long_lived() -> None:
    """Inside ``long_lived_heap``: what survived so far (a file import's set of the ids it has
    read, growing by a batch each time) joins the heap the collector no longer walks; objects
    that die later are still freed by their reference count. 10 % of an order import's CPU
    time went to the collector walking that set again and again."""
    gc.freeze()


# -- Reading -------------------------------------------------------------------------------------

Converter = Callable[[Any], Any]


def _sqlite_datetime(tz: Any) -> Converter:
    """What the ORM makes of a date-time column on SQLite (``convert_datetimefield_value``):
    sqlite3 has parsed it already (Django registers a converter for the declared type), so
    it only gets the connection's time zone, without the ORM's ``parse_datetime`` check and
    ``make_aware`` call for each value."""
    def moment(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return moment


def _sqlite_decimal(field: models.DecimalField) -> Converter:
    """The ORM's converter of a decimal column on SQLite (``get_decimalfield_converter``, the
    same context and quantum): SQLite stores a number, the field gives a Decimal of its
    places."""
    create = decimal.Context(prec=15).create_decimal_from_float
    quantum = decimal.Decimal(1).scaleb(-field.decimal_places)
    context = field.context
    return lambda value: create(value).quantize(quantum, context=context)


def _reader(model: type[models.Model], name: str) -> Converter | None:
    """How a raw value of the field ``name`` becomes what the ORM gives (None: as it is):
    those that cost on SQLite by a shortcut of the same result, any other field by the
    backend's and the field's own converters, exactly as the ORM applies them."""
    field = _column(model, name)
    if connection.vendor == "sqlite":
        internal = field.get_internal_type()
        if internal == "DateTimeField" and connection.timezone is not None:
            return _sqlite_datetime(connection.timezone)
        if internal == "DecimalField":
            return _sqlite_decimal(field)
        if internal in ("BooleanField", "DateField"):
            # sqlite3 gives a bool and a date already (Django registers its converters for
            # the declared types "bool" and "date"), which the ORM's converters leave as
            # they are.
            return None
    column = field.get_col(model._meta.db_table)
    converters = [*connection.ops.get_db_converters(column),
                  *column.get_db_converters(connection)]
    if not converters:
        return None

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, column, connection)
        return value
    return convert


def one_of(column: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column`` (quoted SQL) is one of ``keys``: the condition and its parameters. On
    PostgreSQL one array parameter (``= ANY(%s)``), which ``fetch`` sends bound on the server:
    the statement's text is the same for any number of keys, so it is prepared once, and the
    server no longer parses and plans a list of 900 values for every batch of an import
    (its queries were a fifth of an incident file's time there). Elsewhere ``IN (%s, ...)``."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(keys)]
    return f"{column} IN ({', '.join(['%s'] * len(keys))})", list(keys)


def columns(model: type[models.Model], names: Sequence[str]) -> str:
    """The quoted columns of the fields ``names``, for the select list of ``fetch``."""
    quote = connection.ops.quote_name
    return ", ".join(quote(_column(model, name).column) for name in names)


def fetch(model: type[models.Model], names: Sequence[str], sql: str,
          params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a plain query whose select list is the fields ``names`` of ``model``
    (``columns``), as tuples of what ``values_list`` would give: aware date-times, Decimals,
    parsed JSON (an empty value stays None).

    Why not the ORM where an import reads tens of thousands of rows: preparing each of the
    thousand parameters of an ``IN`` through the field machinery and converting each value
    through the backend's converters cost more than SQLite's executing of the query."""
    plan = [(i, read) for i, read in enumerate(_reader(model, name) for name in names)
            if read is not None]
    if connection.vendor == "postgresql":
        with _bound_cursor() as cursor:  # the parameters bound on the server (``one_of``)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    if not plan:
        return rows
    found = []
    for row in rows:
        values = list(row)
        for i, read in plan:
            if values[i] is not None:
                values[i] = read(values[i])
        found.append(tuple(values))
    return found


def select_rows(model: type[models.Model], names: Sequence[str], *, where: str,
                keys: Sequence[Any], order_by: Sequence[str] = (),
                lock: bool = False) -> list[tuple[Any, ...]]:
    """The values of the fields ``names`` of the rows whose field ``where`` is one of
    ``keys`` (``fetch``): one plain query per 900 keys (SQLite allows 999 parameters), each
    in ``order_by`` (field names, a leading "-" for descending).

    With ``lock``, ``FOR UPDATE`` on a database with row locks (PostgreSQL; SQLite has none
    and Django's ``select_for_update`` leaves it out there as well)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    order = ", ".join(
        f"{quote(_column(model, name.lstrip('-')).column)}"
        f"{' DESC' if name.startswith('-') else ''}" for name in order_by)
    tail = (f" ORDER BY {order}" if order else "") + (
        " FOR UPDATE" if lock and connection.features.has_select_for_update else "")
    select = f"SELECT {columns(model, names)} FROM {table} WHERE "
    column = quote(_column(model, where).column)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), 900):
        condition, params = one_of(column, keys[start:start + 900])
        found += fetch(model, names, f"{select}{condition}{tail}", params)
    return found
