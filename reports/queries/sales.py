"""What sales did with the leads marketing handed over: how fast, why it turned
some down, and how many progressed, month by month."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, DateField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth
from django.utils import timezone

from people.names import person_name
from reports import replica
from reports.filters import Filters
from reports.queries.common import (
    first_accepted_at,
    group_bounds,
    handoffs,
    has_outcome,
    in_dates,
    seconds_between,
    with_scores_at_handoff,
    with_source,
)
from routing.deadlines import feedback_days_overdue, feedback_deadline
from routing.models import Outcome, QueueItem, Team


@dataclass
class SpeedRow:
    """Hand-offs of a team (``rep`` empty) or of one rep of it, with the medians of
    their times in seconds (None: no such time)."""

    team: str
    rep: str
    handoffs: int = 0
    claimed: int = 0
    accepted: int = 0
    breaches: int = 0  # not claimed (nor closed) within the team's SLA
    escalated: int = 0  # escalated by the SLA task
    to_claim: float | None = None  # median seconds routed → claimed
    claim_to_accept: float | None = None  # median seconds claimed → accepted, of those claimed first
    to_accept: float | None = None  # median seconds routed → accepted


# One hand-off's facts, as both ways below read them.
_SPEED_FACTS = ("team_id", "owner_id", "entered_at", "claimed_at", "closed_at", "accepted_at", "escalated")

# On PostgreSQL the counts and medians of each team and each rep are one GROUP BY over the
# hand-offs (percentile_cont(0.5) is the median, the mean of the two middle values when
# they are even, as statistics.median): a million-lead installation has tens of thousands
# of hand-offs in a quarter, which took seconds to fetch and count row by row.
_SPEED_SQL = """
SELECT items.team_id, items.owner_id, GROUPING(items.owner_id) = 1 AS whole_team,
    COUNT(*), COUNT(items.claimed_at), COUNT(items.accepted_at),
    COUNT(*) FILTER (
        WHERE team.sla_hours IS NOT NULL
        AND COALESCE(items.claimed_at, items.closed_at, %s) - items.entered_at > team.sla_hours * INTERVAL '1 hour'
    ),
    COUNT(*) FILTER (WHERE items.escalated),
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM items.claimed_at - items.entered_at)),
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM items.accepted_at - items.claimed_at)),
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM items.accepted_at - items.entered_at))
FROM ({items}) AS items JOIN {team} AS team ON team.id = items.team_id
GROUP BY GROUPING SETS ((items.team_id), (items.team_id, items.owner_id))
"""


def _rep_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    """The reps' names as the reports show them (full name, else user name), by user id; one query."""
    return {
        u.pk: person_name(u) for u in get_user_model().objects.filter(pk__in={pk for pk in user_ids if pk is not None})
    }


def speed_to_lead(filters: Filters, *, now: datetime | None = None) -> list[SpeedRow]:
    """Routed → claimed → accepted, per team and per rep (the item's owner), for the
    hand-offs entered in the range: each team's row, then its reps' by name."""
    now = now or timezone.now()
    items = handoffs(filters).annotate(accepted_at=first_accepted_at(), escalated=has_outcome(Outcome.Kind.ESCALATED))
    if connections[replica.alias()].vendor == "postgresql":
        counted = _speed_counted_in_sql(items, now=now)
    else:
        counted = _speed_counted_here(items, now=now)
    teams = {t.pk: t.name for t in Team.objects.filter(pk__in={team_id for team_id, _ in counted})}
    users = _rep_names(owner for _, owner in counted)
    rows = []
    for (team_id, owner_id), row in counted.items():
        row.team = teams[team_id]
        row.rep = users[owner_id] if owner_id is not None else ""
        rows.append(row)
    return sorted(rows, key=lambda row: (row.team, row.rep != "", row.rep.lower()))


