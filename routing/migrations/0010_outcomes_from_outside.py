"""Outcomes reported by another system (a CRM) over the API: a lead need not be in a
sales queue for them, so the queue item is optional; "opportunity created" is a kind;
a won deal may carry its amount; who reported it and its own id (the same id twice is
recorded once) are kept."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0009_notification_sent_once"),
    ]

    operations = [
        migrations.AlterField(
            model_name="outcome",
            name="item",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="outcomes",
                to="routing.queueitem",
            ),
        ),
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
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="outcome",
            name="amount",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name="outcome",
            name="source",
            field=models.CharField(
                blank=True,
                db_default="",
                help_text="Who reported it from outside, e.g. api:<key prefix>.",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="outcome",
            name="client_id",
            field=models.CharField(blank=True, max_length=200, null=True),
        ),
        migrations.AddConstraint(
            model_name="outcome",
            constraint=models.UniqueConstraint(
                condition=models.Q(("client_id__isnull", False)),
                fields=("lead", "client_id"),
                name="outcome_once_per_client_id",
            ),
        ),
    ]
