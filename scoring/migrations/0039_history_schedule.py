from django.db import migrations

from scoring import schedule

# Before the decay (02:30): the months ahead are made well before they start.
HISTORY_TASKS = {
    "Partitions ahead and retention (nightly)": ("scoring.history_maintain", 1, 30, 6 * 3600),
}


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.install_nightly(apps, HISTORY_TASKS)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule.uninstall(apps, HISTORY_TASKS)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0038_partitions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
