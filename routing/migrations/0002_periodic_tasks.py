from django.db import migrations

from scoring import schedule

TASKS = {"Route group transitions": ("routing.route_transitions", 60, 55)}


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install(apps, TASKS)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0001_routing_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
