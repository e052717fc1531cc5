"""A rep can hand a lead back to the team's queue: "released to the queue" is an outcome's
kind. Only the choices change; the database sees nothing."""

from django.db import migrations, models

from scoring.migration_operations import AlterFieldLabels


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0018_trigger_settings_unread_emptied"),
    ]

    operations = [
        AlterFieldLabels(
            migrations.AlterField(
                model_name="outcome",
                name="kind",
                field=models.CharField(
                    choices=[
                        ("claimed", "Claimed"),
                        ("accepted", "Accepted"),
                        ("rejected", "Rejected"),
                        ("qualified", "Qualified"),
                        ("disqualified", "Disqualified"),
                        ("opportunity", "Opportunity created"),
                        ("won", "Won"),
                        ("lost", "Lost"),
                        ("escalated", "Escalated (SLA)"),
                        ("released", "Released to the queue"),
                    ],
                    max_length=20,
                    verbose_name="kind",
                ),
            ),
        ),
    ]
