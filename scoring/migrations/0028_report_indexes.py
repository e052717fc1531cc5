"""The reports read a lead's score at its hand-off to sales (the ledger's rows until then,
by dimension) for every hand-off: the ledger's index by lead carries ``created_at`` too,
so that sum is read from the index alone rather than from rows spread over the table.

The same index, one column wider, rather than another index on the most written table.
Built CONCURRENTLY under another name and swapped in (scoring.index_swap), so writes go
on while it builds; a plain swap on SQLite.
"""

from django.db import migrations, models

from scoring.index_swap import swap

BEFORE = models.Index(
    fields=["lead", "rule", "occurred_at"],
    include=["dimension", "delta", "interaction"],
    name="ledger_lead_rule_idx",
)
AFTER = models.Index(
    fields=["lead", "rule", "occurred_at"],
    include=["dimension", "delta", "interaction", "created_at"],
    name="ledger_lead_rule_idx",
)


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "ScoreEntry"), BEFORE, AFTER, building="ledger_lead_rule_new")


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    swap(schema_editor, apps.get_model("scoring", "ScoreEntry"), AFTER, BEFORE, building="ledger_lead_rule_new")


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0027_predictive_model"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveIndex(model_name="scoreentry", name="ledger_lead_rule_idx"),
                migrations.AddIndex(model_name="scoreentry", index=AFTER),
            ],
        ),
    ]
