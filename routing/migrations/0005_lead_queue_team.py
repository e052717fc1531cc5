from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Leads already waiting unclaimed in a team's queue get the team's id (see Lead.queue_team_id)."""
    lead_model = apps.get_model("scoring", "Lead")
    item_model = apps.get_model("routing", "QueueItem")
    waiting = item_model.objects.filter(lead_id=OuterRef("pk"), status="open", owner__isnull=True)
    lead_model.objects.filter(pk__in=waiting.values("lead_id")).update(
        queue_team_id=Subquery(waiting.values("team_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0004_schedule_and_groups"),
        ("scoring", "0010_lead_queue_team"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
        # Indexes the partial ones below already cover (see the models).
        migrations.AlterField(
            model_name="actionrun",
            name="transition",
            field=models.ForeignKey(
                db_index=False, on_delete=models.deletion.CASCADE, related_name="+", to="scoring.grouptransition"
            ),
        ),
        migrations.AlterField(
            model_name="queueitem",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="queue_items",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="queueitem",
            name="team",
            field=models.ForeignKey(
                db_index=False, on_delete=models.deletion.PROTECT, related_name="items", to="routing.team"
            ),
        ),
    ]
