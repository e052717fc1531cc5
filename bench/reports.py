"""The overview, every report and the admin's lead list at a million leads, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/reports.py \\
        [--leads 1000000] [--interactions 5000000] [--outcomes 50000] [--requests 20] [--reuse] \\
        [--only overview,rule-lift,admin]

Creates its own database (``<name>_bench`` next to DATABASE_URL's) and fills it with SQL:
``--leads`` leads created over the last 90 days (names, companies, industries, countries,
scores, groups), ``--interactions`` interactions after each lead's creation (a fifth of
them carry a campaign; sources form, api, segment and tracking), a ledger row for a third
of them (the toy store's rules), a group transition into each lead's group, a stage
history for 30% of the leads, hand-offs to five sales teams with their outcomes (about
``--outcomes`` of them: claimed, accepted, rejected, qualified, won with an amount,
disqualified, escalated) and a nurture sequence's deliveries. ``--reuse`` keeps a database
filled by an earlier run (``LEADFLOW_BENCH_KEEP=1`` keeps it at the end; ``--fill-only``
stops after filling) and only migrates it.

Then measures, through Django's full stack as a marketer (``--requests`` each):

1. the nightly roll-ups: the count of the score group trend (the overview's 90 days) and
   each lead's origin (the campaigns report, the funnel, the source filter): the first
   run, then a second, which must write nothing;
2. the overview and each report page, unfiltered and with filters (dates, source, team,
   score group): p50 / p95 / max and the queries of a page. The baseline, in the same run:
   the same rows computed in this process on PostgreSQL's defaults (JIT on), which must
   equal the page's CSV. A page slower than ``--budget``
   seconds is timed once, unfiltered only;
3. the admin's lead list: the list, a search, a filter by score group, by industry and by
   country, and a sort by score: p50 / p95 / max and queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin_leads import CITIES, FIRST, LAST  # noqa: E402
from common import bench_database_url, bench_environment, recreate_database  # noqa: E402

TEAMS = 5
REPS_PER_TEAM = 4
DAYS = 90
CAMPAIGNS = 12
INDUSTRIES = ["Toys", "Retail", "Education", "Software", "Health"]
COUNTRIES = ["US", "Spain", "Canada", "Mexico", "Germany", "France"]


def fill_leads(db: Any, *, leads: int) -> None:
    """Leads over the last 90 days, their groups, a transition into each group, and a
    stage history for 30% of them (lead -> MQL, half on to SQL, a third of those to
    opportunity, half of those won)."""
    with db.cursor() as c:
        c.execute(
            """
            INSERT INTO scoring_lead (email, first_name, last_name, title, department, company, industry,
                country, city, attributes, lifecycle_stage, fit_score, engagement_score, engagement_base,
                engagement_base_at, last_activity_at, time_zone, created_at, updated_at)
            SELECT lower(f) || '.' || lower(l) || i || '@co' || mod(h, 20000) || '.example', f, l || mod(h, 997),
                'Buyer', 'Purchasing', 'Company ' || mod(h, 20000) || ' ' || l,
                (%(industries)s::text[])[1 + mod(h / 7, %(nindustries)s)],
                (%(countries)s::text[])[1 + mod(h / 11, %(ncountries)s)],
                c, '{}'::jsonb, 'lead', mod(h, 40) - 5, mod(h / 40, 90), mod(h / 40, 90), now(), now(), '',
                now() - mod(h / 3, %(days)s * 24 * 60) * interval '1 minute', now()
            FROM (SELECT i, abs(hashtext(i::text)) AS h,
                         (%(first)s::text[])[1 + mod(i, %(nfirst)s)] AS f,
                         (%(last)s::text[])[1 + mod(i / 7, %(nlast)s)] AS l,
                         (%(cities)s::text[])[1 + mod(i / 3, %(ncities)s)] AS c
                  FROM generate_series(1, %(leads)s) AS i) AS g
            ORDER BY 1
            """,
            {
                "leads": leads, "days": DAYS,
                "first": FIRST, "last": LAST, "cities": CITIES, "industries": INDUSTRIES, "countries": COUNTRIES,
                "nfirst": len(FIRST), "nlast": len(LAST), "ncities": len(CITIES),
                "nindustries": len(INDUSTRIES), "ncountries": len(COUNTRIES),
            },
        )  # fmt: skip
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
                least(created_at + interval '2 hours', now())
            FROM scoring_lead WHERE score_group_id IS NOT NULL
            """
        )
        c.execute(
            """
            WITH staged AS (
                SELECT id, created_at, abs(hashtext('s' || id::text)) AS h FROM scoring_lead
                WHERE mod(abs(hashtext('p' || id::text)), 10) < 3),
            steps AS (
                SELECT id, created_at, h, 1 AS k, 'lead' AS a, 'mql' AS b FROM staged
                UNION ALL SELECT id, created_at, h, 2, 'mql', 'sql' FROM staged WHERE mod(h, 2) = 0
                UNION ALL SELECT id, created_at, h, 3, 'sql', 'opportunity' FROM staged WHERE mod(h, 6) = 0
                UNION ALL SELECT id, created_at, h, 4, 'opportunity', 'customer' FROM staged WHERE mod(h, 12) = 0)
            INSERT INTO scoring_stagechange (lead_id, from_stage, to_stage, at, cause)
            SELECT id, a, b, least(created_at + (k * (1 + mod(h, 9))) * interval '1 day', now()), 'routing'
            FROM steps
            """
        )
        c.execute(
            """
            UPDATE scoring_lead l SET lifecycle_stage = s.to_stage FROM (
                SELECT DISTINCT ON (lead_id) lead_id, to_stage FROM scoring_stagechange ORDER BY lead_id, at DESC
            ) s WHERE s.lead_id = l.id
            """
        )
    db.commit()


