"""The arithmetic of the reports, and how their figures are written: medians, rates,
lift, the fit and engagement bands. Pure: no Django. The page and the CSV write every
figure with these functions, so the two always say the same: each is a ``Figure``, the
CSV's text ("33.3%"), which the page writes in the reader's language ("33,3 %")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from scoring import figure

NONE = "\u2014"  # a figure that has no value (a rate of nothing, a median of no times): an em dash
EN_DASH = "\u2013"
TIMES = "\u00d7"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class BandWords:
    """How a band's open ends are written, in the reader's language (``{score}``: the bound)."""

    below: str = "below {score}"
    or_more: str = "{score} or more"
    any: str = "any"


@dataclass(frozen=True)
class Band:
    """A band of a score: ``low`` and above (None: anything below the band above it)."""

    name: str
    low: int | None

    def describe(self, above: Band | None, words: BandWords = BandWords()) -> str:
        if self.low is None:
            return words.below.format(score=above.low) if above is not None and above.low is not None else words.any
        if above is None or above.low is None:
            return words.or_more.format(score=self.low)
        return f"{self.low}{EN_DASH}{above.low - 1}"


# The grid's bands, from the best down (as HubSpot and Salesforce's grids show them:
# fit A to D, engagement 1 to 4). Fixed, and written on the page: fit is what the lead is
# (its fit rules' points), engagement what it did (after decay).
FIT_BANDS = (Band("A", 15), Band("B", 10), Band("C", 5), Band("D", None))
ENGAGEMENT_BANDS = (Band("1", 40), Band("2", 20), Band("3", 10), Band("4", None))


def band_of(score: int, bands: Sequence[Band]) -> Band:
    """The first band (from the best down) whose ``low`` the score reaches."""
    for band in bands:
        if band.low is None or score >= band.low:
            return band
    return bands[-1]


def bands_described(bands: Sequence[Band], words: BandWords = BandWords()) -> list[tuple[str, str]]:
    """(name, range) of each band, e.g. ("B", "10-14" with an en dash)."""
    return [(band.name, band.describe(bands[i - 1] if i else None, words)) for i, band in enumerate(bands)]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, e.g. "33.3%"."""
    value = rate(part, whole)
    return NONE if value is None else figure.percentage(100 * value)


def lift(rate_with: float | None, rate_without: float | None) -> float | None:
    """How many times the conversion of one set is the other's (None: no base to compare with)."""
    if rate_with is None or not rate_without:
        return None
    return rate_with / rate_without


def times(value: float | None) -> str:
    return NONE if value is None else figure.times(value)


def hours(seconds: float | None) -> str:
    """A duration in seconds, in hours with one decimal, e.g. "1.5"."""
    if seconds is None:
        return NONE
    return figure.decimal(seconds / 3600, 1)


def heat(value: float | None, top: float | None) -> int:
    """A heat step 1 to 5 of ``value`` relative to the largest value shown (5: the
    largest; 1: nothing, or little); 0 when there is no value (no leads in the cell)."""
    if value is None:
        return 0
    if not top:
        return 1
    return max(1, min(5, math.ceil(5 * value / top)))


def money(value: Decimal | None) -> str:
    """An amount with two decimals, e.g. "1200.50"; no value: a dash."""
    return NONE if value is None else figure.decimal(value.quantize(CENT, rounding=ROUND_HALF_UP), 2)


def money_per(amount: Decimal | None, count: int) -> str:
    """An amount shared over ``count`` (cost per MQL): a dash without an amount or a count."""
    return NONE if amount is None or not count else money(amount / count)


def return_on_cost(revenue: Decimal, cost: Decimal | None) -> float | None:
    """(revenue - cost) / cost; None without a cost (unknown or nothing spent)."""
    return None if not cost else float((revenue - cost) / cost)


def percent_of(value: float | None) -> str:
    """A ratio as a percentage with one decimal, e.g. 1.5 as "150.0%"; None: a dash."""
    return NONE if value is None else figure.percentage(100 * value)
