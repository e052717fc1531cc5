"""Years of data: the months ahead made in time, and what is older than the retention
setting compacted then dropped, a month at a time (see scoring.partitions).

What goes, and what stays instead:
- raw interactions older than the horizon: per lead, type and month, their count
  (:class:`~scoring.models.InteractionRollup`);
- ledger rows older than the horizon: one opening-balance row per lead and dimension
  (and scorecard), at the horizon, so every cached score still equals its ledger's sums;
  and what caps still need from the awards among them: per lead and rule, how many and
  their points, and those a cap's window can still reach one by one
  (:class:`~scoring.models.AwardRollup`, read by :func:`award_rollups`).

Several months to catch up (retention first turned on over years of data) go oldest
first, each month in transactions of its own: a table is locked for one month at a time,
and a run stopped halfway leaves every month it finished done (the next run goes on).

The horizon is the first day of the month ``LEADFLOW_RETENTION_MONTHS`` months before the
current one (UTC). Rescore and replay see back to it (:func:`history_horizon`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from scoring import bulk, decay, partitions
from scoring import rules as pure
from scoring.models import AwardRollup, ScoreEntry, ScoringRule

logger = logging.getLogger(__name__)

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
    orphans: int = 0  # interactions removed uncounted: they named a lead that is gone
    unscored: int = 0  # interactions removed while still waiting to be scored


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


# Each award's net points (its award, revisions and rescores: rows of one interaction and
# rule share its time), those not 0, among a ledger's rows before a moment.
_NET_AWARDS = (
    "SELECT lead_id, rule_id, interaction_id, max(occurred_at) AS at, sum(delta) AS net FROM {table}"
    " WHERE occurred_at < %s AND rule_id IS NOT NULL AND interaction_id IS NOT NULL{also}"
    " GROUP BY lead_id, rule_id, interaction_id HAVING sum(delta) <> 0"
)


def _windows() -> dict[int, list[int]]:
    """The capped rules with a window, by the window's days."""
    rules = (
        ScoringRule._base_manager.filter(
            Q(cap_count__isnull=False) | Q(cap_points__isnull=False), cap_window_days__isnull=False
        )
        .order_by("pk")
        .values_list("pk", "cap_window_days")
    )
    by_days: dict[int, list[int]] = defaultdict(list)
    for pk, days in rules:
        if days:
            by_days[days].append(pk)
    return by_days


def _awards_roll_up(
    cursor: Any, table: str, *, before: datetime, horizon: datetime, windows: dict[int, list[int]]
) -> None:
    """Add the awards among ``table``'s rows older than ``before`` to the roll-ups caps read:
    all of them per (lead, rule); one by one those less than their rule's window before
    the horizon."""
    net = _NET_AWARDS.format(table=table, also="")
    cursor.execute(
        "INSERT INTO scoring_awardrollup (lead_id, rule_id, whole, occurred_at, awards, points)"  # noqa: S608
        f" SELECT lead_id, rule_id, %s, max(at), count(*), sum(abs(net)) FROM ({net}) a"
        " GROUP BY lead_id, rule_id"
        ' ON CONFLICT (lead_id, rule_id) WHERE "whole" DO UPDATE SET'
        " awards = scoring_awardrollup.awards + excluded.awards,"
        " points = scoring_awardrollup.points + excluded.points,"
        " occurred_at = CASE WHEN excluded.occurred_at > scoring_awardrollup.occurred_at"
        " THEN excluded.occurred_at ELSE scoring_awardrollup.occurred_at END",
        [True, before],
    )
    for days, rule_ids in windows.items():
        # A window stored past its bound reaches back before the calendar: every award.
        since = decay.days_before(horizon, days) or datetime.min.replace(tzinfo=UTC)
        if since >= before:
            continue
        which = f" AND occurred_at >= %s AND rule_id IN ({', '.join(['%s'] * len(rule_ids))})"
        net = _NET_AWARDS.format(table=table, also=which)
        cursor.execute(
            "INSERT INTO scoring_awardrollup (lead_id, rule_id, whole, occurred_at, awards, points)"  # noqa: S608
            f" SELECT lead_id, rule_id, %s, at, count(*), sum(abs(net)) FROM ({net}) a"
            " GROUP BY lead_id, rule_id, at"
            ' ON CONFLICT (lead_id, rule_id, occurred_at) WHERE NOT "whole" DO UPDATE SET'
            " awards = scoring_awardrollup.awards + excluded.awards,"
            " points = scoring_awardrollup.points + excluded.points",
            [False, before, since, *rule_ids],
        )


def _awards_prune(*, horizon: datetime, windows: dict[int, list[int]]) -> None:
    """Drop the awards kept one by one that no window reaches any more: those of rules
    with no window now, and those a window or more before the horizon."""
    windowed = [pk for rule_ids in windows.values() for pk in rule_ids]
    with transaction.atomic():
        AwardRollup.objects.filter(whole=False).exclude(rule_id__in=windowed).delete()
        for days, rule_ids in windows.items():
            if (reach := decay.days_before(horizon, days)) is not None:
                AwardRollup.objects.filter(whole=False, rule_id__in=rule_ids, occurred_at__lt=reach).delete()


