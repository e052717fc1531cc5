"""Engagement decay: pure maths, no database.

A policy gives each quiet lead a *target* engagement for a day; the nightly
job writes the difference to the ledger (cause: decay). Targets are computed
from the lead's *base* — its engagement right after its last non-decay change
— and the whole days since then, never from yesterday's decayed value. So:

- running twice the same day changes nothing (the target is the same);
- after missed nights one run applies exactly the missing days;
- a half-life is exact over split periods (no compounding of rounding).

Decay only ever lowers engagement, never below the floor (a score already
under the floor stays where it is). Fit never decays.

Any date and any value a row may hold gives an answer, never an error: a base
from the year 1 or in the future, a base, floor or points per day at the ends
of 32 bits, a half-life of a second. Results are exact wherever they can be
written down (see :data:`HALF_LIVES_MAX` and :data:`DELTA_MIN`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum

from scoring import rules
from scoring.event_types import gettext_noop

# Past this many half-lives 0.5 ** n is below 1e-300: any engagement (32 bits) keeps
# 0 points to the nearest point, exactly as it would without the cap, and the
# power stays a normal float (past ~1075 it is 0, which PostgreSQL calls an underflow).
HALF_LIVES_MAX = 1000.0

# A ledger row holds a 32-bit change: decay takes at most this much in one run (the
# next run takes the rest), so no engagement and floor, however far apart, fail it.
DELTA_MIN = -(2**31)


class Kind(StrEnum):
    NONE = "none"
    LINEAR = "linear"  # points_per_day for each day past after_days without activity
    HALF_LIFE = "half_life"  # engagement x 0.5 ** (days / half_life_days)
    WINDOW = "window"  # only what happened in the last window_days counts


@dataclass(frozen=True)
class Policy:
    kind: Kind = Kind.NONE
    points_per_day: int = 0
    after_days: int = 0
    half_life_days: float = 0
    window_days: int = 0
    floor: int = 0


def check_policy(policy: Policy, *, words: rules.Words = rules.ENGLISH) -> dict[str, str]:
    """Problems by field name; empty when the policy can be used."""
    phrase = words.phrase
    errors: dict[str, str] = {}
    if policy.after_days < 0:
        errors["after_days"] = phrase(gettext_noop("must be 0 or more"))
    if policy.kind is Kind.LINEAR and policy.points_per_day <= 0:
        errors["points_per_day"] = phrase(gettext_noop("a linear decay needs a positive number of points per day"))
    if policy.kind is Kind.HALF_LIFE and not (policy.half_life_days > 0 and math.isfinite(policy.half_life_days)):
        errors["half_life_days"] = phrase(gettext_noop("a half-life decay needs a positive half-life in days"))
    if policy.kind is Kind.WINDOW and policy.window_days <= 0:
        errors["window_days"] = phrase(gettext_noop("a time-window decay needs a positive number of days"))
    return errors


def quiet_days(base_on: date, today: date) -> int:
    """Whole days since the lead's base day (0 the same day)."""
    return max(0, (today - base_on).days)


def days_before(moment: datetime, days: int) -> datetime | None:
    """``moment`` less ``days`` days, or None when that is before the year 1 (a
    policy may count more days than the calendar holds: after_days, window_days)."""
    try:
        return moment - timedelta(days=days)
    except OverflowError:
        return None


def quiet_days_since(base_at: datetime, today: date, tz: tzinfo) -> int:
    """:func:`quiet_days` from the day of ``base_at`` in ``tz``. Exact even within a
    day of the calendar's ends, where that day is not a Python date (the year 1
    west of UTC is still the year 0 there; the year 9999 east is already 10000)."""
    try:
        return quiet_days(base_at.astimezone(tz).date(), today)
    except OverflowError:
        utc_day = base_at.astimezone(UTC).date()
        one_day_out = 1 if utc_day.year == 1 else -1
        return max(0, (today - utc_day).days + one_day_out)


def target(policy: Policy, *, base: int, days: int) -> int:
    """Engagement a lead with ``base`` points should have ``days`` after its base day
    (linear and half-life policies; for a window policy see :func:`window_target`)."""
    if base <= policy.floor:
        return base
    if policy.kind is Kind.LINEAR:
        decaying = max(0, days - policy.after_days)
        return max(policy.floor, base - policy.points_per_day * decaying)
    if policy.kind is Kind.HALF_LIFE:
        decaying = max(0, days - policy.after_days)
        # The same float operations as the SQL path, so both give the same points.
        half_lives = min(float(decaying), HALF_LIVES_MAX * policy.half_life_days) / policy.half_life_days
        kept: float = (base - policy.floor) * math.pow(0.5, half_lives)
        return max(policy.floor, policy.floor + math.floor(kept + 0.5))
    return base


def window_target(policy: Policy, *, recent: int) -> int:
    """A window policy's target: the engagement points from the last
    ``window_days`` (``recent``), never below the floor."""
    return max(policy.floor, recent)


def decay_delta(policy: Policy, *, current: int, goal: int) -> int:
    """The (zero or negative) change that takes ``current`` down to ``goal``.

    Never raises a score and never takes it below the floor.
    """
    if policy.kind is Kind.NONE or current <= policy.floor:
        return 0
    return max(DELTA_MIN, min(0, max(goal, policy.floor) - current))
