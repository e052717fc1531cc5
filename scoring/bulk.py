"""Set-based writes of plain rows (tuples) for the scoring batches.

Django's ``bulk_update`` writes one ``CASE`` per row and field, and
``bulk_create`` builds a model instance per row and one placeholder per
value; for the thousands of rows of a scoring batch that costs more than the
database's own work. On PostgreSQL these helpers send each column as one
array (``unnest``): a constant-size statement whatever the number of rows,
and no model instances. Elsewhere (SQLite, the embedded default) they fall
back to Django's bulk methods.

Values must be ready for the database: ints, text, datetimes, None.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, JSONField, Model, Q
from django.db.models.expressions import RawSQL


@contextmanager
def _binary_cursor(*, binary_results: bool = False) -> Iterator[CursorWrapper]:
    """A psycopg cursor with server-side, binary parameters on Django's PostgreSQL
    connection (same transaction), wrapped as Django wraps its own: its statements are
    counted by ``CaptureQueriesContext`` and logged with DEBUG, pass through
    ``connection.execute_wrapper``, and raise Django's database errors. Django's own
    cursors bind on the client, quoting every value of an array into the SQL text."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = psycopg.Cursor(connection.connection)
    if binary_results:
        cursor.format = psycopg.pq.Format.BINARY
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(cursor) as wrapped:  # type: ignore[arg-type]  # it takes the driver's cursor, as Django passes it
        yield wrapped


@contextmanager
def index_scans_only(*, nested_loops: bool = False) -> Iterator[None]:
    """Inside: PostgreSQL plans with index scans only (no sequential or bitmap scans), and
    with ``nested_loops`` joins only by nested loop, each row of the outer side looked up
    in the inner side's index (no hash or merge join, which would read all of an index).
    For statements that find a batch's rows by key or take a queue's ``ORDER BY id LIMIT n
    … SKIP LOCKED`` on a partial index: planned from the statistics of a table that grew
    since its last analyze (a new month's partition, a new installation's first hour, a
    bulk load faster than autovacuum's next analyze), they otherwise read the whole table
    or backlog for each batch, and a prepared statement keeps that plan. The settings go
    back to their defaults at the end (``SET LOCAL``: in a transaction only; a failure
    inside rolls them back with the transaction or savepoint). Elsewhere: nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    names = ["enable_seqscan", "enable_bitmapscan"]
    if nested_loops:
        names += ["enable_hashjoin", "enable_mergejoin"]
    with connection.cursor() as cursor:
        cursor.execute("; ".join(f"SET LOCAL {name} = off" for name in names))
    yield
    with connection.cursor() as cursor:
        cursor.execute("; ".join(f"SET LOCAL {name} TO DEFAULT" for name in names))


def _placed(sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """``sql``'s ``%s`` placeholders made binary (``%b``: psycopg would send a str as text),
    but for a list of ints (None allowed): that goes as the text of an array literal,
    ``{1,2,NULL}``, which the statement's cast (``%s::bigint[]``) reads. psycopg dumps a
    binary array value by value in Python, about twice the time of ``str`` joined in C,
    and the scoring batches' id columns are most of what they send."""
    parts = sql.split("%s")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    query, values = [parts[0]], []
    for value, part in zip(params, parts[1:], strict=True):
        literal = _int_array(value) if type(value) is list and value else None
        query.append("%t" if literal is not None else "%b")
        values.append(literal if literal is not None else value)
        query.append(part)
    return "".join(query), values


def _int_array(values: list[Any]) -> str | None:
    """The text of an array literal of ``values`` if they are all ints or None, else None."""
    # The types told apart in C (set, map): a generator testing each value in Python cost
    # about as much as joining them.
    kinds = set(map(type, values))
    if kinds == _INT:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds <= _INT_OR_NONE:  # None only, too: an array of NULLs
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    return None


_INT, _INT_OR_NONE = {int}, {int, type(None)}