def award_rollups(
    *, lead_ids: Sequence[int], rules: Iterable[pure.Rule]
) -> defaultdict[tuple[int, int], list[pure.Award]]:
    """What capped rules gave these leads for the interactions whose ledger rows retention
    compacted, by (lead, rule), as awards (:class:`scoring.rules.Award`, interaction 0):
    for a cap with no window, all of them as one; for one with a window, those it can
    still reach, by moment. Empty until retention compacts awards."""
    whole: list[int] = []
    moments: list[int] = []
    for rule in rules:
        if rule.cap is not None:
            (whole if rule.cap.window is None else moments).append(rule.id)
    found: defaultdict[tuple[int, int], list[pure.Award]] = defaultdict(list)
    if not whole and not moments:
        return found
    rows = AwardRollup.objects.filter(
        Q(whole=True, rule_id__in=whole) | Q(whole=False, rule_id__in=moments), bulk.ids_in("lead_id", lead_ids)
    ).values_list("lead_id", "rule_id", "occurred_at", "points", "awards")
    for lead_id, rule_id, occurred_at, points, awards in rows:
        found[(lead_id, rule_id)].append(pure.Award(lead_id, rule_id, 0, occurred_at, points, awards))
    return found


def _ledger_compact(
    table: str, *, scorecard: bool, before: datetime, horizon: datetime, now: datetime, windows: dict[int, list[int]]
) -> tuple[int, int, list[str], float]:
    """Compact ``table``'s rows older than ``before``: the opening balances (those written
    by the month before included) and the awards caps read, then the rows dropped."""
    by = "lead_id, scorecard_id, dimension" if scorecard else "lead_id, dimension"
    with transaction.atomic(), connection.cursor() as cursor:
        old = _old_months(cursor, table, before)
        _lock(cursor, table, old)
        cursor.execute(f"SELECT count(*) FROM {table} WHERE occurred_at < %s", [before])  # noqa: S608
        (compacted,) = cursor.fetchone()
        openings = 0
        if compacted:
            _awards_roll_up(cursor, table, before=before, horizon=horizon, windows=windows)
            cursor.execute(
                f"INSERT INTO {table} ({by}, delta, cause, occurred_at, created_at, note)"  # noqa: S608
                f" SELECT {by}, sum(delta), %s, %s, %s, %s FROM {table} WHERE occurred_at < %s"
                f" GROUP BY {by} HAVING sum(delta) <> 0",
                [ScoreEntry.Cause.OPENING, before, now, OPENING_NOTE, before],
            )
            openings = cursor.rowcount
        started = _remove(cursor, table, old, before) if compacted or old else None
    return compacted, openings, old, _held(started)


# Each lead's interactions older than %s, per type and month (``grouped``), and those of
# them to count into the roll-ups (``counted``): only those whose lead is there, as the
# database checks no key from an interaction to its lead (the intake and erasure keep it by
# their locks) and the roll-ups' is checked. Anonymous ones (a visitor never identified)
# count for nobody.
_ROLL_UP_READ = """
WITH grouped AS (
    SELECT lead_id, type, {month} AS month, count(*) AS n FROM scoring_interaction
    WHERE occurred_at < %s AND lead_id IS NOT NULL GROUP BY 1, 2, 3
), counted AS (
    SELECT * FROM grouped WHERE lead_id IN (SELECT id FROM scoring_lead)
)"""
_ROLL_UP_WRITE = (
    "INSERT INTO scoring_interactionrollup (lead_id, type, month, count)"
    " SELECT lead_id, type, month, n FROM counted WHERE true"
    " ON CONFLICT (lead_id, type, month) DO UPDATE SET count = scoring_interactionrollup.count + excluded.count"
)
# The interactions left uncounted though they name a lead: one that is gone.
_ROLL_UP_ORPHANS = "(SELECT coalesce(sum(n), 0) FROM grouped) - (SELECT coalesce(sum(n), 0) FROM counted)"


def _interactions_roll_up(*, before: datetime) -> tuple[int, int, int, int, list[str], float]:
    """(interactions removed, roll-up rows written, interactions left uncounted naming a lead
    that is gone, interactions removed still waiting to be scored, partitions dropped, the
    drop's lock seconds)."""
    table = "scoring_interaction"
    with transaction.atomic(), connection.cursor() as cursor:
        old = _old_months(cursor, table, before)
        _lock(cursor, table, old)
        cursor.execute(f"SELECT count(*) FROM {table} WHERE occurred_at < %s", [before])  # noqa: S608
        (removed,) = cursor.fetchone()
        rollups = orphans = unscored = 0
        if removed:
            rollups, orphans = _interactions_count(cursor, before)
            # One still waiting for a worker goes with its row, never scored (as before the
            # waiting table: its row was dropped unscored); a worker must not score a row gone.
            cursor.execute("DELETE FROM scoring_waitinginteraction WHERE occurred_at < %s", [before])
            unscored = cursor.rowcount
        started = _remove(cursor, table, old, before) if removed or old else None
    if orphans:
        logger.warning(
            "retention: %d interactions before %s named a lead that is gone: dropped, not counted", orphans, before
        )
    if unscored:
        logger.warning(
            "retention: %d interactions before %s were still waiting to be scored: dropped", unscored, before
        )
    return removed, rollups, orphans, unscored, old, _held(started)


