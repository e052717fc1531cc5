"""The overview's numbers, read in a fixed number of queries whatever the data's size.

Each section is a table (the words and numbers the page shows, which its CSV download
repeats exactly) and the data of its chart. Read-only: reports write nothing here.

Choices the page explains in its own words:

- The funnel counts every lead at each step up to the furthest stage it ever
  reached (the stage history, and its stage now): a lead that went from lead to SQL
  directly counts as MQL too. "Won" is reaching the customer stage; marking a deal won
  in the sales queue makes the lead a customer in the same transaction, so every won
  deal counts, and so does a customer set by a routing rule or another system.
- A scorecard chosen (``scorecard_id``; None: the default one) gives its own groups, its
  leads' scores on it and its moves to the groups now, the trend, both histograms and the
  latest moves. The funnel, the leads waiting for sales and the MQLs follow stages and
  queues, which every scorecard shares: they stay the same.
- Days from step to step: from the first time a lead was at a step (or a later one)
  to the first time it was at the next (or a later one), for leads whose history says
  when; the median, so a few slow leads do not move it. A lead's first step is its
  creation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from reports import bins as binning
from reports import mqls as mql_months
from reports import origins
from reports import scores as scores_read
from reports.funnel import funnel_figures, funnel_live
from reports.models import DailyGroupCount, MqlTarget
from reports.snapshots import TREND_DAYS
from routing.deadlines import sla_overdue_since
from routing.models import QueueItem, Team
from scoring import figure
from scoring.figure import count, signed
from scoring.models import GroupTransition, Lead, LifecycleStage, ScoreGroup

NO_GROUP = gettext_lazy("No group")
LATEST_TRANSITIONS = 20

# The funnel's steps after "All leads": the stage (and every later one) that counts as reaching each.
FUNNEL = (
    (gettext_lazy("All leads"), None),
    (gettext_lazy("Marketing qualified (MQL)"), LifecycleStage.MQL),
    (gettext_lazy("Sales qualified (SQL)"), LifecycleStage.SQL),
    (gettext_lazy("Opportunity"), LifecycleStage.OPPORTUNITY),
    (gettext_lazy("Won (customer)"), LifecycleStage.CUSTOMER),
)


@dataclass
class Section:
    """One part of the page: its table (also its CSV) and its chart's data."""

    key: str
    title: str
    explanation: str
    columns: list[str]
    rows: list[list[str]]
    chart: dict[str, Any] = field(default_factory=dict)


def _percent(part: int, whole: int) -> str:
    return figure.percentage(100 * part / whole) if whole else ""


def _local(moment: datetime) -> str:
    return figure.moment(timezone.localtime(moment))


ScoreCounts = scores_read.ScoreCounts


def score_counts(*, live: bool = False, scorecard_id: int | None = None) -> ScoreCounts:
    """How many leads have each group, fit and engagement: the groups now and both
    histograms (``live``: one pass over the leads; the same counts). Another scorecard
    than the default one is read from its scores (the roll-ups keep the default one's)."""
    if scorecard_id is not None:
        return scores_read.scorecard_counts(scorecard_id=scorecard_id)
    return scores_read.score_counts_live() if live else scores_read.score_counts()


def _of_scorecard(scorecard_id: int | None) -> Q:
    """The rows of a scorecard (None: the default one, whose rows name none)."""
    return Q(scorecard__isnull=True) if scorecard_id is None else Q(scorecard_id=scorecard_id)


def scorecard_groups(scorecard_id: int | None) -> list[ScoreGroup]:
    """The live groups of a scorecard (None: the default one), lowest first."""
    return list(ScoreGroup.every_scorecard.filter(_of_scorecard(scorecard_id)).order_by("min_score"))


def groups_now(scores: ScoreCounts | None = None, *, groups: Sequence[ScoreGroup] | None = None) -> Section:
    """``groups``: the scorecard's (default: the default scorecard's), lowest first."""
    groups = scorecard_groups(None) if groups is None else groups
    counts: dict[int | None, int] = defaultdict(int)
    for group, _, _, n in score_counts() if scores is None else scores:
        counts[group] += n
    total = sum(counts.values())
    rows = [
        [group.name, count(group.min_score), count(counts.get(group.pk, 0)), _percent(counts.get(group.pk, 0), total)]
        for group in groups
    ]
    rows.append([str(NO_GROUP), "", count(counts.get(None, 0)), _percent(counts.get(None, 0), total)])
    return Section(
        "groups",
        gettext("Leads in each score group now"),
        gettext(
            "How many leads are in each score group right now, and their share of all leads. "
            "Leads below the lowest group's score are in no group."
        ),
        [gettext("Score group"), gettext("From score"), gettext("Leads"), gettext("Share of all leads")],
        rows,
        {"labels": [row[0] for row in rows], "values": [int(row[2]) for row in rows]},
    )


