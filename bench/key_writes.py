"""What the text keys' pattern indexes cost the intake's writes (scoring migration 0048).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/key_writes.py \\
        [--rows 200000] [--rounds 3]

Django gives every unique text column a second index for ``LIKE 'abc%'``, which no
query of Leadflow uses; 0048 drops those of the tables written on the intake's path. In
its own database (``<name>_keys``, dropped afterwards), each of these writes runs on the
table as migrated and, as the baseline, on a copy of it (the same columns, indexes and
storage settings) with the pattern index put back; alternating, ``--rounds`` times:

- the interaction keys of ``--rows`` events, inserted in requests of 1,000 in key order
  (every event stored);
- as many visitors' keys, the same way (every new visitor);
- the update of a score of half of ``--rows / 2`` accounts (an accounts' sweep: a new
  version of each row, whose every index gets an entry), and of as many leads (a scoring
  batch's write; a lead's external id, NULL for most, has an entry there too).

It prints the database server's processor time for each (that session's process, read
from /proc) and its ratio to the baseline's in the same round (lower is better).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import new_leads_insert, run_in_bench_database, server_process_seconds  # noqa: E402

REQUEST = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="keys inserted per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="times each way, alternating")
    args = parser.parse_args()
    run_in_bench_database("keys", lambda: run(args))


class Case(NamedTuple):
    what: str
    table: str
    column: str  # the one with a pattern index before 0048
    write: str  # SQL on {table}
    inserts: bool  # rows inserted in requests of REQUEST (the table emptied before), else one UPDATE


CASES = [
    Case(
        "interaction keys inserted",
        "scoring_interactionkey",
        "key",
        "INSERT INTO {table} (key, occurred_at) SELECT 'evt-' || md5(g::text), now()"
        " FROM generate_series(%s, %s) g ORDER BY 1 ON CONFLICT DO NOTHING",
        inserts=True,
    ),
    Case(
        "visitors inserted",
        "scoring_visitor",
        "key",
        "INSERT INTO {table} (key, first_seen_at, last_seen_at) SELECT md5(g::text), now(), now()"
        " FROM generate_series(%s, %s) g ORDER BY 1 ON CONFLICT DO NOTHING",
        inserts=True,
    ),
    Case(
        "account scores updated",
        "scoring_account",
        "external_id",
        "UPDATE {table} SET lead_score = lead_score + 1 WHERE id % 2 = 0",
        inserts=False,
    ),
    Case(
        "lead scores updated",
        "scoring_lead",
        "external_id",
        "UPDATE {table} SET fit_score = fit_score + 1 WHERE id % 2 = 0",
        inserts=False,
    ),
]


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    cursor = connection.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    (pid,) = cursor.fetchone()

    def server_seconds() -> float:
        return server_process_seconds(pid)

    def columns(table: str) -> str:
        cursor.execute(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
            " FROM information_schema.columns WHERE table_name = %s AND is_generated = 'NEVER'",
            [table],
        )
        return str(cursor.fetchone()[0])

    def baseline(case: Case) -> str:
        """A copy of the case's table as it was before 0048 (the same columns, indexes and
        storage settings, and the pattern index), holding the same rows."""
        copy = f"{case.table}_before"
        cursor.execute(f"CREATE TABLE {copy} (LIKE {case.table} INCLUDING ALL)")
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [case.table])
        (options,) = cursor.fetchone()
        if options:
            cursor.execute(f"ALTER TABLE {copy} SET ({', '.join(options)})")
        cursor.execute(f"CREATE INDEX ON {copy} ({case.column} varchar_pattern_ops)")
        names = columns(case.table)
        cursor.execute(f"INSERT INTO {copy} ({names}) SELECT {names} FROM {case.table}")  # noqa: S608 (fixed names)
        return copy

    def timed(case: Case, table: str) -> float:
        """Server seconds of the case's write on ``table``."""
        if case.inserts:
            cursor.execute(f"TRUNCATE {table} CASCADE")  # nothing refers to them here
        else:
            cursor.execute(f"VACUUM ANALYZE {table}")  # the state autovacuum keeps
        cursor.execute("CHECKPOINT")
        before = server_seconds()
        sql = case.write.format(table=table)
        if case.inserts:
            for start in range(0, args.rows, REQUEST):
                cursor.execute(sql, [start, start + REQUEST - 1])
        else:
            cursor.execute(sql)
        return server_seconds() - before

    updated = args.rows // 2
    cursor.execute(
        "INSERT INTO scoring_account (name, domain, industry, country, attributes, time_zone, lead_score, fit_score,"
        " created_at) SELECT 'Company ' || g, 'company' || g || '.example', '', '', '{}', '', 0, 0, now()"
        " FROM generate_series(1, %s) g",
        [updated],
    )
    new_leads_insert(updated)  # a new lead's columns, as the intake writes them
    print(f"Server processor time, s ({args.rows:,} keys inserted; half of {updated:,} rows updated)")
    for case in CASES:
        copy = baseline(case)
        ratios = []
        for round_ in range(1, args.rounds + 1):
            before, after = timed(case, copy), timed(case, case.table)
            ratios.append(after / before)
            print(f"  {case.what}, round {round_}: with the pattern index (baseline) {before:.2f},"
                  f" without {after:.2f}; ratio {after / before:.2f}")  # fmt: skip
        print(f"  {case.what}: ratio {min(ratios):.2f}-{max(ratios):.2f}")
        cursor.execute(f"DROP TABLE {copy}")


if __name__ == "__main__":
    main()
