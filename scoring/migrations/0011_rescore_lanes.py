import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def lanes_from_cursors(apps, schema_editor):  # type: ignore[no-untyped-def]
    """An unfinished job goes on as one lane from where its cursor stopped."""
    job_model = apps.get_model("scoring", "RescoreJob")
    lane_model = apps.get_model("scoring", "RescoreLane")
    lane_model.objects.bulk_create(
        lane_model(job=job, position=0, low=0, high=2**62, last_lead_id=job.last_lead_id)
        for job in job_model.objects.exclude(status="done")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0010_lead_queue_team'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='RescoreLane',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('low', models.BigIntegerField()),
                ('high', models.BigIntegerField()),
                ('last_lead_id', models.BigIntegerField(default=0)),
                ('finished', models.BooleanField(default=False)),
            ],
            options={
                'ordering': ['job', 'position'],
            },
        ),
        migrations.AddField(
            model_name='rescorelane',
            name='job',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lanes', to='scoring.rescorejob'),
        ),
        migrations.AddConstraint(
            model_name='rescorelane',
            constraint=models.UniqueConstraint(fields=('job', 'position'), name='rescore_lane_position'),
        ),
        migrations.RunPython(lanes_from_cursors, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='rescorejob',
            name='last_lead_id',
        ),
        migrations.RemoveIndex(
            model_name='scoreentry',
            name='ledger_lead_rule_idx',
        ),
        migrations.AddIndex(
            model_name='scoreentry',
            index=models.Index(fields=['lead', 'rule', 'occurred_at'], include=('dimension', 'delta', 'interaction'), name='ledger_lead_rule_idx'),
        ),
    ]