def groups_trend(
    *, today: date, scorecard_id: int | None = None, groups: Sequence[ScoreGroup] | None = None
) -> Section:
    """The scorecard's groups (None: the default one's) day by day, as kept every night."""
    first, last = today - timedelta(days=TREND_DAYS), today - timedelta(days=1)
    groups = scorecard_groups(scorecard_id) if groups is None else groups
    kept: dict[tuple[date, int | None], int] = {
        (day, group): n
        for day, group, n in DailyGroupCount.objects.filter(
            _of_scorecard(scorecard_id), day__gte=first, day__lte=last
        ).values_list("day", "group", "leads")
    }
    days = [first + timedelta(days=i) for i in range(TREND_DAYS)]
    series = [(group.pk, group.name) for group in groups] + [(None, str(NO_GROUP))]
    rows = []
    for day in days:
        counted = any((day, pk) in kept for pk, _ in series)
        rows.append([figure.day(day), *[count(kept.get((day, pk), 0)) if counted else "" for pk, _ in series]])
    explanation = gettext(
        "How many leads were in each score group at the end of each day. The count is taken every "
        "night; a day left blank was not counted yet (manage.py reports_snapshot_rebuild counts past days)."
    )
    if not kept:
        # Before the first night: say when the trend comes rather than show 90 blank days.
        rows = []
        explanation = gettext(
            "Not counted yet: the leads in each score group are counted every night, and the first night's "
            "count fills the last {days} days from the leads' moves between groups, so the trend appears after "
            "Leadflow's first night (manage.py reports_snapshot_rebuild counts them now)."
        ).format(days=TREND_DAYS)
    return Section(
        "trend",
        gettext("Score groups over the last {days} days").format(days=TREND_DAYS),
        explanation,
        [gettext("Day"), *[name for _, name in series]],
        rows,
        {
            "labels": [row[0] for row in rows],
            "series": [
                {"label": name, "values": [int(row[1 + i]) if row[1 + i] else None for row in rows]}
                for i, (_, name) in enumerate(series)
            ],
        },
    )


def funnel(*, live: bool = False) -> Section:
    """The funnel, from the nightly roll-up and the leads changed since (``live``: from
    every lead and its whole stage history; the same figures)."""
    figures = funnel_live() if live else funnel_figures()
    reached, medians = figures.reached, figures.medians
    rows = []
    for i, (label, _) in enumerate(FUNNEL):
        median = medians.get(i)
        rows.append(
            [
                str(label),
                count(reached[i]),
                _percent(reached[i], reached[i - 1]) if i else "",
                figure.decimal(max(median[0], 0.0), 1) if median else "",
                count(median[1]) if median else "",
            ]
        )
    return Section(
        "funnel",
        gettext("From lead to customer"),
        gettext(
            "How many leads ever reached each stage (a lead that skipped a stage counts for it too), "
            "what share of the step before moved on, and how many days the typical lead took from the "
            "step before (the median: half took less, half more; counted for the leads whose stage "
            "history says when). Won means the lead became a customer, as marking a deal won does."
        ),
        [
            gettext("Stage"),
            gettext("Leads that reached it"),
            gettext("Moved on from the step before"),
            gettext("Median days from the step before"),
            gettext("Leads whose days are known"),
        ],
        rows,
        {"labels": [row[0] for row in rows], "values": reached},
    )


EXPLANATIONS = {
    "fit": gettext_lazy(
        "How many leads have each fit score: points for who they are (industry, title, company size…)."
    ),
    "engagement": gettext_lazy(
        "How many leads have each engagement score: points for what they did lately "
        "(emails, visits, forms…), which fade when they go quiet."
    ),
}
# Each histogram's title and its first column.
HISTOGRAM_WORDS = {
    "fit": (gettext_lazy("Fit scores"), gettext_lazy("Fit score")),
    "engagement": (gettext_lazy("Engagement scores"), gettext_lazy("Engagement score")),
}


def _histogram(name: str, bins: binning.Bins | None, by_bin: dict[int, int]) -> Section:
    between = gettext("{low} to {high}")  # a histogram's bin: the scores from low to high
    rows = [[bins.label(i, between), count(by_bin.get(i, 0))] for i in range(bins.count)] if bins else []
    return Section(
        name,
        str(HISTOGRAM_WORDS[name][0]),
        str(EXPLANATIONS[name]),
        [str(HISTOGRAM_WORDS[name][1]), gettext("Leads")],
        rows,
        {"labels": [row[0] for row in rows], "values": [int(row[1]) for row in rows]},
    )


