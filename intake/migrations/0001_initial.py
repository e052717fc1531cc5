"""API keys and tracked forms move here from scoring, with their rows.

The tables are renamed (scoring_apikey -> intake_apikey, scoring_trackedform ->
intake_trackedform) and their content types follow, so the permissions granted on
them (the Marketing group's on tracked forms) and the admin's history stay theirs.
Routing's migrations grant those permissions under scoring: they run first.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import intake.models

MOVED = ("apikey", "trackedform")


def content_types_follow(apps, schema_editor):  # type: ignore[no-untyped-def]
    _relabel(apps, source="scoring", target="intake")


def content_types_go_back(apps, schema_editor):  # type: ignore[no-untyped-def]
    _relabel(apps, source="intake", target="scoring")


def _relabel(apps, *, source, target):  # type: ignore[no-untyped-def]
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not content_type.objects.filter(app_label=target, model=model).exists():
            content_type.objects.filter(app_label=source, model=model).update(app_label=target)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("scoring", "0015_interaction_unscored_concurrently"),
        ("routing", "0007_marketing_set_aside_and_suppression"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "name",
                            models.CharField(help_text="Who uses it, e.g. 'Website' or 'Email tool'.", max_length=100),
                        ),
                        (
                            "scopes",
                            models.JSONField(
                                default=intake.models.default_api_scopes,
                                help_text="What the key may do (see ApiScope); a request outside them gets 403.",
                            ),
                        ),
                        ("prefix", models.CharField(editable=False, max_length=16, unique=True)),
                        ("key_hash", models.CharField(editable=False, max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_used_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"verbose_name": "API key", "db_table": "scoring_apikey"},
                ),
                migrations.CreateModel(
                    name="TrackedForm",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("key", models.SlugField(help_text="Used in the form's action URL.", max_length=100, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("active", models.BooleanField(default=True)),
                        (
                            "lead_fields",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="Form fields copied to the lead (e.g. first_name, company, attributes.goal); "
                                "the others are kept on the interaction.",
                            ),
                        ),
                        (
                            "success_url",
                            models.URLField(blank=True, help_text="Where the browser goes after submitting."),
                        ),
                    ],
                    options={"db_table": "scoring_trackedform"},
                ),
            ],
        ),
        # The tables take the app's name; the rows stay where they are.
        migrations.AlterModelTable(name="apikey", table=None),
        migrations.AlterModelTable(name="trackedform", table=None),
        migrations.RunPython(content_types_follow, content_types_go_back),
    ]
