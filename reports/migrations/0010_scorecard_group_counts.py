"""The overview's daily group counts per scorecard: a row per group of each scorecard and one
for no group per scorecard. The rows kept so far are the default scorecard's; the first
nightly run after upgrading counts the trend's days for every scorecard (and recounts the
default one's, which counted scorecards' moves as its own)."""

import django.db.models.deletion
from django.db import migrations, models


def scorecards_forget(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Going back: the scorecards' rows go (the default scorecard's stay what they were)."""
    apps.get_model("reports", "DailyGroupCount").objects.filter(scorecard__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_score_and_mql_counts"),
        ("scoring", "0040_account_rule_conditions"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="dailygroupcount",
            name="daily_one_without_group",
        ),
        migrations.AddField(
            model_name="dailygroupcount",
            name="scorecard",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="scoring.scorecard",
                verbose_name="scorecard",
            ),
        ),
        migrations.AddConstraint(
            model_name="dailygroupcount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("group__isnull", True), ("scorecard__isnull", True)),
                fields=("day",),
                name="daily_one_without_group",
            ),
        ),
        migrations.AddConstraint(
            model_name="dailygroupcount",
            constraint=models.UniqueConstraint(
                condition=models.Q(("group__isnull", True), ("scorecard__isnull", False)),
                fields=("day", "scorecard"),
                name="daily_one_without_group_per_scorecard",
            ),
        ),
        # Run first going back, before the column and its constraints go.
        migrations.RunPython(migrations.RunPython.noop, scorecards_forget),
    ]
