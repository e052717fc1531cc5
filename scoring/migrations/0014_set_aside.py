from django.db import migrations, models


class Migration(migrations.Migration):
    """Rows a batch could not process are set aside (scoring.setaside). The index the
    scoring workers claim from leaves set-aside interactions out from 0015 on, which
    builds it without blocking writes."""

    dependencies = [
        ("scoring", "0013_suppression_list"),
    ]

    operations = [
        migrations.CreateModel(
            name="SetAside",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=40)),
                ("row_id", models.BigIntegerField()),
                ("lead_id", models.BigIntegerField(blank=True, null=True)),
                ("error_type", models.CharField(max_length=200)),
                ("error", models.TextField()),
                ("traceback", models.TextField(blank=True)),
                ("first_failed_at", models.DateTimeField()),
                ("last_failed_at", models.DateTimeField()),
                ("failures", models.PositiveIntegerField(default=1)),
                (
                    "resolved_at",
                    models.DateTimeField(blank=True, help_text="Retried and back in its batch's way.", null=True),
                ),
                ("retried_at", models.DateTimeField(blank=True, null=True)),
                ("retry_result", models.CharField(blank=True, max_length=500)),
            ],
            options={
                "verbose_name": "set-aside row",
                "verbose_name_plural": "set-aside rows",
                "ordering": ["-last_failed_at", "-id"],
                "constraints": [models.UniqueConstraint(fields=("kind", "row_id"), name="setaside_one_per_row")],
                "indexes": [
                    models.Index(
                        condition=models.Q(("lead_id__isnull", False)), fields=["lead_id"], name="setaside_lead_idx"
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="interaction",
            name="set_aside",
            field=models.BooleanField(db_default=False, default=False, editable=False),
        ),
    ]
