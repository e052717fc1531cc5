"""A release records the rep who held the lead (``holder``) beside who released it
(``user``): an administrator releasing an away rep's leads is not the rep the SLA must
not give them back to. Releases recorded before held what was known: the one who
released, which was the holder whenever a rep released their own lead."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def holders_from_releasers(apps, schema_editor):  # type: ignore[no-untyped-def]
    outcome = apps.get_model("routing", "Outcome")
    outcome.objects.filter(kind="released", holder__isnull=True).update(holder=F("user"))


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0019_outcome_released"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="outcome",
            name="holder",
            field=models.ForeignKey(
                blank=True,
                help_text="Released: the rep who held the lead.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="held by",
            ),
        ),
        migrations.RunPython(holders_from_releasers, migrations.RunPython.noop),
    ]