def _speed_counted_in_sql(items: QuerySet[QueueItem], *, now: datetime) -> dict[tuple[int, int | None], SpeedRow]:
    sql, params = items.values_list(*_SPEED_FACTS).query.sql_with_params()
    counted: dict[tuple[int, int | None], SpeedRow] = {}
    reads = connections[replica.alias()]
    with reads.cursor() as cursor:
        cursor.execute(_SPEED_SQL.format(items=sql, team=reads.ops.quote_name(Team._meta.db_table)), [now, *params])
        for team_id, owner_id, whole_team, *figures in cursor.fetchall():
            if not whole_team and owner_id is None:
                continue  # the hand-offs nobody owns count in their team's row only
            handoffs_, claimed, accepted, breaches, escalated, to_claim, claim_to_accept, to_accept = figures
            counted[team_id, None if whole_team else owner_id] = SpeedRow(
                "", "", handoffs_, claimed, accepted, breaches, escalated, to_claim, claim_to_accept, to_accept
            )
    return counted


def _speed_counted_here(items: QuerySet[QueueItem], *, now: datetime) -> dict[tuple[int, int | None], SpeedRow]:
    sla_hours = dict(Team.objects.values_list("pk", "sla_hours"))
    rows: dict[tuple[int, int | None], SpeedRow] = {}
    times: dict[tuple[int, int | None], tuple[list[float], list[float], list[float]]] = {}
    for team_id, owner_id, entered, claimed, closed, accepted, escalated in items.values_list(*_SPEED_FACTS):
        keys = [(team_id, None)] + ([(team_id, owner_id)] if owner_id is not None else [])
        answered = claimed or closed or now
        sla = sla_hours[team_id]
        breached = sla is not None and answered - entered > timedelta(hours=sla)
        for key in keys:
            row = rows.setdefault(key, SpeedRow("", ""))
            to_claim, claim_to_accept, to_accept = times.setdefault(key, ([], [], []))
            row.handoffs += 1
            row.breaches += int(breached)
            row.escalated += int(escalated)
            if claimed is not None:
                row.claimed += 1
                to_claim.append(seconds_between(claimed, entered))
            if accepted is not None:
                row.accepted += 1
                to_accept.append(seconds_between(accepted, entered))
                if claimed is not None:
                    claim_to_accept.append(seconds_between(accepted, claimed))
    for key, row in rows.items():
        row.to_claim, row.claim_to_accept, row.to_accept = (
            statistics.median(seconds) if seconds else None for seconds in times[key]
        )
    return rows


@dataclass(frozen=True)
class ReasonRow:
    kind: str  # rejected or disqualified
    reason: str
    count: int
    of_kind: int  # all outcomes of this kind in the report


def sales_reasons(filters: Filters) -> list[ReasonRow]:
    """Why sales rejected or disqualified leads, in the range: rejections then
    disqualifications, most frequent reason first."""
    outcomes = in_dates(
        Outcome.objects.filter(kind__in=[Outcome.Kind.REJECTED, Outcome.Kind.DISQUALIFIED]).order_by(),
        field="at",
        filters=filters,
    )
    if filters.team_id is not None:
        outcomes = outcomes.filter(item__team_id=filters.team_id)
    outcomes = with_source(outcomes, lead_ref="lead_id", filters=filters)
    counted = list(outcomes.values("kind", "reason").annotate(n=Count("id")).values_list("kind", "reason", "n"))
    per_kind: dict[str, int] = defaultdict(int)
    for kind, _, n in counted:
        per_kind[kind] += n
    order: dict[str, int] = {Outcome.Kind.REJECTED: 0, Outcome.Kind.DISQUALIFIED: 1}
    counted.sort(key=lambda row: (order.get(row[0], 2), -row[2], row[1].lower()))
    return [ReasonRow(kind, reason, n, per_kind[kind]) for kind, reason, n in counted]


@dataclass
class MonthRow:
    """Hand-offs of a month and how far they went. Each stage counts the hand-offs that
    reached it or went further: qualifying or winning implies having been accepted."""

    month: date
    handoffs: int = 0
    accepted: int = 0
    qualified: int = 0
    won: int = 0
    turned_down: int = 0  # rejected or disqualified


