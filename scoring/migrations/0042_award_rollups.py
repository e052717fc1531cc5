"""What caps still need from the ledger rows retention compacts: per lead and rule, the
number of awards and their points (all of them, and those a window can still reach)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0041_scorecard_writes_fewer_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="AwardRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("whole", models.BooleanField(verbose_name="all of them")),
                ("occurred_at", models.DateTimeField(verbose_name="occurred at")),
                ("awards", models.PositiveIntegerField(verbose_name="awards")),
                ("points", models.PositiveIntegerField(verbose_name="points")),
                (
                    "lead",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="scoring.lead",
                        verbose_name="lead",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="+",
                        to="scoring.scoringrule",
                        verbose_name="rule",
                    ),
                ),
            ],
            options={
                "verbose_name": "award roll-up",
                "verbose_name_plural": "award roll-ups",
                "indexes": [models.Index(fields=["rule"], name="award_rollup_rule_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("whole", True)), fields=("lead", "rule"), name="award_rollup_whole"
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("whole", False)),
                        fields=("lead", "rule", "occurred_at"),
                        name="award_rollup_moment",
                    ),
                ],
            },
        ),
    ]
