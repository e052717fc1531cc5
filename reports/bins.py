"""Histogram bins for scores: plain arithmetic, no database."""

from __future__ import annotations

from dataclasses import dataclass

# Bin widths a person reads at a glance ("40 to 49"), smallest first: 1, 2, 5, 10, 20, 25, 50…
NICE_WIDTHS = tuple(sorted({m * 10**k for k in range(11) for m in (1, 2, 5)} | {25 * 10**k for k in range(10)}))
MAX_BINS = 20


@dataclass(frozen=True)
class Bins:
    """Bins of ``width`` points from ``start``: bin i holds the scores from
    start + i * width to start + (i + 1) * width - 1."""

    start: int
    width: int
    count: int

    def low(self, index: int) -> int:
        return self.start + index * self.width

    def label(self, index: int, between: str = "{low} to {high}") -> str:
        """The bin as a person reads it: "40 to 49" (``between`` in the reader's words), or
        "40" for a bin of one score."""
        low = self.low(index)
        return str(low) if self.width == 1 else between.format(low=low, high=low + self.width - 1)


def bins_for(low: int, high: int, *, max_bins: int = MAX_BINS) -> Bins:
    """The narrowest nice width giving at most ``max_bins`` bins over [low, high], the
    first starting at a multiple of the width (at or below ``low``, negative scores
    included)."""
    if high < low:
        raise ValueError(f"high ({high}) is below low ({low})")
    for width in NICE_WIDTHS:
        start = (low // width) * width  # floor division: -3 with width 5 starts at -5
        count = (high - start) // width + 1
        if count <= max_bins:
            return Bins(start, width, count)
    width = -(-(high - low + 1) // max_bins)  # beyond the table: wide enough, not nice
    start = (low // width) * width
    return Bins(start, width, (high - start) // width + 1)
