"""Account roll-ups at 100,000 accounts, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/accounts.py \\
        [--accounts 100000] [--leads 400000] [--touched 0.5] [--reuse] [--profile]

Creates its own database (``<name>_accounts`` next to DATABASE_URL's; ``--reuse`` keeps
one an earlier run filled, ``LEADFLOW_BENCH_KEEP=1`` keeps it at the end) and fills it
with SQL: ``--accounts`` accounts (industries, sizes, countries), ``--leads`` leads spread
over them unevenly (1 to 7 each), their scores, each account's roll-up (the sum) and
fit (two account fit rules) in the account ledger, three account groups with hysteresis.

Then, as the product runs it:

1. a day's events: a ``--touched`` share of the leads (at least one of every account)
   gain or lose engagement points, written as scoring writes them (a ledger row each,
   the cached score, and their accounts queued as stale by batches of 2,000 leads);
2. the baseline, in the same run: one SQL statement that sums every account's leads
   (``GROUP BY``) and updates the accounts whose sum moved, rolled back;
3. the sweep of the stale accounts (``accounts_refresh_pending``, what a scoring worker
   runs after its batches): time, ledger rows, ratio to the baseline, peak RSS; then
   the check that every account's cached scores are its ledger's sums and its lead
   score its leads' roll-up;
4. a second day's events, then the nightly recompute of every account
   (``accounts_rescore``) instead of the sweep: the same figures and check, then the
   sweep of what the day queued (nothing left to write).

``--profile`` prints the top of a cProfile of the sweep and of the nightly recompute.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import PeakMemory, bench_database, bench_environment, recreate_database  # noqa: E402

INDUSTRIES = ["Toys", "Retail", "Education", "Software", "Health"]
COUNTRIES = ["US", "Spain", "Canada", "Mexico", "Germany", "France"]
GROUPS = [("target", "Target", 100, None), ("engaged", "Engaged", 300, 250), ("hot", "Hot", 600, 500)]


def lead_defaults() -> tuple[psycopg.sql.Composable, psycopg.sql.Composable]:
    """The lead table's NOT NULL columns without a database default that the fill does not
    set, and their model defaults (so a column added later does not break the fill)."""
    from scoring.models import Lead

    own = {"email", "company", "account_id", "fit_score", "engagement_score", "engagement_base", "created_at",
           "updated_at"}  # fmt: skip
    fixed = {
        f.column: f.get_default()
        for f in Lead._meta.concrete_fields
        if not f.null and not f.primary_key and not getattr(f, "generated", False) and f.column not in own
    }
    columns = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in fixed)
    values = psycopg.sql.SQL(", ").join(
        psycopg.sql.Literal(json.dumps(v) if isinstance(v, dict | list) else v) for v in fixed.values()
    )
    return columns, values


def fill(db: psycopg.Connection[Any], *, accounts: int, leads: int, rules: dict[str, int]) -> None:
    """Accounts, their leads with scores, the account ledger and cached account scores in
    line with it (the sum roll-up and the two fit rules), each account in its group."""
    started = time.perf_counter()
    columns, values = lead_defaults()
    now = datetime.now(UTC)
    with db.transaction():
        db.execute("SELECT setseed(0.25)")
        db.execute(
            """
            INSERT INTO scoring_account (id, name, domain, industry, company_size, country, attributes, time_zone,
                                         lead_score, fit_score, created_at)
            SELECT i, 'Company ' || i, 'co' || i || '.example', (%(industries)s::text[])[1 + mod(i, 5)],
                   10 * (1 + mod(i * 7, 500)), (%(countries)s::text[])[1 + mod(i / 5, 6)], '{}'::jsonb, '', 0, 0,
                   %(now)s
            FROM generate_series(1, %(accounts)s) AS i
            """,
            {"accounts": accounts, "industries": INDUSTRIES, "countries": COUNTRIES, "now": now},
        )
        # Every account gets a lead; the rest fall on accounts at random, skewed towards
        # the low ids (a few big companies, many small ones).
        db.execute(
            psycopg.sql.SQL(
                """
                INSERT INTO scoring_lead (id, {columns}, email, company, account_id, fit_score, engagement_score,
                                          engagement_base, created_at, updated_at)
                SELECT n, {values}, 'p' || n || '@co' || a || '.example', 'Company ' || a, a,
                       floor(random() * 30)::int, e, e, %(now)s, %(now)s
                FROM (SELECT n, CASE WHEN n <= %(accounts)s THEN n
                                     ELSE 1 + floor(%(accounts)s * power(random(), 1.5))::bigint END AS a,
                             floor(random() * 80)::int AS e
                      FROM generate_series(1, %(leads)s) AS n) AS g
                """
            ).format(columns=columns, values=values),
            {"accounts": accounts, "leads": leads, "now": now},
        )
        db.execute(
            """
            INSERT INTO scoring_accountentry (account_id, dimension, delta, cause, note, created_at)
            SELECT account_id, 'leads', sum(total_score), 'rollup', '', %(now)s
            FROM scoring_lead GROUP BY account_id HAVING sum(total_score) <> 0
            """,
            {"now": now},
        )
        db.execute(
            """
            INSERT INTO scoring_accountentry (account_id, dimension, delta, cause, rule_id, note, created_at)
            SELECT id, 'fit', 40, 'rule', %(toys)s, '', %(now)s FROM scoring_account
            WHERE industry IN ('Toys', 'Retail')
            UNION ALL
            SELECT id, 'fit', 25, 'rule', %(big)s, '', %(now)s FROM scoring_account WHERE company_size >= 2000
            """,
            {"now": now, **rules},
        )
        db.execute(
            """
            UPDATE scoring_account a SET lead_score = s.leads, fit_score = s.fit
            FROM (SELECT account_id, coalesce(sum(delta) FILTER (WHERE dimension = 'leads'), 0) AS leads,
                         coalesce(sum(delta) FILTER (WHERE dimension = 'fit'), 0) AS fit
                  FROM scoring_accountentry GROUP BY account_id) s
            WHERE s.account_id = a.id
            """
        )
        db.execute(
            """
            UPDATE scoring_account a SET group_id = (
                SELECT g.id FROM scoring_accountgroup g WHERE g.min_score <= a.total_score
                ORDER BY g.min_score DESC LIMIT 1)
            """
        )
    for table in ("scoring_account", "scoring_lead", "scoring_accountentry"):
        db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608 (fixed table names)
        db.execute(f"VACUUM ANALYZE {table}")
    print(f"   filled in {time.perf_counter() - started:.0f} s")


def day_of_events(db: psycopg.Connection[Any], *, share: float, seed: float, rule_id: int) -> tuple[int, int]:
    """A day's scoring, as the scoring batches write it: each touched lead gains (or, one in
    five, loses) engagement points with a ledger row, and the accounts of each batch of
    2,000 leads (in the random order interactions arrive in) are queued as stale, each
    account once per batch as :func:`accounts_mark_stale` does. Returns
    (leads touched, queue rows)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    with db.transaction():
        db.execute("SELECT setseed(%s)", [seed])
        # The points never take engagement below 0 (as scoring keeps it): the ledger row
        # says what really moved.
        db.execute(
            """
            CREATE TEMP TABLE day ON COMMIT DROP AS
            SELECT l.id AS lead_id, l.account_id, row_number() OVER (ORDER BY random()) AS k,
                   greatest(-l.engagement_score, CASE WHEN random() < 0.2 THEN -1 - floor(random() * 5)::int
                                                      ELSE 1 + floor(random() * 15)::int END) AS delta
            FROM scoring_lead l
            WHERE l.id IN (SELECT DISTINCT ON (account_id) id FROM scoring_lead ORDER BY account_id, id)
               OR random() < %(share)s
            """,
            {"share": share},
        )
        db.execute(
            """
            INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, rule_id, occurred_at, created_at, note)
            SELECT lead_id, 'engagement', delta, 'rule', %(rule)s, %(now)s, %(now)s, '' FROM day WHERE delta <> 0
            """,
            {"rule": rule_id, "now": now},
        )
        db.execute(
            """
            UPDATE scoring_lead l SET engagement_score = l.engagement_score + d.delta,
                   engagement_base = l.engagement_score + d.delta, updated_at = %(now)s
            FROM day d WHERE d.lead_id = l.id AND d.delta <> 0
            """,
            {"now": now},
        )
        touched = db.execute("SELECT count(*) FROM day WHERE delta <> 0").fetchone()
        db.execute(
            """
            INSERT INTO scoring_staleaccount (account_id)
            SELECT account_id FROM day WHERE delta <> 0 AND account_id IS NOT NULL
            GROUP BY (k - 1) / 2000, account_id ORDER BY (k - 1) / 2000, account_id
            """
        )
        queued = db.execute("SELECT count(*) FROM scoring_staleaccount").fetchone()
    db.execute("VACUUM ANALYZE scoring_lead")
    db.execute("VACUUM ANALYZE scoring_staleaccount")
    moved, rows = (touched[0] if touched else 0), (queued[0] if queued else 0)
    print(
        f"   {moved:,} leads' scores moved, {rows:,} stale-account rows queued ({time.perf_counter() - started:.0f} s)"
    )
    return moved, rows


