"""When an interaction may have happened: pure, no database.

A time outside [EARLIEST, now + MAX_FUTURE] is a sender's bug, not history.
PostgreSQL would store even 1 BC, and then every scoring batch that reads the row
fails, so every way in (intake's doors, :func:`scoring.services.interaction_record`)
holds interactions to these bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)


def timestamp_in_range(value: datetime, *, now: datetime) -> datetime:
    """``value`` in UTC if it lies from 1970 to a day after ``now``, else ValueError saying
    which bound it passes. In UTC: Python takes offsets up to 23:59, PostgreSQL only up to
    15:59, and refused "-23:59" as a whole insert."""
    # Aware datetimes compare by their UTC instant without converting, so even
    # year 1 at +14:00 (whose UTC instant is in 1 BC) compares without overflow.
    if value < EARLIEST:
        raise ValueError("must be 1970-01-01T00:00:00Z or later")
    if value - now > MAX_FUTURE:
        raise ValueError("is more than a day in the future")
    return value.astimezone(UTC)  # within the range, so no overflow
