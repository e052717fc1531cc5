"""Leadflow's periodic tasks, as rows django-celery-beat reads (editable in the admin).

Kept as data so each app's migration can install its own tasks idempotently:
rows are matched by name, and a marketer's later edit of the interval is kept.
"""

from typing import Any

# name -> (task, every N seconds, expires after N seconds)
PERIODIC_TASKS: dict[str, tuple[str, int, int]] = {
    "Score pending interactions (sweep)": ("scoring.score_pending", 60, 55),
}


def install(apps: Any, tasks: dict[str, tuple[str, int, int]]) -> None:
    """Create missing periodic tasks; leave existing ones (and their edits) alone."""
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, every, expires) in tasks.items():
        interval, _ = interval_model.objects.get_or_create(every=every, period="seconds")
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "expire_seconds": expires}
        )


def uninstall(apps: Any, tasks: dict[str, Any]) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=tasks).delete()


# name -> (task, hour, minute, expires after N seconds): daily, in settings.TIME_ZONE.
NIGHTLY_TASKS: dict[str, tuple[str, int, int, int]] = {
    "Decay quiet leads' engagement (nightly)": ("scoring.decay_nightly", 2, 30, 6 * 3600),
}


def install_nightly(apps: Any, tasks: dict[str, tuple[str, int, int, int]]) -> None:
    """Create missing daily tasks; leave existing ones (and their edits) alone."""
    from django.conf import settings

    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, hour, minute, expires) in tasks.items():
        crontab, _ = crontab_model.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "expire_seconds": expires}
        )
