import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from scoring import partitions


def keys_fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Every stored interaction's key, now that its own table keeps them unique."""
    schema_editor.execute(
        "INSERT INTO scoring_interactionkey (key, occurred_at, lead_id)"
        " SELECT idempotency_key, min(occurred_at), min(lead_id) FROM scoring_interaction GROUP BY idempotency_key"
    )


def keys_empty(apps, schema_editor):  # type: ignore[no-untyped-def]
    schema_editor.execute("DELETE FROM scoring_interactionkey")


def _convert(schema_editor, *, partitioned: bool) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps plain tables
    with schema_editor.connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.table_convert(cursor, table, partitioned=partitioned, now=timezone.now())


def partition(apps, schema_editor):  # type: ignore[no-untyped-def]
    _convert(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):  # type: ignore[no-untyped-def]
    _convert(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0037_scorecards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="InteractionKey",
            fields=[
                ("key", models.CharField(max_length=200, primary_key=True, serialize=False, verbose_name="key")),
                ("occurred_at", models.DateTimeField(verbose_name="occurred at")),
                (
                    "lead",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="scoring.lead",
                        verbose_name="lead",
                    ),
                ),
            ],
            options={
                "verbose_name": "interaction key",
                "verbose_name_plural": "interaction keys",
            },
        ),
        migrations.CreateModel(
            name="InteractionRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("type", models.CharField(max_length=40, verbose_name="type")),
                ("month", models.DateField(help_text="The first day of the month.", verbose_name="month")),
                ("count", models.PositiveIntegerField(verbose_name="count")),
            ],
            options={
                "verbose_name": "interaction roll-up",
                "verbose_name_plural": "interaction roll-ups",
            },
        ),
        migrations.RemoveConstraint(
            model_name="scorecardentry",
            name="sc_ledger_one_award_per_interaction_rule",
        ),
        migrations.RemoveConstraint(
            model_name="scoreentry",
            name="ledger_one_award_per_interaction_rule",
        ),
        migrations.AlterField(
            model_name="interaction",
            name="idempotency_key",
            field=models.CharField(max_length=200, verbose_name="idempotency key"),
        ),
        migrations.AlterField(
            model_name="scorecardentry",
            name="cause",
            field=models.CharField(
                choices=[
                    ("rule", "Rule"),
                    ("manual", "Manual adjustment"),
                    ("rescore", "Rescore"),
                    ("decay", "Decay"),
                    ("revised", "Revised by a late interaction"),
                    ("opening", "Opening balance"),
                ],
                max_length=20,
                verbose_name="cause",
            ),
        ),
        migrations.AlterField(
            model_name="scorecardentry",
            name="interaction",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="scoring.interaction",
                verbose_name="interaction",
            ),
        ),
        migrations.AlterField(
            model_name="scoreentry",
            name="cause",
            field=models.CharField(
                choices=[
                    ("rule", "Rule"),
                    ("manual", "Manual adjustment"),
                    ("rescore", "Rescore"),
                    ("decay", "Decay"),
                    ("revised", "Revised by a late interaction"),
                    ("opening", "Opening balance"),
                ],
                max_length=20,
                verbose_name="cause",
            ),
        ),
        migrations.AlterField(
            model_name="scoreentry",
            name="interaction",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="entries",
                to="scoring.interaction",
                verbose_name="interaction",
            ),
        ),
        migrations.AddConstraint(
            model_name="scorecardentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("cause", "rule"), ("interaction__isnull", False)),
                fields=("interaction", "rule", "occurred_at"),
                name="sc_ledger_one_award_per_interaction_rule",
            ),
        ),
        migrations.AddConstraint(
            model_name="scoreentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("cause", "rule"), ("interaction__isnull", False)),
                fields=("interaction", "rule", "occurred_at"),
                name="ledger_one_award_per_interaction_rule",
            ),
        ),
        migrations.AddField(
            model_name="interactionrollup",
            name="lead",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="scoring.lead",
                verbose_name="lead",
            ),
        ),
        migrations.AddIndex(
            model_name="interactionrollup",
            index=models.Index(fields=["month", "type"], name="interaction_rollup_month_idx"),
        ),
        migrations.AddConstraint(
            model_name="interactionrollup",
            constraint=models.UniqueConstraint(
                fields=("lead", "type", "month"), name="interaction_rollup_one_per_month"
            ),
        ),
        migrations.RunPython(keys_fill, keys_empty, elidable=False),
        # Reversible: the reverse copies the rows back into plain tables. Each way copies
        # every row once, so on a large installation it is a maintenance window's work.
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
