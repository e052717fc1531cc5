"""The lifecycle stage history, for the reports: a row per change of a lead's stage.
The changes recorded so far are in the routing outbox (group transitions of kind
``stage``): they are copied over, so the history starts with what Leadflow knew."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0020_ledger_revisions"),
    ]

    operations = [
        migrations.CreateModel(
            name="StageChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("from_stage", models.CharField(blank=True, max_length=20)),
                ("to_stage", models.CharField(max_length=20)),
                ("at", models.DateTimeField()),
                (
                    "cause",
                    models.CharField(
                        help_text="What changed it: create or update (the API), admin, routing, sales.", max_length=20
                    ),
                ),
                (
                    "lead",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stage_changes",
                        to="scoring.lead",
                    ),
                ),
            ],
            options={
                "ordering": ["at", "id"],
                "indexes": [models.Index(fields=["lead", "at"], name="stagechange_lead_idx")],
            },
        ),
        migrations.RunSQL(
            "INSERT INTO scoring_stagechange (lead_id, from_stage, to_stage, at, cause)"
            " SELECT lead_id, from_stage, to_stage, occurred_at, cause FROM scoring_grouptransition"
            " WHERE kind = 'stage' ORDER BY id",
            migrations.RunSQL.noop,
        ),
    ]
