"""The custom attributes the tracked forms saved before Leadflow recorded where names came
from list (``attributes.<name>``) are recorded as a tracked form's, as saving a form records
them from now on: a key used in web pages writes them before the form's first post."""

from typing import Any

from django.db import migrations

PREFIX = "attributes."
# As scoring.models.AttributeName.MAX_LENGTH: longer names are never recorded.
NAME_MAX_LENGTH = 200


def _forms_names(apps: Any, schema_editor: Any) -> None:
    forms = apps.get_model("intake", "TrackedForm")
    names = apps.get_model("scoring", "AttributeName")
    listed = {
        field.removeprefix(PREFIX)
        for fields in forms.objects.values_list("lead_fields", flat=True)
        if isinstance(fields, list)
        for field in fields
        if isinstance(field, str) and field.startswith(PREFIX)
    }
    wanted = sorted(name for name in listed if name and len(name) <= NAME_MAX_LENGTH)
    names.objects.bulk_create([names(name=name, origin="form") for name in wanted], ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0007_tracked_form_fills_blanks"),
        ("scoring", "0059_attribute_name_origin"),
    ]

    operations = [migrations.RunPython(_forms_names, migrations.RunPython.noop)]