def pg_execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` on Django's PostgreSQL connection (same transaction) with
    server-side, binary parameters: arrays of thousands of values are sent as
    they are, neither quoted nor escaped into the SQL text. ``sql`` holds only
    ``%s`` placeholders and no literal percent signs. Returns the rows, if any."""
    with _binary_cursor() as cursor:
        cursor.execute(*_placed(sql, params))
        return cursor.fetchall() if cursor.description else []


def pg_fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query of thousands of rows, read as the database's binary values: no
    timestamps or JSON to parse from text (most of the time of reading interactions was
    spent there; rescore and replay read theirs so, in about three quarters of the time a
    binary COPY of the same rows takes). Same placeholders and connection as
    :func:`pg_execute`."""
    with _binary_cursor(binary_results=True) as cursor:
        cursor.execute(*_placed(sql, params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def pg_execute_named(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """:func:`pg_execute` with ``%(name)s`` placeholders (text parameters)."""
    with _binary_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def ids_in(field: str, ids: Sequence[int]) -> Q:
    """``Q(<field>__in=ids)`` for thousands of ids: on PostgreSQL the ids go as one array
    parameter (``IN (SELECT unnest(…))``) rather than one placeholder each, which Django
    resolves one by one (most of a 5,000-lead read's time in Python). Elsewhere the plain
    lookup (SQLite's parameter limit is met by Django's own batching of ``IN``)."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": list(ids)})
    return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])})


def _fields(model: type[Model], field_names: Sequence[str]) -> list[Field[Any, Any]]:
    return [model._meta.get_field(name) for name in field_names]  # type: ignore[misc]


def _unnest(fields: Sequence[Field[Any, Any]]) -> str:
    return ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def json_as_text(fields: Sequence[Field[Any, Any]], columns: list[list[Any]]) -> None:
    """The values of ``fields``' JSON columns as text, cast by the server (callers give
    Python values, lists and dicts, as the ORM takes): psycopg can send neither as an array
    element, and would quote and escape each value into an array literal."""
    for i, f in enumerate(fields):
        if isinstance(f, JSONField):
            dumps = json.dumps if f.encoder is None else functools.partial(json.dumps, cls=f.encoder)
            columns[i] = [None if v is None else dumps(v) for v in columns[i]]


def values_insert(
    model: type[Model],
    field_names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    ignore_conflicts: bool = False,
    returning_pk: bool = False,
) -> list[Any]:
    """INSERT ``rows`` (one value per field of ``field_names``; JSON fields take Python
    values, as the ORM does) into ``model``'s table;
    with ``ignore_conflicts``, a row a unique constraint refuses is skipped (as
    ``bulk_create(ignore_conflicts=True)``). With ``returning_pk`` (PostgreSQL only),
    returns the primary keys of the rows inserted, a skipped row's not among them."""
    if not rows:
        return []
    fields = _fields(model, field_names)
    if connection.vendor != "postgresql":
        if returning_pk:
            raise NotImplementedError("values_insert(returning_pk=True) needs PostgreSQL")
        attnames = [f.attname for f in fields]
        model._default_manager.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in rows], ignore_conflicts=ignore_conflicts
        )
        return []
    quote = connection.ops.quote_name
    columns = _columns(rows, len(fields))
    json_as_text(fields, columns)
    # A column holding one value in every row (a batch's cause, time written, empty note…)
    # goes as that value once: sending and converting it row by row was a large part of the
    # statement's cost in Python. At least one column stays an array: it gives the rows.
    same = [len(rows) > 1 and column.count(column[0]) == len(column) for column in columns]
    if all(same):
        same[0] = False
    arrays = [i for i, constant in enumerate(same) if not constant]
    names = ", ".join(f"c{i}" for i in arrays)
    selected = ", ".join(f"%s::{f.db_type(connection)}" if same[i] else f"u.c{i}" for i, f in enumerate(fields))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT {selected} FROM unnest({_unnest([fields[i] for i in arrays])}) AS u ({names})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
        + (f" RETURNING {quote(model._meta.pk.column)}" if returning_pk else "")
    )
    # Placeholders in the order they appear: the constants of the select list, then the arrays.
    params = [columns[i][0] for i, constant in enumerate(same) if constant] + [columns[i] for i in arrays]
    return [row[0] for row in pg_execute(sql, params)]


def values_upsert(
    model: type[Model], field_names: Sequence[str], rows: Sequence[tuple[Any, ...]], *, unique: Sequence[str]
) -> None:
    """INSERT ``rows`` into ``model``'s table; a row whose ``unique`` fields (a unique
    constraint's) are already there updates the other fields instead. JSON fields take
    Python values (lists, dicts), as the ORM does."""
    if not rows:
        return
    fields = _fields(model, field_names)
    if connection.vendor != "postgresql":
        attnames = [f.attname for f in fields]
        model._default_manager.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in rows],
            update_conflicts=True,
            unique_fields=list(unique),
            update_fields=[f for f in field_names if f not in unique],
        )
        return
    quote = connection.ops.quote_name
    keys = [f.column for f in _fields(model, unique)]
    columns = _columns(rows, len(fields))
    json_as_text(fields, columns)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT * FROM unnest({_unnest(fields)}) "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET "
        + ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields if f.column not in keys)
    )
    pg_execute(sql, columns)


def values_update(model: type[Model], field_names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """UPDATE ``field_names`` of the rows whose primary key is each row's first value (JSON
    fields take Python values, as the ORM does)."""
    if not rows:
        return
    pk = model._meta.pk
    assert pk is not None
    fields = [pk, *_fields(model, field_names)]
    if connection.vendor == "sqlite" and SQLITE_UPDATE_FROM:
        _values_update_sqlite(model, fields, rows)
        return
    if connection.vendor != "postgresql":
        attnames = [f.attname for f in fields]
        objects = [model(**dict(zip(attnames, row, strict=True))) for row in rows]
        model._default_manager.bulk_update(objects, list(field_names))
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(f.column) for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({_unnest(fields)}) AS v ({names}) "  # noqa: S608
        f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    columns = _columns(rows, len(fields))
    json_as_text(fields, columns)
    with by_key(len(rows), nested_loops=True):  # each row found through the primary key
        pg_execute(sql, columns)


# From and up to how many rows a batch's statement finds each through the key whatever
# the statistics say (:func:`by_key`): below, the planner takes the key anyway, and two
# more round trips would cost more than they save; above, its choice stands (reading the
# whole table may be the cheaper).
BY_KEY_ROWS = (100, 20_000)


def by_key(rows: int, *, nested_loops: bool = False) -> AbstractContextManager[None]:
    """:func:`index_scans_only` around a statement that finds a batch's ``rows`` rows by
    their key, when it is worth it (:data:`BY_KEY_ROWS`) and can be (in a transaction:
    ``SET LOCAL``); else nothing."""
    if connection.in_atomic_block and BY_KEY_ROWS[0] < rows <= BY_KEY_ROWS[1]:
        return index_scans_only(nested_loops=nested_loops)
    return nullcontext()


# SQLite's smallest limit of parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER before 3.32).
_SQLITE_PARAMS = 999
# UPDATE … FROM came with SQLite 3.33 (2020); an older library (a Python built on an
# older system) takes Django's bulk_update instead.
SQLITE_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


def sqlite_values_update(
    model: type[Model],
    field_names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    where: str = "",
    params: Sequence[Any] = (),
) -> None:
    """:func:`values_update` on SQLite, only for rows that also meet ``where`` (SQL on the
    table's columns, with ``params``). Needs :data:`SQLITE_UPDATE_FROM`."""
    pk = model._meta.pk
    assert pk is not None
    _values_update_sqlite(model, [pk, *_fields(model, field_names)], rows, where=where, params=params)


def _values_update_sqlite(
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[tuple[Any, ...]],
    *,
    where: str = "",
    params: Sequence[Any] = (),
) -> None:
    """:func:`values_update` on SQLite: ``UPDATE … FROM (VALUES …)`` (SQLite 3.33+), a few
    statements whatever the number of rows (Django's bulk_update builds a CASE per row and
    field, which took most of a scoring batch's time)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = [f"c{i}" for i in range(len(fields))]
    assignments = ", ".join(f"{quote(f.column)} = v.{name}" for f, name in zip(fields[1:], names[1:], strict=True))
    per_statement = max(1, (_SQLITE_PARAMS - len(params)) // len(fields))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = (
                f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([row_sql] * len(chunk))}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{quote(fields[0].column)} = v.c0"
                + (f" AND ({where})" if where else "")
            )
            cursor.execute(
                sql,
                [f.get_db_prep_save(value, connection) for row in chunk for f, value in zip(fields, row, strict=True)]
                + list(params),
            )
