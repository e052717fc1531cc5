from django.db import migrations

from scoring import schedule

# name -> (task, every N seconds, expires after N seconds)
PERIODIC_TASKS = {
    "Send due nurture emails": ("nurture.send_due", 60, 55),
}


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install(apps, PERIODIC_TASKS)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, PERIODIC_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
