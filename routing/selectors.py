"""Reads for the sales queue page: a constant number of queries per page, however
many leads are on it or waiting in the queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, overload

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Exists, F, IntegerField, OuterRef, Subquery, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from django.utils.translation import gettext

from routing import sales
from routing.deadlines import feedback_days_overdue
from routing.models import Outcome, QueueItem, Rep
from scoring import event_types
from scoring import selectors as scoring_selectors
from scoring.models import Interaction, LeadPrediction, LeadScore, ScoreEntry

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
    ago: str = ""  # how long before the page was made, e.g. "3 h 5 min"


@dataclass(frozen=True)
class QueueRow:
    item: QueueItem
    reasons: list[Reason]
    interactions: list[RecentInteraction]
    waited: timedelta
    # Waiting (not yet claimed or accepted) longer than the team's SLA.
    overdue: bool
    actions: tuple[str, ...]
    # Days (begun) past the team's feedback deadline with no outcome yet; 0: not overdue.
    feedback_overdue: int = 0
    # The predicted probability of converting and its top reasons, when a model scored the lead.
    probability: float | None = None
    probability_reasons: tuple[str, ...] = ()

    @property
    def probability_percent(self) -> int | None:
        return None if self.probability is None else round(self.probability * 100)

    @property
    def age(self) -> str:
        return duration_short(self.waited)


def duration_short(delta: timedelta) -> str:
    """A compact, readable length of time: "40 s", "12 min", "3 h 5 min", "2 d 4 h".
    (The page shows a hundred of these; Django's timesince is ten times slower.)"""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    # The page of items, for its number, the links to the others and the count.
    page: Page[QueueItem]


# A rep's queue, by priority (score, then longest waiting): the team's unclaimed
# items and the rep's own open ones. Each half reads only the rows its LIMIT
# needs from an index already in score order — the team's waiting leads from
# lead_queue_team_score_idx (routing keeps Lead.queue_team_id), the rep's own
# from queue_owner_open_idx, at most their capacity — so a page costs the same
# with 100 or 100,000 leads waiting. SELECT * FROM (…) UNION ALL SELECT * FROM
# (…) is how both PostgreSQL and SQLite take ORDER BY and LIMIT per half.
_QUEUE_IDS_SQL = """
SELECT id FROM (
    SELECT * FROM (
        SELECT q.id, l.total_score AS score, q.entered_at
        FROM scoring_lead l
        -- Not also "q.team_id = l.queue_team_id": PostgreSQL would count that filter
        -- twice, expect a few rows, and sort the whole team queue instead.
        JOIN routing_queueitem q ON q.lead_id = l.id AND q.status = 'open' AND q.owner_id IS NULL
        WHERE l.queue_team_id = %s
        ORDER BY l.total_score DESC, q.entered_at, q.id
        LIMIT %s
    ) AS waiting
    UNION ALL
    SELECT * FROM (
        SELECT q.id, l.total_score AS score, q.entered_at
        FROM routing_queueitem q
        JOIN scoring_lead l ON l.id = q.lead_id
        WHERE q.team_id = %s AND q.owner_id = %s AND q.status IN ('open', 'claimed', 'accepted', 'qualified')
        ORDER BY l.total_score DESC, q.entered_at, q.id
        LIMIT %s
    ) AS own
) AS queue
ORDER BY score DESC, entered_at, id
LIMIT %s OFFSET %s
"""
# The same queue by the predicted probability of converting (leads not predicted last),
# then longest waiting: read for a rep who sorts by it.
_QUEUE_IDS_BY_PROBABILITY_SQL = (
    _QUEUE_IDS_SQL.replace("SELECT q.id, l.total_score AS score,", "SELECT q.id, COALESCE(p.probability, -1) AS score,")
    .replace(
        "FROM scoring_lead l\n", "FROM scoring_lead l\n        LEFT JOIN scoring_leadprediction p ON p.lead_id = l.id\n"
    )
    .replace(
        "JOIN scoring_lead l ON l.id = q.lead_id\n",
        "JOIN scoring_lead l ON l.id = q.lead_id\n        LEFT JOIN scoring_leadprediction p ON p.lead_id = l.id\n",
    )
    .replace("ORDER BY l.total_score DESC,", "ORDER BY score DESC,")
)
assert _QUEUE_IDS_BY_PROBABILITY_SQL.count("LEFT JOIN scoring_leadprediction p") == 2
assert _QUEUE_IDS_BY_PROBABILITY_SQL.count("ORDER BY score DESC,") == 3
# The same queue by the leads' score on the team's scorecard (0 where they have none yet):
# the team's waiting leads are sorted there, not read in the order of an index.
_QUEUE_IDS_BY_SCORECARD_SQL = (
    _QUEUE_IDS_SQL.replace("SELECT q.id, l.total_score AS score,", "SELECT q.id, COALESCE(s.total_score, 0) AS score,")
    .replace(
        "FROM scoring_lead l\n",
        "FROM scoring_lead l\n        LEFT JOIN scoring_leadscore s ON s.lead_id = l.id AND s.scorecard_id = %s\n",
    )
    .replace(
        "JOIN scoring_lead l ON l.id = q.lead_id\n",
        "JOIN scoring_lead l ON l.id = q.lead_id\n"
        "        LEFT JOIN scoring_leadscore s ON s.lead_id = l.id AND s.scorecard_id = %s\n",
    )
    .replace("ORDER BY l.total_score DESC,", "ORDER BY score DESC,")
)
assert _QUEUE_IDS_BY_SCORECARD_SQL.count("LEFT JOIN scoring_leadscore s") == 2
assert _QUEUE_IDS_BY_SCORECARD_SQL.count("ORDER BY score DESC,") == 3
SORTS = ("score", "probability")
_QUEUE_COUNT_SQL = """
SELECT (SELECT COUNT(*) FROM scoring_lead WHERE queue_team_id = %s)
     + (SELECT COUNT(*) FROM routing_queueitem
        WHERE team_id = %s AND owner_id = %s AND status IN ('open', 'claimed', 'accepted', 'qualified'))
"""
assert set(QueueItem.OPEN_STATUSES) == {"open", "claimed", "accepted", "qualified"}  # as spelt in the SQL


# What the page shows of an item and its lead (the rest is not read).
_ITEM_FIELDS = ("lead", "team", "owner", "status", "entered_at", "budget", "authority", "need", "timeline")
_LEAD_FIELDS = (
    "email",
    "external_id",
    "first_name",
    "last_name",
    "title",
    "company",
    "country",
    "fit_score",
    "engagement_score",
    "total_score",
    "score_group",
    "account",
)
# What a rep sees of the lead's account (its score and group: "the account is hot").
_ACCOUNT_FIELDS = ("name", "lead_score", "fit_score", "total_score", "group__name")


class RepQueue(Sequence[QueueItem]):
    """The rep's queue as Django's Paginator reads it: ``count()`` and slices,
    one query each."""

    def __init__(self, rep: Rep, sort: str = "score") -> None:
        self.rep = rep
        self.sort = sort if sort in SORTS else "score"

    def count(self, value: object = None) -> int:  # Sequence.count's signature; Paginator calls count()
        assert value is None, "counts the queue's items, not occurrences of a value"
        with connection.cursor() as cursor:
            cursor.execute(_QUEUE_COUNT_SQL, [self.rep.team_id, self.rep.team_id, self.rep.user_id])
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> QueueItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[QueueItem]: ...

    def __getitem__(self, index: int | slice) -> QueueItem | list[QueueItem]:
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop = index.start or 0, index.stop
        assert stop is not None, "the queue is read a page at a time"
        team, user = self.rep.team_id, self.rep.user_id
        # Constant SQL, bound parameters.
        card = self.rep.team.scorecard_id if self.sort == "score" else None
        if card is not None:
            # The team sorts by its scorecard's score.
            page_ids = RawSQL(  # noqa: S611 (constant SQL, bound parameters)
                _QUEUE_IDS_BY_SCORECARD_SQL, [card, team, stop, card, team, user, stop, stop - start, start]
            )
            on_card = LeadScore.objects.filter(lead_id=OuterRef("lead_id"), scorecard_id=card).values("total_score")
            order: tuple[Any, ...] = ("-scorecard_score", "entered_at", "id")
        else:
            sql = _QUEUE_IDS_BY_PROBABILITY_SQL if self.sort == "probability" else _QUEUE_IDS_SQL
            page_ids = RawSQL(sql, [team, stop, team, user, stop, stop - start, start])  # noqa: S611
            order = (
                (F("lead__prediction__probability").desc(nulls_last=True), "entered_at", "id")
                if self.sort == "probability"
                else ("-lead__total_score", "entered_at", "id")
            )
        items = QueueItem.objects.filter(pk__in=page_ids)
        if card is not None:
            items = items.annotate(scorecard_score=Coalesce(Subquery(on_card), Value(0), output_field=IntegerField()))
        return list(
            items.select_related("lead", "lead__score_group", "lead__account", "lead__account__group")
            .only(
                *_ITEM_FIELDS,
                *(f"lead__{name}" for name in _LEAD_FIELDS),
                "lead__score_group__name",
                *(f"lead__account__{name}" for name in _ACCOUNT_FIELDS),
            )
            # In the same query: whether sales gave feedback (the feedback deadline).
            .annotate(answered=Exists(Outcome.objects.filter(item_id=OuterRef("pk"), kind__in=Outcome.FEEDBACK_KINDS)))
            .order_by(*order)
        )


def queue_page(
    *, rep: Rep, page: int | str = 1, per_page: int = PER_PAGE, now: datetime | None = None, sort: str = "score"
) -> QueuePage:
    """One page of the rep's queue (by score, or by ``sort="probability"``) with each
    lead's score reasons, predicted probability and recent interactions: five queries
    (count, items with their leads, reasons, predictions, interactions)."""
    now = now or timezone.now()
    paginator: Paginator[QueueItem] = Paginator(RepQueue(rep, sort), per_page)
    items_page = paginator.get_page(page)
    items: list[QueueItem] = list(items_page.object_list)
    lead_ids = [item.lead_id for item in items]
    reasons = leads_score_reasons(lead_ids=lead_ids)
    interactions = leads_recent_interactions(lead_ids=lead_ids, now=now)
    predictions = {
        row["lead_id"]: row
        for row in LeadPrediction.objects.filter(lead_id__in=lead_ids).values("lead_id", "probability", "reasons")
    }
    sla = timedelta(hours=rep.team.sla_hours) if rep.team.sla_hours is not None else None
    feedback_days = rep.team.feedback_days
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
                feedback_overdue=feedback_days_overdue(
                    entered_at=item.entered_at,
                    days=feedback_days,
                    answered=getattr(item, "answered", False),
                    now=now,
                ),
                **_prediction_of(predictions.get(item.lead_id)),
            )
        )
    return QueuePage(rows, items_page)


