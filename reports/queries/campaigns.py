"""What the campaigns return: per campaign key the leads it touched first and last, and,
by the chosen touch, their MQLs, SQLs, wins and revenue.

A lead's first (last) touch is its interaction with a ``campaign`` property that
happened first (last) by ``occurred_at`` (the same moment: the one recorded first
(last)). The interactions are the truth (a visitor's history merged later, a set-aside
row retried, an interaction arriving late all count at once); ranking millions of them
on every request is what made the report slow, so each lead's touches are kept in its
origin (:mod:`reports.origins`), rebuilt every night, and a lead with newer
interactions is read live: the report is what the interactions say at any moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce

from reports import origins, replica
from reports.filters import Filters
from routing.models import Outcome
from scoring.models import Campaign

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


def _money(value: object) -> Decimal:
    """A sum of amounts as the database gives it (SQLite: a float) in cents."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def touches_by_campaign(filters: Filters, *, last: bool, outcomes: bool = True) -> dict[str, Touches]:
    """Per campaign key: the leads whose first (``last``: last) campaign touch it was,
    touched in the range, of the source filtered on; and (``outcomes``) how many of them
    reached MQL, SQL and won, with the revenue of their wins. Two queries, over each
    lead's origin (:mod:`reports.origins`) rather than over the interactions."""
    reads = connections[replica.alias()]
    origins_sql, origins_params = origins.origins_now()
    key, moment = ("last_campaign", "last_campaign_at") if last else ("first_campaign", "first_campaign_at")
    where = [f"o.{key} IS NOT NULL", f"o.{key} <> ''"]
    where_params: list[Any] = []
    if since := filters.since():
        where.append(f"o.{moment} >= %s")
        where_params.append(reads.ops.adapt_datetimefield_value(since))
    if before := filters.before():
        where.append(f"o.{moment} < %s")
        where_params.append(reads.ops.adapt_datetimefield_value(before))
    if filters.source:
        # "<source>:" begins "<the lead's source>:" exactly when the lead's source is that
        # source or one of its kind ("form" is every "form:…").
        prefix = f"{filters.source}:"
        where.append("SUBSTR(o.source || ':', 1, %s) = %s")
        where_params.extend([len(prefix), prefix])
    figures, joins, joins_params = "0, 0, 0, 0", "", []
    if outcomes:
        # Reached MQL (SQL): the stage history or the stage now is that stage or a later one
        # on the path to customer, as the overview's funnel counts it (the origin's step).
        figures = (
            "SUM(CASE WHEN o.reached_step >= 1 THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN o.reached_step >= 2 THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN w.lead_id IS NOT NULL THEN 1 ELSE 0 END), SUM(w.amount)"
        )
        won_sql, won_params = (
            Outcome.objects.filter(kind=Outcome.Kind.WON)
            .order_by()
            .values("lead_id")
            .annotate(amount=Coalesce(Sum("amount"), Value(Decimal(0)), output_field=MONEY))
            .query.sql_with_params()
        )
        joins = f" LEFT JOIN ({won_sql}) w ON w.lead_id = o.lead_id"
        joins_params = list(won_params)
    with reads.cursor() as cursor:
        cursor.execute(
            f"SELECT o.{key}, COUNT(*), {figures} FROM ({origins_sql}) o{joins}"  # noqa: S608
            f" WHERE {' AND '.join(where)} GROUP BY o.{key}",
            [*origins_params, *joins_params, *where_params],
        )
        found = cursor.fetchall()
    return {
        str(key): Touches(int(leads), int(mqls or 0), int(sqls or 0), int(wins or 0), _money(revenue))
        for key, leads, mqls, sqls, wins, revenue in found
    }


def campaign_returns(filters: Filters) -> list[CampaignRow]:
    """Every defined campaign (by name), then every key interactions carry that no
    campaign defines (by key), with its leads by first and last touch and, by the
    filters' attribution, what those leads became. Five queries."""
    first = touches_by_campaign(filters, last=False, outcomes=filters.attribution != "last")
    last = touches_by_campaign(filters, last=True, outcomes=filters.attribution == "last")
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
