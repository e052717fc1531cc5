"""Suggested points for the company's scoring rules, derived from the predictive model:
pure code over plain data.

A rule's suggestion is how much more likely to convert the model finds the leads the
rule applies to than the others: the difference of their mean log-odds, on the scale of
a scorecard where every :data:`POINTS_TO_DOUBLE_ODDS` points double the odds of
converting. A fit rule applies to the leads whose fields meet its conditions; an
engagement rule to the leads that did one of its interactions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scoring import rules as pure

POINTS_TO_DOUBLE_ODDS = 10
MIN_LEADS = 10  # on each side: fewer say nothing


@dataclass(frozen=True)
class Suggestion:
    rule_id: int
    points: int | None  # None: too few leads on one side to say
    matched: int
    others: int


def suggest(
    rules: Sequence[pure.Rule],
    values: Sequence[Mapping[str, object]],
    activity_types: Sequence[frozenset[str]],
    log_odds: Sequence[float],
) -> list[Suggestion]:
    """For each rule, the points the model suggests, from these leads (their field values,
    the interaction types each did, and the model's log-odds for each)."""
    odds = np.asarray(log_odds, dtype=np.float64)
    out: list[Suggestion] = []
    for rule in rules:
        if rule.dimension is pure.Dimension.FIT:
            mask = np.array([pure.conditions_hold(rule, v) for v in values], dtype=bool)
        else:
            mask = np.array([bool(rule.interaction_types & types) for types in activity_types], dtype=bool)
        matched, others = int(mask.sum()), int((~mask).sum())
        points = None
        if matched >= MIN_LEADS and others >= MIN_LEADS:
            gap = float(odds[mask].mean() - odds[~mask].mean())
            points = round(POINTS_TO_DOUBLE_ODDS * gap / math.log(2))
        out.append(Suggestion(rule.id, points, matched, others))
    return out