def differing(db: psycopg.Connection[Any]) -> tuple[int, int]:
    """(accounts whose cached scores are not their ledger's sums, accounts whose lead
    score is not the sum of their leads' total scores)."""
    ledger = db.execute(
        """
        SELECT count(*) FROM scoring_account a
        LEFT JOIN (SELECT account_id, sum(delta) FILTER (WHERE dimension = 'leads') AS leads,
                          sum(delta) FILTER (WHERE dimension = 'fit') AS fit
                   FROM scoring_accountentry GROUP BY account_id) e ON e.account_id = a.id
        WHERE a.lead_score <> coalesce(e.leads, 0) OR a.fit_score <> coalesce(e.fit, 0)
        """
    ).fetchone()
    rollup = db.execute(
        """
        SELECT count(*) FROM scoring_account a
        LEFT JOIN (SELECT account_id, sum(total_score) AS total FROM scoring_lead
                   WHERE account_id IS NOT NULL GROUP BY account_id) l ON l.account_id = a.id
        WHERE a.lead_score <> coalesce(l.total, 0)
        """
    ).fetchone()
    return (ledger[0] if ledger else -1), (rollup[0] if rollup else -1)


def baseline(db: psycopg.Connection[Any]) -> tuple[float, int]:
    """Every account's leads summed by one ``GROUP BY``, the accounts whose sum moved
    updated and a ledger row each written, in one statement; rolled back. Returns
    (seconds, rows written)."""
    started = time.perf_counter()
    with db.transaction(force_rollback=True):
        written = db.execute(
            """
            WITH sums AS (SELECT a.id, a.lead_score, coalesce(l.total, 0) AS target FROM scoring_account a
                          LEFT JOIN (SELECT account_id, sum(total_score) AS total FROM scoring_lead
                                     WHERE account_id IS NOT NULL GROUP BY account_id) l ON l.account_id = a.id),
                 moved AS (UPDATE scoring_account a SET lead_score = s.target FROM sums s
                           WHERE s.id = a.id AND s.target <> s.lead_score
                           RETURNING a.id, s.target - s.lead_score AS delta)
            INSERT INTO scoring_accountentry (account_id, dimension, delta, cause, note, created_at)
            SELECT id, 'leads', delta, 'rollup', '', now() FROM moved
            """
        ).rowcount
    return time.perf_counter() - started, written


