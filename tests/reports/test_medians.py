"""The exact median of durations kept as counts per whole day (reports.medians): the
counts name the middle day(s), whose durations alone give the median of them all."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports import medians

durations = st.lists(st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=40)), min_size=1, max_size=60)


@given(durations)
def test_the_median_read_from_the_days_and_the_middle_days_durations_is_the_median(
    found: list[timedelta],
) -> None:
    by_day: dict[int, int] = {}
    for duration in found:
        by_day[medians.day_of(duration)] = by_day.get(medians.day_of(duration), 0) + 1
    middle = medians.middle_of(by_day)
    assert middle is not None
    assert middle.count == len(found)
    read = [d for d in found if middle.first <= medians.day_of(d) <= middle.last]
    exact = statistics.median([medians.microseconds(d) for d in found]) / medians.MICROSECONDS_A_DAY
    assert medians.median_days(middle, read) == pytest.approx(exact, rel=1e-15, abs=1e-15)


def test_no_durations_have_no_median() -> None:
    assert medians.middle_of({}) is None
    assert medians.middle_of({3: 0}) is None