def histograms(scores: ScoreCounts | None = None) -> list[Section]:
    """Fit and engagement apart, from the leads counted by group, fit and engagement."""
    scores = score_counts() if scores is None else scores
    fit: dict[int, int] = defaultdict(int)
    engagement: dict[int, int] = defaultdict(int)
    if not scores:  # no leads
        return [_histogram("fit", None, fit), _histogram("engagement", None, engagement)]
    fit_bins = binning.bins_for(min(row[1] for row in scores), max(row[1] for row in scores))
    engagement_bins = binning.bins_for(min(row[2] for row in scores), max(row[2] for row in scores))
    for _, fit_score, engagement_score, n in scores:
        fit[(fit_score - fit_bins.start) // fit_bins.width] += n
        engagement[(engagement_score - engagement_bins.start) // engagement_bins.width] += n
    return [_histogram("fit", fit_bins, fit), _histogram("engagement", engagement_bins, engagement)]


def queues(*, now: datetime) -> Section:
    teams = list(Team.objects.order_by("name").values_list("pk", "name", "sla_hours"))
    waiting = QueueItem.objects.filter(status=QueueItem.Status.OPEN)
    late = Q()
    for pk, _, hours in teams:
        if hours is not None and (since := sla_overdue_since(now=now, hours=hours)) is not None:
            late |= Q(team_id=pk, entered_at__lte=since)
    annotations: dict[str, Any] = {"waiting": Count("id"), "oldest": Min("entered_at")}
    if late:
        annotations["late"] = Count("id", filter=late)
    counts = {row["team"]: row for row in waiting.values("team").annotate(**annotations)}
    rows = []
    for pk, name, hours in teams:
        row = counts.get(pk, {})
        oldest = row.get("oldest")
        rows.append(
            [
                name,
                count(row.get("waiting", 0)),
                count(row.get("late", 0)) if hours is not None else "",
                count(hours) if hours is not None else gettext("no SLA"),
                figure.decimal((now - oldest).total_seconds() / 3600, 1) if oldest else "",
            ]
        )
    return Section(
        "queues",
        gettext("Leads waiting for sales"),
        gettext(
            "Leads handed to a sales team that no rep has claimed yet, and how many of them have waited "
            "longer than the team's SLA (the hours within which the team promises to claim a lead)."
        ),
        [
            gettext("Team"),
            gettext("Waiting"),
            gettext("Waiting past the SLA"),
            gettext("SLA (hours)"),
            gettext("Longest wait (hours)"),
        ],
        rows,
        {
            "labels": [row[0] for row in rows],
            "within": [int(row[1]) - int(row[2] or 0) for row in rows],
            "late": [int(row[2] or 0) for row in rows],
        },
    )


def transitions(*, scorecard_id: int | None = None) -> Section:
    """The latest moves between the groups of a scorecard (None: the default one)."""
    latest = (
        GroupTransition.objects.filter(_of_scorecard(scorecard_id), kind=GroupTransition.Kind.SCORE)
        # A watched score crossed within one group, or outside every group (no group on
        # either side, which the first exclude lets through: NULL is not equal to NULL).
        .exclude(from_group=F("to_group"))
        .exclude(from_group__isnull=True, to_group__isnull=True)
        .select_related("lead", "from_group", "to_group")
        .order_by("-id")[:LATEST_TRANSITIONS]
    )
    rows = [
        [
            _local(t.occurred_at),
            t.lead.name or t.lead.email or gettext("Lead {id}").format(id=t.lead_id),
            t.from_group.name if t.from_group else str(NO_GROUP),
            t.to_group.name if t.to_group else str(NO_GROUP),
            gettext("up") if t.direction == GroupTransition.Direction.UP else gettext("down"),
            count(t.total_score),
        ]
        for t in latest
    ]
    return Section(
        "transitions",
        gettext("Latest moves between score groups"),
        gettext("The {count} latest leads to enter or leave a score group, newest first.").format(
            count=LATEST_TRANSITIONS
        ),
        [
            gettext("When"),
            gettext("Lead"),
            gettext("From"),
            gettext("To"),
            gettext("Direction"),
            gettext("Score after"),
        ],
        rows,
    )


MQL_MONTHS = 6  # full months before the current one


def _month_start(month: date) -> datetime:
    """The first moment of a month (its first day) in the site's time zone."""
    return timezone.make_aware(datetime.combine(month, time.min))


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _signed(difference: int) -> str:
    """Above or below the target: "+3", "-2", and "0" on it."""
    return signed(difference)


def mqls_against_target(*, now: datetime, live: bool = False) -> Section:
    """Marketing's monthly MQL target against the leads that reached MQL in each of the
    last six months and the current one (to date), from the nightly roll-up and the leads
    with a stage change since (``live``: from the stage history; the same counts)."""
    this_month = timezone.localtime(now).date().replace(day=1)
    months = [this_month]
    for _ in range(MQL_MONTHS):
        previous = months[0] - timedelta(days=1)
        months.insert(0, previous.replace(day=1))
    bounds = [_month_start(month) for month in [*months, _next_month(this_month)]]
    mark = origins.mark_read()
    counts = (
        mql_months.months_kept(mark, months, bounds[0], bounds[-1])
        if not live and mark is not None and origins.sums_usable(mark)
        else mql_months.months_live(bounds[0], bounds[-1])
    )
    delivered = [int(counts.get(month, 0)) for month in months]
    targets = dict(MqlTarget.objects.filter(month__in=months).values_list("month", "target"))
    rows = []
    for month, mqls in zip(months, delivered, strict=True):
        target = targets.get(month)
        rows.append(
            [
                gettext("{month} (to date)").format(month=f"{month:%Y-%m}")
                if month == this_month
                else f"{month:%Y-%m}",
                "" if target is None else count(target),
                count(mqls),
                _percent(mqls, target) if target is not None else "",
                "" if target is None else _signed(mqls - target),
            ]
        )
    return Section(
        "mqls",
        gettext("MQLs delivered against the target"),
        gettext(
            "Marketing's side of the agreement with sales: the MQLs it committed to deliver each month (set "
            "in the admin, under MQL targets) against the leads that reached MQL in the month. A lead reached "
            "MQL when its stage became MQL, or went straight past it to SQL, opportunity or customer, from a "
            "stage before it (none, subscriber, lead or disqualified), by the stage history; it counts once in "
            "a month however often it did so, and again in a later month only if it reached MQL anew. Months "
            "begin at midnight in Leadflow's time zone; the current month is counted to date."
        ),
        [
            gettext("Month"),
            gettext("Target"),
            gettext("MQLs delivered"),
            gettext("Delivered of target"),
            gettext("Difference"),
        ],
        rows,
        {
            "labels": [row[0] for row in rows],
            "delivered": delivered,
            "target": [targets.get(month) for month in months],
        },
    )


def no_leads(found: Sequence[Section]) -> bool:
    """Whether no lead has come in yet (a new installation), given the sections found: the
    overview then says how to bring them in, as every figure on it would be zero. The
    leads counted in the groups now answer without a query; only when they count none
    (or the page shows no section) are the leads asked."""
    counted = sum(sum(section.chart["values"]) for section in found if section.key == "groups")
    return not counted and not Lead.objects.exists()


def overview(
    *,
    now: datetime | None = None,
    live: bool = False,
    scorecard_id: int | None = None,
    groups: Sequence[ScoreGroup] | None = None,
) -> list[Section]:
    """Every section of the overview, in page order (``live``: every figure read from the
    leads and their history rather than the nightly roll-ups: the same numbers), the score
    sections those of the scorecard ``scorecard_id`` (None: the default one), whose groups
    ``groups`` are (read when not given)."""
    now = now or timezone.now()
    groups = scorecard_groups(scorecard_id) if groups is None else groups
    scores = score_counts(live=live, scorecard_id=scorecard_id)
    return [
        groups_now(scores, groups=groups),
        groups_trend(today=timezone.localdate(now), scorecard_id=scorecard_id, groups=groups),
        funnel(live=live),
        *histograms(scores),
        queues(now=now),
        transitions(scorecard_id=scorecard_id),
        mqls_against_target(now=now, live=live),
    ]


def section(
    key: str,
    *,
    now: datetime | None = None,
    scorecard_id: int | None = None,
    groups: Sequence[ScoreGroup] | None = None,
) -> Section | None:
    """One section by key (its CSV download), or None if there is no such section; the
    score sections those of the scorecard ``scorecard_id`` (None: the default one)."""
    now = now or timezone.now()

    def scores() -> ScoreCounts:
        return score_counts(scorecard_id=scorecard_id)

    readers: dict[str, Callable[[], Section]] = {
        "groups": lambda: groups_now(scores(), groups=scorecard_groups(scorecard_id) if groups is None else groups),
        "trend": lambda: groups_trend(today=timezone.localdate(now), scorecard_id=scorecard_id, groups=groups),
        "funnel": funnel,
        "fit": lambda: histograms(scores())[0],
        "engagement": lambda: histograms(scores())[1],
        "queues": lambda: queues(now=now),
        "transitions": lambda: transitions(scorecard_id=scorecard_id),
        "mqls": lambda: mqls_against_target(now=now),
    }
    reader = readers.get(key)
    return reader() if reader else None


SECTION_KEYS: Sequence[str] = ("groups", "trend", "funnel", "fit", "engagement", "queues", "transitions", "mqls")
