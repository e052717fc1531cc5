"""When a lead's probability crosses a watched value: pure, with hysteresis as score
groups have, so a probability hovering at a border does not fire again and again."""

from __future__ import annotations

from collections.abc import Iterable


def above_after(above: Iterable[int], probability: float, watched: Iterable[int], *, hysteresis: int) -> set[int]:
    """The watched percents a lead with ``probability`` is above: it rises above ``p`` on
    reaching it, and falls below only under ``p - hysteresis``."""
    was = set(above)
    percent = probability * 100.0
    now: set[int] = set()
    for p in watched:
        if percent >= p or (p in was and percent >= p - hysteresis):
            now.add(p)
    return now


def crossings(before: Iterable[int], after: Iterable[int]) -> list[tuple[int, bool]]:
    """(percent, rose) for each watched value crossed, rising ones first, in order."""
    b, a = set(before), set(after)
    return [(p, True) for p in sorted(a - b)] + [(p, False) for p in sorted(b - a, reverse=True)]
