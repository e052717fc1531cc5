"""Marketing names and describes the scoring model it designs (the model file's `name`
and `description`, also editable in the admin); there is one row, never deleted."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MARKETING = [
    ("scoring", "view_modelinfo"),
    ("scoring", "add_modelinfo"),
    ("scoring", "change_modelinfo"),
]


def _permissions(apps):  # type: ignore[no-untyped-def]
    # Permissions are made after the last migration; these need them now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    permission_model = apps.get_model("auth", "Permission")
    found = []
    for app, codename in MARKETING:
        permission = permission_model.objects.filter(content_type__app_label=app, codename=codename).first()
        if permission is None:
            raise RuntimeError(f"permission {app}.{codename} is missing")
        found.append(permission)
    return found


def grant(apps, schema_editor):  # type: ignore[no-untyped-def]
    marketing, _ = apps.get_model("auth", "Group").objects.get_or_create(name="Marketing")
    marketing.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):  # type: ignore[no-untyped-def]
    marketing = apps.get_model("auth", "Group").objects.filter(name="Marketing").first()
    if marketing is not None:
        marketing.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0007_marketing_set_aside_and_suppression"),
        ("scoring", "0017_model_name_and_description"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
