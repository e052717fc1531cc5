"""The nightly rebuild of the leads' origins, funnel and score counts runs after the
night's decay (02:30) and the accounts' recompute (03:30), at 04:00: run before the
decay, every lead the decay moved was changed since the rebuild's mark, so the overview
and the reports read it live all day instead of from the kept rows. A schedule a
marketer already edited (another time than the old 00:40) is left as it is."""

from django.db import migrations

NAME = "Rebuild leads' origins (nightly, for the campaigns report)"
BEFORE = (0, 40)
AFTER = (4, 0)


def move(apps, frm, to):  # type: ignore[no-untyped-def]
    from django.conf import settings

    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task = apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).first()
    if task is None or task.crontab is None:
        return
    old = task.crontab
    if (old.hour, old.minute, old.day_of_week, old.day_of_month, old.month_of_year) != (
        str(frm[0]),
        str(frm[1]),
        "*",
        "*",
        "*",
    ):
        return
    task.crontab, _ = crontab_model.objects.get_or_create(
        minute=str(to[1]),
        hour=str(to[0]),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    task.save(update_fields=["crontab"])


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    move(apps, BEFORE, AFTER)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    move(apps, AFTER, BEFORE)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0010_scorecard_group_counts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
