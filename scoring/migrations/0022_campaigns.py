"""Campaigns, which interactions name in their ``campaign`` property; Marketing defines
them (the admin, the model file) for the campaigns report."""

import django.core.validators
from django.db import migrations, models

from scoring import group_permissions

MARKETING = [
    ("scoring", "view_campaign"),
    ("scoring", "add_campaign"),
    ("scoring", "change_campaign"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0021_stage_changes"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="Campaign",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "key",
                    models.SlugField(
                        help_text="The value interactions carry in their campaign property, e.g. spring-sale.",
                        max_length=80,
                        unique=True,
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "channel",
                    models.CharField(blank=True, help_text="E.g. email, paid search, events.", max_length=60),
                ),
                (
                    "cost",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="What the campaign cost, in the currency deals are won in. Empty: not known.",
                        max_digits=14,
                        null=True,
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
                ("start_date", models.DateField(blank=True, null=True)),
                ("end_date", models.DateField(blank=True, null=True)),
            ],
            options={
                "ordering": ["name", "key"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("start_date__isnull", True),
                            ("end_date__isnull", True),
                            ("end_date__gte", models.F("start_date")),
                            _connector="OR",
                        ),
                        name="campaign_ends_after_start",
                        violation_error_message="The end date must not be before the start date.",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("cost__isnull", True), ("cost__gte", 0), _connector="OR"),
                        name="campaign_cost_not_negative",
                        violation_error_message="The cost must not be negative.",
                    ),
                ],
            },
        ),
        group_permissions.granting({"Marketing": MARKETING}),
    ]
