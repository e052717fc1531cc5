"""Monthly partitions of the tables that only grow, on PostgreSQL: interactions and both
score ledgers, partitioned by range of ``occurred_at``.

Each table has a partition per month (``<table>_p2026_12`` holds December 2026, in UTC)
and a default partition (``<table>_default``) that takes any row no month holds, so no
row is ever refused: one far in the past or the future, or one that arrives before the
schedule made its month. The schedule (:func:`partitions_ensure`) makes the months ahead;
a month whose rows wait in the default partition is made by moving them into it.

Keys: a unique index on a partitioned table must include ``occurred_at``, so the primary
key is (id, occurred_at) in the database (the ORM still reads and writes rows by id), an
interaction is stored once by its key through ``scoring_interactionkey``, and a ledger's
one award per (interaction, rule) includes the award's ``occurred_at`` (its interaction's).
No foreign key points at interactions: one would have to name (id, occurred_at).

Only SQL through a DB-API cursor: the migrations call these functions too, with their own
connection. SQLite keeps plain tables: every function here does nothing there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

# Table -> the column it is partitioned by.
PARTITIONED: dict[str, str] = {
    "scoring_interaction": "occurred_at",
    "scoring_scoreentry": "occurred_at",
    "scoring_scorecardentry": "occurred_at",
}

# Months made ahead of the current one by the schedule.
MONTHS_AHEAD = 3

# Converting a table makes a partition for each month of its rows back to this many months
# before now; older rows go to the default partition.
CONVERT_MONTHS_BACK = 120


def month_of(moment: datetime | date) -> date:
    """The first day of ``moment``'s month (in UTC for a datetime)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _bound(month: date) -> str:
    return f"'{month:%Y-%m-%d} 00:00:00+00'"


def _one(cursor: Any, sql: str, params: Iterable[Any] = ()) -> Any:
    cursor.execute(sql, list(params))
    row = cursor.fetchone()
    return row[0] if row else None


def is_partitioned(cursor: Any, table: str) -> bool:
    return bool(
        _one(
            cursor,
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = %s AND pg_table_is_visible(c.oid))",
            [table],
        )
    )


def months(cursor: Any, table: str) -> list[date]:
    """The months ``table`` has a partition of, in order."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        [table],
    )
    pattern = re.compile(re.escape(table) + r"_p(\d{4})_(\d{2})$")
    found = [pattern.match(name) for (name,) in cursor.fetchall()]
    return sorted(date(int(m[1]), int(m[2]), 1) for m in found if m)


def month_create(cursor: Any, table: str, month: date) -> bool:
    """Make ``table``'s partition of ``month`` unless it is there; rows of that month
    waiting in the default partition move into it (in the caller's transaction).
    True if it was made."""
    name = partition_name(table, month)
    if _one(cursor, "SELECT to_regclass(%s) IS NOT NULL", [name]):
        return False
    column, default = PARTITIONED[table], default_name(table)
    low, high = _bound(month), _bound(month_add(month, 1))
    where = f"{column} >= {low} AND {column} < {high}"
    waiting = _one(cursor, f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {where})")  # noqa: S608
    if waiting:
        # A partition cannot be made over rows the default partition holds: move them aside first.
        cursor.execute(f"CREATE TEMPORARY TABLE partition_move ON COMMIT DROP AS SELECT * FROM {default} WHERE {where}")  # noqa: S608
        cursor.execute(f"DELETE FROM {default} WHERE {where}")  # noqa: S608
    cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})")
    if waiting:
        cursor.execute(f"INSERT INTO {name} SELECT * FROM partition_move")  # noqa: S608
        cursor.execute("DROP TABLE partition_move")
    return True


def partitions_ensure(cursor: Any, *, now: datetime, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make every partitioned table's partitions from this month to ``ahead`` months
    ahead, those missing; safe to run any number of times. Returns the names made."""
    made: list[str] = []
    current = month_of(now)
    for table in PARTITIONED:
        if not is_partitioned(cursor, table):
            continue
        for step in range(ahead + 1):
            month = month_add(current, step)
            if month_create(cursor, table, month):
                made.append(partition_name(table, month))
    return made


def _definitions(cursor: Any, table: str) -> tuple[list[str], list[str]]:
    """The CREATE INDEX statements (but the primary key's) and the foreign keys of ``table``."""
    cursor.execute(
        "SELECT indexdef FROM pg_indexes i WHERE tablename = %s AND NOT EXISTS ("
        " SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype = 'p')",
        [table],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    keys = [f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for name, definition in cursor.fetchall()]
    return indexes, keys


def table_convert(cursor: Any, table: str, *, partitioned: bool, now: datetime) -> None:
    """Rebuild ``table`` partitioned by month (or back to a plain table): the old one is
    renamed, a new one made like it, its rows copied, then the old one dropped and its
    indexes and foreign keys made again on the new one, under the same names. Quick on an
    empty table; a copy of every row on a full one (rows are rewritten once)."""
    if is_partitioned(cursor, table) == partitioned:
        return
    column = PARTITIONED[table]
    old = f"{table}_old"
    indexes, keys = _definitions(cursor, table)
    sequence = _one(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    by = f" PARTITION BY RANGE ({column})" if partitioned else ""
    cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS){by}")
    pkey = f"(id, {column})" if partitioned else "(id)"
    if partitioned:
        cursor.execute(f"CREATE TABLE {default_name(table)} PARTITION OF {table} DEFAULT")
        low, high = _one(cursor, f"SELECT min({column}) FROM {old}"), _one(cursor, f"SELECT max({column}) FROM {old}")  # noqa: S608
        first = month_add(month_of(now), -1)
        last = month_add(month_of(now), MONTHS_AHEAD)
        if low is not None:
            first = max(min(first, month_of(low)), month_add(month_of(now), -CONVERT_MONTHS_BACK))
            last = max(last, min(month_of(high), month_add(month_of(now), MONTHS_AHEAD)))
        month = first
        while month <= last:
            month_create(cursor, table, month)
            month = month_add(month, 1)
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY {pkey}")
    for statement in indexes:
        cursor.execute(statement)  # read before the rename: they name the table as it is now
    for statement in keys:
        cursor.execute(statement)
    # The new identity's sequence takes the old one's name and goes on from the last id.
    new_sequence = _one(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])
    if sequence and new_sequence and new_sequence != sequence:
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {sequence.split('.')[-1]}")
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)",  # noqa: S608
        [table],
    )
