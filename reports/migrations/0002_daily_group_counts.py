"""The daily count of leads per score group behind the overview's 90-day trend, and the
nightly task that fills it (00:20, editable under Periodic tasks: a day is counted once
it is over)."""

import django.db.models.deletion
from django.db import migrations, models

from scoring import schedule

NIGHTLY = {"Count leads per score group (nightly, for the overview)": ("reports.snapshot_nightly", 0, 20, 6 * 3600)}


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install_nightly(apps, NIGHTLY)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, NIGHTLY)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("scoring", "0021_stage_changes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyGroupCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("leads", models.PositiveIntegerField()),
                (
                    "group",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="scoring.scoregroup",
                    ),
                ),
            ],
            options={
                "ordering": ["day", "group"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("group__isnull", False)),
                        fields=("day", "group"),
                        name="daily_one_per_group",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("group__isnull", True)), fields=("day",), name="daily_one_without_group"
                    ),
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
