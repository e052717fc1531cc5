"""Features from what Leadflow knows of a lead: pure code over plain data, no database.

The featurizer is fitted on the training leads and then turns any lead into the same
row of numbers, whatever attributes a company keeps: it looks at the values, not at
their names. A column is

- **numeric** when nearly all its values read as numbers ("12", 3.5, "7 pages" does not):
  the value (missing ones take the median) and, if any was missing, a "missing" flag;
- **boolean** when its values are yes/no, true/false or 1/0 in some spelling: 1 or 0,
  and a missing flag;
- **categorical** otherwise: one 0/1 feature per level seen often enough, the rare
  levels together as "(other)", and a missing flag. Columns that are nearly unique per
  lead (names, ids) say nothing about other leads and are left out.

Beside the attributes: interaction counts by type over the last 7, 30 and 90 days and
in all, and the rule-based fit and engagement scores. Excluded columns (those sales
fill in after contact, which leak the outcome) are dropped before anything is fitted,
so no feature is made from them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# Interaction recency windows, in days; None: all of the lead's history.
WINDOWS: tuple[int | None, ...] = (7, 30, 90, None)
CUSTOM_PREFIX = "attributes."
# Lead fields that name one person or company: never a signal about other leads.
IDENTITY_FIELDS = frozenset({"email", "first_name", "last_name", "company", "external_id"})
FIT_SCORE = "fit score"
ENGAGEMENT_SCORE = "engagement score"

_TRUE = frozenset({"yes", "y", "true", "t", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off"})
# Values that mean "not given" in exported files.
_MISSING = frozenset({"", "select", "null", "none", "nan", "n/a", "na", "-"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

Matrix = npt.NDArray[np.float64]


class Kind(StrEnum):
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class LeadFacts:
    """One lead as the featurizer reads it.

    ``values``: the lead's fields and custom attributes by column name (custom ones as
    ``attributes.<key>``, as rules name them); ``activity``: interaction type → counts
    in each of :data:`WINDOWS`.
    """

    values: Mapping[str, object]
    activity: Mapping[str, Sequence[int]] = field(default_factory=dict)
    fit_score: int = 0
    engagement_score: int = 0


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    levels: tuple[str, ...] = ()  # categorical: the levels kept, in order
    has_other: bool = False
    has_missing: bool = False
    fill: float = 0.0  # numeric: the median, for missing values


@dataclass(frozen=True)
class Feature:
    """One number of the row: which column it comes from and what it says."""

    name: str
    column: str


@dataclass(frozen=True)
class FeatureSpec:
    columns: tuple[Column, ...]
    activity_types: tuple[str, ...]
    scores: tuple[str, ...]
    excluded: tuple[str, ...]
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def source_columns(self) -> list[str]:
        """Every column a feature is made from (attributes, activity types, scores)."""
        return list(dict.fromkeys(f.column for f in self.features))


def label(column: str) -> str:
    """A column as a person reads it: custom attributes without their prefix."""
    return column.removeprefix(CUSTOM_PREFIX)


def is_excluded(column: str, excluded: Iterable[str]) -> bool:
    """Whether ``column`` is one of ``excluded`` (named with or without the attributes
    prefix, in any case; an activity type as ``activity:<type>``)."""
    names = {e.strip().lower() for e in excluded}
    return column.lower() in names or label(column).lower() in names


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return value.strip().lower() in _MISSING
    return isinstance(value, list | dict) and not value


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if _NUMBER.match(text):
            return float(text)
    return None


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _text(value: object) -> str:
    return str(value).strip()


def _infer(
    name: str, values: list[object], *, rows: int, min_level_share: float, max_levels: int, max_unique_share: float
) -> Column | None:
    present = [v for v in values if not _missing(v)]
    if not present:
        return None
    has_missing = len(present) < rows
    booleans = [_boolean(v) for v in present]
    if all(b is not None for b in booleans):
        if len(set(booleans)) < 2 and not has_missing:
            return None
        return Column(name, Kind.BOOLEAN, has_missing=has_missing)
    numbers = [_number(v) for v in present]
    known = [n for n in numbers if n is not None]
    if len(known) >= 0.95 * len(present):
        if len(set(known)) < 2 and not has_missing:
            return None
        return Column(name, Kind.NUMERIC, has_missing=has_missing, fill=float(np.median(known)))
    counts = Counter(_text(v) for v in present)
    if len(counts) > max_unique_share * rows and len(counts) > 20:
        return None  # an identifier: one value per lead
    floor = max(5.0, min_level_share * rows)
    kept = [level for level, n in counts.most_common(max_levels) if n >= floor]
    has_other = len(kept) < len(counts)
    if len(kept) + has_other + has_missing < 2:
        return None
    return Column(name, Kind.CATEGORICAL, levels=tuple(sorted(kept)), has_other=has_other, has_missing=has_missing)


def featurizer_fit(
    leads: Sequence[LeadFacts],
    *,
    excluded: Iterable[str] = (),
    min_level_share: float = 0.005,
    max_levels: int = 40,
    max_unique_share: float = 0.5,
) -> FeatureSpec:
    """Learn the columns, their kinds and levels from the training leads, leaving out
    ``excluded`` columns (and activity types named ``activity:<type>``)."""
    excluded = tuple(excluded)
    names = sorted({name for lead in leads for name in lead.values if name not in IDENTITY_FIELDS})
    columns: list[Column] = []
    for name in names:
        if is_excluded(name, excluded):
            continue
        column = _infer(
            name,
            [lead.values.get(name) for lead in leads],
            rows=len(leads),
            min_level_share=min_level_share,
            max_levels=max_levels,
            max_unique_share=max_unique_share,
        )
        if column is not None:
            columns.append(column)
    types = sorted(
        {t for lead in leads for t, counts in lead.activity.items() if counts and counts[-1]}
        - {t for t in {t for lead in leads for t in lead.activity} if is_excluded(f"activity:{t}", excluded)}
    )
    scores = tuple(s for s in (FIT_SCORE, ENGAGEMENT_SCORE) if not is_excluded(s, excluded))
    features: list[Feature] = []
    for column in columns:
        shown = label(column.name)
        if column.kind is Kind.CATEGORICAL:
            features.extend(Feature(f"{shown} = {level}", column.name) for level in column.levels)
            if column.has_other:
                features.append(Feature(f"{shown} = (other)", column.name))
        else:
            features.append(Feature(shown, column.name))
        if column.has_missing:
            features.append(Feature(f"{shown} missing", column.name))
    for t in types:
        features.extend(Feature(f"{t} {_window_name(w)}", f"activity:{t}") for w in WINDOWS)
    features.extend(Feature(s, s) for s in scores)
    return FeatureSpec(tuple(columns), tuple(types), scores, excluded, tuple(features))


def _window_name(window: int | None) -> str:
    return f"last {window} days" if window else "in all"


def _hashable(value: object) -> object:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _parsed(column: Column, value: object, index: Mapping[str, int], other: int) -> tuple[float, float, int]:
    if _missing(value):
        return (column.fill, 1.0, -1)
    if column.kind is Kind.CATEGORICAL:
        return (0.0, 0.0, index.get(_text(value), other))
    if column.kind is Kind.BOOLEAN:
        return (1.0 if _boolean(value) else 0.0, 0.0, -1)
    number = _number(value)
    return (column.fill if number is None else number, 0.0, -1)


# Types whose values may be equal across them (1 == 1.0 == True) but read differently.
_NUMBER_TYPES = frozenset({bool, int, float})


def _column_values(column: Column, raw: Sequence[object]) -> Matrix:
    """Each value as (number, missing flag, level index), an array of shape (n, 3): each
    distinct value is parsed once, since a column holds few of them (levels, small counts),
    and spread to the leads by one array lookup."""
    index = {level: i for i, level in enumerate(column.levels)}
    other = len(column.levels) if column.has_other else -1
    keyed: Iterable[object] = raw
    types = set(map(type, raw))
    if len(types & _NUMBER_TYPES) > 1:
        keyed = list(zip(map(type, raw), raw, strict=True))  # told apart by type too: 1 and True read differently
    by_text = False
    try:
        distinct = dict.fromkeys(keyed, 0)
    except TypeError:  # a list or a mapping among the values: keyed by their text
        keyed = [(type(v), _hashable(v)) for v in raw]
        distinct = dict.fromkeys(keyed, 0)
        by_text = True
    paired = keyed is not raw
    values: list[object] = []
    for k, key in enumerate(distinct):
        distinct[key] = k
        values.append(key[1] if paired else key)  # type: ignore[index]
    if by_text:  # parse the values themselves (a list, a mapping), not their text
        for key, v in zip(keyed, raw, strict=True):
            values[distinct[key]] = v
    table = np.array([_parsed(column, v, index, other) for v in values], dtype=np.float64).reshape(len(values), 3)
    keys = np.fromiter(map(distinct.__getitem__, keyed), dtype=np.int64, count=len(raw))
    return table[keys]


def featurize(spec: FeatureSpec, leads: Sequence[LeadFacts]) -> Matrix:
    """The leads as rows of numbers, in the order of ``spec.features``: the whole batch at
    once, one column at a time (no work per lead and feature in Python)."""
    n = len(leads)
    out = np.zeros((n, len(spec.features)), dtype=np.float64)
    rows = np.arange(n)
    names = [column.name for column in spec.columns]
    # Read lead by lead (each lead's values once, while they are in the cache), then turned into columns.
    per_lead = [list(map(lead.values.get, names)) for lead in leads]
    by_column = list(zip(*per_lead, strict=True)) if n else [()] * len(names)
    at = 0
    for column, raw in zip(spec.columns, by_column, strict=True):
        parsed = _column_values(column, raw)
        if column.kind is Kind.CATEGORICAL:
            level = parsed[:, 2].astype(np.int64)
            hit = level >= 0
            out[rows[hit], at + level[hit]] = 1.0
            at += len(column.levels) + column.has_other
        else:
            out[:, at] = parsed[:, 0]
            at += 1
        if column.has_missing:
            out[:, at] = parsed[:, 1]
            at += 1
    # Activity: each lead holds only the few types it did, so one pass over what they hold.
    first = {t: at + i * len(WINDOWS) for i, t in enumerate(spec.activity_types)}
    at += len(first) * len(WINDOWS)
    hits = [
        (row, first[t], counts)
        for row, lead in enumerate(leads)
        for t, counts in lead.activity.items()
        if counts and t in first
    ]
    for row, start, counts in hits:
        window = counts[: len(WINDOWS)]
        out[row, start : start + len(window)] = window
    for s in spec.scores:
        out[:, at] = [lead.fit_score if s == FIT_SCORE else lead.engagement_score for lead in leads]
        at += 1
    assert at == len(spec.features)
    return out


def lead_value_text(spec: FeatureSpec, lead: LeadFacts, column: str) -> str:
    """What the lead has in ``column``, for a reason's words."""
    if column.startswith("activity:"):
        counts = lead.activity.get(column.removeprefix("activity:")) or [0]
        return f"{counts[-1]} in all"
    if column == FIT_SCORE:
        return str(lead.fit_score)
    if column == ENGAGEMENT_SCORE:
        return str(lead.engagement_score)
    value = lead.values.get(column)
    return "missing" if _missing(value) else _text(value)
