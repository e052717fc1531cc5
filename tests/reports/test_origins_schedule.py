"""The nightly rebuild of the kept origins runs after the night's decay, so the leads the
decay moved are settled by it rather than read live all the next day."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import CrontabSchedule, PeriodicTask

REBUILD = "Rebuild leads' origins (nightly, for the campaigns report)"
DECAY = "Decay quiet leads' engagement (nightly)"
ACCOUNTS = "Recompute accounts' roll-ups (nightly)"


def at(name: str) -> tuple[int, int]:
    crontab = PeriodicTask.objects.get(name=name).crontab
    assert crontab is not None
    return int(crontab.hour), int(crontab.minute)


@pytest.mark.django_db
def test_the_rebuild_runs_after_the_decay_and_the_accounts_recompute():
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
        assert at(REBUILD) == (0, 40)
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
