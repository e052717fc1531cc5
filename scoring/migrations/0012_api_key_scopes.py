from django.db import migrations, models

ALL_SCOPES = ["events:write", "leads:read", "leads:write", "leads:erase", "enrollments:write"]


def default_api_scopes():  # type: ignore[no-untyped-def]
    # What new keys got then; a copy, since the model and its default have moved to intake.
    return ["events:write"]


def existing_keys_keep_what_they_could_do(apps, schema_editor):
    # Before scopes, every key could do everything: keep it so (revoke and reissue to narrow one).
    apps.get_model("scoring", "ApiKey").objects.update(scopes=ALL_SCOPES)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0011_rescore_lanes"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                default=default_api_scopes,
                help_text="What the key may do (see ApiScope); a request outside them gets 403.",
            ),
        ),
        migrations.RunPython(existing_keys_keep_what_they_could_do, migrations.RunPython.noop),
    ]
