"""The nightly rebuild of the kept origins runs after the night's decay, so the leads the
decay moved are settled by it rather than read live all the next day."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from scoring import schedule

REBUILD = "Rebuild leads' origins (nightly, for the campaigns report)"
DECAY = "Decay quiet leads' engagement (nightly)"
ACCOUNTS = "Recompute accounts' roll-ups (nightly)"

ORIGINS = importlib.import_module("reports.migrations.0004_lead_origins")
ACCOUNT_SCORES = importlib.import_module("scoring.migrations.0030_account_scores")
AFTER_DECAY = importlib.import_module("reports.migrations.0011_origins_after_decay")


def at(name: str) -> tuple[int, int]:
    crontab = PeriodicTask.objects.get(name=name).crontab
    assert crontab is not None
    return int(crontab.hour), int(crontab.minute)


def installed_as_before() -> None:
    """The rebuild's task as the migration that made it installs it (00:40): the rows
    migrations write are not kept across tests that empty the database."""
    PeriodicTask.objects.filter(name=REBUILD).delete()
    schedule.install_nightly(apps, ORIGINS.NIGHTLY)


@pytest.mark.django_db
def test_a_new_installation_rebuilds_after_the_decay_and_the_accounts_recompute():
    PeriodicTask.objects.filter(name__in=[DECAY, ACCOUNTS]).delete()
    schedule.install_nightly(apps, schedule.NIGHTLY_TASKS)
    schedule.install_nightly(apps, ACCOUNT_SCORES.ACCOUNT_TASKS)
    installed_as_before()
    AFTER_DECAY.forwards(apps, None)
    assert at(DECAY) < at(ACCOUNTS) < at(REBUILD) == (4, 0)


def migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_upgrading_moves_the_old_time_and_keeps_an_edited_one():
    try:
        migrate([("reports", "0010_scorecard_group_counts")])
        installed_as_before()
        migrate([("reports", "0011_origins_after_decay")])
        assert at(REBUILD) == (4, 0)

        migrate([("reports", "0010_scorecard_group_counts")])
        assert at(REBUILD) == (0, 40)
        edited, _ = CrontabSchedule.objects.get_or_create(
            minute="15", hour="1", day_of_week="*", day_of_month="*", month_of_year="*"
        )
        PeriodicTask.objects.filter(name=REBUILD).update(crontab=edited)
        migrate([("reports", "0011_origins_after_decay")])
        assert at(REBUILD) == (1, 15)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
