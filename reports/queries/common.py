"""What several reports share: the won outcome, the lead's source, date ranges, and
the lead's scores at its hand-off to sales, read back from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from reports import origins
from reports.filters import NO_GROUP, Filters
from routing.models import Outcome, QueueItem
from scoring.models import ScorecardEntry, ScoreEntry, ScoreGroup

M = TypeVar("M", bound=Model)


def won(lead_ref: str = "lead_id") -> Exists:
    """The lead (``lead_ref``, a field of the outer row) has a won outcome: it converted."""
    return Exists(Outcome.objects.filter(lead_id=OuterRef(lead_ref), kind=Outcome.Kind.WON))


def has_outcome(*kinds: str) -> Exists:
    """The queue item (the outer row) has an outcome of one of ``kinds``."""
    return Exists(Outcome.objects.filter(item_id=OuterRef("pk"), kind__in=kinds))


def with_source(rows: QuerySet[M], *, lead_ref: str, filters: Filters, every_lead: bool = False) -> QuerySet[M]:
    """Only rows of leads from ``filters.source``: the source of the lead's first
    interaction (the door it came in by: ``form:<key>``, ``api:<key prefix>``,
    ``segment:<key prefix>``, ``tracking``…) is that source exactly, or any of its kind
    ("form" is every ``form:…``). Read from each lead's kept origin (:mod:`reports.origins`)
    rather than from its interactions: looked up by its key for each row (hand-offs,
    outcomes, deliveries: a share of the leads), or, with ``every_lead`` (rows that are
    leads, a cohort of most of them), the source's kept origins read once."""
    if not filters.source:
        return rows
    if every_lead:
        return rows.filter(origins.from_source(filters.source, lead_ref=lead_ref))
    return origins.of_source_per_row(rows, filters.source, lead_ref=lead_ref)


def in_dates(rows: QuerySet[M], *, field: str, filters: Filters) -> QuerySet[M]:
    """Only rows whose ``field`` falls from the start day to the end day, both included."""
    if since := filters.since():
        rows = rows.filter(**{f"{field}__gte": since})
    if before := filters.before():
        rows = rows.filter(**{f"{field}__lt": before})
    return rows


def score_at_handoff(dimension: str, *, scorecard_id: int | None = None) -> Coalesce:
    """The lead's ``dimension`` score when the queue item (the outer row) entered the queue:
    the sum of the ledger rows written until then (the cached score always equals the
    ledger's sum, so this is the score the lead had at that moment). On a scorecard other
    than the default one (``scorecard_id``), its own ledger's rows: each scorecard's cached
    score equals its ledger's sums in the same way."""
    ledger: QuerySet[Any] = (
        ScoreEntry.objects.all() if scorecard_id is None else ScorecardEntry.objects.filter(scorecard_id=scorecard_id)
    )
    rows = (
        ledger.filter(lead_id=OuterRef("lead_id"), dimension=dimension, created_at__lte=OuterRef("entered_at"))
        .order_by()
        .values("lead_id")
        .annotate(total=Sum("delta"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(rows), Value(0))


def with_scores_at_handoff(items: QuerySet[QueueItem], filters: Filters) -> QuerySet[QueueItem]:
    """The queue items with the lead's fit and engagement at the hand-off (``fit_at``,
    ``engagement_at``) on the scorecard filtered on (the default one if none)."""
    scorecard_id = filters.scorecard_id
    return items.annotate(
        fit_at=score_at_handoff("fit", scorecard_id=scorecard_id),
        engagement_at=score_at_handoff("engagement", scorecard_id=scorecard_id),
    )


def group_of(total: int, groups: Sequence[ScoreGroup]) -> ScoreGroup | None:
    """The group a total falls in: the highest whose minimum it reaches (``groups`` lowest
    first). Hysteresis is a lead's path between groups, not a property of a total: a
    total is placed by the minimums alone."""
    found = None
    for group in groups:
        if total >= group.min_score:
            found = group
    return found


def in_group(total: int, filters: Filters) -> bool:
    """Whether a total passes the score group filter."""
    if not filters.group:
        return True
    group = group_of(total, filters.groups)
    return (group.key if group else NO_GROUP) == filters.group


def group_bounds(filters: Filters) -> tuple[int | None, int | None]:
    """The totals the score group filter lets through, as [low, high) (None: unbounded):
    what :func:`in_group` says of one total, for the database to apply."""
    minimums = [group.min_score for group in filters.groups]
    if filters.group == NO_GROUP:
        return None, (minimums[0] if minimums else None)
    keys = [group.key for group in filters.groups]
    at = keys.index(filters.group)
    return minimums[at], (minimums[at + 1] if at + 1 < len(minimums) else None)


def handoffs(filters: Filters, *, first_only: bool = False) -> QuerySet[QueueItem]:
    """Queue items (hand-offs to sales) entered in the date range, of the team and the
    source filtered on. ``first_only``: each lead's first hand-off only."""
    items = in_dates(QueueItem.objects.order_by(), field="entered_at", filters=filters)
    if filters.team_id is not None:
        items = items.filter(team_id=filters.team_id)
    if first_only:
        earlier = QueueItem.objects.filter(lead_id=OuterRef("lead_id")).filter(
            Q(entered_at__lt=OuterRef("entered_at")) | Q(entered_at=OuterRef("entered_at"), pk__lt=OuterRef("pk"))
        )
        items = items.filter(~Exists(earlier))
    return with_source(items, lead_ref="lead_id", filters=filters)


def first_accepted_at() -> Subquery:
    """When sales first accepted the queue item (the outer row), if it did."""
    accepted = Outcome.objects.filter(item_id=OuterRef("pk"), kind=Outcome.Kind.ACCEPTED).order_by("at").values("at")
    return Subquery(accepted[:1])


def seconds_between(later: Any, earlier: Any) -> float:
    return float((later - earlier).total_seconds())
