from django.db import migrations, models


def lead_fillfactor(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Leave room in each page of leads (PostgreSQL only; new pages, and old ones once
    rewritten): a lead is changed many times (scores, stage, tags, owner), and a new
    version that fits on the same page writes less, and needs no index entry when no
    indexed column changed (a HOT update)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_lead SET (fillfactor = 85)")


def lead_fillfactor_reset(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE scoring_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0009_lead_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="queue_team_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("queue_team_id__isnull", False)),
                fields=["queue_team_id", "-total_score"],
                name="lead_queue_team_score_idx",
            ),
        ),
        migrations.AlterField(
            model_name="grouptransition",
            name="from_group",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to="scoring.scoregroup",
            ),
        ),
        migrations.AlterField(
            model_name="grouptransition",
            name="to_group",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to="scoring.scoregroup",
            ),
        ),
        migrations.RunPython(lead_fillfactor, lead_fillfactor_reset),
    ]
