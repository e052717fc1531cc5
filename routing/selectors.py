"""Reads for the sales queue page: a constant number of queries per page, however
many leads are on it or waiting in the queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, OrderBy, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from routing import sales
from routing.models import QueueItem, Rep
from scoring.models import Interaction, ScoreEntry

PER_PAGE = 25
# Interaction properties worth a glance, in the order they are looked for.
_DETAIL_KEYS = ("subject", "campaign", "form", "title", "url", "path", "name")


@dataclass(frozen=True)
class Reason:
    """What one cause (a scoring rule, a manual change…) adds to the lead's score."""

    label: str
    points: int
    times: int


@dataclass(frozen=True)
class RecentInteraction:
    kind: str
    detail: str
    occurred_at: datetime


@dataclass(frozen=True)
class QueueRow:
    item: QueueItem
    reasons: list[Reason]
    interactions: list[RecentInteraction]
    waited: timedelta
    # Waiting (not yet claimed or accepted) longer than the team's SLA.
    overdue: bool
    actions: tuple[str, ...]


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    # The page of items, for its number, the links to the others and the count.
    page: Page[QueueItem]


def queue_items(*, rep: Rep) -> QuerySet[QueueItem]:
    """The rep's queue, by priority (score, then longest waiting): their team's
    unclaimed items and their own open ones in the team."""
    return (
        QueueItem.objects.filter(
            # Each half matches a partial index: queue_team_open_idx, queue_owner_open_idx.
            Q(team_id=rep.team_id, status=QueueItem.Status.OPEN, owner__isnull=True)
            | Q(team_id=rep.team_id, owner_id=rep.user_id, status__in=QueueItem.OPEN_STATUSES)
        )
        .select_related("lead", "lead__score_group")
        .defer("lead__attributes")
        # fit + engagement is total_score, spelt so that no index gives the order: PostgreSQL
        # could otherwise walk lead_total_score_idx from the top and probe each lead for an
        # item of this rep, which reads most of the leads when the rep's few items score low
        # (270 ms for one page on 200,000 leads). Reading the rep's items first costs one
        # lead lookup per item in the team's queue, whatever the scores.
        .order_by(OrderBy(F("lead__fit_score") + F("lead__engagement_score"), descending=True), "entered_at", "id")
    )


def queue_page(*, rep: Rep, page: int | str = 1, per_page: int = PER_PAGE, now: datetime | None = None) -> QueuePage:
    """One page of the rep's queue with each lead's top reasons and recent
    interactions: four queries (count, items with their leads, reasons, interactions)."""
    now = now or timezone.now()
    paginator = Paginator(queue_items(rep=rep), per_page)
    items_page = paginator.get_page(page)
    items: list[QueueItem] = list(items_page.object_list)
    lead_ids = [item.lead_id for item in items]
    reasons = leads_top_reasons(lead_ids=lead_ids)
    interactions = leads_recent_interactions(lead_ids=lead_ids)
    sla = timedelta(hours=rep.team.sla_hours) if rep.team.sla_hours is not None else None
    rows = []
    for item in items:
        waited = now - item.entered_at
        rows.append(
            QueueRow(
                item=item,
                reasons=reasons.get(item.lead_id, []),
                interactions=interactions.get(item.lead_id, []),
                waited=waited,
                overdue=sla is not None and item.status == QueueItem.Status.OPEN and waited > sla,
                actions=sales.actions_available(status=item.status, owned=item.owner_id == rep.user_id),
            )
        )
    return QueuePage(rows, items_page)


def leads_top_reasons(*, lead_ids: Sequence[int], limit: int = 3) -> dict[int, list[Reason]]:
    """The causes that add most to each lead's score (the ledger summed by rule), in one query."""
    if not lead_ids:
        return {}
    sums = (
        ScoreEntry.objects.filter(lead_id__in=lead_ids)
        .values("lead_id", "cause", "rule_id", "rule__name")
        .annotate(points=Sum("delta"), times=Count("id"))
        .filter(points__gt=0)
        .order_by()
    )
    causes = dict(ScoreEntry.Cause.choices)
    found: dict[int, list[Reason]] = defaultdict(list)
    for row in sums:
        label = row["rule__name"] or causes.get(row["cause"], row["cause"])
        found[row["lead_id"]].append(Reason(label, row["points"], row["times"]))
    return {lead_id: sorted(reasons, key=lambda r: (-r.points, r.label))[:limit] for lead_id, reasons in found.items()}


def leads_recent_interactions(*, lead_ids: Sequence[int], limit: int = 3) -> dict[int, list[RecentInteraction]]:
    """Each lead's last few interactions, in one query (ROW_NUMBER() per lead)."""
    if not lead_ids:
        return {}
    ranked = (
        Interaction.objects.filter(lead_id__in=lead_ids)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("lead_id")], order_by=[F("occurred_at").desc(), F("id").desc()])
        )
        .filter(rank__lte=limit)
        .values_list("lead_id", "type", "properties", "occurred_at")
        .order_by("lead_id", "-occurred_at", "-id")
    )
    types = dict(Interaction._meta.get_field("type").flatchoices)
    found: dict[int, list[RecentInteraction]] = defaultdict(list)
    for lead_id, kind, properties, occurred_at in ranked:
        assert lead_id is not None  # filtered on lead_id
        found[lead_id].append(RecentInteraction(str(types.get(kind, kind)), _detail(properties), occurred_at))
    return dict(found)


def _detail(properties: object) -> str:
    if not isinstance(properties, dict):
        return ""
    for key in _DETAIL_KEYS:
        value = properties.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            return str(value)[:120]
    return ""


def queue_item_of_team(*, item_id: int, rep: Rep) -> QueueItem | None:
    """The item if it is in the rep's team (else None: not theirs to see)."""
    return QueueItem.objects.filter(pk=item_id, team_id=rep.team_id).select_related("lead").first()
