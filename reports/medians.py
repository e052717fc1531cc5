"""The exact median of many durations kept as counts per whole day, plain arithmetic.

Counts add up and take away; medians do not. So the funnel's nightly roll-up keeps, for
each step, how many durations fall in each whole day (``[d, d + 1)`` days), and a
request finds the middle: the counts say which day holds the middle duration(s) and how
many come before that day; only that day's durations are then read one by one. The
result is the median of every duration, the one the middle row(s) give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

DAY = timedelta(days=1)
MICROSECONDS_A_DAY = 86_400_000_000


def day_of(duration: timedelta) -> int:
    """The whole day a duration falls in: 0 for less than a day, -1 for up to a day
    before (a stage set before the lead's creation), and so on."""
    return duration // DAY


def microseconds(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


@dataclass(frozen=True)
class Middle:
    """Where a median lies: the days from ``first`` to ``last`` (both included) hold its
    middle duration(s), ``before`` durations lie in earlier days, and ``ranks`` are the
    middle ones' places among all ``count`` (from 1)."""

    first: int
    last: int
    before: int
    ranks: tuple[int, int]
    count: int


def middle_of(by_day: Mapping[int, int]) -> Middle | None:
    """Where the median of the durations counted ``by_day`` lies (None: there are none)."""
    count = sum(by_day.values())
    if count <= 0:
        return None
    ranks = ((count + 1) // 2, (count + 2) // 2)
    seen = 0
    first: int | None = None
    before = 0
    for day in sorted(by_day):
        n = by_day[day]
        if n <= 0:
            continue
        if first is None and seen + n >= ranks[0]:
            first, before = day, seen
        if seen + n >= ranks[1]:
            assert first is not None
            return Middle(first, day, before, ranks, count)
        seen += n
    raise AssertionError("the counts add up to fewer durations than they hold")  # unreachable


def median_days(middle: Middle, durations: Iterable[timedelta]) -> float:
    """The median in days, from every duration of the days ``middle`` names: the middle
    one, or the mean of the two middle ones (their exact sum in microseconds, halved)."""
    ordered = sorted(durations)
    low, high = (ordered[rank - middle.before - 1] for rank in middle.ranks)
    return (microseconds(low) + microseconds(high)) / (2 * MICROSECONDS_A_DAY)