def fill_interactions(db: Any, *, interactions: int) -> None:
    """Interactions of random leads after their creation, and a ledger row (a toy store rule)
    for a third of them."""
    with db.cursor() as c:
        c.execute("SELECT min(id), count(*) FROM scoring_lead")
        first_id, leads = c.fetchone()
        c.execute(
            """
            INSERT INTO scoring_interaction (lead_id, type, properties, occurred_at, source, idempotency_key,
                received_at, set_aside)
            SELECT l.id, (ARRAY['page_view', 'email_open', 'email_click', 'form_submit'])[1 + mod(s.h, 4)],
                CASE WHEN mod(s.h / 4, 5) = 0
                     THEN jsonb_build_object('campaign', 'campaign-' || mod(s.h / 20, %(campaigns)s))
                     ELSE '{}'::jsonb END,
                t.at, (ARRAY['form:contact', 'api:ab12cd34', 'segment:ef56', 'tracking'])[1 + mod(l.id, 4)],
                'bench-' || s.i, t.at, false
            FROM (SELECT i, abs(hashtext('i' || i::text)) AS h FROM generate_series(1, %(n)s) AS i) AS s
            JOIN scoring_lead l ON l.id = %(first)s + mod(s.h, %(leads)s)
            CROSS JOIN LATERAL (SELECT l.created_at + mod(s.h / 7, greatest(1,
                extract(epoch FROM now() - l.created_at)::int)) * interval '1 second' AS at) t
            """,
            {"n": interactions, "first": first_id, "leads": leads, "campaigns": CAMPAIGNS},
        )
        c.execute("SELECT array_agg(id ORDER BY id) FROM scoring_scoringrule")
        rules = c.fetchone()[0] or []
        if rules:
            c.execute(
                """
                INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, rule_id, interaction_id,
                    occurred_at, created_at, note)
                SELECT lead_id, 'engagement', 1 + mod(id, 10), 'rule', (%(rules)s::bigint[])[1 + mod(id / 3, %(n)s)],
                    id, occurred_at, occurred_at, ''
                FROM scoring_interaction WHERE mod(id, 3) = 0
                """,
                {"rules": rules, "n": len(rules)},
            )
    db.commit()


