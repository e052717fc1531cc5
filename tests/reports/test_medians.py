"""The exact median of durations kept as counts per whole hour (reports.medians): the
counts name the middle hour(s), whose durations alone give the median of them all."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports import medians

# Any durations, and some of whole hours that many share (leads often take whole days).
durations = st.lists(
    st.one_of(
        st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=40)),
        st.integers(min_value=-2, max_value=30).map(lambda hours: timedelta(hours=hours)),
    ),
    min_size=1,
    max_size=60,
)


@given(durations)
def test_the_median_read_from_the_hours_and_the_middle_hours_durations_is_the_median(
    found: list[timedelta],
) -> None:
    by_hour: dict[int, int] = {}
    for duration in found:
        by_hour[medians.hour_of(duration)] = by_hour.get(medians.hour_of(duration), 0) + 1
    middle = medians.middle_of(by_hour)
    assert middle is not None
    assert middle.count == len(found)
    read = Counter(d for d in found if middle.first <= medians.hour_of(d) <= middle.last)
    exact = statistics.median([medians.microseconds(d) for d in found]) / medians.MICROSECONDS_A_DAY
    assert medians.median_days(middle, read) == pytest.approx(exact, rel=1e-15, abs=1e-15)


def test_no_durations_have_no_median() -> None:
    assert medians.middle_of({}) is None
    assert medians.middle_of({3: 0}) is None
