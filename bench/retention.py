"""Years of data benchmark: 24 months of interactions and their ledger, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
    .venv/bin/python bench/retention.py [--interactions 20000000] [--leads 1000000] \\
        [--ingest-events 20000] [--keep-months 12]

It creates two databases next to DATABASE_URL's (``<name>_part``, partitioned by month,
and ``<name>_plain``, the same tables unpartitioned), fills both with the same history by
SQL (``generate_series``: each interaction of a random lead in the last 24 months, scored,
worth 2 points, a ledger row each; the cached scores their sums), and drops them
afterwards. In one run it prints:

1. ingest: the same events stored (``events_accept``, the API's storing step, in batches
   of 1,000) and scored (``interactions_score_pending``) into each database, in turns,
   the best of ``--rounds`` each: events/s with 24 partitions, without, and the ratio;
2. retention of the oldest month on the partitioned database: the longest time a table
   was locked by dropping it (target < 1 s), the time the whole run took;
3. retention of all but ``--keep-months`` months (a year's ledger compacted): the same
   figures, the interactions rolled up, the ledger rows compacted, and the leads whose
   cached scores differ from their ledger's sums (target 0).

Each step runs in a process of its own (``--phase``), on its database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_database, bench_environment, recreate_database  # noqa: E402

MONTHS = 24


def _setup(url: str, retention: int = 0) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "LEADFLOW_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "LEADFLOW_RETENTION_MONTHS": str(retention),
            "CELERY_BROKER_URL": "memory://",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fill(url: str, *, partitioned: bool, interactions: int, leads: int) -> None:
    """Migrate, (un)partition, and fill the history by SQL."""
    _setup(url)
    from django.core.management import call_command
    from django.db import connection

    from scoring import partitions

    call_command("migrate", verbosity=0)
    call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.table_convert(cursor, table, partitioned=partitioned, now=now)
            if partitioned:
                for back in range(MONTHS + 1):
                    partitions.month_create(cursor, table, partitions.month_add(partitions.month_of(now), -back))
        cursor.execute("SELECT min(id) FROM scoring_scoringrule WHERE dimension = 'engagement'")
        (rule,) = cursor.fetchone()
        cursor.execute("SELECT setseed(0.5)")
        cursor.execute(
            "INSERT INTO scoring_lead (id, email, first_name, last_name, title, department, company, industry,"
            " country, city, attributes, lifecycle_stage, fit_score, engagement_score, engagement_base,"
            " account_explicit, time_zone, created_at, updated_at)"
            " SELECT i, 'lead' || i || '@bench.example', '', '', '', '', '', '', '', '', '{}', 'lead', 0, 0, 0,"
            " false, '', %s, %s FROM generate_series(1, %s) AS i",
            [now, now, leads],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('scoring_lead', 'id'), %s)", [leads])
        cursor.execute(
            "CREATE TEMP TABLE generated AS SELECT n AS id, 1 + floor(random() * %s)::bigint AS lead_id,"
            " (ARRAY['page_view', 'email_open', 'form_submit'])[1 + n %% 3] AS type,"
            " %s - floor(random() * %s * 86400) * interval '1 second' AS occurred_at"
            " FROM generate_series(1, %s) AS n",
            [leads, now, 30 * MONTHS, interactions],
        )
        cursor.execute(
            "INSERT INTO scoring_interaction (id, lead_id, type, occurred_at, properties, source, idempotency_key,"
            " received_at, set_aside)"
            " SELECT id, lead_id, type, occurred_at, '{}', 'bench', 'evt-' || id, %s, false FROM generated",
            [now],
        )
        cursor.execute(
            "INSERT INTO scoring_interactionkey (key, occurred_at, lead_id)"
            " SELECT 'evt-' || id, occurred_at, lead_id FROM generated"
        )
        cursor.execute(
            "INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, rule_id, interaction_id, occurred_at,"
            " created_at, note) SELECT lead_id, 'engagement', 2, 'rule', %s, id, occurred_at, %s, '' FROM generated",
            [rule, now],
        )
        cursor.execute(
            "UPDATE scoring_lead l SET engagement_score = s.total, engagement_base = s.total,"
            " engagement_base_at = s.last, last_activity_at = s.last"
            " FROM (SELECT lead_id, 2 * count(*) AS total, max(occurred_at) AS last FROM generated GROUP BY lead_id) s"
            " WHERE s.lead_id = l.id"
        )
        for table in ("scoring_interaction", "scoring_scoreentry"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        cursor.execute("DROP TABLE generated")
    with connection.cursor() as cursor:
        for table in ("scoring_lead", "scoring_interaction", "scoring_interactionkey", "scoring_scoreentry"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    kind = "partitioned" if partitioned else "plain"
    print(f"   {kind}: {interactions:,} interactions filled in {time.perf_counter() - started:.0f} s", flush=True)


def ingest(url: str, *, events: int, leads: int, prefix: str) -> None:
    """Store and score ``events`` new events of existing leads; print events/s."""
    _setup(url)
    from intake.events import events_check
    from intake.ingest import events_accept
    from scoring import services

    now = datetime.now(UTC)
    raws = [
        {
            "id": f"{prefix}-{n}",
            "type": ("page_view", "email_open", "form_submit")[n % 3],
            "lead": {"email": f"lead{1 + (n * 7919) % leads}@bench.example"},
            "occurred_at": (now - timedelta(seconds=n)).isoformat(),
        }
        for n in range(events)
    ]
    batches = [events_check(raws[k : k + 1000], now=now)[0] for k in range(0, events, 1000)]
    started = time.perf_counter()
    for batch in batches:
        events_accept(batch, source="bench")
    while services.interactions_score_pending():
        pass
    print(json.dumps({"rate": events / (time.perf_counter() - started)}), flush=True)


def retention(url: str, *, keep: int) -> None:
    _setup(url, retention=keep)
    from django.db import connection

    from scoring import services

    started = time.perf_counter()
    result = services.retention_apply()
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM scoring_lead l LEFT JOIN (SELECT lead_id,"
            " sum(delta) FILTER (WHERE dimension = 'fit') AS fit,"
            " sum(delta) FILTER (WHERE dimension = 'engagement') AS engagement"
            " FROM scoring_scoreentry GROUP BY lead_id) s ON s.lead_id = l.id"
            " WHERE l.fit_score <> COALESCE(s.fit, 0) OR l.engagement_score <> COALESCE(s.engagement, 0)"
        )
        (differ,) = cursor.fetchone()
    print(
        json.dumps(
            {
                "lock": result.lock_seconds,
                "elapsed": elapsed,
                "months": len(result.months),
                "interactions": result.interactions,
                "rollups": result.rollups,
                "entries": result.entries,
                "openings": result.openings,
                "differ": differ,
                "horizon": str(result.horizon),
            }
        ),
        flush=True,
    )


def _run(*args: str) -> str:
    process = subprocess.run(
        [sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True, check=False, env=os.environ
    )
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{process.stdout}\n{process.stderr[-4000:]}")
    return process.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=20_000_000)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--ingest-events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep-months", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--phase", choices=["fill", "ingest", "retention"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="ingest", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "fill":
        fill(args.url, partitioned=not args.plain, interactions=args.interactions, leads=args.leads)
        return
    if args.phase == "ingest":
        ingest(args.url, events=args.ingest_events, leads=args.leads, prefix=args.prefix)
        return
    if args.phase == "retention":
        retention(args.url, keep=args.keep_months)
        return

    bench_environment()
    part_url, admin_url, part_name = bench_database("part")
    plain_url, _, plain_name = bench_database("plain")
    sizes = ["--interactions", str(args.interactions), "--leads", str(args.leads)]
    try:
        print(f"1. filling {args.interactions:,} interactions of {args.leads:,} leads over {MONTHS} months, twice")
        print(_run("--phase", "fill", "--url", part_url, *sizes), end="")
        print(_run("--phase", "fill", "--url", plain_url, "--plain", *sizes), end="")
        best = {"part": 0.0, "plain": 0.0}
        for k in range(args.rounds):
            for side, url in (("part", part_url), ("plain", plain_url)):
                out = _run(
                    "--phase", "ingest", "--url", url, "--prefix", f"r{k}", "--ingest-events",
                    str(args.ingest_events), "--leads", str(args.leads),
                )  # fmt: skip
                rate = json.loads(out.strip().splitlines()[-1])["rate"]
                best[side] = max(best[side], rate)
                print(f"   round {k + 1}, {side}: {rate:,.0f} events/s", flush=True)
        print(
            f"   ingest (store + score, {args.ingest_events:,} events, best of {args.rounds}):"
            f" {best['part']:,.0f} events/s with {MONTHS} monthly partitions,"
            f" {best['plain']:,.0f} unpartitioned; ratio {best['part'] / best['plain']:.2f}"
        )
        print(f"2. retention: one month dropped (keeping {MONTHS - 1} months)")
        one = json.loads(
            _run("--phase", "retention", "--url", part_url, "--keep-months", str(MONTHS - 1)).splitlines()[-1]
        )
        print(
            f"   {one['months']} partitions dropped (a month of interactions and of the ledger);"
            f" longest lock held by a drop {one['lock']:.3f} s (target < 1 s); whole run {one['elapsed']:.1f} s;"
            f" {one['differ']} leads differ from their ledger's sums"
        )
        print(f"3. retention: keeping {args.keep_months} months (the ledger's first year compacted)")
        out = _run("--phase", "retention", "--url", part_url, "--keep-months", str(args.keep_months))
        result = json.loads(out.strip().splitlines()[-1])
        print(
            f"   horizon {result['horizon']}: {result['months']} partitions dropped;"
            f" longest lock held by the drops {result['lock']:.3f} s; whole run {result['elapsed']:.1f} s"
        )
        print(
            f"   {result['interactions']:,} interactions rolled up into {result['rollups']:,} monthly counts;"
            f" {result['entries']:,} ledger rows compacted into {result['openings']:,} opening balances"
        )
        print(f"   invariant: {result['differ']} leads differ from their ledger's sums (target 0)")
    finally:
        if not args.keep:
            recreate_database(admin_url, part_name, drop_only=True)
            recreate_database(admin_url, plain_name, drop_only=True)


if __name__ == "__main__":
    main()
