"""The names of the leads' custom attributes Leadflow knows, and whether a key used in web
pages brought each: such a key writes only names known (or tested by a rule), and brings
at most a few new ones site-wide. Every name the leads hold now is known: before this, any
sender could write any name, and none can be told apart now."""

from typing import Any

from django.db import migrations, models

SEED = {
    "postgresql": (
        "INSERT INTO scoring_attributename (name, from_a_page, recorded_at)"
        " SELECT DISTINCT key, false, now() FROM scoring_lead, jsonb_object_keys(attributes) AS key"
        " WHERE jsonb_typeof(attributes) = 'object' AND char_length(key) <= 200"
        " ON CONFLICT DO NOTHING"
    ),
    "sqlite": (
        "INSERT OR IGNORE INTO scoring_attributename (name, from_a_page, recorded_at)"
        " SELECT DISTINCT each.key, 0, strftime('%Y-%m-%d %H:%M:%f', 'now')"
        " FROM scoring_lead, json_each(scoring_lead.attributes) AS each"
        " WHERE json_type(scoring_lead.attributes) = 'object' AND length(each.key) <= 200"
    ),
}


def names_known(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SEED[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0057_set_aside_retry_said"),
    ]

    operations = [
        migrations.CreateModel(
            name="AttributeName",
            fields=[
                ("name", models.CharField(max_length=200, primary_key=True, serialize=False, verbose_name="name")),
                ("from_a_page", models.BooleanField(default=False, verbose_name="brought by a key used in web pages")),
                ("recorded_at", models.DateTimeField(auto_now_add=True, verbose_name="recorded at")),
            ],
            options={
                "verbose_name": "custom attribute name",
                "verbose_name_plural": "custom attribute names",
            },
        ),
        migrations.RunPython(names_known, migrations.RunPython.noop),
    ]
