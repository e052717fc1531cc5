"""Interactions waiting to be scored are rows of a table of their own, deleted as they
are scored, instead of a second write of each interaction (scored_at) that was never HOT:
the column was in the waiting index's predicate."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def _waiting_lock(apps: object, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("LOCK TABLE scoring_waitinginteraction IN EXCLUSIVE MODE")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0051_ledger_interaction_unasked"),
    ]

    operations = [
        migrations.CreateModel(
            name="WaitingInteraction",
            fields=[
                (
                    "interaction",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="scoring.interaction",
                        verbose_name="interaction",
                    ),
                ),
                ("type", models.CharField(max_length=40, verbose_name="type")),
                ("properties", models.JSONField(blank=True, default=dict, verbose_name="properties")),
                ("occurred_at", models.DateTimeField(verbose_name="occurred at")),
            ],
            options={
                "verbose_name": "interaction waiting to be scored",
                "verbose_name_plural": "interactions waiting to be scored",
            },
        ),
        migrations.AddField(
            model_name="waitinginteraction",
            name="lead",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="scoring.lead",
                verbose_name="lead",
            ),
        ),
        migrations.AddIndex(
            model_name="waitinginteraction",
            index=models.Index(fields=["lead", "occurred_at"], name="waiting_lead_time_idx"),
        ),
        # First: dropping the index takes the table's lock until the commit, so no process
        # still running marks an interaction scored after the copy below has read it.
        migrations.RemoveIndex(
            model_name="interaction",
            name="interaction_unscored_idx",
        ),
        migrations.RunSQL(
            # What waited (never scored, a lead known, not set aside) waits in the new table.
            "INSERT INTO scoring_waitinginteraction (interaction_id, lead_id, type, properties, occurred_at)"
            " SELECT id, lead_id, type, properties, occurred_at FROM scoring_interaction"
            " WHERE scored_at IS NULL AND lead_id IS NOT NULL AND NOT set_aside",
            # Back: what no longer waits was scored (when, the table did not keep: on arrival).
            "UPDATE scoring_interaction SET scored_at = received_at WHERE lead_id IS NOT NULL AND NOT set_aside"
            " AND NOT EXISTS (SELECT 1 FROM scoring_waitinginteraction w WHERE w.interaction_id = scoring_interaction.id)",
        ),
        migrations.RemoveField(
            model_name="interaction",
            name="scored_at",
        ),
        # Last, so that going back it runs first: no worker of this version deletes a waiting
        # row between the going-back UPDATE's read of them and its commit (PostgreSQL; SQLite
        # holds its one writer's lock from the first step).
        migrations.RunPython(migrations.RunPython.noop, _waiting_lock),
    ]
