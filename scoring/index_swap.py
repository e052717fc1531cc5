"""Replacing an index of a busy table from a migration without blocking its writes.

A plain CREATE INDEX blocks every write to the table while it builds. On PostgreSQL
the new index is built CONCURRENTLY under a name of its own (writes go on), the old
one dropped CONCURRENTLY and the new one renamed, so the table has an index to read
(or a uniqueness to keep) all along. Left INVALID by an interrupted build, the
building index is dropped and built again by the next run of the migration, which
must be ``atomic = False``: CREATE and DROP INDEX CONCURRENTLY cannot run inside a
transaction. Elsewhere (SQLite, a first run) it is a plain swap.
Used by migrations (historical models).
"""

from __future__ import annotations

from typing import Any

from django.db import models

Swappable = models.Index | models.UniqueConstraint


def swap(schema_editor: Any, model: Any, old: Swappable, new: Swappable, *, building: str) -> None:
    """Replace ``old`` by ``new`` (an index or a partial unique constraint, same name)."""
    unique = isinstance(new, models.UniqueConstraint)
    if schema_editor.connection.vendor != "postgresql":
        if unique:
            schema_editor.remove_constraint(model, old)
            schema_editor.add_constraint(model, new)
        else:
            schema_editor.remove_index(model, old)
            schema_editor.add_index(model, new)
        return
    quote = schema_editor.quote_name
    if isinstance(new, models.UniqueConstraint):
        temporary = models.UniqueConstraint(fields=new.fields, condition=new.condition, name=building)
        create = str(temporary.create_sql(model, schema_editor))
        if not create.startswith("CREATE UNIQUE INDEX "):
            raise RuntimeError(f"{new.name} is not built as a unique index: {create}")
        create = create.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1)
    else:
        index = models.Index(fields=new.fields, condition=new.condition, include=new.include, name=building)
        create = str(index.create_sql(model, schema_editor, concurrently=True))
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(building)}")
    schema_editor.execute(create)
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")
    schema_editor.execute(f"ALTER INDEX {quote(building)} RENAME TO {quote(new.name)}")


def add(schema_editor: Any, model: Any, index: models.Index) -> None:
    """Build a new index without blocking the table's writes (CONCURRENTLY on PostgreSQL;
    an INVALID one left by an interrupted build is dropped and built again)."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, index)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index.name)}")
    schema_editor.execute(str(index.create_sql(model, schema_editor, concurrently=True)))


def drop(schema_editor: Any, model: Any, index: models.Index) -> None:
    """Drop an index without blocking the table's writes (CONCURRENTLY on PostgreSQL)."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, index)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index.name)}")
