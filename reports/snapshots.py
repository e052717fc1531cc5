"""The daily count of leads per score group (:class:`~reports.models.DailyGroupCount`):
how many leads were in each group at the end of each day, in Leadflow's time zone.

Counted from the group transitions scoring records for every change of group, never
from the leads as they are now, so a day is counted the same whenever it is counted:
the nightly task, a second run of it, or ``manage.py reports_snapshot_rebuild`` for
days long past all give the same rows, and writing them again changes nothing. Only
erasing a lead changes the past (its transitions go with it), as it should.

A few statements per range of days, whatever its length: the groups at the start of
the range (each lead's latest transition before it), then each day's moves in and out
of each group and the leads created each day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from reports.models import DailyGroupCount
from scoring.models import GroupTransition, Lead, ScoreGroup

# The overview's trend covers this many days; the nightly task keeps them counted.
TREND_DAYS = 90

Counts = dict[date, dict[int | None, int]]


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in Leadflow's time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def group_counts_count(*, first: date, last: date) -> Counts:
    """Leads per group (None: in no group) at the end of each day from ``first`` to
    ``last`` (included), for every group there is now."""
    if last < first:
        return {}
    start, end = day_start(first), day_start(last + timedelta(days=1))
    tz = timezone.get_current_timezone()
    groups = list(ScoreGroup.objects.values_list("pk", flat=True))
    score = GroupTransition.objects.filter(kind=GroupTransition.Kind.SCORE)
    # Each lead's group at the start: the one its latest transition before then went to.
    # A lead's transitions are written in order under its row lock, so its latest is its highest id.
    latest = score.filter(occurred_at__lt=start).values("lead").annotate(last=Max("id")).values("last")
    current: dict[int | None, int] = defaultdict(int)
    for group, n in score.filter(pk__in=latest).values("to_group").annotate(n=Count("id")).values_list("to_group", "n"):
        current[group] += n
    current[None] = Lead.objects.filter(created_at__lt=start).count() - sum(
        n for group, n in current.items() if group is not None
    )
    moves: dict[date, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    during = score.filter(occurred_at__gte=start, occurred_at__lt=end).annotate(day=TruncDate("occurred_at", tzinfo=tz))
    for day, group, n in (
        during.values("day", "from_group").annotate(n=Count("id")).values_list("day", "from_group", "n")
    ):
        moves[day][group] -= n
    for day, group, n in during.values("day", "to_group").annotate(n=Count("id")).values_list("day", "to_group", "n"):
        moves[day][group] += n
    created = (
        Lead.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    for created_on, n in created:
        moves[created_on][None] += n  # a new lead is in no group until its first transition
    counts: Counts = {}
    day = first
    while day <= last:
        for key, moved in moves.get(day, {}).items():
            current[key] += moved
        # Never below 0: leads given a group without a transition (written by hand, say)
        # would otherwise take "no group" negative.
        counts[day] = {group: max(0, current.get(group, 0)) for group in [*groups, None]}
        day += timedelta(days=1)
    return counts


@transaction.atomic
def group_counts_snapshot(*, first: date, last: date) -> int:
    """Count the days from ``first`` to ``last`` and keep them, rewriting only rows that
    differ (a second run writes nothing). Returns how many rows were added or changed."""
    counts = group_counts_count(first=first, last=last)
    wanted = {(day, group): n for day, by_group in counts.items() for group, n in by_group.items()}
    kept = {(row.day, row.group_id): row for row in DailyGroupCount.objects.filter(day__gte=first, day__lte=last)}
    stale = [row.pk for key, row in kept.items() if key not in wanted]
    changed = []
    for key, row in kept.items():
        if key in wanted and row.leads != wanted[key]:
            row.leads = wanted[key]
            changed.append(row)
    new = [
        DailyGroupCount(day=day, group_id=group, leads=n)
        for (day, group), n in wanted.items()
        if (day, group) not in kept
    ]
    if stale:
        DailyGroupCount.objects.filter(pk__in=stale).delete()
    if changed:
        DailyGroupCount.objects.bulk_update(changed, ["leads"])
    DailyGroupCount.objects.bulk_create(new)
    return len(changed) + len(new)


def group_counts_nightly(*, today: date | None = None) -> int:
    """The nightly run: count yesterday, and every earlier day of the trend not counted
    yet (missed nights, a first run). Returns the rows added or changed."""
    today = today or timezone.localdate()
    last = today - timedelta(days=1)
    window = today - timedelta(days=TREND_DAYS)
    counted = set(
        DailyGroupCount.objects.filter(day__gte=window, day__lte=last).values_list("day", flat=True).distinct()
    )
    first = next(
        (window + timedelta(days=i) for i in range(TREND_DAYS) if window + timedelta(days=i) not in counted), last
    )
    return group_counts_snapshot(first=min(first, last), last=last)