def fill_sales(db: Any, *, outcomes: int) -> None:
    """Hand-offs of staged leads to five teams (two with an SLA, three with a feedback
    deadline), their reps, and about ``outcomes`` outcomes."""
    from django.contrib.auth.models import User

    with db.cursor() as c:
        for t in range(TEAMS):
            c.execute(
                "INSERT INTO routing_team (key, name, assignment, sla_hours, sla_action, feedback_days, email)"
                " VALUES (%s, %s, 'queue', %s, 'notify', %s, '') RETURNING id",
                [f"team-{t}", f"Team {t}", 4 if t % 2 else None, 3 + t if t < 3 else None],
            )
    db.commit()
    User.objects.bulk_create(
        [
            User(username=f"rep-{t}-{r}", first_name="Rep", last_name=f"{t}-{r}")
            for t in range(TEAMS)
            for r in range(REPS_PER_TEAM)
        ]
    )
    items = max(1, round(outcomes / 1.9))
    with db.cursor() as c:
        c.execute(
            """
            WITH chosen AS (
                SELECT l.id, l.total_score, row_number() OVER (ORDER BY l.id) AS n,
                    least(l.created_at + interval '1 day', now() - interval '1 hour') AS entered,
                    abs(hashtext('q' || l.id::text)) AS h
                FROM scoring_lead l WHERE l.lifecycle_stage <> 'lead' ORDER BY l.id LIMIT %(items)s)
            INSERT INTO routing_queueitem (lead_id, team_id, owner_id, status, entered_at, claimed_at, closed_at,
                reason, budget, authority, need, timeline)
            SELECT ch.id, t.id, CASE WHEN mod(ch.h, 10) < 8 THEN u.id END,
                CASE WHEN mod(ch.h, 10) >= 8 THEN 'open' WHEN mod(ch.h, 20) < 3 THEN 'rejected'
                     WHEN mod(ch.h, 20) < 5 THEN 'won' ELSE 'claimed' END,
                ch.entered,
                CASE WHEN mod(ch.h, 10) < 8 THEN ch.entered + mod(ch.h / 10, 600) * interval '1 minute' END,
                CASE WHEN mod(ch.h, 10) < 8 AND mod(ch.h, 20) < 5
                     THEN ch.entered + mod(ch.h / 10, 600) * interval '2 minute' END,
                '', '', '', '', ''
            FROM chosen ch
            JOIN routing_team t ON t.key = 'team-' || mod(ch.n, %(teams)s)
            JOIN auth_user u ON u.username = 'rep-' || mod(ch.n, %(teams)s) || '-' || mod(ch.h / 7, %(reps)s)
            """,
            {"items": items, "teams": TEAMS, "reps": REPS_PER_TEAM},
        )
        c.execute(
            """
            WITH i AS (SELECT q.id, q.lead_id, q.owner_id, q.claimed_at, q.entered_at, l.total_score,
                              abs(hashtext('q' || q.lead_id::text)) AS h
                       FROM routing_queueitem q JOIN scoring_lead l ON l.id = q.lead_id),
            o AS (
                SELECT i.*, 'claimed' AS kind, '' AS reason, NULL::numeric AS amount, claimed_at AS at
                    FROM i WHERE claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'rejected',
                    (ARRAY['Not a buyer', 'Too small', 'Wrong region'])[1 + mod(h / 3, 3)], NULL,
                    claimed_at + interval '1 hour' FROM i WHERE mod(h, 20) < 3 AND claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'accepted', '', NULL, claimed_at + interval '1 hour'
                    FROM i WHERE mod(h, 20) >= 3 AND mod(h, 10) < 7 AND claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'qualified', '', NULL, claimed_at + interval '1 day'
                    FROM i WHERE mod(h, 20) >= 3 AND mod(h, 10) < 5 AND claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'won', '', 1000 + mod(h, 9000), claimed_at + interval '2 days'
                    FROM i WHERE mod(h, 20) >= 3 AND mod(h, 20) < 5 AND claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'disqualified', (ARRAY['No budget', 'Student'])[1 + mod(h / 5, 2)], NULL,
                    claimed_at + interval '3 days' FROM i WHERE mod(h, 20) = 6 AND claimed_at IS NOT NULL
                UNION ALL SELECT i.*, 'escalated', '', NULL, entered_at + interval '5 hours'
                    FROM i WHERE mod(h, 10) >= 8 AND mod(h, 3) = 0)
            INSERT INTO routing_outcome (item_id, lead_id, kind, reason, amount, total_score, user_id, source, at)
            SELECT id, lead_id, kind, reason, amount, total_score, owner_id, '', least(at, now()) FROM o
            """
        )
    db.commit()


def fill_nurture(db: Any) -> None:
    """A three-step sequence sent to every tenth lead."""
    from nurture.models import Sequence, Step

    sequence = Sequence.objects.create(key="bench-welcome", name="Bench welcome")
    for position in range(3):
        Step.objects.create(
            sequence=sequence,
            position=position,
            wait_days=position * 2,
            subject_template=f"Step {position}",
            text_template="Hello",
        )
    with db.cursor() as c:
        c.execute(
            """
            INSERT INTO nurture_enrollment (lead_id, sequence_id, position, status, exit_reason, enrolled_at,
                next_run_at, ended_at)
            SELECT id, %(sequence)s, 1 + mod(id, 3), CASE WHEN mod(id, 7) = 0 THEN 'exited' ELSE 'active' END,
                CASE WHEN mod(id, 7) = 0 THEN 'unsubscribed' ELSE '' END, created_at, NULL, NULL
            FROM scoring_lead WHERE mod(id, 10) = 0
            """,
            {"sequence": sequence.pk},
        )
        c.execute(
            """
            INSERT INTO nurture_delivery (enrollment_id, step_id, message_id, status, attempts, sent_at, opens,
                clicks, error, created_at, updated_at)
            SELECT e.id, s.id, 'bench-' || e.id || '-' || s.position,
                CASE WHEN mod(e.id, 23) = 0 THEN 'bounced' ELSE 'sent' END, 1,
                least(e.enrolled_at + s.position * interval '2 days', now()), mod(e.id, 3), mod(e.id, 5) / 4, '',
                least(e.enrolled_at + s.position * interval '2 days', now()), now()
            FROM nurture_enrollment e JOIN nurture_step s ON s.sequence_id = e.sequence_id AND s.position < e.position
            """
        )
    db.commit()


