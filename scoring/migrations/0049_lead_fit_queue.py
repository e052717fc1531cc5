"""Leads waiting for their fit evaluation are rows of a queue (``scoring_pendingfit``)
instead of a flag on the lead (``scoring_lead.fit_pending``).

Clearing the flag rewrote the lead's row once more after its fit was evaluated: the
flag was in the predicate of a partial index, so that update could never be HOT and
wrote an entry in every index of the table, 25-37 µs a lead on the intake's path (where a
new lead matching no fit rule has nothing else to write). A queue row is an insert into
a one-index table when the lead is written, and a delete when its fit is evaluated.

The leads flagged now are queued while the API and workers go on writing; then, in one
transaction with the lead table locked (for as long as the drop of a column takes), the
leads flagged since by processes still running the previous version are queued too and
the column goes, its index with it. Going back adds the column again with a default in
the database (so a lead written by code that no longer knows it is stored), flags the
queued leads in the same transaction, builds the index CONCURRENTLY, and flags the leads
queued meanwhile before the queue goes.
"""

import django.db.models.deletion
from django.db import migrations, models, transaction

from scoring.index_swap import add, drop

PENDING = models.Index(fields=["id"], condition=models.Q(fit_pending=True), name="lead_fit_pending_idx")
QUEUE = "INSERT INTO scoring_pendingfit (lead_id) SELECT id FROM scoring_lead WHERE fit_pending ON CONFLICT DO NOTHING"
FLAG = (
    "UPDATE scoring_lead SET fit_pending = true WHERE NOT fit_pending AND id IN (SELECT lead_id FROM scoring_pendingfit)"
)


def index_drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    """SQLite only: rebuilding the table without the column, it must find no index on it. On
    PostgreSQL the index serves the last copy below and goes with its column."""
    if schema_editor.connection.vendor != "postgresql":
        drop(schema_editor, apps.get_model("scoring", "Lead"), PENDING)


def index_add(apps, schema_editor):  # type: ignore[no-untyped-def]
    add(schema_editor, apps.get_model("scoring", "Lead"), PENDING)


def flags_queue_and_drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    lead = apps.get_model("scoring", "Lead")
    with transaction.atomic(using=schema_editor.connection.alias):
        if schema_editor.connection.vendor == "postgresql":
            # The lock the column's drop takes anyway, taken first: no flag is set between the copy and the drop.
            schema_editor.execute("LOCK TABLE scoring_lead IN ACCESS EXCLUSIVE MODE")
        schema_editor.execute(QUEUE)
        schema_editor.remove_field(lead, lead._meta.get_field("fit_pending"))


def flags_back(apps, schema_editor):  # type: ignore[no-untyped-def]
    lead = apps.get_model("scoring", "Lead")
    with transaction.atomic(using=schema_editor.connection.alias):
        schema_editor.add_field(lead, lead._meta.get_field("fit_pending"))
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("ALTER TABLE scoring_lead ALTER COLUMN fit_pending SET DEFAULT false")
        schema_editor.execute(FLAG)


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
        migrations.RunSQL(QUEUE, FLAG),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(index_drop, index_add)],
            state_operations=[migrations.RemoveIndex(model_name="lead", name="lead_fit_pending_idx")],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(flags_queue_and_drop, flags_back)],
            state_operations=[migrations.RemoveField(model_name="lead", name="fit_pending")],
        ),
    ]
