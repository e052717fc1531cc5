"""What sales did with the leads marketing handed over: how fast, why it turned
some down, and how many progressed, month by month."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from reports.filters import Filters
from reports.queries.common import (
    first_accepted_at,
    handoffs,
    has_outcome,
    in_dates,
    in_group,
    seconds_between,
    with_scores_at_handoff,
    with_source,
)
from routing.deadlines import feedback_days_overdue, feedback_deadline
from routing.models import Outcome, Team


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
    to_claim: list[float] = field(default_factory=list)
    claim_to_accept: list[float] = field(default_factory=list)
    to_accept: list[float] = field(default_factory=list)

    @staticmethod
    def median(seconds: list[float]) -> float | None:
        return statistics.median(seconds) if seconds else None


def speed_to_lead(filters: Filters, *, now: datetime | None = None) -> list[SpeedRow]:
    """Routed → claimed → accepted, per team and per rep (the item's owner), for the
    hand-offs entered in the range: each team's row, then its reps' by name."""
    now = now or timezone.now()
    items = handoffs(filters).annotate(accepted_at=first_accepted_at(), escalated=has_outcome(Outcome.Kind.ESCALATED))
    facts = list(
        items.values_list("team_id", "owner_id", "entered_at", "claimed_at", "closed_at", "accepted_at", "escalated")
    )
    teams = {t.pk: t for t in Team.objects.filter(pk__in={f[0] for f in facts})}
    users = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in={f[1] for f in facts if f[1] is not None})
    }
    rows: dict[tuple[int, int | None], SpeedRow] = {}
    for team_id, owner_id, entered, claimed, closed, accepted, escalated in facts:
        team = teams[team_id]
        targets = [rows.setdefault((team_id, None), SpeedRow(team.name, ""))]
        if owner_id is not None:
            targets.append(rows.setdefault((team_id, owner_id), SpeedRow(team.name, users[owner_id])))
        answered = claimed or closed or now
        breached = team.sla_hours is not None and answered - entered > timedelta(hours=team.sla_hours)
        for row in targets:
            row.handoffs += 1
            row.breaches += int(breached)
            row.escalated += int(escalated)
            if claimed is not None:
                row.claimed += 1
                row.to_claim.append(seconds_between(claimed, entered))
            if accepted is not None:
                row.accepted += 1
                row.to_accept.append(seconds_between(accepted, entered))
                if claimed is not None:
                    row.claim_to_accept.append(seconds_between(accepted, claimed))
    return sorted(rows.values(), key=lambda row: (row.team, row.rep != "", row.rep.lower()))


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
    the site's time zone), how many sales accepted, qualified and won; oldest first."""
    kind = Outcome.Kind
    items = with_scores_at_handoff(handoffs(filters)).annotate(
        was_accepted=has_outcome(kind.ACCEPTED, kind.QUALIFIED, kind.WON),
        was_qualified=has_outcome(kind.QUALIFIED, kind.WON),
        was_won=has_outcome(kind.WON),
        was_turned_down=has_outcome(kind.REJECTED, kind.DISQUALIFIED),
    )
    facts = items.values_list(
        "entered_at", "fit_at", "engagement_at", "was_accepted", "was_qualified", "was_won", "was_turned_down"
    )
    months: dict[date, MonthRow] = {}
    for entered, fit, engagement, accepted, qualified, won_, turned_down in facts:
        if not in_group(fit + engagement, filters):
            continue
        month = timezone.localtime(entered).date().replace(day=1)
        row = months.setdefault(month, MonthRow(month))
        row.handoffs += 1
        row.accepted += int(accepted)
        row.qualified += int(qualified)
        row.won += int(won_)
        row.turned_down += int(turned_down)
    return [months[m] for m in sorted(months)]


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
    other than claimed or escalated."""
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
    users = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in={f[1] for f in facts if f[1] is not None})
    }
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
