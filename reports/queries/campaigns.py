"""What the campaigns return: per campaign key the leads it touched first and last, and,
by the chosen touch, their MQLs, SQLs, wins and revenue.

A lead's first (last) touch is its interaction with a ``campaign`` property that
happened first (last) by ``occurred_at`` (the same moment: the one recorded first
(last)). It is computed here, in the report's query, rather than kept on the lead:
the interactions are the truth (a visitor's history merged later, a set-aside row
retried, an interaction arriving late all count at once, with no second copy to keep
right), and the scoring path stays as it is. Each is an anti-join on the lead's
interactions by time (the index leading with the lead), like a lead's first hand-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    CharField,
    Count,
    DecimalField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from reports.filters import Filters
from reports.queries.common import in_dates, with_source, won
from routing.models import Outcome
from scoring.models import Campaign, Interaction, LifecycleStage, StageChange

# A lead reached MQL (SQL) when its stage history or its stage now is that stage or a
# later one on the path to customer, as the overview's funnel counts it.
_PATH = (LifecycleStage.MQL, LifecycleStage.SQL, LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER)
MQL_OR_LATER = tuple(str(stage) for stage in _PATH)
SQL_OR_LATER = MQL_OR_LATER[1:]
MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=20, decimal_places=2)


@dataclass(frozen=True)
class Touches:
    """What the leads a campaign key was the attributed touch of did."""

    leads: int = 0
    mqls: int = 0
    sqls: int = 0
    won: int = 0
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class CampaignRow:
    key: str
    campaign: Campaign | None  # None: a key interactions carry that no campaign defines
    first_touch_leads: int
    last_touch_leads: int
    attributed: Touches  # by the filters' attribution (first or last touch)


def _campaign_touches() -> QuerySet[Interaction]:
    """Interactions of leads that carry a campaign, with its key as ``campaign_key``."""
    return (
        Interaction.objects.filter(lead__isnull=False)
        .annotate(campaign_key=Cast(KT("properties__campaign"), CharField()))
        .exclude(campaign_key__isnull=True)
        .exclude(campaign_key="")
        .order_by()
    )


def _reached(stages: tuple[str, ...]) -> Q:
    history = Exists(StageChange.objects.filter(lead_id=OuterRef("lead_id"), to_stage__in=stages))
    return Q(history) | Q(lead__lifecycle_stage__in=stages)


def _revenue() -> Coalesce:
    """The amounts of the lead's won outcomes (the outer row's lead), added up."""
    amounts = (
        Outcome.objects.filter(lead_id=OuterRef("lead_id"), kind=Outcome.Kind.WON)
        .order_by()
        .values("lead_id")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(amounts, output_field=MONEY), Value(Decimal(0)), output_field=MONEY)


def touches_by_campaign(filters: Filters, *, last: bool) -> dict[str, Touches]:
    """Per campaign key: the leads whose first (``last``: last) campaign touch it was,
    touched in the range, of the source filtered on; and how many of them reached MQL,
    SQL and won, with the revenue of their wins. One query."""
    touches = _campaign_touches()
    other = _campaign_touches().filter(lead_id=OuterRef("lead_id"))
    if last:
        beyond = Q(occurred_at__gt=OuterRef("occurred_at")) | Q(
            occurred_at=OuterRef("occurred_at"), pk__gt=OuterRef("pk")
        )
    else:
        beyond = Q(occurred_at__lt=OuterRef("occurred_at")) | Q(
            occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk")
        )
    touches = touches.filter(~Exists(other.filter(beyond)))
    touches = with_source(in_dates(touches, field="occurred_at", filters=filters), lead_ref="lead_id", filters=filters)
    rows = (
        touches.annotate(
            is_mql=_reached(MQL_OR_LATER), is_sql=_reached(SQL_OR_LATER), has_won=won(), revenue=_revenue()
        )
        .values("campaign_key")
        .annotate(
            leads=Count("lead_id"),
            mqls=Count("lead_id", filter=Q(is_mql=True)),
            sqls=Count("lead_id", filter=Q(is_sql=True)),
            wins=Count("lead_id", filter=Q(has_won=True)),
            revenue_sum=Sum("revenue", output_field=MONEY),
        )
        .values_list("campaign_key", "leads", "mqls", "sqls", "wins", "revenue_sum")
    )
    return {
        str(key): Touches(leads, mqls, sqls, wins, Decimal(revenue or 0))
        for key, leads, mqls, sqls, wins, revenue in rows
    }


def campaign_returns(filters: Filters) -> list[CampaignRow]:
    """Every defined campaign (by name), then every key interactions carry that no
    campaign defines (by key), with its leads by first and last touch and, by the
    filters' attribution, what those leads became. Three queries."""
    first = touches_by_campaign(filters, last=False)
    last = touches_by_campaign(filters, last=True)
    attributed = last if filters.attribution == "last" else first
    campaigns = list(Campaign.objects.order_by("name", "key"))
    defined = {c.key for c in campaigns}
    undefined = sorted((set(first) | set(last)) - defined)

    def row(key: str, campaign: Campaign | None) -> CampaignRow:
        return CampaignRow(
            key,
            campaign,
            first.get(key, Touches()).leads,
            last.get(key, Touches()).leads,
            attributed.get(key, Touches()),
        )

    return [*(row(c.key, c) for c in campaigns), *(row(key, None) for key in undefined)]
