"""Set-based writes for the scoring batches.

Django's ``bulk_update`` writes one ``CASE`` per row and field, and
``bulk_create`` one placeholder per value; for the thousands of rows of a
scoring batch both spend more time building SQL than the database spends
running it. On PostgreSQL these helpers send each column as one array
(``unnest``): a constant-size statement whatever the number of rows. On
other databases they fall back to Django's own bulk methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model


def _columns(model: type[Model], field_names: Sequence[str]) -> list[Field[Any, Any]]:
    return [model._meta.get_field(name) for name in field_names]  # type: ignore[misc]


def _arrays(objects: Sequence[Model], fields: Sequence[Field[Any, Any]]) -> list[list[Any]]:
    """One list of values per field. Plain values go as they are (psycopg adapts
    them); only fields with their own conversion (JSON, decimals…) pay for it."""
    arrays = []
    for f in fields:
        if f.get_internal_type() in _PLAIN:
            arrays.append([getattr(obj, f.attname) for obj in objects])
        else:
            arrays.append([f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objects])
    return arrays


_PLAIN = frozenset(
    {"IntegerField", "BigIntegerField", "BigAutoField", "AutoField", "CharField", "TextField", "ForeignKey",
     "DateTimeField", "BooleanField", "PositiveIntegerField"}
)  # fmt: skip


def rows_insert(objects: Sequence[Model], field_names: Sequence[str]) -> None:
    """INSERT ``objects`` (one model, new rows) setting ``field_names``; auto_now(_add) fields are filled."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    fields = _columns(model, field_names)
    for obj in objects:
        for f in fields:
            f.pre_save(obj, add=True)  # auto_now_add timestamps
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _arrays(objects, fields))


def rows_update(objects: Sequence[Model], field_names: Sequence[str]) -> None:
    """UPDATE ``field_names`` of existing ``objects`` (one model), by primary key."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, list(field_names))
        return
    pk = model._meta.pk
    assert pk is not None
    fields = [pk, *_columns(model, field_names)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    names = ", ".join(quote(f.column) for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v ({names}) "  # noqa: S608
        f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _arrays(objects, fields))
