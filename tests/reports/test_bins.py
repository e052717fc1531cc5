"""Histogram bins: nice widths, at most 20 bins, negative scores included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.bins import MAX_BINS, Bins, bins_for


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 0, Bins(0, 1, 1)),
        (0, 19, Bins(0, 1, 20)),
        (0, 20, Bins(0, 2, 11)),
        (5, 70, Bins(5, 5, 14)),
        (-5, 120, Bins(-10, 10, 14)),
        (-3, 3, Bins(-3, 1, 7)),
        (0, 1_000_000, Bins(0, 100_000, 11)),
    ],
)
def test_the_narrowest_nice_width_that_fits(low: int, high: int, expected: Bins) -> None:
    assert bins_for(low, high) == expected


def test_labels_say_which_scores_a_bin_holds() -> None:
    bins = bins_for(-5, 120)
    assert [bins.label(i) for i in (0, 1, 13)] == ["-10 to -1", "0 to 9", "120 to 129"]
    assert bins_for(0, 5).label(3) == "3"


def test_a_range_upside_down_is_refused() -> None:
    with pytest.raises(ValueError, match=r"high \(1\) is below low \(2\)"):
        bins_for(2, 1)


@given(st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**32))
def test_every_score_falls_in_one_of_at_most_20_bins(low: int, span: int) -> None:
    high = low + span
    bins = bins_for(low, high)
    assert 1 <= bins.count <= MAX_BINS
    for score in (low, high, low + span // 2):
        index = (score - bins.start) // bins.width
        assert 0 <= index < bins.count
        assert bins.low(index) <= score < bins.low(index) + bins.width
