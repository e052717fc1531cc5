"""Step timing and send windows: pure, no database."""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture import timing
from nurture.timing import Window

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

# Zones with daylight saving, odd offsets (Nepal +5:45, Chatham +12:45, Lord
# Howe's 30-minute change) and the date line.
ZONES = [
    "UTC",
    "Europe/Madrid",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "America/Costa_Rica",
]


def _window(start: int, length: int, days: set[int]) -> Window:
    """``length`` hours from ``start`` (24: all day), wrapping past midnight."""
    if length == 24:
        return Window(0, 24, frozenset(days))
    return Window(start, (start + length) % 24 or 24, frozenset(days))


windows = st.builds(_window, st.integers(0, 23), st.integers(1, 24), st.sets(st.integers(0, 6), min_size=1))

dues = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))


def quarter_hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC instant on a quarter hour strictly between ``start`` and ``end``.

    Real zones' offsets are whole quarter hours and change on one, so local
    hour and weekday are constant between two consecutive quarter hours.
    """
    first = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
    result = []
    t = first
    while t < end:
        result.append(t)
        t += timedelta(minutes=15)
    return result


def check_next_send_time(due: datetime, window: Window, zone: str) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    result = timing.next_send_time(due, window, tz)

    assert result >= due
    assert window.allows(result.astimezone(tz)), "inside the window"
    if result > due:
        assert not window.allows(due.astimezone(tz))
        earlier = [t for t in quarter_hours_between(due, result) if window.allows(t.astimezone(tz))]
        assert earlier == [], "minimal: no earlier instant is inside the window"
    # A window open once a week opens within 8 days; within 15 when a clock change skips
    # all of its hours that week (Sunday 02:00-03:00 on a spring-forward night in Madrid).
    assert result - due <= timedelta(days=15), "a window open once a week opens within 15 days"


@settings(max_examples=300, deadline=None)
@given(due=dues, window=windows, zone=st.sampled_from(ZONES))
def test_next_send_time_is_the_earliest_allowed_instant_at_or_after_due(
    due: datetime, window: Window, zone: str
) -> None:
    check_next_send_time(due, window, zone)


def _offset_changes(zone: str, years: range) -> list[datetime]:
    """Instants (to the hour) around which ``zone`` changes its UTC offset."""
    tz = zoneinfo.ZoneInfo(zone)
    t = datetime(years.start, 1, 1, tzinfo=UTC)
    end = datetime(years.stop, 1, 1, tzinfo=UTC)
    changes, offset = [], t.astimezone(tz).utcoffset()
    while t < end:
        t += timedelta(hours=1)
        now = t.astimezone(tz).utcoffset()
        if now != offset:
            changes.append(t)
            offset = now
    return changes


DST_CHANGES = [(zone, t) for zone in ZONES for t in _offset_changes(zone, range(2026, 2028))]


@settings(max_examples=300, deadline=None)
@given(
    change=st.sampled_from(DST_CHANGES),
    shift=st.timedeltas(min_value=timedelta(hours=-30), max_value=timedelta(hours=6)),
    window=windows,
)
def test_next_send_time_holds_across_daylight_saving_changes(
    change: tuple[str, datetime], shift: timedelta, window: Window
) -> None:
    zone, instant = change
    check_next_send_time(instant + shift, window, zone)


def test_a_window_opened_by_a_change_at_a_quarter_hour_opens_at_the_change() -> None:
    """Chatham's clocks jump from 02:45 to 03:45 (its offset +12:45 to +13:45): a window of
    03:00-04:00 on that Sunday opens at the jump, 03:45, not a week later."""
    chatham = zoneinfo.ZoneInfo("Pacific/Chatham")
    window = Window(3, 4, frozenset({6}))
    due = datetime(2026, 9, 25, 14, 0, tzinfo=UTC)  # Saturday 02:45 there
    sent = timing.next_send_time(due, window, chatham)
    assert sent == datetime(2026, 9, 26, 14, 0, tzinfo=UTC)
    assert (sent.astimezone(chatham).weekday(), sent.astimezone(chatham).time()) == (6, time(3, 45))


def test_a_window_whose_hours_a_clock_change_skips_opens_the_next_week() -> None:
    """Sunday 02:00-03:00 does not happen on Madrid's spring-forward night: the next one is
    a week later (not at 03:00, outside the window), more than 8 days after Friday night."""
    window = Window(2, 3, frozenset({6}))
    due = datetime(2027, 3, 26, 23, 45, tzinfo=UTC)  # Saturday 00:45 in Madrid
    assert timing.next_send_time(due, window, MADRID) == datetime(2027, 4, 4, 0, 0, tzinfo=UTC)  # 02:00 CEST


def test_inside_the_window_sends_at_once() -> None:
    due = datetime(2026, 11, 6, 16, 30, tzinfo=UTC)  # Friday 17:30 in Madrid
    window = Window(9, 18, frozenset(range(5)))
    assert timing.next_send_time(due, window, MADRID) == due


def test_after_hours_on_friday_waits_for_monday_morning_in_the_leads_zone() -> None:
    due = datetime(2026, 11, 6, 17, 0, tzinfo=UTC)  # Friday 18:00 in Madrid
    window = Window(9, 18, frozenset(range(5)))
    assert timing.next_send_time(due, window, MADRID) == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)  # Mon 09:00 CET
    # The same instant is Friday 12:00 in New York: inside.
    assert timing.next_send_time(due, window, NEW_YORK) == due


def test_a_window_may_wrap_past_midnight() -> None:
    window = Window(22, 6)
    assert window.allows_hour(23)
    assert window.allows_hour(0)
    assert not window.allows_hour(6)
    due = datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert timing.next_send_time(due, window, zoneinfo.ZoneInfo("UTC")) == datetime(2026, 11, 2, 22, tzinfo=UTC)


def test_an_hour_skipped_by_daylight_saving_opens_the_window_at_the_change() -> None:
    # 8 March 2026, New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    due = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    result = timing.next_send_time(due, Window(2, 4), NEW_YORK)
    assert result == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert result.astimezone(NEW_YORK).hour == 3


def test_an_hour_that_happens_twice_opens_at_its_first_reading() -> None:
    # 1 November 2026, New York: 02:00 EDT goes back to 01:00 EST.
    due = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    result = timing.next_send_time(due, Window(1, 2), NEW_YORK)
    assert result == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT, the first of the two


def test_the_time_zone_is_the_leads_else_the_accounts_else_the_sites() -> None:
    assert timing.time_zone("Europe/Madrid", "America/New_York", default="UTC").key == "Europe/Madrid"
    assert timing.time_zone("", "America/New_York", default="UTC").key == "America/New_York"
    assert timing.time_zone(None, "", default="Asia/Tokyo").key == "Asia/Tokyo"
    assert timing.time_zone("Not/AZone", "America", default="UTC").key == "UTC"


def test_a_step_waits_after_the_previous_one() -> None:
    sent = datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert timing.step_due(previous=sent, wait=timedelta(days=3, hours=2)) == datetime(2026, 11, 5, 11, tzinfo=UTC)


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    base, cap = timedelta(minutes=5), timedelta(hours=6)
    delays = [timing.retry_at(now=now, attempts=n, base=base, cap=cap) - now for n in range(1, 10)]
    assert delays[:4] == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert delays[-1] == cap
    assert all(a <= b for a, b in itertools.pairwise(delays))


@pytest.mark.parametrize(
    ("start", "end", "weekdays", "field"),
    [
        (24, 24, {0}, "start_hour"),
        (0, 0, {0}, "end_hour"),
        (9, 9, {0}, "end_hour"),
        (9, 17, set(), "weekdays"),
        (9, 17, {7}, "weekdays"),
    ],
)
def test_invalid_windows_say_which_field(start: int, end: int, weekdays: set[int], field: str) -> None:
    assert field in timing.window_errors(start, end, weekdays)
    with pytest.raises(ValueError, match=field):
        Window(start, end, frozenset(weekdays))
