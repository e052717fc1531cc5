"""Drop the ``varchar_pattern_ops`` copies of five unique keys written on the intake's
path (PostgreSQL only).

Django gives every unique or indexed text column on PostgreSQL a second index for
``LIKE 'abc%'`` (``…_like``). No query of Leadflow asks these columns for a prefix (the
admin's searches of accounts are ``icontains``, which that index cannot serve, and the
leads' search has a table of its own), yet every row written pays an entry in it:

- the interaction key of every event stored (``scoring_interactionkey.key``);
- the key of every visitor (``scoring_visitor.key``);
- the external id of every new version of a lead's row (``scoring_lead.external_id``:
  NULL for most leads, and still an entry each time its score changes);
- the domain and external id of every new version of an account's row (each roll-up).

bench/key_writes.py measures it: the database's processor time for inserting 200,000
interaction keys 1.63-1.67 s with the copy, 1.20-1.23 s without (0.72-0.75); visitors
0.83-0.86; a score update of 50,000 accounts 0.89-0.95. A lead's row has ten other
indexes: there the difference is within the noise (0.95-1.05).

Dropped CONCURRENTLY, so the API and workers go on writing meanwhile. Going back builds
them again, CONCURRENTLY. Not in the models' state: Django adds these indexes outside it,
and SQLite has none.
"""

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# (model, column) whose "_like" index goes.
PATTERN_INDEXED = [
    ("InteractionKey", "key"),
    ("Visitor", "key"),
    ("Lead", "external_id"),
    ("Account", "domain"),
    ("Account", "external_id"),
]


def _indexes(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> Iterator[tuple[str, str, str]]:
    """(index name, table, column) of each copy, named as Django names them."""
    for model_name, column in PATTERN_INDEXED:
        table = apps.get_model("scoring", model_name)._meta.db_table
        yield schema_editor._create_index_name(table, [column], suffix="_like"), table, column


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in _indexes(apps, schema_editor):
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in _indexes(apps, schema_editor):
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ("{column}" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    atomic = False  # DROP and CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0047_lead_search_table"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