REASONS_SHOWN = 5


def _prediction_of(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    reasons = tuple(str(r.get("text", "")) for r in row["reasons"] or () if isinstance(r, dict) and r.get("text"))
    return {"probability": row["probability"], "probability_reasons": reasons[:3]}


def leads_score_reasons(*, lead_ids: Sequence[int], limit: int = REASONS_SHOWN) -> dict[int, list[Reason]]:
    """Why each lead has its score, in one query: the ledger summed by rule and cause,
    fit and negative points included, largest first. Past ``limit`` causes the rest are
    one line, "Other causes" in the reader's language, so a lead's reasons always add
    up to its score (the ledger's sum is the cached score)."""
    if not lead_ids:
        return {}
    causes = dict(ScoreEntry.Cause.choices)
    # Per lead and label: a rule's awards, the revisions and the rescores of them are one
    # reason, counted in the interactions it still gives points for (ledger_sums).
    found: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for row in scoring_selectors.ledger_sums(lead_ids=lead_ids):
        cause = ScoreEntry.Cause.RULE if row.rule_id is not None else row.cause or ""
        label = row.rule_name or str(causes.get(cause, cause))
        points_times = found[row.lead_id].setdefault(label, [0, 0])
        points_times[0] += row.points
        points_times[1] += row.times
    result: dict[int, list[Reason]] = {}
    for lead_id, by_label in found.items():
        reasons = sorted(
            (Reason(label, points, times) for label, (points, times) in by_label.items() if points),
            key=lambda r: (-abs(r.points), -r.points, r.label),
        )
        if len(reasons) > limit:
            rest = reasons[limit - 1 :]
            reasons = [*reasons[: limit - 1], Reason(gettext("Other causes"), sum(r.points for r in rest), 0)]
        result[lead_id] = reasons
    return result


def leads_recent_interactions(
    *, lead_ids: Sequence[int], limit: int = 3, now: datetime | None = None
) -> dict[int, list[RecentInteraction]]:
    """Each lead's last few interactions, in one query (ROW_NUMBER() per lead)."""
    now = now or timezone.now()
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
    rows = list(ranked)
    # The company's own types in their words; a page of built-in types asks nothing more.
    custom = {kind for _, kind, _, _ in rows if kind not in event_types.BUILT_IN}
    labels = scoring_selectors.event_type_labels(keys=custom) if custom else {}
    found: dict[int, list[RecentInteraction]] = defaultdict(list)
    for lead_id, kind, properties, occurred_at in rows:
        assert lead_id is not None  # filtered on lead_id
        found[lead_id].append(
            RecentInteraction(
                event_types.label(kind, labels), _detail(properties), occurred_at, duration_short(now - occurred_at)
            )
        )
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


# Outcomes that close a lead's story: won is a conversion, lost and disqualified are not.
CLOSING_KINDS: dict[str, bool] = {Outcome.Kind.WON: True, Outcome.Kind.LOST: False, Outcome.Kind.DISQUALIFIED: False}


def leads_closed(*, lead_ids: Collection[int] | None = None, since: datetime | None = None) -> dict[int, bool]:
    """Lead id → won (True) or not (False), by each lead's latest closing outcome; one query."""
    rows = Outcome.objects.filter(kind__in=list(CLOSING_KINDS))
    if lead_ids is not None:
        rows = rows.filter(lead_id__in=list(lead_ids))
    if since is not None:
        rows = rows.filter(at__gte=since)
    closed: dict[int, bool] = {}
    for lead_id, kind in rows.order_by("lead_id", "at", "id").values_list("lead_id", "kind").iterator():
        closed[lead_id] = CLOSING_KINDS[kind]
    return closed