def fill(db: Any, *, leads: int, interactions: int, outcomes: int) -> None:
    steps: list[tuple[str, Callable[[], None]]] = [
        ("leads", lambda: fill_leads(db, leads=leads)),
        ("interactions and ledger", lambda: fill_interactions(db, interactions=interactions)),
        ("hand-offs and outcomes", lambda: fill_sales(db, outcomes=outcomes)),
        ("nurture", lambda: fill_nurture(db)),
    ]
    for name, step in steps:
        started = time.perf_counter()
        step()
        print(f"   filled {name} in {time.perf_counter() - started:.0f} s", flush=True)
    with db.cursor() as c:  # Django's connection commits each statement: VACUUM may run
        c.execute("VACUUM ANALYZE")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(run: Callable[[], Any], count: int, budget: float = 0) -> tuple[list[float], Any]:
    """Milliseconds of ``count`` runs (after one to warm up), and the last run's result.
    With a ``budget`` (seconds): when the first run after the warm-up takes longer, it is
    the only figure (a page that slow is far off its target either way)."""
    result = run()
    timings: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - started) * 1000)
        if budget and timings[0] > budget * 1000:
            break
    return timings, result


def queries_of(run: Callable[[], Any]) -> int:
    """How many statements ``run`` sends to the database (a request's own count: Django's
    query log is emptied when a request starts)."""
    from django.db import connection

    count = 0

    def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        run()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--outcomes", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=20, help="per page (the live baseline: a third of them)")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run (only migrate)")
    parser.add_argument(
        "--budget", type=float, default=20, help="seconds: a page slower than this is timed once, unfiltered only"
    )
    parser.add_argument("--fill-only", action="store_true", help="fill the database and stop (with --reuse later)")
    parser.add_argument(
        "--no-rollups", action="store_true", help="with --reuse: keep the nightly roll-ups an earlier run made"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated pages to measure (overview, a report's slug, admin); every page when empty",
    )
    args = parser.parse_args()

    bench_environment()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("the benchmarks need DATABASE_URL pointing at PostgreSQL")
    database_url, admin_url, bench_name = bench_database_url(base)
    if not args.reuse:
        recreate_database(admin_url, bench_name)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "600",
            "LEADFLOW_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "project.settings",
        }
    )
    try:
        import django

        django.setup()
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from reports import origins, overview, snapshots
        from reports.filters import Choices, filters_parse
        from reports.tables import REPORTS
        from routing.models import Outcome
        from scoring.models import Interaction, Lead, ScoreGroup

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"Database {bench_name}: migrated in {time.perf_counter() - started:.0f} s")
        if not Lead.objects.exists():
            call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
            connection.ensure_connection()
            fill(connection.connection, leads=args.leads, interactions=args.interactions, outcomes=args.outcomes)
        print(
            f"   {Lead.objects.count():,} leads, {Interaction.objects.count():,} interactions,"
            f" {Outcome.objects.count():,} outcomes over {DAYS} days",
            flush=True,
        )
        if args.fill_only:
            return

        # 1. the nightly roll-ups -----------------------------------------------------------------
        for name, run in (
            ()
            if args.no_rollups
            else (
                ("score group trend", snapshots.group_counts_nightly),
                (
                    "lead origins and rule lift sums (campaigns, funnel, source filter, rule lift)",
                    origins.origins_rebuild,
                ),
            )
        ):
            started = time.perf_counter()
            written = run()
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = run()
            second = time.perf_counter() - started
            print(
                f"\n1. Nightly roll-up, {name}: {first:.1f} s ({written:,} rows written); a second run {second:.1f} s,"
                f" {again} rows written (must be 0: {'ok' if again == 0 else 'NOT 0'})",
                flush=True,
            )

        # 2. the overview and the reports --------------------------------------------------------------
        marketer = User.objects.filter(username="marketer").first() or User.objects.create_user(
            "marketer", is_staff=True
        )
        marketer.groups.add(Group.objects.get(name="Marketing"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(marketer)
        group = ScoreGroup.objects.order_by("-min_score").values_list("key", flat=True).first() or ""
        first_day = (django.utils.timezone.localdate() - django.utils.timezone.timedelta(days=30)).isoformat()
        variants: dict[str, dict[str, str]] = {
            "": {},
            " (30 days)": {"start": first_day},
            " (source form)": {"source": "form"},
            " (team, group)": {"team": "team-1", "group": group},
        }
        choices = Choices.load()

        def live(report: Any, query: dict[str, str]) -> Any:
            """The report's rows computed in this process on PostgreSQL's defaults (JIT on),
            as the pages ran before."""
            filters, _ = filters_parse(query, applies=report.filters, choices=choices)
            return report.show(filters).table.rows

        only = {name.strip() for name in args.only.split(",") if name.strip()}
        pages: list[tuple[str, str, dict[str, str], Callable[[], Any]]] = []
        if not only or "overview" in only:
            pages.append(("overview", "/reports/", {}, lambda: [s.rows for s in overview.overview(live=True)]))
        for report in REPORTS:
            if only and report.slug not in only:
                continue
            for suffix, query in variants.items():
                given = {k: v for k, v in query.items() if k in report.filters}
                if suffix and given != query:
                    continue
                pages.append(
                    (report.slug + suffix, f"/reports/{report.slug}/", given, lambda r=report, q=given: live(r, q))
                )
        print(f"\n2. The overview and the reports, {args.requests} requests each (ms), as a marketer:")
        print(f"   {'page':42} {'p50':>7} {'p95':>7} {'max':>7} {'queries':>7}   {'live p95':>8}  live/page  equal")
        misses = []
        too_slow: set[str] = set()
        for name, url, query, baseline in pages:
            csv_url = url + "csv" if url != "/reports/" else None
            if url in too_slow:
                continue

            def get(u: str = url, q: dict[str, str] = query) -> Any:
                response = client.get(u, q)
                if response.status_code != 200:
                    raise SystemExit(f"{u} answered {response.status_code}")
                return response

            timings, _ = timed(get, args.requests, args.budget)
            if len(timings) == 1 and args.requests > 1:
                too_slow.add(url)
                misses.append(name)
                print(f"   {name:42} {timings[0]:7.0f} (once: over the {args.budget:.0f} s budget)", flush=True)
                continue
            queries = queries_of(get)
            live_timings, live_rows = timed(baseline, max(3, args.requests // 3))
            if csv_url:
                import csv
                import io

                shown = list(csv.reader(io.StringIO(client.get(csv_url, query).content.decode())))[1:]
                expected = [[str(cell) for cell in row] for row in live_rows]
                same = "yes" if shown == expected else "NO"
            else:
                same = "yes" if [s.rows for s in overview.overview()] == live_rows else "NO"
            p95, live_p95 = percentile(timings, 95), percentile(live_timings, 95)
            if p95 >= 500:
                misses.append(name)
            print(
                f"   {name:42} {statistics.median(timings):7.0f} {p95:7.0f} {max(timings):7.0f} {queries:7}"
                f"   {live_p95:8.0f}  {live_p95 / p95:8.1f}x  {same}",
                flush=True,
            )
        print(f"   pages at or above 500 ms p95: {', '.join(misses) or 'none'}")

        # 3. the admin's lead list ---------------------------------------------------------------------
        if only and "admin" not in only:
            return
        groups = list(ScoreGroup.objects.order_by("min_score").values_list("pk", flat=True))
        kinds = {
            "list": [{}, {"p": "1"}],
            "search": [{"q": "lovelace"}, {"q": "ada.hopp"}, {"q": "company 1234 "}],
            "filter by group": [{"score_group__id__exact": str(pk)} for pk in groups],
            "sort by score": [{"o": "4"}, {"o": "-4"}],
        }
        print(f"\n3. The admin's lead list, {args.requests} requests of each kind (ms), as a marketer:")
        print(f"   {'request':24} {'p50':>7} {'p95':>7} {'max':>7} {'queries':>7}")
        for kind, queries in kinds.items():

            def get_list(i: list[int] = [0], qs: list[dict[str, str]] = queries) -> Any:  # noqa: B006
                i[0] += 1
                response = client.get("/admin/scoring/lead/", qs[i[0] % len(qs)])
                if response.status_code != 200:
                    raise SystemExit(f"/admin/scoring/lead/ answered {response.status_code}")
                return response

            timings, _ = timed(get_list, args.requests)
            queries = queries_of(get_list)
            print(
                f"   {kind:24} {statistics.median(timings):7.0f} {percentile(timings, 95):7.0f}"
                f" {max(timings):7.0f} {queries:7}",
                flush=True,
            )
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
