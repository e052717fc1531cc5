"""Campaigns in the model file: check the ``campaigns`` section, or write it out. Pure:
no database (the section is imported by :mod:`scoring.services.campaigns`)::

    campaigns:
      - key: spring-sale             # the value interactions carry in their campaign property
        name: Spring sale
        channel: email               # optional
        cost: 1200.50                # optional, 0 or more, at most 2 decimals
        start_date: 2026-03-01       # optional
        end_date: 2026-03-31         # optional, not before start_date

Every problem is reported with its place (``campaigns[1].cost: …``), all at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from scoring import file_checks as checks
from scoring.event_types import gettext_noop
from scoring.file_checks import Problem

KEY_MAX_LENGTH = 80
NAME_MAX_LENGTH = 200
CHANNEL_MAX_LENGTH = 60
COST_MAX_DIGITS = 14  # the cost column: 12 before the point, 2 after
COST_DECIMALS = 2
_KEYS = {"key", "name", "channel", "cost", "start_date", "end_date"}


@dataclass(frozen=True)
class CampaignSpec:
    key: str
    name: str
    channel: str = ""
    cost: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass(frozen=True)
class CampaignsSpec:
    campaigns: tuple[CampaignSpec, ...]


def cost_problem(value: Decimal) -> str:
    """What is wrong with a cost (a :class:`Problem`), or ""."""
    if not value.is_finite():
        return Problem(gettext_noop("must be a number"))
    if value < 0:
        return Problem(gettext_noop("must be 0 or more"))
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -COST_DECIMALS:
        return Problem(gettext_noop("at most {limit} decimals"), limit=COST_DECIMALS)
    if abs(value) >= Decimal(10) ** (COST_MAX_DIGITS - COST_DECIMALS):
        return Problem(gettext_noop("at most {limit} digits before the point"), limit=COST_MAX_DIGITS - COST_DECIMALS)
    return ""


def _cost(item: Mapping[str, Any], where: str, errors: list[str]) -> Decimal | None:
    value = item.get("cost")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        message = gettext_noop("{place}: must be a number such as 1200.50, not {kind}")
        errors.append(Problem(message, place=f"{where}.cost", kind=type(value).__name__))
        return None
    try:
        cost = Decimal(str(value).strip())
    except InvalidOperation:
        message = gettext_noop("{place}: {value!r} is not a number such as 1200.50")
        errors.append(Problem(message, place=f"{where}.cost", value=str(value)[:40]))
        return None
    if problem := cost_problem(cost):
        errors.append(checks.at(f"{where}.cost", problem))
        return None
    return cost


def _day(item: Mapping[str, Any], key: str, where: str, errors: list[str]) -> date | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        errors.append(Problem(gettext_noop("{place}: a day, without a time, e.g. 2026-03-31"), place=f"{where}.{key}"))
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    message = gettext_noop("{place}: {value!r} is not a day written YYYY-MM-DD, e.g. 2026-03-31")
    errors.append(Problem(message, place=f"{where}.{key}", value=str(value)[:40]))
    return None


def parse(values: Mapping[str, Any], errors: list[str]) -> CampaignsSpec:
    """The ``campaigns`` section of a model file."""
    specs: list[CampaignSpec] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(checks.items(values["campaigns"], "campaigns", errors)):
        where = f"campaigns[{index}]"
        item = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with key and name")))
        if item is None:
            continue
        checks.unknown_keys(item, _KEYS, where, errors)
        key = checks.key(item, where, seen, errors, max_length=KEY_MAX_LENGTH)
        name = checks.text(item, "name", where, errors, required=True, max_length=NAME_MAX_LENGTH).strip()
        channel = checks.text(item, "channel", where, errors, max_length=CHANNEL_MAX_LENGTH).strip()
        start = _day(item, "start_date", where, errors)
        end = _day(item, "end_date", where, errors)
        if start and end and end < start:
            message = gettext_noop("{place}: {value} is before start_date ({start})")
            errors.append(Problem(message, place=f"{where}.end_date", value=end, start=start))
        specs.append(CampaignSpec(key, name, channel, _cost(item, where, errors), start, end))
    return CampaignsSpec(tuple(specs))


def _number(cost: Decimal) -> int | float:
    # YAML has no decimals: a whole cost is written as an integer, any other as the
    # shortest float that reads back as the same two-decimal value.
    return int(cost) if cost == cost.to_integral_value() else float(cost)


def dump(spec: CampaignsSpec) -> dict[str, Any]:
    if not spec.campaigns:
        return {}
    rows = []
    for campaign in spec.campaigns:
        row: dict[str, Any] = {"key": campaign.key, "name": campaign.name}
        if campaign.channel:
            row["channel"] = campaign.channel
        if campaign.cost is not None:
            row["cost"] = _number(campaign.cost)
        if campaign.start_date:
            row["start_date"] = campaign.start_date.isoformat()
        if campaign.end_date:
            row["end_date"] = campaign.end_date.isoformat()
        rows.append(row)
    return {"campaigns": rows}
