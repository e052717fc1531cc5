"""The index the scoring workers claim from leaves set-aside interactions out.

Interactions is the biggest table, and a plain CREATE INDEX blocks every write to it
(intake, tracking, scoring) while it builds. On PostgreSQL the new index is built
CONCURRENTLY under a name of its own (writes go on), the old one dropped CONCURRENTLY,
and the new one renamed; the workers' claim has an index to read all along. That needs
a migration outside a transaction. Elsewhere (SQLite, a first run) it is a plain swap.
"""

from django.db import migrations, models

NAME = "interaction_unscored_idx"
# The new index while it builds. Left INVALID by an interrupted build, it is dropped and
# built again by the next run of this migration.
BUILDING = "interaction_unscored_new"

WITH_SET_ASIDE = models.Index(
    condition=models.Q(("lead__isnull", False), ("scored_at__isnull", True), ("set_aside", False)),
    fields=["id"],
    name=NAME,
)
BEFORE = models.Index(
    condition=models.Q(("lead__isnull", False), ("scored_at__isnull", True)),
    fields=["id"],
    name=NAME,
)


def _swap(apps, schema_editor, old, new):  # type: ignore[no-untyped-def]
    model = apps.get_model("scoring", "Interaction")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, old)
        schema_editor.add_index(model, new)
        return
    quote = schema_editor.quote_name
    building = models.Index(fields=new.fields, condition=new.condition, name=BUILDING)
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(BUILDING)}")
    schema_editor.execute(building.create_sql(model, schema_editor, concurrently=True))
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")
    schema_editor.execute(f"ALTER INDEX {quote(BUILDING)} RENAME TO {quote(new.name)}")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    _swap(apps, schema_editor, BEFORE, WITH_SET_ASIDE)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    _swap(apps, schema_editor, WITH_SET_ASIDE, BEFORE)


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0014_set_aside"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveIndex(model_name="interaction", name=NAME),
                migrations.AddIndex(model_name="interaction", index=WITH_SET_ASIDE),
            ],
        ),
    ]