def _interactions_count(cursor: Any, before: datetime) -> tuple[int, int]:
    """The roll-ups of the interactions older than ``before``: (roll-up rows written,
    interactions left uncounted naming a lead that is gone). One statement on PostgreSQL;
    elsewhere the write, then the count."""
    read = _ROLL_UP_READ.format(month=_month_sql())
    if connection.vendor == "postgresql":
        cursor.execute(
            f"{read}, written AS ({_ROLL_UP_WRITE} RETURNING 1)"  # noqa: S608 (constants)
            f" SELECT (SELECT count(*) FROM written), {_ROLL_UP_ORPHANS}",
            [before],
        )
        rollups, orphans = cursor.fetchone()
        return int(rollups), int(orphans)
    cursor.execute(f"{read} {_ROLL_UP_WRITE}", [before])
    # Not the cursor's rowcount: Python's sqlite3 gives one only for a statement that starts
    # with INSERT, UPDATE, DELETE or REPLACE (this one starts with WITH).
    cursor.execute("SELECT changes()")
    (rollups,) = cursor.fetchone()
    cursor.execute(f"{read} SELECT {_ROLL_UP_ORPHANS}", [before])
    (orphans,) = cursor.fetchone()
    return rollups, int(orphans)


def _month_sql() -> str:
    if connection.vendor == "postgresql":
        return "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date"
    return "date(occurred_at, 'start of month')"


_TABLES = ("scoring_scoreentry", "scoring_scorecardentry", "scoring_interaction")


def _steps(horizon: datetime) -> list[datetime]:
    """Where each month's step ends, oldest first: the next month holding rows (or a
    partition) older than the horizon, the last one at the horizon. Empty if none."""
    found: set[date] = set()
    with connection.cursor() as cursor:
        for table in _TABLES:
            partitioned = connection.vendor == "postgresql" and partitions.is_partitioned(cursor, table)
            if partitioned:
                found.update(m for m in partitions.months(cursor, table) if m < partitions.month_of(horizon))
            plain = partitions.default_name(table) if partitioned else table
            cursor.execute(f"SELECT DISTINCT {_month_sql()} FROM {plain} WHERE occurred_at < %s", [horizon])  # noqa: S608
            found.update(
                partitions.month_of(m if isinstance(m, date) else date.fromisoformat(m)) for (m,) in cursor.fetchall()
            )
    months = sorted(found)
    return [partitions.month_start(m) for m in months[1:]] + ([horizon] if months else [])


def _month_apply(
    before: datetime, *, horizon: datetime, now: datetime, windows: dict[int, list[int]]
) -> RetentionResult:
    """One step: each table's rows older than ``before`` compacted and dropped, each table
    in a transaction of its own; the ledgers first, then the interactions their rows name."""
    entries = openings = 0
    dropped: list[str] = []
    held = 0.0
    for table, scorecard in (("scoring_scoreentry", False), ("scoring_scorecardentry", True)):
        n, o, old, seconds = _ledger_compact(
            table, scorecard=scorecard, before=before, horizon=horizon, now=now, windows=windows
        )
        entries, openings, held = entries + n, openings + o, max(held, seconds)
        dropped += old
    removed, rollups, orphans, unscored, old, seconds = _interactions_roll_up(before=before)
    return RetentionResult(
        horizon, removed, rollups, entries, openings, tuple(dropped + old), max(held, seconds), orphans, unscored
    )


def retention_apply(*, now: datetime | None = None) -> RetentionResult:
    """Compact and drop what is older than the horizon (nothing when retention is off), a
    month at a time, oldest first. Safe to run again, or after a run that stopped: a
    second run finds nothing older than the horizon, and one after a stop goes on from
    the first month not done."""
    now = now or timezone.now()
    horizon = history_horizon(now=now)
    if horizon is None:
        return RetentionResult(None)
    windows = _windows()
    total = RetentionResult(horizon)
    for before in _steps(horizon):
        step = _month_apply(before, horizon=horizon, now=now, windows=windows)
        total = RetentionResult(
            horizon,
            total.interactions + step.interactions,
            total.rollups + step.rollups,
            # Each month's count holds the opening balances the month before wrote: not counted twice.
            total.entries + step.entries - total.openings,
            # An opening balance is merged into the next month's: the last month's are those left.
            step.openings,
            total.months + step.months,
            max(total.lock_seconds, step.lock_seconds),
            total.orphans + step.orphans,
            total.unscored + step.unscored,
        )
    _awards_prune(horizon=horizon, windows=windows)
    return total


def history_maintain(*, now: datetime | None = None) -> RetentionResult:
    """The nightly job: the months ahead made, then retention applied."""
    partitions_ahead(now=now)
    return retention_apply(now=now)
