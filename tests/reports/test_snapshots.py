"""The nightly count of leads per score group, behind the overview's 90-day trend: counted
from the group transitions, the same whenever and however often it runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from reports import snapshots
from reports.models import DailyGroupCount
from scoring.models import GroupTransition, Lead, ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import adjust

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def lead_created(when: datetime) -> Lead:
    lead = LeadFactory.create()
    Lead.objects.filter(pk=lead.pk).update(created_at=when)
    return lead


def move(lead: Lead, before: ScoreGroup | None, after: ScoreGroup | None, when: datetime) -> None:
    GroupTransition.objects.create(
        lead=lead,
        from_group=before,
        to_group=after,
        direction="up" if after is not None else "down",
        previous_total=0,
        total_score=0,
        cause="rule",
        occurred_at=when,
    )


def kept(day: date) -> dict[str | None, int]:
    return {
        (row.group.key if row.group else None): row.leads
        for row in DailyGroupCount.objects.filter(day=day).select_related("group")
    }


@pytest.fixture
def story() -> tuple[ScoreGroup, ScoreGroup]:
    """Four leads over a few days of November 2026 (times in UTC, Leadflow's zone in tests):

    - L1, created on the 1st, warm on the 2nd, hot on the 8th (a watched score crossed on the 7th moves nothing);
    - L2, created on the 7th at 09:00, warm at 12:00, back to no group on the 9th;
    - L3, created on the 8th, never in a group;
    - L4, created on the 9th at 23:59:59; L5 on the 10th (after the days counted).
    """
    warm = ScoreGroupFactory.create(key="warm", name="Warm", min_score=40)
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)
    l1 = lead_created(at(1))
    move(l1, None, warm, at(2))
    move(l1, warm, warm, at(7, 8))
    move(l1, warm, hot, at(8, 10))
    l2 = lead_created(at(7, 9))
    move(l2, None, warm, at(7, 12))
    move(l2, warm, None, at(9, 8))
    lead_created(at(8))
    lead_created(datetime(2026, 11, 9, 23, 59, 59, tzinfo=UTC))
    lead_created(at(10))
    return warm, hot


def test_each_day_is_counted_at_its_end_from_the_transitions(story: tuple[ScoreGroup, ScoreGroup]) -> None:
    warm, hot = story
    counts = snapshots.group_counts_count(first=date(2026, 10, 31), last=date(2026, 11, 10))
    assert counts[date(2026, 10, 31)] == {warm.pk: 0, hot.pk: 0, None: 0}
    assert counts[date(2026, 11, 1)] == {warm.pk: 0, hot.pk: 0, None: 1}
    assert counts[date(2026, 11, 6)] == {warm.pk: 1, hot.pk: 0, None: 0}
    assert counts[date(2026, 11, 7)] == {warm.pk: 2, hot.pk: 0, None: 0}
    assert counts[date(2026, 11, 8)] == {warm.pk: 1, hot.pk: 1, None: 1}
    assert counts[date(2026, 11, 9)] == {warm.pk: 0, hot.pk: 1, None: 3}
    assert counts[date(2026, 11, 10)] == {warm.pk: 0, hot.pk: 1, None: 4}
    # Starting the range later reads the same days alike (the start is read from history).
    assert snapshots.group_counts_count(first=date(2026, 11, 8), last=date(2026, 11, 9)) == {
        day: counts[day] for day in (date(2026, 11, 8), date(2026, 11, 9))
    }


@override_settings(TIME_ZONE="America/New_York")
def test_days_end_at_midnight_in_leadflows_time_zone(story: tuple[ScoreGroup, ScoreGroup]) -> None:
    warm, hot = story
    # A lead created at 03:00 UTC on the 10th: 22:00 on the 9th in New York.
    lead_created(datetime(2026, 11, 10, 3, tzinfo=UTC))
    # L4 was created at 18:59:59 on the 9th there; L2 left warm at 03:00 there on the 9th,
    # and was created at 04:00 on the 7th there (09:00 UTC), still on the 7th.
    counts = snapshots.group_counts_count(first=date(2026, 11, 7), last=date(2026, 11, 9))
    assert counts[date(2026, 11, 7)] == {warm.pk: 2, hot.pk: 0, None: 0}
    assert counts[date(2026, 11, 8)] == {warm.pk: 1, hot.pk: 1, None: 1}
    assert counts[date(2026, 11, 9)] == {warm.pk: 0, hot.pk: 1, None: 4}


def test_the_nightly_run_counts_the_trend_once_and_a_second_run_changes_nothing(
    story: tuple[ScoreGroup, ScoreGroup],
) -> None:
    written = snapshots.group_counts_nightly(today=date(2026, 11, 10))
    assert written == snapshots.TREND_DAYS * 3  # a first run counts the whole trend: 2 groups and "no group" a day
    assert kept(date(2026, 11, 9)) == {"warm": 0, "hot": 1, None: 3}
    assert kept(date(2026, 11, 8)) == {"warm": 1, "hot": 1, None: 1}
    assert kept(date(2026, 11, 10)) == {}  # today is not over
    before = list(DailyGroupCount.objects.order_by("id").values_list("id", "day", "group", "leads"))

    assert snapshots.group_counts_nightly(today=date(2026, 11, 10)) == 0
    assert list(DailyGroupCount.objects.order_by("id").values_list("id", "day", "group", "leads")) == before

    # The next night counts the day just over, and only it.
    assert snapshots.group_counts_nightly(today=date(2026, 11, 11)) == 3
    assert kept(date(2026, 11, 10)) == {"warm": 0, "hot": 1, None: 4}


def test_a_missed_night_is_counted_by_the_next(story: tuple[ScoreGroup, ScoreGroup]) -> None:
    snapshots.group_counts_nightly(today=date(2026, 11, 8))
    assert kept(date(2026, 11, 8)) == {}
    snapshots.group_counts_nightly(today=date(2026, 11, 10))  # the night of the 9th was missed
    assert kept(date(2026, 11, 8)) == {"warm": 1, "hot": 1, None: 1}
    assert kept(date(2026, 11, 9)) == {"warm": 0, "hot": 1, None: 3}


def test_the_rebuild_command_recounts_past_days_and_twice_changes_nothing(
    story: tuple[ScoreGroup, ScoreGroup],
) -> None:
    # A wrong count left by hand is put right; the right ones are left alone.
    DailyGroupCount.objects.create(day=date(2026, 11, 8), group=story[1], leads=99)
    out = StringIO()
    call_command("reports_snapshot_rebuild", "--since", "2026-11-07", "--until", "2026-11-09", stdout=out)
    assert "2026-11-07 to 2026-11-09: 9 row(s) added or changed" in out.getvalue()
    assert kept(date(2026, 11, 8)) == {"warm": 1, "hot": 1, None: 1}
    before = list(DailyGroupCount.objects.order_by("id").values_list("id", "day", "group", "leads"))
    out = StringIO()
    call_command("reports_snapshot_rebuild", "--since", "2026-11-07", "--until", "2026-11-09", stdout=out)
    assert ": 0 row(s) added or changed" in out.getvalue()
    assert list(DailyGroupCount.objects.order_by("id").values_list("id", "day", "group", "leads")) == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-13-01"], "--since: '2026-13-01' is not a date"),
        (["--until", "yesterday"], "--until: 'yesterday' is not a date"),
        (["--days", "0"], "--days: 0 is not 1 or more"),
        (["--days", "3", "--since", "2026-11-01"], "--days and --since"),
        (["--since", "2026-11-09", "--until", "2026-11-07"], "--since: 2026-11-09 is after --until 2026-11-07"),
    ],
)
def test_the_rebuild_command_names_what_is_wrong(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("reports_snapshot_rebuild", *arguments)


def test_the_rebuild_command_refuses_a_day_not_over_yet() -> None:
    with pytest.raises(CommandError, match=r"--until: .* is not over yet"):
        call_command("reports_snapshot_rebuild", "--until", timezone.localdate().isoformat())


def test_counted_from_history_equals_the_groups_leads_are_in_now() -> None:
    """Transitions as scoring writes them (crossing several groups at once, going down,
    going back up) add up to where the leads are now."""
    warm = ScoreGroupFactory.create(key="warm", min_score=40)
    hot = ScoreGroupFactory.create(key="hot", min_score=80)
    leads = [LeadFactory.create() for _ in range(5)]
    for lead, moves in zip(leads, [[50], [90], [90, -60], [90, -60, 20], [10]], strict=True):
        for delta in moves:
            adjust(lead, delta)
    today = timezone.localdate()
    counted = snapshots.group_counts_count(first=today, last=today)[today]
    now = {warm.pk: 0, hot.pk: 0, None: 0}
    for group in Lead.objects.values_list("score_group", flat=True):
        now[group] += 1
    assert counted == now
    assert now == {warm.pk: 2, hot.pk: 1, None: 2}


def test_the_nightly_task_is_scheduled_after_midnight_with_an_expiry() -> None:
    task = PeriodicTask.objects.select_related("crontab").get(task="reports.snapshot_nightly")
    assert task.crontab is not None
    assert (task.crontab.hour, task.crontab.minute, task.enabled) == ("0", "20", True)
    assert task.expire_seconds
    from project.celery import app

    app.loader.import_default_modules()
    assert "reports.snapshot_nightly" in app.tasks


def test_days_with_nothing_yet_are_counted_as_zeros() -> None:
    assert snapshots.group_counts_nightly(today=date(2026, 11, 10)) == snapshots.TREND_DAYS  # "no group" only
    assert set(DailyGroupCount.objects.values_list("leads", flat=True)) == {0}
    latest = DailyGroupCount.objects.order_by("day").last()
    assert latest is not None
    assert latest.day == date(2026, 11, 10) - timedelta(days=1)
