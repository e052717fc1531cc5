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


def _touched(key: str, moment: str, filters: Filters) -> tuple[str, list[Any]]:
    """SQL (and parameters) of "the lead's ``key`` touch is a campaign's, in the range"."""
    reads = connections[replica.alias()]
    where = [f"o.{key} IS NOT NULL", f"o.{key} <> ''"]
    params: list[Any] = []
    if since := filters.since():
        where.append(f"o.{moment} >= %s")
        params.append(reads.ops.adapt_datetimefield_value(since))
    if before := filters.before():
        where.append(f"o.{moment} < %s")
        params.append(reads.ops.adapt_datetimefield_value(before))
    return "(" + " AND ".join(where) + ")", params


def touches_by_campaign(filters: Filters) -> tuple[dict[str, Touches], dict[str, Touches]]:
    """Per campaign key: the leads whose first touch it was, and those whose last touch it
    was, touched in the range, of the source filtered on; and, by the filters' attribution,
    how many of them reached MQL, SQL and won, with the revenue of their wins. One pass
    over each lead's origin (:mod:`reports.origins`) rather than over the interactions,
    counted per pair of first and last touch and added up here: a pass per touch read
    every origin twice."""
    origins_sql, origins_params = origins.origins_now()
    first_sql, first_params = _touched("first_campaign", "first_campaign_at", filters)
    last_sql, last_params = _touched("last_campaign", "last_campaign_at", filters)
    by_last = filters.attribution == "last"
    chosen_sql, chosen_params = (last_sql, last_params) if by_last else (first_sql, first_params)
    where = [f"({first_sql} OR {last_sql})"]
    where_params: list[Any] = [*first_params, *last_params]
    if filters.source:
        # "<source>:" begins "<the lead's source>:" exactly when the lead's source is that
        # source or one of its kind ("form" is every "form:…").
        prefix = f"{filters.source}:"
        where.append("SUBSTR(o.source || ':', 1, %s) = %s")
        where_params.extend([len(prefix), prefix])
    # Reached MQL (SQL): the stage history or the stage now is that stage or a later one
    # on the path to customer, as the overview's funnel counts it (the origin's step).
    figures = (
        f"SUM(CASE WHEN {first_sql} THEN 1 ELSE 0 END), SUM(CASE WHEN {last_sql} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {chosen_sql} AND o.reached_step >= 1 THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {chosen_sql} AND o.reached_step >= 2 THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {chosen_sql} AND w.lead_id IS NOT NULL THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {chosen_sql} THEN w.amount END)"
    )
    figures_params = [*first_params, *last_params, *chosen_params * 4]
    won_sql, won_params = (
        Outcome.objects.filter(kind=Outcome.Kind.WON)
        .order_by()
        .values("lead_id")
        .annotate(amount=Coalesce(Sum("amount"), Value(Decimal(0)), output_field=MONEY))
        .query.sql_with_params()
    )
    with connections[replica.alias()].cursor() as cursor:
        cursor.execute(
            f"SELECT o.first_campaign, o.last_campaign, {figures} FROM ({origins_sql}) o"  # noqa: S608
            f" LEFT JOIN ({won_sql}) w ON w.lead_id = o.lead_id"
            f" WHERE {' AND '.join(where)} GROUP BY o.first_campaign, o.last_campaign",
            [*figures_params, *origins_params, *won_params, *where_params],
        )
        found = cursor.fetchall()
    sums: tuple[dict[str, list[Any]], dict[str, list[Any]]] = ({}, {})
    for first, last, first_leads, last_leads, mqls, sqls, wins, revenue in found:
        attributed = (int(mqls or 0), int(sqls or 0), int(wins or 0), _money(revenue))
        for at, key, leads in ((0, first, first_leads), (1, last, last_leads)):
            if not leads:
                continue
            total = sums[at].setdefault(str(key), [0, 0, 0, 0, Decimal(0)])
            total[0] += int(leads)
            if at == int(by_last):
                for n, value in enumerate(attributed, start=1):
                    total[n] += value
    first_touches, last_touches = ({key: Touches(*total) for key, total in touches.items()} for touches in sums)
    return first_touches, last_touches


def campaign_returns(filters: Filters) -> list[CampaignRow]:
    """Every defined campaign (by name), then every key interactions carry that no
    campaign defines (by key), with its leads by first and last touch and, by the
    filters' attribution, what those leads became. Three queries."""
    first, last = touches_by_campaign(filters)
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
