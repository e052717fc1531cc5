"""The scoring batches' array parameters: what sending a batch's columns costs the sender.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bulk_params.py \\
        [--rows 1500] [--repeat 300]

A scoring batch writes each table in one statement, each column one array parameter
(``scoring.bulk``). Most of those columns are ids. This sends one statement shaped like a
batch's ledger insert (five id columns and a time column of ``--rows`` rows, read back by
``unnest``; nothing is written, so any database will do) ``--repeat`` times, two ways,
alternating twice:

- the baseline: every column as psycopg's binary array (what ``bulk.pg_execute`` sent
  before), dumped value by value in Python;
- ``bulk.pg_execute`` as it is: the id columns as the text of array literals.

It prints the sender's processor time and the wall time per statement, and the ratio to
the baseline measured in the same run (lower is better). The database's own work is the
same both ways.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import django_setup  # noqa: E402

SQL = (
    "SELECT count(*) FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::int[], %s::bigint[], %s::timestamptz[])"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1500, help="rows per statement (a batch's ledger rows)")
    parser.add_argument("--repeat", type=int, default=300, help="statements per measurement")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL: a PostgreSQL database (the parameters are PostgreSQL's)")
    django_setup()
    from scoring import bulk

    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = args.rows
    columns: list[list[Any]] = [[(n * 7919 + k) % 1_000_003 for n in range(rows)] for k in range(5)]
    columns.append([start + timedelta(seconds=n) for n in range(rows)])
    placed = bulk._placed

    def binary(sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
        return sql.replace("%s", "%b"), list(params)

    def measure(place: Callable[[str, Sequence[Any]], tuple[str, list[Any]]]) -> tuple[float, float]:
        bulk._placed = place  # type: ignore[assignment]  # the one difference between the two ways
        try:
            for _ in range(20):  # warm: prepared statements, caches
                bulk.pg_execute(SQL, columns)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.repeat):
                ((count,),) = bulk.pg_execute(SQL, columns)
                assert count == rows
            return (time.process_time() - cpu) / args.repeat, (time.perf_counter() - wall) / args.repeat
        finally:
            bulk._placed = placed

    print(f"One statement of {rows:,} rows (5 id columns and a time column), {args.repeat} times; ms per statement")
    for round_ in (1, 2):
        base_cpu, base_wall = measure(binary)
        cpu, wall = measure(placed)
        print(
            f"  round {round_}: binary arrays (baseline) sender {base_cpu * 1e3:.2f}, wall {base_wall * 1e3:.2f};"
            f" ids as literals sender {cpu * 1e3:.2f}, wall {wall * 1e3:.2f};"
            f" sender / baseline = {cpu / base_cpu:.2f}, wall / baseline = {wall / base_wall:.2f}"
        )


if __name__ == "__main__":
    main()
