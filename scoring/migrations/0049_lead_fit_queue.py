"""Leads waiting for their fit evaluation are rows of a queue (``scoring_pendingfit``)
instead of a flag on the lead (``scoring_lead.fit_pending``).

Clearing the flag rewrote the lead's row once more after its fit was evaluated: the
flag was in the predicate of a partial index, so that update could never be HOT and
wrote an entry in every index of the table, 37 µs a lead on the intake's path (where a
new lead matching no fit rule has nothing else to write). A queue row is an insert into
a one-index table when the lead is written, and a delete when its fit is evaluated.

The leads flagged now are queued, then the flag and its index go; the index is dropped
CONCURRENTLY (scoring.index_swap), so the API and workers go on writing leads meanwhile.
Going back builds it again CONCURRENTLY, flags the queued leads again, and gives the flag
a default in the database, so a lead written by code that no longer knows it is stored.
"""

import django.db.models.deletion
from django.db import migrations, models

from scoring.index_swap import add, drop

PENDING = models.Index(fields=["id"], condition=models.Q(fit_pending=True), name="lead_fit_pending_idx")


def index_drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    drop(schema_editor, apps.get_model("scoring", "Lead"), PENDING)


def index_add(apps, schema_editor):  # type: ignore[no-untyped-def]
    add(schema_editor, apps.get_model("scoring", "Lead"), PENDING)


def flag_default(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_lead ALTER COLUMN fit_pending SET DEFAULT false")


class Migration(migrations.Migration):
    atomic = False  # DROP and CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scoring", "0048_pattern_indexes_dropped"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingFit",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="scoring.lead",
                        verbose_name="lead",
                    ),
                ),
            ],
            options={
                "verbose_name": "lead waiting for its fit",
                "verbose_name_plural": "leads waiting for their fit",
            },
        ),
        migrations.RunSQL(
            "INSERT INTO scoring_pendingfit (lead_id) SELECT id FROM scoring_lead WHERE fit_pending",
            "UPDATE scoring_lead SET fit_pending = true WHERE id IN (SELECT lead_id FROM scoring_pendingfit)",
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(index_drop, index_add)],
            state_operations=[migrations.RemoveIndex(model_name="lead", name="lead_fit_pending_idx")],
        ),
        # Going back, after the column is added again.
        migrations.RunPython(migrations.RunPython.noop, flag_default),
        migrations.RemoveField(
            model_name="lead",
            name="fit_pending",
        ),
    ]
