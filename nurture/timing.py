"""When a nurture step may go out: waits, send windows in the lead's time zone, retries.

Pure: no ORM, the clock is passed in. A send window is a range of local hours
(``start_hour`` up to, not including, ``end_hour``; it may wrap past midnight,
e.g. 22 to 6) on some weekdays, evaluated on the wall clock of the lead's time
zone. :func:`next_send_time` answers "the earliest instant at or after this
due time that is inside the window".
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from scoring.event_types import gettext_noop

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
ALL_WEEKDAYS = frozenset(range(7))

# The longest wait a step may have (ten years, in days or in hours): a longer one is no
# plan, and one near the integer column's limit takes a due time past the calendar's end.
WAIT_DAYS_MAX = 3650
WAIT_HOURS_MAX = WAIT_DAYS_MAX * 24

# When a step whose wait was stored past those bounds (before they existed) is due: never
# in practice, yet a time the database holds and the send window's search can step past.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

# Far enough to find a window that exists at most once a week even when a
# daylight-saving change removes it on the first candidate day.
_SEARCH_DAYS = 16


class EmptyWindowError(ValueError):
    """The window allows no instant at all (no weekday, or hours that never occur)."""


@dataclass(frozen=True)
class Window:
    """Local hours ``[start_hour, end_hour)`` on ``weekdays`` (0 = Monday).

    ``start_hour`` is 0-23 and ``end_hour`` 1-24; ``start_hour > end_hour``
    wraps past midnight (22 to 6 is 22:00-05:59), and the weekday is that of
    the local date at the instant (so 23:00 Friday is a Friday hour).
    """

    start_hour: int = 0
    end_hour: int = 24
    weekdays: frozenset[int] = field(default=ALL_WEEKDAYS)

    def __post_init__(self) -> None:
        errors = window_errors(self.start_hour, self.end_hour, self.weekdays)
        if errors:
            raise ValueError("; ".join(f"{name}: {message}" for name, message in errors.items()))

    def allows_hour(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def allows(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` (already in the lead's zone) is inside."""
        return local.weekday() in self.weekdays and self.allows_hour(local.hour)


def window_errors(start_hour: int, end_hour: int, weekdays: frozenset[int] | set[int]) -> dict[str, str]:
    """What is wrong with a window's settings, by field; empty when it is valid."""
    errors: dict[str, str] = {}
    if not 0 <= start_hour <= 23:
        errors["start_hour"] = gettext_noop("must be an hour from 0 to 23.")
    if not 1 <= end_hour <= 24:
        errors["end_hour"] = gettext_noop("must be an hour from 1 to 24 (24 = midnight at the end of the day).")
    if not errors and start_hour == end_hour:
        errors["end_hour"] = gettext_noop("must differ from the start hour (use 0 to 24 for any time of day).")
    if not weekdays:
        errors["weekdays"] = gettext_noop("choose at least one day.")
    elif not set(weekdays) <= ALL_WEEKDAYS:
        errors["weekdays"] = gettext_noop("days are 0 (Monday) to 6 (Sunday).")
    return errors


def time_zone(*names: str | None, default: str = "UTC") -> zoneinfo.ZoneInfo:
    """The first of ``names`` that is a known IANA zone (the lead's, then the account's), else ``default``."""
    for name in (*names, default):
        if not name:
            continue
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return zoneinfo.ZoneInfo("UTC")


def next_send_time(due: datetime, window: Window, tz: tzinfo) -> datetime:
    """The earliest instant ``t >= due`` whose wall-clock time in ``tz`` is inside ``window``.

    Returned in UTC. Where the window opens at an hour that a daylight-saving
    change skips, it opens at the change (02:00 that never happens on the
    spring-forward night means 03:00). Candidates are ``due`` itself and every
    local hour at which an allowed hour starts (both readings of an hour that
    happens twice), so the answer is the smallest one that is allowed: local
    hour and weekday only change at a local hour boundary or at a zone's
    offset change, so each day's offset changes are candidates too (most zones
    change at a whole local hour; Chatham's clocks jump from 02:45 to 03:45).

    Raises :class:`EmptyWindowError` when no instant in the next two weeks fits.
    """
    if due.tzinfo is None:
        raise ValueError("due: give a time zone")
    if window.allows(due.astimezone(tz)):
        return due.astimezone(UTC)
    first_day = due.astimezone(tz).date()
    best: datetime | None = None
    for offset in range(-1, _SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if best is not None and _day_start(day, tz) > best:
            break
        for candidate in _openings(day, window, tz):
            if candidate > due and (best is None or candidate < best) and window.allows(candidate.astimezone(tz)):
                best = candidate
    if best is None:
        raise EmptyWindowError("the send window never opens (check its hours and weekdays)")
    return best.astimezone(UTC)


def _day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz) - timedelta(hours=3)  # margin for odd offsets


def _openings(day: date, window: Window, tz: tzinfo) -> list[datetime]:
    """Instants of ``day`` at which an allowed hour starts (previous hour not allowed, or a
    new day), and the instants around it at which the zone's offset changes."""
    start = _day_start(day, tz)
    result = _offset_changes(start, start + timedelta(hours=30), tz)
    for hour in range(24):
        if not window.allows_hour(hour):
            continue
        for fold in (0, 1):
            # fold=0 of an hour skipped by a spring-forward change reads with
            # the old offset: it lands on the change itself.
            local = datetime.combine(day, time(hour), tzinfo=tz).replace(fold=fold)
            result.append(local.astimezone(UTC))
    return result


def _offset_changes(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """The instants in ``(start, end]`` at which ``tz``'s UTC offset changes (on a whole
    second, as every zone's do), found by halving; at most one change per half day."""
    old = start.astimezone(tz).utcoffset()
    if old == end.astimezone(tz).utcoffset():
        return []
    if end - start > timedelta(hours=12):
        half = start + (end - start) / 2
        return _offset_changes(start, half, tz) + _offset_changes(half, end, tz)
    # In whole seconds since the epoch: the old offset at ``before``, the new one at ``after``.
    before, after = math.floor(start.timestamp()), math.ceil(end.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old:
            before = middle
        else:
            after = middle
    return [datetime.fromtimestamp(after, UTC)]


def wait_of(*, days: int, hours: int) -> timedelta:
    """A step's wait; the longest one Python holds when ``days`` and ``hours`` are past it."""
    try:
        return timedelta(days=days, hours=hours)
    except OverflowError:
        return timedelta.max


def step_due(*, previous: datetime, wait: timedelta) -> datetime:
    """When a step is due: ``wait`` after the previous step went out (or after enrollment, for
    the first); :data:`FAR_FUTURE` at the latest, for a wait stored past its bound."""
    try:
        return min(previous + wait, FAR_FUTURE)
    except OverflowError:
        return FAR_FUTURE


def retry_at(*, now: datetime, attempts: int, base: timedelta, cap: timedelta) -> datetime:
    """When to try a temporarily failed delivery again: ``base`` doubled per attempt made, at most ``cap``.

    ``attempts`` counts the attempts already made (1 after the first failure).
    """
    exponent = max(0, attempts - 1)
    delay = cap if exponent >= 32 else min(cap, base * (2**exponent))
    return now + delay
