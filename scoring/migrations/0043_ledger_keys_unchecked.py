"""The ledgers' lead, rule and scorecard keys without a constraint in the database (see
"Keys unchecked" in scoring.models.ledger): a check per row at commit for what every
writer of ledger rows already makes sure of."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0042_award_rollups"),
    ]

    operations = [
        migrations.AlterField(
            model_name="scorecardentry",
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
        migrations.AlterField(
            model_name="scorecardentry",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="scoring.scoringrule",
                verbose_name="rule",
            ),
        ),
        migrations.AlterField(
            model_name="scorecardentry",
            name="scorecard",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="scoring.scorecard",
                verbose_name="scorecard",
            ),
        ),
        migrations.AlterField(
            model_name="scoreentry",
            name="lead",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="score_entries",
                to="scoring.lead",
                verbose_name="lead",
            ),
        ),
        migrations.AlterField(
            model_name="scoreentry",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="entries",
                to="scoring.scoringrule",
                verbose_name="rule",
            ),
        ),
    ]
