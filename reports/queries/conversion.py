"""Does the score predict who buys: conversion by score group and by the fit by
engagement grid at the hand-off to sales, and each rule's lift."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reports import figures
from reports.filters import Filters
from reports.queries.common import group_of, handoffs, in_group, with_scores_at_handoff, won
from reports.queries.lift import lift_counts
from scoring.models import ScoreGroup, ScoringRule


@dataclass(frozen=True)
class GroupRow:
    group: ScoreGroup | None  # None: below the lowest group
    leads: int
    converted: int


def _first_handoff_scores(filters: Filters) -> list[tuple[int, int, bool]]:
    """(fit, engagement, converted) of each lead at its first hand-off in the range."""
    items = with_scores_at_handoff(handoffs(filters, first_only=True), filters).annotate(converted=won())
    return list(items.values_list("fit_at", "engagement_at", "converted"))


def conversion_by_group(filters: Filters) -> list[GroupRow]:
    """Leads by the score group they were in when first handed to sales, highest group
    first, and how many of them converted. Every group has its row, empty or not."""
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for fit, engagement, converted in _first_handoff_scores(filters):
        group = group_of(fit + engagement, filters.groups)
        tally = counts[group.pk if group else None]
        tally[0] += 1
        tally[1] += int(converted)
    rows = [GroupRow(g, *counts[g.pk]) for g in reversed(filters.groups)]
    return [*rows, GroupRow(None, *counts[None])]


@dataclass(frozen=True)
class GridCell:
    fit: figures.Band
    engagement: figures.Band
    leads: int
    converted: int


def conversion_grid(filters: Filters) -> list[GridCell]:
    """The 16 cells of fit (A to D) by engagement (1 to 4) at each lead's first hand-off to
    sales, best first (A1, A2, … D4), with leads and conversions."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for fit, engagement, converted in _first_handoff_scores(filters):
        if not in_group(fit + engagement, filters):
            continue
        key = (figures.band_of(fit, figures.FIT_BANDS).name, figures.band_of(engagement, figures.ENGAGEMENT_BANDS).name)
        counts[key][0] += 1
        counts[key][1] += int(converted)
    return [GridCell(f, e, *counts[(f.name, e.name)]) for f in figures.FIT_BANDS for e in figures.ENGAGEMENT_BANDS]


@dataclass(frozen=True)
class RuleLiftRow:
    rule: ScoringRule
    scored: int  # leads the rule gave points (net of revisions and rescores)
    scored_converted: int
    others: int  # leads of the same set it gave nothing
    others_converted: int

    @property
    def lift(self) -> float | None:
        return figures.lift(
            figures.rate(self.scored_converted, self.scored), figures.rate(self.others_converted, self.others)
        )


def rule_lift(filters: Filters) -> list[RuleLiftRow]:
    """For each rule: conversion of the leads it scored against the leads it did not,
    among the leads created in the range (of the source filtered on). Highest lift
    first; rules without a lift (nothing to compare) last."""
    counts = lift_counts(filters)
    leads, converted = counts.leads, counts.converted
    rows = []
    for rule in ScoringRule.objects.order_by("name", "pk"):
        scored, scored_converted = counts.by_rule.get(rule.pk, (0, 0))
        rows.append(RuleLiftRow(rule, scored, scored_converted, leads - scored, converted - scored_converted))
    rows.sort(key=lambda row: (row.lift is None, -(row.lift or 0), -row.scored, row.rule.name))
    return rows