def measured(run: Callable[[], int], *, profile: bool) -> tuple[float, int, float]:
    """Run a service in this process: (seconds, what it returned, peak RSS in MB while it ran)."""
    memory = PeakMemory(os.getpid())
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = run()
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    peak = memory.stop() / 2**20
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return elapsed, result, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=400_000)
    parser.add_argument("--touched", type=float, default=0.5, help="share of the leads a day's events move")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run (only migrate)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the sweep and the recompute")
    args = parser.parse_args()
    if args.leads < args.accounts:
        raise SystemExit("--leads must be at least --accounts (every account has a lead)")

    bench_environment()
    database_url, admin_url, name = bench_database("accounts", reuse=args.reuse)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "600",
            "LEADFLOW_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from scoring import services
    from scoring.models import Account, AccountGroup, AccountRule, ScoringRule

    db = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True)
    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"Database {name}: migrated in {time.perf_counter() - started:.0f} s; {os.cpu_count()} cores")
        if not Account.objects.exists():
            call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
            for key, label, minimum, leave in GROUPS:
                AccountGroup.objects.create(key=key, name=label, min_score=minimum, leave_below=leave)
            toys = AccountRule.objects.create(key="toys-or-retail", name="Toys or retail", points=40)
            toys.conditions.create(field="industry", operator="one_of", value=["Toys", "Retail"])
            big = AccountRule.objects.create(key="2000-people-or-more", name="2,000 people or more", points=25)
            big.conditions.create(field="company_size", operator="gte", value=2000)
            connection.close()
            fill(db, accounts=args.accounts, leads=args.leads, rules={"toys": toys.pk, "big": big.pk})
        db.execute("DELETE FROM scoring_staleaccount")
        accounts, leads = (
            db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 (fixed table names)
            for table in ("scoring_account", "scoring_lead")
        )
        print(f"   {accounts[0] if accounts else 0:,} accounts, {leads[0] if leads else 0:,} leads;"
              f" before: {differing(db)[0]} accounts differ from their ledger")  # fmt: skip
        rule_id = ScoringRule.objects.filter(key="email-interaction").values_list("pk", flat=True).first()
        connection.close()

        # --- 1. a day's events -------------------------------------------------------------------
        print("\n1. A day's events")
        _, queued = day_of_events(db, share=args.touched, seed=0.5, rule_id=rule_id or 0)

        # --- 2. baseline ---------------------------------------------------------------------------
        raw, raw_rows = baseline(db)
        print(f"\n2. Baseline: one SQL GROUP BY + UPDATE of every account (rolled back): {raw:.1f} s,"
              f" {raw_rows:,} accounts moved")  # fmt: skip

        # --- 3. the sweep ------------------------------------------------------------------------------
        seconds, written, peak = measured(services.accounts_refresh_pending, profile=args.profile)
        connection.close()
        ledger, rollup = differing(db)
        left = db.execute("SELECT count(*) FROM scoring_staleaccount").fetchone()
        print(f"\n3. Sweep of the stale accounts (accounts_refresh_pending, {queued:,} queue rows): {seconds:.1f} s"
              f" (target < 30 s), {written:,} ledger rows; sweep / baseline = {seconds / raw:.2f};"
              f" peak RSS {peak:.0f} MB")  # fmt: skip
        print(f"   accounts whose cached scores differ from their ledger: {ledger};"
              f" whose lead score is not their leads' sum: {rollup};"
              f" queue rows left: {left[0] if left else '?'}")  # fmt: skip

        # --- 4. the nightly recompute ----------------------------------------------------------------
        print("\n4. A second day's events, then the nightly recompute instead of the sweep")
        _, queued = day_of_events(db, share=args.touched, seed=0.75, rule_id=rule_id or 0)
        raw, raw_rows = baseline(db)
        print(f"   baseline (as in 2.): {raw:.1f} s, {raw_rows:,} accounts moved")
        seconds, written, peak = measured(services.accounts_rescore, profile=args.profile)
        connection.close()
        ledger, rollup = differing(db)
        print(f"   nightly recompute (accounts_rescore) of {accounts[0] if accounts else 0:,} accounts: {seconds:.1f} s"
              f" (target < 30 s), {written:,} ledger rows; recompute / baseline = {seconds / raw:.2f};"
              f" peak RSS {peak:.0f} MB")  # fmt: skip
        print(f"   accounts whose cached scores differ from their ledger: {ledger};"
              f" whose lead score is not their leads' sum: {rollup}")  # fmt: skip
        left = db.execute("SELECT count(*) FROM scoring_staleaccount").fetchone()
        seconds, written, _ = measured(services.accounts_refresh_pending, profile=False)
        connection.close()
        print(f"   then the sweep: {left[0] if left else '?'} of the day's {queued:,} queue rows left to it;"
              f" {seconds:.1f} s, {written} ledger rows (must be 0)")  # fmt: skip
        seconds, written, _ = measured(services.accounts_rescore, profile=False)
        connection.close()
        print(f"   the nightly recompute again: {seconds:.1f} s, {written} ledger rows (must be 0)")
        peak_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nPeak RSS of this process over the run: {peak_run:.0f} MB")
    finally:
        db.close()
        connection.close()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, name, drop_only=True)


if __name__ == "__main__":
    main()
