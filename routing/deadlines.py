"""Sales' feedback deadline: a team promises an outcome on each lead it is handed within
a number of days. Pure: plain values in, the clock passed in.

The deadline is the hand-off (entering the queue) plus the team's days. A hand-off with
no feedback by then is overdue from the moment after it, and stays overdue until sales
gives one; its days overdue count every day begun past the deadline (one second past
it is 1 day overdue; 24 hours and one second past it, 2)."""

from __future__ import annotations

from datetime import datetime, timedelta

DAY = timedelta(days=1)


def sla_overdue_since(*, now: datetime, hours: int) -> datetime | None:
    """A queue item that entered at or before this is past an SLA of ``hours``; None when
    that is before the calendar's start, so nothing is (an SLA stored before its bound)."""
    try:
        return now - timedelta(hours=hours)
    except OverflowError:
        return None


def feedback_deadline(*, entered_at: datetime, days: int) -> datetime:
    return entered_at + days * DAY


def feedback_days_overdue(*, entered_at: datetime, days: int | None, answered: bool, now: datetime) -> int:
    """How many days (begun) past its deadline a hand-off is without feedback; 0: not
    overdue (the team has no deadline, sales answered, or the deadline is not past)."""
    if days is None or answered:
        return 0
    late = now - feedback_deadline(entered_at=entered_at, days=days)
    if late <= timedelta(0):
        return 0
    whole, rest = divmod(late, DAY)
    return int(whole) + (1 if rest else 0)
