"""A small data set for the overview, whose every number is computed by hand in
tests/reports/test_overview.py (the browser test draws it too)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from reports.models import DailyGroupCount
from routing.models import QueueItem
from scoring.models import GroupTransition, Lead, ScoreGroup, StageChange
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import QueueItemFactory, TeamFactory


def lead(name: str, stage: str, fit: int, engagement: int, group: ScoreGroup | None, created: datetime) -> Lead:
    first, last = name.split()
    made = LeadFactory.create(first_name=first, last_name=last, lifecycle_stage=stage)
    Lead.objects.filter(pk=made.pk).update(
        fit_score=fit, engagement_score=engagement, score_group=group, created_at=created
    )
    return Lead.objects.get(pk=made.pk)


def stages(who: Lead, *changes: tuple[str, str, datetime]) -> None:
    for before, after, when in changes:
        StageChange.objects.create(lead=who, from_stage=before, to_stage=after, at=when, cause="routing")


def moved(
    who: Lead, before: ScoreGroup | None, after: ScoreGroup | None, total: int, when: datetime
) -> GroupTransition:
    return GroupTransition.objects.create(
        lead=who,
        from_group=before,
        to_group=after,
        direction="up" if (after.min_score if after else -1) > (before.min_score if before else -1) else "down",
        previous_total=0,
        total_score=total,
        cause="rule",
        occurred_at=when,
    )


def overview_data() -> dict[str, Any]:
    """Five leads, three teams, a few transitions and two counted days, the numbers of
    tests/reports/test_overview.py's first test: what each makes is said there."""
    now = timezone.now()
    day = timedelta(days=1)
    nurture = ScoreGroupFactory.create(key="nurture", name="Nurture", min_score=40)
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)
    ada = lead("Ada Lovelace", "mql", 10, 35, nurture, now - 30 * day)
    bob = lead("Bob Babbage", "customer", 30, 55, hot, now - 40 * day)
    cy = lead("Cy Cold", "lead", 0, 5, None, now - 10 * day)
    dee = lead("Dee Dropped", "disqualified", -5, 50, nurture, now - 50 * day)
    eve = lead("Eve Early", "opportunity", 120, 70, hot, now - 5 * day)  # no stage history: from before it was kept
    stages(ada, ("lead", "mql", now - 20 * day))  # 10 days to MQL
    stages(
        bob,
        ("lead", "mql", now - 38 * day),  # 2 days to MQL
        ("mql", "sql", now - 30 * day),  # 8 days to SQL
        ("sql", "opportunity", now - 25 * day),  # 5 days
        ("opportunity", "customer", now - 20 * day),  # 5 days
    )
    stages(dee, ("lead", "sql", now - 44 * day), ("sql", "disqualified", now - 40 * day))  # MQL and SQL in 6 days

    north = TeamFactory.create(name="North", sla_hours=4)
    south = TeamFactory.create(name="South", sla_hours=None)
    TeamFactory.create(name="West", sla_hours=24)
    QueueItemFactory.create(lead=ada, team=north, entered_at=now - timedelta(hours=6))  # past the SLA
    QueueItemFactory.create(lead=cy, team=north, entered_at=now - timedelta(hours=1))
    QueueItemFactory.create(
        lead=bob, team=north, entered_at=now - timedelta(hours=50), status=QueueItem.Status.CLAIMED
    )  # claimed: not waiting
    QueueItemFactory.create(lead=dee, team=south, entered_at=now - timedelta(hours=30))

    first = moved(ada, None, nurture, 45, now - timedelta(hours=3))
    second = moved(bob, nurture, hot, 85, now - timedelta(hours=2))
    moved(ada, nurture, nurture, 46, now - timedelta(minutes=90))  # a watched score crossed: no move
    GroupTransition.objects.create(
        lead=eve, kind="stage", from_stage="sql", to_stage="opportunity", total_score=190, cause="api", occurred_at=now
    )
    third = moved(dee, hot, nurture, 45, now - timedelta(hours=1))

    today = timezone.localdate()
    for back, counts in ((1, (2, 1, 2)), (2, (1, 1, 1))):
        for group, n in zip((nurture, hot, None), counts, strict=True):
            DailyGroupCount.objects.create(day=today - timedelta(days=back), group=group, leads=n)
    return {"today": today, "transitions": [third, second, first], "leads": [ada, bob, cy, dee, eve]}
