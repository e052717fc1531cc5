"""Overview benchmark on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/overview.py \\
        [--leads 200000] [--staged 0.3] [--queued 10000] [--requests 30]

Creates its own database (``<name>_reports_bench`` next to DATABASE_URL's) and drops it
afterwards (keep it with LEADFLOW_BENCH_KEEP=1). Fills it with SQL: ``--leads`` leads
created over the last 180 days with scores and groups (the toy store's), a group
transition into each lead's group, a share ``--staged`` of them with a stage history
(lead -> MQL, half of those on to SQL, a third of those to opportunity, half of those
won), ``--queued`` leads waiting in 10 teams' queues. Then measures:

1. the nightly count of the 90-day trend from the transitions (first run, then the
   second, which must write nothing);
2. the overview (``GET /reports/`` through Django's full stack, as a marketer):
   p50 / p95 / max and its query count; the baseline is the same numbers computed
   naively in the same run (every lead and stage change read into Python), whose
   results must equal the page's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_settings, recreate_database  # noqa: E402

TEAMS = 10


def fill(db: Any, *, leads: int, staged: float, queued: int) -> None:
    """Leads, transitions, stage history and queue items, in SQL."""
    with db.cursor() as c:
        c.execute(
            """
            INSERT INTO scoring_lead (email, first_name, last_name, title, department, company, industry,
                country, city, attributes, lifecycle_stage, fit_score, engagement_score, engagement_base,
                engagement_base_at, last_activity_at, time_zone, created_at, updated_at)
            SELECT 'lead' || i || '@bench.example', 'First' || i, 'Last' || i, '', '', '', '', '', '', '{}'::jsonb,
                'lead', mod(h, 40) - 5, mod(h / 40, 90), mod(h / 40, 90), now(), now(), '',
                now() - mod(h, 180 * 24) * interval '1 hour', now()
            FROM (SELECT i, abs(hashtext(i::text)) AS h FROM generate_series(1, %s) AS i) AS s
            """,
            [leads],
        )
        c.execute(
            """
            UPDATE scoring_lead l SET score_group_id = (
                SELECT g.id FROM scoring_scoregroup g WHERE g.min_score <= l.fit_score + l.engagement_score
                ORDER BY g.min_score DESC LIMIT 1)
            """
        )
        c.execute(
            """
            INSERT INTO scoring_grouptransition (lead_id, kind, from_group_id, to_group_id, direction,
                previous_total, total_score, from_stage, to_stage, detail, cause, occurred_at)
            SELECT id, 'score', NULL, score_group_id, 'up', 0, total_score, '', '', '', 'rule',
                created_at + interval '2 hours'
            FROM scoring_lead WHERE score_group_id IS NOT NULL
            """
        )
        # Stage history: step k of a lead in the staged share, k days apart.
        c.execute(
            """
            WITH staged AS (
                SELECT id, created_at, abs(hashtext('s' || id::text)) AS h FROM scoring_lead
                WHERE mod(abs(hashtext('p' || id::text)), 1000) < %s),
            steps AS (
                SELECT id, created_at, h, 1 AS k, 'lead' AS a, 'mql' AS b FROM staged
                UNION ALL SELECT id, created_at, h, 2, 'mql', 'sql' FROM staged WHERE mod(h, 2) = 0
                UNION ALL SELECT id, created_at, h, 3, 'sql', 'opportunity' FROM staged WHERE mod(h, 6) = 0
                UNION ALL SELECT id, created_at, h, 4, 'opportunity', 'customer' FROM staged WHERE mod(h, 12) = 0)
            INSERT INTO scoring_stagechange (lead_id, from_stage, to_stage, at, cause)
            SELECT id, a, b, created_at + (k * (1 + mod(h, 9))) * interval '1 day', 'routing' FROM steps
            """,
            [round(staged * 1000)],
        )
        c.execute(
            """
            UPDATE scoring_lead l SET lifecycle_stage = s.to_stage FROM (
                SELECT DISTINCT ON (lead_id) lead_id, to_stage FROM scoring_stagechange ORDER BY lead_id, at DESC
            ) s WHERE s.lead_id = l.id
            """
        )
        for t in range(TEAMS):
            c.execute(
                "INSERT INTO routing_team (key, name, assignment, sla_hours, sla_action, email)"
                " VALUES (%s, %s, 'queue', %s, 'notify', '')",
                [f"team-{t}", f"Team {t}", 4 if t % 2 else None],
            )
        c.execute(
            """
            INSERT INTO routing_queueitem (lead_id, team_id, status, entered_at, reason, budget, authority, need,
                timeline)
            SELECT l.id, t.id, 'open', now() - mod(l.id, 600) * interval '1 minute', '', '', '', '', ''
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM scoring_lead ORDER BY id LIMIT %s) l
            JOIN routing_team t ON t.key = 'team-' || mod(l.n, %s)
            """,
            [queued, TEAMS],
        )
    db.commit()
    with db.cursor() as c:
        for table in ("scoring_lead", "scoring_grouptransition", "scoring_stagechange", "routing_queueitem"):
            c.execute(f"VACUUM ANALYZE {table}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def naive_numbers() -> dict[str, Any]:
    """The overview's headline numbers as one would first compute them: every lead and
    every stage change read into Python."""
    from scoring.models import Lead, StageChange

    step = {"mql": 1, "sql": 2, "opportunity": 3, "customer": 4}
    leads = list(Lead.objects.values_list("id", "score_group_id", "fit_score", "engagement_score", "lifecycle_stage"))
    history: dict[int, list[str]] = defaultdict(list)
    for lead_id, stage in StageChange.objects.values_list("lead_id", "to_stage"):
        history[lead_id].append(stage)
    groups = Counter(group for _, group, _, _, _ in leads)
    reached = [0] * 5
    for lead_id, _, _, _, stage in leads:
        top = max([step.get(stage, 0), *(step.get(s, 0) for s in history[lead_id])])
        for i in range(top + 1):
            reached[i] += 1
    return {"groups": groups, "reached": reached, "fit": Counter(f for _, _, f, _, _ in leads)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--staged", type=float, default=0.3)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    admin_url, bench_name = bench_settings("reports_bench")
    try:
        import django

        django.setup()
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from reports import overview, snapshots
        from reports.models import DailyGroupCount
        from scoring.models import StageChange

        call_command("migrate", verbosity=0)
        call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        started = time.perf_counter()
        connection.ensure_connection()
        fill(connection.connection, leads=args.leads, staged=args.staged, queued=min(args.queued, args.leads))
        print(
            f"Database {bench_name}: {args.leads:,} leads, {StageChange.objects.count():,} stage changes,"
            f" {min(args.queued, args.leads):,} queued, filled in {time.perf_counter() - started:.0f} s"
        )

        # 1. the nightly count ------------------------------------------------------------------
        started = time.perf_counter()
        written = snapshots.group_counts_nightly()
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = snapshots.group_counts_nightly()
        second = time.perf_counter() - started
        print(f"\n1. Nightly count of {snapshots.TREND_DAYS} days: {first:.2f} s ({written:,} rows);")
        print(f"   a second run {second:.2f} s, {again} rows written (must be 0: {'ok' if again == 0 else 'NOT 0'})")
        print(f"   rows kept: {DailyGroupCount.objects.count():,}")

        # 2. the overview page -----------------------------------------------------------------
        marketer = User.objects.create_user("marketer", is_staff=True)
        marketer.groups.add(Group.objects.get(name="Marketing"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(marketer)
        client.get("/reports/")  # warm up
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get("/reports/")
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"/reports/ answered {response.status_code}")
        with CaptureQueriesContext(connection) as queries:
            client.get("/reports/")
        naive = []
        for _ in range(max(3, args.requests // 10)):
            started = time.perf_counter()
            expected = naive_numbers()
            naive.append((time.perf_counter() - started) * 1000)
        funnel = [int(row[1]) for row in overview.funnel().rows]
        same = funnel == expected["reached"]
        p95, naive_p95 = percentile(timings, 95), percentile(naive, 95)
        print(f"\n2. Overview page, {len(timings)} requests:")
        print(f"   p50 {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms, max {max(timings):.0f} ms")
        print(f"   {len(queries)} queries per page")
        print(
            f"   naive groups, funnel and fit counts (every lead and stage change read into Python), {len(naive)} runs:"
            f" p95 {naive_p95:.0f} ms -> naive / page = {naive_p95 / p95:.1f} (above 1: the whole page is faster)"
        )
        print(f"   funnel {funnel}: {'equal to' if same else 'NOT equal to'} the naive count {expected['reached']}")
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
