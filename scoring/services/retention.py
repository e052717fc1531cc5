"""Years of data: the months ahead made in time, and what is older than the retention
setting compacted then dropped, a month at a time (see scoring.partitions).

What goes, and what stays instead:
- raw interactions older than the horizon: per lead, type and month, their count
  (:class:`~scoring.models.InteractionRollup`);
- ledger rows older than the horizon: one opening-balance row per lead and dimension
  (and scorecard), at the horizon, so every cached score still equals its ledger's sums.

The horizon is the first day of the month ``LEADFLOW_RETENTION_MONTHS`` months before the
current one (UTC). Rescore and replay see back to it (:func:`history_horizon`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from scoring import partitions
from scoring.models import ScoreEntry

OPENING_NOTE = "opening balance: the sum of the rows older than the months retention keeps"

# How long dropping a month may wait for its lock: past it, the night's run gives up and
# the next one tries again, rather than queue every writer behind it.
LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class RetentionResult:
    horizon: datetime | None
    interactions: int = 0  # raw interactions removed
    rollups: int = 0  # roll-up rows written or added to
    entries: int = 0  # ledger rows compacted
    openings: int = 0  # opening-balance rows written
    months: tuple[str, ...] = ()  # partitions dropped
    lock_seconds: float = 0.0  # the longest time a table was locked by a drop


def history_horizon(*, now: datetime | None = None) -> datetime | None:
    """From when on the raw history (interactions and ledger rows) is kept; None: all of it."""
    keep = settings.LEADFLOW_RETENTION_MONTHS
    if not keep:
        return None
    return partitions.month_start(partitions.month_add(partitions.month_of(now or timezone.now()), -keep))


def partitions_ahead(*, now: datetime | None = None) -> list[str]:
    """Make the months ahead of every partitioned table (PostgreSQL; none on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        return partitions.partitions_ensure(cursor, now=now or timezone.now())


def _old_months(cursor: Any, table: str, horizon: datetime) -> list[str]:
    if connection.vendor != "postgresql" or not partitions.is_partitioned(cursor, table):
        return []
    cutoff = partitions.month_of(horizon)
    return [partitions.partition_name(table, m) for m in partitions.months(cursor, table) if m < cutoff]


def _remove(cursor: Any, table: str, old: list[str], horizon: datetime) -> float | None:
    """Remove ``table``'s rows older than ``horizon``: the default partition's (or a plain
    table's) by DELETE, the old months' by DETACH and DROP. Returns when the first drop
    took the table's lock (``time.monotonic()``), held until the caller's commit; None
    if none did."""
    partitioned = connection.vendor == "postgresql" and partitions.is_partitioned(cursor, table)
    plain = partitions.default_name(table) if partitioned else table
    cursor.execute(f"DELETE FROM {plain} WHERE occurred_at < %s", [horizon])  # noqa: S608
    if old:
        # A table with foreign-key checks still pending (rows written earlier in the same
        # transaction) cannot be dropped: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    started = time.monotonic()
    for name in old:
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
        cursor.execute(f"DROP TABLE {name}")
    return started if old else None


def _held(started: float | None) -> float:
    return time.monotonic() - started if started is not None else 0.0


def _lock(cursor: Any, table: str, old: list[str]) -> None:
    """Hold off writes to the rows about to go while they are summed (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    names = [*old, partitions.default_name(table)] if partitions.is_partitioned(cursor, table) else [table]
    cursor.execute(f"LOCK TABLE {', '.join(names)} IN SHARE MODE")


def _ledger_compact(
    table: str, *, scorecard: bool, horizon: datetime, now: datetime
) -> tuple[int, int, list[str], float]:
    by = "lead_id, scorecard_id, dimension" if scorecard else "lead_id, dimension"
    with transaction.atomic(), connection.cursor() as cursor:
        old = _old_months(cursor, table, horizon)
        _lock(cursor, table, old)
        cursor.execute(f"SELECT count(*) FROM {table} WHERE occurred_at < %s", [horizon])  # noqa: S608
        (compacted,) = cursor.fetchone()
        if not compacted:
            return 0, 0, [], 0.0
        cursor.execute(
            f"INSERT INTO {table} ({by}, delta, cause, occurred_at, created_at, note)"  # noqa: S608
            f" SELECT {by}, sum(delta), %s, %s, %s, %s FROM {table} WHERE occurred_at < %s"
            f" GROUP BY {by} HAVING sum(delta) <> 0",
            [ScoreEntry.Cause.OPENING, horizon, now, OPENING_NOTE, horizon],
        )
        openings = cursor.rowcount
        started = _remove(cursor, table, old, horizon)
    return compacted, openings, old, _held(started)


def _interactions_roll_up(*, horizon: datetime) -> tuple[int, int, list[str], float]:
    table = "scoring_interaction"
    with transaction.atomic(), connection.cursor() as cursor:
        old = _old_months(cursor, table, horizon)
        _lock(cursor, table, old)
        cursor.execute(f"SELECT count(*) FROM {table} WHERE occurred_at < %s", [horizon])  # noqa: S608
        (removed,) = cursor.fetchone()
        if not removed:
            return 0, 0, [], 0.0
        month = (
            "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date"
            if connection.vendor == "postgresql"
            else "date(occurred_at, 'start of month')"
        )
        cursor.execute(
            "INSERT INTO scoring_interactionrollup (lead_id, type, month, count)"  # noqa: S608
            f" SELECT lead_id, type, {month}, count(*) FROM {table}"
            " WHERE occurred_at < %s AND lead_id IS NOT NULL GROUP BY 1, 2, 3"
            " ON CONFLICT (lead_id, type, month) DO UPDATE"
            " SET count = scoring_interactionrollup.count + excluded.count",
            [horizon],
        )
        rollups = cursor.rowcount
        started = _remove(cursor, table, old, horizon)
    return removed, rollups, old, _held(started)


def retention_apply(*, now: datetime | None = None) -> RetentionResult:
    """Compact and drop what is older than the horizon (nothing when retention is off).
    The ledgers first, then the interactions their rows name. Safe to run again: a second
    run finds nothing older than the horizon."""
    now = now or timezone.now()
    horizon = history_horizon(now=now)
    if horizon is None:
        return RetentionResult(None)
    entries = openings = 0
    dropped: list[str] = []
    held = 0.0
    for table, scorecard in (("scoring_scoreentry", False), ("scoring_scorecardentry", True)):
        n, o, old, seconds = _ledger_compact(table, scorecard=scorecard, horizon=horizon, now=now)
        entries, openings, held = entries + n, openings + o, max(held, seconds)
        dropped += old
    removed, rollups, old, seconds = _interactions_roll_up(horizon=horizon)
    return RetentionResult(horizon, removed, rollups, entries, openings, tuple(dropped + old), max(held, seconds))


def history_maintain(*, now: datetime | None = None) -> RetentionResult:
    """The nightly job: the months ahead made, then retention applied."""
    partitions_ahead(now=now)
    return retention_apply(now=now)
