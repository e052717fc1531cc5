from django.db import migrations

from scoring import schedule


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install(apps, schedule.PERIODIC_TASKS)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, schedule.PERIODIC_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
