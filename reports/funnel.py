"""The overview's funnel (lead → MQL → SQL → opportunity → won): how many leads reached each
step, and the median days each step took from the one before.

Counted live, it read every lead and the whole stage history on each request (seconds
at a million leads). The origins' nightly rebuild (:mod:`reports.origins`) keeps, for
each lead, the furthest step it reached and how long each step took, and their sums
(:class:`~reports.models.FunnelCount`): leads per furthest step, and per step the
durations counted by whole hour. A request adds up the sums, takes out the kept rows of
the leads the rebuild did not settle (a stage change or an interaction past its mark, or
created since) and adds those leads back as they are now; then, for each step, reads the
durations of the one or two hours holding its middle (:mod:`reports.medians`): the same
figures as :func:`funnel_live`, at any moment, in a fixed number of queries. A lead
erased since the rebuild is still in the sums with nothing to take it out by; until the
next rebuild the funnel is then counted live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, IntegerField, QuerySet, Value

from reports import medians, origins, replica
from reports.models import FunnelCount, LeadOrigin
from scoring.models import Lead, LifecycleStage, StageChange

STEPS = 5  # all leads, MQL, SQL, opportunity, won (customer)
# Stages off the path (subscriber, lead, disqualified) reach no step beyond "All leads".
STAGE_STEP = {LifecycleStage.MQL: 1, LifecycleStage.SQL: 2, LifecycleStage.OPPORTUNITY: 3, LifecycleStage.CUSTOMER: 4}


@dataclass
class Figures:
    """How many leads reached each step (or a later one), and per step past the first the
    median days from the step before and how many leads that median is of."""

    reached: list[int] = field(default_factory=lambda: [0] * STEPS)
    medians: dict[int, tuple[float, int]] = field(default_factory=dict)


def _days_between(earlier: str, later: str) -> str:
    if connections[replica.alias()].vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0"
    return f"(julianday({later}) - julianday({earlier}))"


def _step_of(column: str) -> str:
    whens = " ".join(f"WHEN '{stage}' THEN {step}" for stage, step in STAGE_STEP.items())
    return f"(CASE {column} {whens} ELSE 0 END)"


def _per_lead_sql() -> str:
    """Per lead: when it was created (step 0), first reached each step (or a later one)
    by its stage history (r1…r4, NULL: not known), and the furthest step it reached by
    its history or its stage now."""
    steps = range(1, STEPS)
    firsts = ", ".join(f"MIN(CASE WHEN {_step_of('s.to_stage')} >= {i} THEN s.at END) AS r{i}" for i in steps)
    return (
        f"SELECT l.created_at AS r0, {', '.join(f'f.r{i}' for i in steps)},"  # noqa: S608
        f" CASE WHEN COALESCE(f.top, 0) > {_step_of('l.lifecycle_stage')} THEN f.top"
        f" ELSE {_step_of('l.lifecycle_stage')} END AS reached"
        f" FROM {Lead._meta.db_table} l LEFT JOIN ("
        f"SELECT s.lead_id, {firsts}, MAX({_step_of('s.to_stage')}) AS top"
        f" FROM {StageChange._meta.db_table} s GROUP BY s.lead_id) f ON f.lead_id = l.id"
    )


def funnel_live() -> Figures:
    """The figures computed from every lead and its whole stage history, in one statement."""
    steps = range(1, STEPS)
    per_lead = _per_lead_sql()
    counts = ", ".join(["COUNT(*)", *(f"SUM(CASE WHEN reached >= {i} THEN 1 ELSE 0 END)" for i in steps)])
    durations = " UNION ALL ".join(
        f"SELECT {i} AS step, {_days_between(f'r{i - 1}', f'r{i}')} AS days FROM p WHERE r{i} IS NOT NULL"  # noqa: S608
        for i in steps
    )
    # One statement, so the leads and their history are read once (PostgreSQL keeps a CTE
    # read twice): the counts, and the median of each step (PostgreSQL and SQLite alike:
    # the middle row, or the mean of the two middle rows, of the step's durations in
    # order), a row per step with a median, the counts repeated on each (one row with no
    # step when there is none).
    with connections[replica.alias()].cursor() as cursor:
        cursor.execute(
            f"WITH p AS ({per_lead}), c AS (SELECT {counts} FROM p), d AS ({durations}),"  # noqa: S608
            " o AS (SELECT step, days, ROW_NUMBER() OVER (PARTITION BY step ORDER BY days) AS rn,"
            " COUNT(*) OVER (PARTITION BY step) AS n FROM d),"
            " m AS (SELECT step, AVG(days) AS days, MAX(n) AS n FROM o"
            " WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY step)"
            " SELECT c.*, m.step, m.days, m.n FROM c LEFT JOIN m ON 1 = 1"
        )
        found = cursor.fetchall()
    return Figures(
        [int(n or 0) for n in found[0][:STEPS]],
        {int(step): (float(days), int(n)) for *_, step, days, n in found if step is not None},
    )


def _counted(sums: origins.FunnelSums, rows: Any, *, sign: int) -> None:
    """Count rows of (reached step, *the times of each step) into ``sums``."""
    for reached, *times in rows:
        origins.funnel_counted(sums, reached, origins.steps_after(times), sign=sign)


def funnel_figures() -> Figures:
    """The figures from the kept sums and the leads read live (see the module)."""
    mark = origins.mark_read()
    if not origins.sums_usable(mark):
        return funnel_live()
    sums: origins.FunnelSums = dict(
        ((step, hours), n) for step, hours, n in FunnelCount.objects.values_list("step", "hours", "leads")
    )
    # The leads the rebuild did not settle: out as kept, back in as they are now.
    out: list[tuple[Any, ...]] = list(
        LeadOrigin.objects.filter(origins.fresh_leads(mark, field="lead_id")).values_list(
            "reached_step", *origins.STEP_TIMES
        )
    )
    _counted(sums, out, sign=-1)
    live: list[tuple[Any, ...]] = list(
        origins.origins_of(Lead.objects.filter(origins.fresh_leads(mark))).values_list(
            "reached_step", *origins.STEP_TIMES
        )
    )
    _counted(sums, live, sign=1)
    furthest = [sums.get((step, None), 0) for step in range(STEPS)]
    figures = Figures([sum(furthest[step:]) for step in range(STEPS)])
    middles = {
        step: middle
        for step in range(1, STEPS)
        if (
            middle := medians.middle_of(
                {hours: n for (at, hours), n in sums.items() if at == step and hours is not None}
            )
        )
    }
    if not middles:
        return figures
    # The durations of each step's middle hours, counted by value: every kept one (one
    # statement for every step, read from the step's index), less the kept ones of the
    # leads the rebuild did not settle, plus those leads' live ones.
    parts: list[QuerySet[LeadOrigin, Any]] = [
        LeadOrigin.objects.order_by()
        .filter(
            **{
                f"{origins.AFTER[step - 1]}__gte": timedelta(hours=middle.first),
                f"{origins.AFTER[step - 1]}__lt": timedelta(hours=middle.last + 1),
            }
        )
        .values(origins.AFTER[step - 1])
        .annotate(step=Value(step, output_field=IntegerField()), n=Count("*"))
        .values_list("step", origins.AFTER[step - 1], "n")
        for step, middle in middles.items()
    ]
    durations: dict[int, dict[timedelta, int]] = {step: {} for step in middles}
    for step, duration, n in parts[0].union(*parts[1:], all=True):
        durations[step][duration] = durations[step].get(duration, 0) + n
    for rows, sign in ((out, -1), (live, 1)):
        for _, *times in rows:
            for step, duration in enumerate(origins.steps_after(times), start=1):
                middle = middles.get(step)
                if duration is not None and middle and middle.first <= medians.hour_of(duration) <= middle.last:
                    durations[step][duration] = durations[step].get(duration, 0) + sign
    for step, middle in middles.items():
        figures.medians[step] = (medians.median_days(middle, durations[step]), middle.count)
    return figures
