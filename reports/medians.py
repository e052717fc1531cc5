"""The exact median of many durations kept as counts per whole hour, plain arithmetic.

Counts add up and take away; medians do not. So the funnel's nightly roll-up keeps, for
each step, how many durations fall in each whole hour (``[h, h + 1)`` hours), and a
request finds the middle: the counts say which hour holds the middle duration(s) and how
many come before that hour; only that hour's durations are then read, counted by value
(many leads take the same time). The result is the median of every duration, the one the
middle row(s) give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

HOUR = timedelta(hours=1)
MICROSECONDS_A_DAY = 86_400_000_000


def hour_of(duration: timedelta) -> int:
    """The whole hour a duration falls in: 0 for less than an hour, -1 for up to an hour
    before (a stage set before the lead's creation), and so on."""
    return duration // HOUR


def microseconds(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


@dataclass(frozen=True)
class Middle:
    """Where a median lies: the hours from ``first`` to ``last`` (both included) hold its
    middle duration(s), ``before`` durations lie in earlier hours, and ``ranks`` are the
    middle ones' places among all ``count`` (from 1)."""

    first: int
    last: int
    before: int
    ranks: tuple[int, int]
    count: int


def middle_of(by_hour: Mapping[int, int]) -> Middle | None:
    """Where the median of the durations counted ``by_hour`` lies (None: there are none)."""
    count = sum(by_hour.values())
    if count <= 0:
        return None
    ranks = ((count + 1) // 2, (count + 2) // 2)
    seen = 0
    first: int | None = None
    before = 0
    for hour in sorted(by_hour):
        n = by_hour[hour]
        if n <= 0:
            continue
        if first is None and seen + n >= ranks[0]:
            first, before = hour, seen
        if seen + n >= ranks[1]:
            assert first is not None
            return Middle(first, hour, before, ranks, count)
        seen += n
    raise AssertionError("the counts add up to fewer durations than they hold")  # unreachable


def median_days(middle: Middle, durations: Mapping[timedelta, int]) -> float:
    """The median in days, from every duration of the hours ``middle`` names, counted by
    value: the middle one, or the mean of the two middle ones (their exact sum in
    microseconds, halved)."""
    found: list[timedelta] = []
    seen = middle.before
    for duration in sorted(durations):
        n = durations[duration]
        found.extend(duration for rank in middle.ranks if seen < rank <= seen + n)
        seen += n
    low, high = found
    return (microseconds(low) + microseconds(high)) / (2 * MICROSECONDS_A_DAY)
