"""The rule lift report's kept figures: each lead's origin also says whether it won and
which rules scored it, the mark how far the ledger and the outcomes were read, and the sums
per day of creation, source and rule (reports.queries.lift). Until the next rebuild the
rows kept before have no sums, so the report counts live (the mark's count of kept rows
is 0); ``manage.py reports_origins_rebuild`` fills them at once."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0005_model_names"),
        ("scoring", "0032_model_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="leadorigin",
            name="scored_rules",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="leadorigin",
            name="won",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="rollupmark",
            name="kept",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="rollupmark",
            name="outcome_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="rollupmark",
            name="score_entry_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="RuleLiftCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("source", models.CharField(blank=True, max_length=100)),
                ("leads", models.PositiveIntegerField()),
                ("converted", models.PositiveIntegerField()),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="scoring.scoringrule",
                    ),
                ),
            ],
            options={
                "verbose_name": "rule lift count",
                "verbose_name_plural": "rule lift counts",
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("rule__isnull", False)),
                        fields=("day", "source", "rule"),
                        name="rulelift_one_per_rule",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("rule__isnull", True)),
                        fields=("day", "source"),
                        name="rulelift_one_for_all_leads",
                    ),
                ],
            },
        ),
    ]
