"""The daily count of leads per score group (:class:`~reports.models.DailyGroupCount`):
how many leads were in each group of each scorecard at the end of each day, in Leadflow's
time zone.

Counted from the group transitions scoring records for every change of group, never
from the leads as they are now, so a day is counted the same whenever it is counted:
the nightly task, a second run of it, or ``manage.py reports_snapshot_rebuild`` for
days long past all give the same rows, and writing them again changes nothing. Only
erasing a lead changes the past (its transitions go with it), as it should.

A few statements per range of days, whatever its length: the groups at the start of
the range (each lead's latest transition before it), then each day's moves in and out
of each group and the leads created each day, each grouped by scorecard, so every
scorecard is counted by the same statements.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from reports.models import DailyGroupCount
from scoring.models import GroupTransition, Lead, Scorecard, ScoreGroup

# The overview's trend covers this many days; the nightly task keeps them counted.
TREND_DAYS = 90

Counts = dict[date, dict[int | None, int]]
# By scorecard id (None: the default scorecard).
EveryCounts = dict[int | None, Counts]


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in Leadflow's time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def scorecard_groups() -> dict[int | None, list[int]]:
    """Every live scorecard's group ids (None: the default scorecard), each key there even
    without a group."""
    cards: dict[int | None, list[int]] = {None: []}
    cards.update({pk: [] for pk in Scorecard.objects.values_list("pk", flat=True)})
    for card, group in ScoreGroup.every_scorecard.values_list("scorecard_id", "pk"):
        if card in cards:
            cards[card].append(group)
    return cards


def group_counts_every(*, first: date, last: date) -> EveryCounts:
    """Leads per group (None: in no group) at the end of each day from ``first`` to
    ``last`` (included), for every group there is now, of every scorecard. Every lead is
    counted on every scorecard: in no group of it until its first move there. The same
    statements whatever the number of scorecards (each grouped by scorecard)."""
    if last < first:
        return {}
    start, end = day_start(first), day_start(last + timedelta(days=1))
    tz = timezone.get_current_timezone()
    groups = scorecard_groups()
    score = GroupTransition.objects.filter(kind=GroupTransition.Kind.SCORE)
    # Each lead's group on each scorecard at the start: the one its latest transition there
    # before then went to. A lead's transitions are written in order under its row lock, so
    # its latest is its highest id.
    latest = score.filter(occurred_at__lt=start).values("lead", "scorecard").annotate(last=Max("id")).values("last")
    current: dict[int | None, dict[int | None, int]] = {card: defaultdict(int) for card in groups}
    card: int | None
    placed = score.filter(pk__in=latest).values("scorecard", "to_group").annotate(n=Count("id"))
    for card, group, n in placed.values_list("scorecard", "to_group", "n"):
        if card in current:
            current[card][group] += n
    before = Lead.objects.filter(created_at__lt=start).count()
    for by_group in current.values():
        by_group[None] = before - sum(n for group, n in by_group.items() if group is not None)
    moves: dict[date, dict[tuple[int | None, int | None], int]] = defaultdict(lambda: defaultdict(int))
    during = score.filter(occurred_at__gte=start, occurred_at__lt=end).annotate(day=TruncDate("occurred_at", tzinfo=tz))
    left = during.values("day", "scorecard", "from_group").annotate(n=Count("id"))
    for day, card, group, n in left.values_list("day", "scorecard", "from_group", "n"):
        moves[day][(card, group)] -= n
    entered = during.values("day", "scorecard", "to_group").annotate(n=Count("id"))
    for day, card, group, n in entered.values_list("day", "scorecard", "to_group", "n"):
        moves[day][(card, group)] += n
    created = (
        Lead.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    for created_on, n in created:
        for card in groups:
            moves[created_on][(card, None)] += n  # a new lead is in no group until its first transition
    counts: EveryCounts = {card: {} for card in groups}
    day = first
    while day <= last:
        for (card, key), moved in moves.get(day, {}).items():
            if card in current:
                current[card][key] += moved
        for card, card_groups in groups.items():
            # Never below 0: leads given a group without a transition (written by hand, say)
            # would otherwise take "no group" negative.
            counts[card][day] = {group: max(0, current[card].get(group, 0)) for group in [*card_groups, None]}
        day += timedelta(days=1)
    return counts


def group_counts_count(*, first: date, last: date, scorecard_id: int | None = None) -> Counts:
    """:func:`group_counts_every` of one scorecard (None: the default one)."""
    return group_counts_every(first=first, last=last).get(scorecard_id, {})


@transaction.atomic
def group_counts_snapshot(*, first: date, last: date) -> int:
    """Count the days from ``first`` to ``last`` for every scorecard and keep them,
    rewriting only rows that differ (a second run writes nothing). Returns how many rows
    were added or changed."""
    every = group_counts_every(first=first, last=last)
    wanted = {
        (day, card, group): n
        for card, counts in every.items()
        for day, by_group in counts.items()
        for group, n in by_group.items()
    }
    kept = {
        (row.day, row.scorecard_id, row.group_id): row
        for row in DailyGroupCount.objects.filter(day__gte=first, day__lte=last)
    }
    stale = [row.pk for key, row in kept.items() if key not in wanted]
    changed = []
    for key, row in kept.items():
        if key in wanted and row.leads != wanted[key]:
            row.leads = wanted[key]
            changed.append(row)
    new = [
        DailyGroupCount(day=day, scorecard_id=card, group_id=group, leads=n)
        for (day, card, group), n in wanted.items()
        if (day, card, group) not in kept
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
    # A day is counted once every scorecard has its rows (a scorecard added since is counted back too).
    cards = {None, *Scorecard.objects.values_list("pk", flat=True)}
    by_day: dict[date, set[int | None]] = defaultdict(set)
    rows = DailyGroupCount.objects.filter(day__gte=window, day__lte=last, group__isnull=True)
    for day, card in rows.values_list("day", "scorecard"):
        by_day[day].add(card)
    counted = {day for day, found in by_day.items() if cards <= found}
    first = next(
        (window + timedelta(days=i) for i in range(TREND_DAYS) if window + timedelta(days=i) not in counted), last
    )
    return group_counts_snapshot(first=min(first, last), last=last)