def feedback_by_month(filters: Filters) -> list[MonthRow]:
    """The feedback loop: of the hand-offs to sales per month (of entering the queue, in
    the site's time zone), how many sales accepted, qualified and won; oldest first.
    Counted by the database, month by month; the scores at hand-off are read from the
    ledger only when a score group is filtered on."""
    kind = Outcome.Kind
    items = handoffs(filters)
    if filters.group:
        items = with_scores_at_handoff(items, filters).annotate(total_at=F("fit_at") + F("engagement_at"))
        low, high = group_bounds(filters)
        if low is not None:
            items = items.filter(total_at__gte=low)
        if high is not None:
            items = items.filter(total_at__lt=high)
    counted = (
        items.annotate(
            month=TruncMonth("entered_at", output_field=DateField()),
            was_accepted=has_outcome(kind.ACCEPTED, kind.QUALIFIED, kind.WON),
            was_qualified=has_outcome(kind.QUALIFIED, kind.WON),
            was_won=has_outcome(kind.WON),
            was_turned_down=has_outcome(kind.REJECTED, kind.DISQUALIFIED),
        )
        .values("month")
        .annotate(
            n=Count("pk"),
            accepted=Count("pk", filter=Q(was_accepted=True)),
            qualified=Count("pk", filter=Q(was_qualified=True)),
            won=Count("pk", filter=Q(was_won=True)),
            turned_down=Count("pk", filter=Q(was_turned_down=True)),
        )
        .order_by("month")
    )
    return [
        MonthRow(row["month"], row["n"], row["accepted"], row["qualified"], row["won"], row["turned_down"])
        for row in counted
    ]


NOT_ASSIGNED = "Not assigned"


@dataclass
class DeadlineRow:
    """Hand-offs of a team with a feedback deadline (``rep`` empty: all of them), or of
    one rep of it (``NOT_ASSIGNED``: those nobody owns), judged against the deadline."""

    team: str
    rep: str
    days: int
    handoffs: int = 0
    in_time: int = 0  # the first feedback came by the deadline
    late: int = 0  # the first feedback came after it
    overdue: int = 0  # no feedback yet, and the deadline is past
    waiting: int = 0  # no feedback yet, within the deadline
    most_overdue: int = 0  # days (begun) past the deadline of the longest overdue


def first_feedback_at() -> Subquery:
    """When sales first gave feedback on the queue item (the outer row): its first outcome
    other than claimed, released or escalated."""
    feedback = Outcome.objects.filter(item_id=OuterRef("pk"), kind__in=Outcome.FEEDBACK_KINDS).order_by("at")
    return Subquery(feedback.values("at")[:1])


def feedback_deadlines(filters: Filters, *, now: datetime | None = None) -> list[DeadlineRow]:
    """Per team with a feedback deadline (as the team has it now) and per rep (the item's
    owner), the hand-offs entered in the range: answered in time, late, overdue, or still
    within the deadline. Each team's row, then its reps' by name, "Not assigned" last."""
    now = now or timezone.now()
    items = handoffs(filters).filter(team__feedback_days__isnull=False).annotate(answered_at=first_feedback_at())
    facts = list(items.values_list("team_id", "owner_id", "entered_at", "answered_at"))
    teams = {t.pk: t for t in Team.objects.filter(pk__in={f[0] for f in facts})}
    users = _rep_names(f[1] for f in facts)
    rows: dict[tuple[int, int | None, bool], DeadlineRow] = {}
    for team_id, owner_id, entered, answered in facts:
        team = teams[team_id]
        days = team.feedback_days
        assert days is not None  # filtered on
        rep = users[owner_id] if owner_id is not None else NOT_ASSIGNED
        targets = [
            rows.setdefault((team_id, None, False), DeadlineRow(team.name, "", days)),
            rows.setdefault((team_id, owner_id, True), DeadlineRow(team.name, rep, days)),
        ]
        late_days = feedback_days_overdue(entered_at=entered, days=days, answered=answered is not None, now=now)
        for row in targets:
            row.handoffs += 1
            if answered is not None:
                if answered <= feedback_deadline(entered_at=entered, days=days):
                    row.in_time += 1
                else:
                    row.late += 1
            elif late_days:
                row.overdue += 1
                row.most_overdue = max(row.most_overdue, late_days)
            else:
                row.waiting += 1
    return sorted(rows.values(), key=lambda row: (row.team, row.rep != "", row.rep == NOT_ASSIGNED, row.rep.lower()))
