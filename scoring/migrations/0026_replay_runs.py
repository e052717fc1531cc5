"""Replays of a model version over past interactions, beside the live model; Marketing
starts, watches and cancels them."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from scoring import group_permissions

# Marketers replay versions, watch and cancel their replays.
MARKETING = [("scoring", f"{verb}_replayrun") for verb in ("view", "add", "change")]


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0025_model_drafts"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReplayRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "days",
                    models.PositiveIntegerField(
                        default=90,
                        help_text="Replay the interactions of this many days before now.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(3650),
                        ],
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        editable=False,
                        max_length=10,
                    ),
                ),
                (
                    "progress",
                    models.PositiveSmallIntegerField(default=0, editable=False, help_text="Percent of the leads done."),
                ),
                ("cancel_requested", models.BooleanField(default=False, editable=False)),
                ("window_end", models.DateTimeField(blank=True, editable=False, null=True)),
                ("live_spec", models.JSONField(blank=True, editable=False, null=True)),
                ("draft_spec", models.JSONField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("finished_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("error", models.TextField(blank=True, editable=False)),
                ("result", models.JSONField(blank=True, editable=False, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        help_text="The version to replay.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="replays",
                        to="scoring.modelversion",
                    ),
                ),
            ],
            options={
                "verbose_name": "replay",
                "verbose_name_plural": "replays",
                "ordering": ["-created_at", "-id"],
            },
        ),
        group_permissions.granting({"Marketing": MARKETING}),
    ]
