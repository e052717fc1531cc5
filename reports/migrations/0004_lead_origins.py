"""Each lead's origin (source, first and last campaign touch, furthest funnel step) for
the campaigns report, the mark of how far its rebuild read, and the nightly task that
rebuilds it (00:40, after the score group count; editable under Periodic tasks)."""

import django.db.models.deletion
from django.db import migrations, models

from scoring import schedule

NIGHTLY = {"Rebuild leads' origins (nightly, for the campaigns report)": ("reports.origins_nightly", 0, 40, 6 * 3600)}


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install_nightly(apps, NIGHTLY)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, NIGHTLY)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_mql_targets"),
        ("scoring", "0028_report_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeadOrigin",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="scoring.lead",
                    ),
                ),
                ("source", models.CharField(blank=True, max_length=100)),
                ("first_campaign", models.TextField(blank=True)),
                ("first_campaign_at", models.DateTimeField(blank=True, null=True)),
                ("last_campaign", models.TextField(blank=True)),
                ("last_campaign_at", models.DateTimeField(blank=True, null=True)),
                ("reached_step", models.PositiveSmallIntegerField(default=0)),
                ("created_at", models.DateTimeField(blank=True, null=True)),
                ("mql_at", models.DateTimeField(blank=True, null=True)),
                ("sql_at", models.DateTimeField(blank=True, null=True)),
                ("opportunity_at", models.DateTimeField(blank=True, null=True)),
                ("customer_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="RollupMark",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=50, unique=True)),
                ("interaction_id", models.BigIntegerField()),
                ("stage_change_id", models.BigIntegerField()),
                ("lead_id", models.BigIntegerField(default=0)),
                ("built_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
