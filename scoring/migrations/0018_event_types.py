"""Event types: any type name is accepted, and a table of every type seen or declared,
counted as interactions are stored. The built-in types get their rows; the types
already in the interactions are counted once here (the only time they are grouped);
Marketing keeps the types and their Segment event names."""

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import Count, Max, Min

import scoring.models.events
from scoring import group_permissions

# As they were when this migration was written (scoring.event_types.BUILT_IN).
BUILT_IN = [
    "email_open",
    "email_click",
    "form_submit",
    "page_view",
    "download",
    "webinar",
    "survey_answer",
    "social_mention",
]
MARKETING = [
    ("scoring", f"{verb}_{model}")
    for model in ("eventtype", "segmentevent")
    for verb in ("view", "add", "change", "delete")
]


def count_seen(apps, schema_editor):  # type: ignore[no-untyped-def]
    event_type = apps.get_model("scoring", "EventType")
    interaction = apps.get_model("scoring", "Interaction")
    seen = (
        interaction.objects.values("type")
        .annotate(n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("type")
    )
    rows = {key: event_type(key=key) for key in BUILT_IN}
    for row in seen:
        kind = row["type"]
        rows[kind] = event_type(key=kind, seen_count=row["n"], first_seen_at=row["first"], last_seen_at=row["last"])
    event_type.objects.bulk_create([rows[key] for key in sorted(rows)])


def grant(apps, schema_editor):  # type: ignore[no-untyped-def]
    group_permissions.grant(apps, "Marketing", MARKETING)


class Migration(migrations.Migration):

    dependencies = [
        ('scoring', '0017_model_name_and_description'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.CreateModel(
            name='EventType',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(help_text='The name senders use: lowercase letters, digits, - and _, starting with a letter or digit, at most 40 characters.', max_length=40, unique=True, validators=[scoring.models.events.validate_type_name], verbose_name='type')),
                ('label', models.CharField(blank=True, help_text='The type in words.', max_length=100)),
                ('declared', models.BooleanField(default=False, help_text='Named in the model file or the admin (not only seen in interactions).')),
                ('seen_count', models.BigIntegerField(default=0, editable=False, verbose_name='interactions')),
                ('first_seen_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='first seen')),
                ('last_seen_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='last seen')),
            ],
            options={
                'verbose_name': 'event type',
                'ordering': ['key'],
            },
        ),
        migrations.AlterField(
            model_name='interaction',
            name='type',
            field=models.CharField(max_length=40),
        ),
        migrations.CreateModel(
            name='SegmentEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='As sent, e.g. "Trial Started".', max_length=200, verbose_name='Segment event name')),
                ('event_type', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='segment_events', to='scoring.eventtype')),
            ],
            options={
                'verbose_name': 'Segment event name',
                'ordering': [django.db.models.functions.text.Lower('name')],
                'constraints': [models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='segment_event_name_unique', violation_error_message='This Segment event name already maps to a type.')],
            },
        ),
        migrations.RunPython(count_seen, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
