"""The admin's lead list at a million leads, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/admin_leads.py \\
        [--leads 1000000] [--requests 40]

Creates its own database (``<name>_admin_bench`` next to DATABASE_URL's) and drops it
afterwards (keep it with LEADFLOW_BENCH_KEEP=1). Migrates it to just before the lead
search's own table (scoring 0046: the search reads a trigram index on the lead table),
fills it with SQL (``--leads`` leads with varied names, companies, cities, scores,
groups and stages), then measures, through Django's full stack as a marketer, the lead
list page, a search (part of an email, a last name, a company, a city), a filter by
score group, a filter by stage and a sort by score (ascending, the other way from the
list's order): p50 / p95 / max of each, and for the slowest request of each kind its
queries and the time they took in the database.

The baseline is measured in the same run, first: the same requests with the search as
it was (the lead table's trigram index, the lead's columns searched one by one). Then
scoring's migration 0047 makes the search's own table (filled from the leads, its
indexes built CONCURRENTLY, timed), the list searches through it, and the same requests
run again. (The list before its indexes, scoring 0023, can no longer be measured: the
code of today does not run on a schema that old.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_settings, recreate_database  # noqa: E402

FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = [
    "Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Knuth", "Allen", "Thompson",
    "Perlman", "Berners", "Ritchie", "Kernighan", "Wirth", "Backus", "McCarthy", "Shannon", "Hoare", "Lamport",
]  # fmt: skip
CITIES = ["Madrid", "Seville", "Toronto", "Lyon", "Porto", "Austin", "Denver", "Krakow", "Osaka", "Leeds"]
STAGES = ["subscriber", "lead", "lead", "lead", "mql", "sql", "opportunity", "customer", "disqualified"]


def fill(db: Any, *, leads: int) -> None:
    """Leads with names, companies (20,000 of them), cities (a rare one), scores, groups and stages."""
    with db.cursor() as c:
        c.execute(
            """
            INSERT INTO scoring_lead (email, first_name, last_name, title, department, company, industry,
                country, city, attributes, lifecycle_stage, fit_score, engagement_score, engagement_base,
                engagement_base_at, last_activity_at, time_zone, created_at, updated_at,
                account_explicit)
            SELECT lower(f) || '.' || lower(l) || i || '@' || 'co' || mod(h, 20000) || '.example', f, l || mod(h, 997),
                'Buyer', 'Purchasing', 'Company ' || mod(h, 20000) || ' ' || l,
                (ARRAY['Toys','Retail','Education','Software'])[1 + mod(i, 4)],
                (ARRAY['US','Spain','Canada','Mexico','Germany'])[1 + mod(i, 5)],
                CASE WHEN mod(h, 5000) = 0 THEN 'Valparaiso' ELSE c END, '{}'::jsonb, s,
                mod(h, 40) - 5, mod(h / 40, 90), mod(h / 40, 90), now(), now() - mod(h, 900) * interval '1 hour',
                '', now(), now(), false
            FROM (SELECT i, abs(hashtext(i::text)) AS h,
                         (%(first)s::text[])[1 + mod(i, %(nfirst)s)] AS f,
                         (%(last)s::text[])[1 + mod(i / 7, %(nlast)s)] AS l,
                         (%(cities)s::text[])[1 + mod(i / 3, %(ncities)s)] AS c,
                         (%(stages)s::text[])[1 + mod(i / 11, %(nstages)s)] AS s
                  FROM generate_series(1, %(leads)s) AS i) AS g
            """,
            {
                "leads": leads,
                **{f"n{key}": len(values) for key, values in [("first", FIRST), ("last", LAST),
                                                              ("cities", CITIES), ("stages", STAGES)]},
                "first": FIRST, "last": LAST, "cities": CITIES, "stages": STAGES,
            },
        )  # fmt: skip
        c.execute(
            """
            UPDATE scoring_lead l SET score_group_id = (
                SELECT g.id FROM scoring_scoregroup g WHERE g.min_score <= l.fit_score + l.engagement_score
                ORDER BY g.min_score DESC LIMIT 1)
            """
        )
    db.commit()
    with db.cursor() as c:
        c.execute("VACUUM ANALYZE scoring_lead")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def requests_to_time() -> dict[str, list[dict[str, str]]]:
    """What a marketer asks of the list, by kind: the query strings of each."""
    from scoring.models import ScoreGroup

    groups = list(ScoreGroup.objects.order_by("min_score").values_list("pk", flat=True))
    return {
        "list, pages 1-3": [{}, {"p": "1"}, {"p": "2"}],
        "search": [{"q": "lovelace"}, {"q": "ada.hopp"}, {"q": "company 1234 "}, {"q": "valparaiso"}],
        "filter by group": [{"score_group__id__exact": str(pk)} for pk in groups],
        "filter by stage": [{"lifecycle_stage__exact": stage} for stage in ("mql", "customer", "lead")],
        "sort by score (ascending)": [{"o": "4"}, {"o": "4", "p": "1"}],
    }


def time_requests(client: Any, queries: list[dict[str, str]], count: int) -> list[float]:
    timings = []
    for i in range(count):
        query = queries[i % len(queries)]
        started = time.perf_counter()
        response = client.get("/admin/scoring/lead/", query)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"/admin/scoring/lead/ answered {response.status_code} for {query}")
    return timings


def database_share(client: Any, queries: list[dict[str, str]]) -> tuple[int, float]:
    """(queries per page, ms of them in the database, the slowest of the kind's requests)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    worst = (0, 0.0)
    for query in queries:
        with CaptureQueriesContext(connection) as captured:
            client.get("/admin/scoring/lead/", query)
        worst = max(worst, (len(captured), sum(float(q["time"]) for q in captured.captured_queries) * 1000))
    return worst


def measure(client: Any, count: int) -> tuple[dict[str, list[float]], dict[str, tuple[int, float]]]:
    kinds = requests_to_time()
    for queries in kinds.values():
        time_requests(client, queries, len(queries))  # warm up: the caches, the pages read
    timings = {kind: time_requests(client, queries, count) for kind, queries in kinds.items()}
    return timings, {kind: database_share(client, queries) for kind, queries in kinds.items()}


def old_search() -> type[Any]:
    """The lead list with its search before scoring's migration 0047: the lead's columns,
    one by one, as Django's admin searches them."""
    from django.contrib import admin

    from scoring.admin.leads import LeadAdmin

    class OldSearch(LeadAdmin):
        search_fields = ["email", "first_name", "last_name", "company", "city", "external_id__exact"]

        def get_search_results(self, request: Any, queryset: Any, search_term: str) -> Any:
            return admin.ModelAdmin.get_search_results(self, request, queryset, search_term)

    return OldSearch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40, help="per kind of request, each way")
    args = parser.parse_args()

    admin_url, bench_name = bench_settings("admin_bench")
    try:
        import django

        django.setup()
        from django.contrib import admin
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from scoring.admin.leads import LeadAdmin
        from scoring.models import Lead

        call_command("migrate", verbosity=0)
        call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        call_command("migrate", "scoring", "0046", verbosity=0)
        started = time.perf_counter()
        connection.ensure_connection()
        fill(connection.connection, leads=args.leads)
        print(f"Database {bench_name}: {args.leads:,} leads, filled in {time.perf_counter() - started:.0f} s")

        marketer = User.objects.create_user("marketer", is_staff=True)
        marketer.groups.add(Group.objects.get(name="Marketing"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(marketer)

        # The admin's URLs hold the instance registered first: its class changes, not the instance.
        model_admin = admin.site._registry[Lead]
        model_admin.__class__ = old_search()
        before, before_db = measure(client, args.requests)

        started = time.perf_counter()
        call_command("migrate", "scoring", verbosity=0)
        built = time.perf_counter() - started
        with connection.cursor() as c:
            # As the fill leaves the lead table (autovacuum does so later on a live database):
            # without it the first searches set the hint bits of a million fresh rows.
            c.execute("ANALYZE scoring_lead")
            c.execute("VACUUM ANALYZE scoring_leadsearch")
        model_admin.__class__ = LeadAdmin
        after, after_db = measure(client, args.requests)

        print(f"Migration 0047 (the search's table filled, its indexes built CONCURRENTLY): {built:.1f} s")
        print(f"\nThe lead list, {args.requests} requests of each kind (p50 / p95 / max, ms), as a marketer:")
        print(f"   {'':28} {'before (lead table index)':>26} {'after (own table)':>26}  p95 before/after")
        worst = 0.0
        for kind, timings in after.items():
            old = before[kind]
            p95, old_p95 = percentile(timings, 95), percentile(old, 95)
            worst = max(worst, p95)
            print(
                f"   {kind:28} {statistics.median(old):8.1f} {old_p95:8.1f} {max(old):8.1f}"
                f" {statistics.median(timings):8.1f} {p95:8.1f} {max(timings):8.1f}  {old_p95 / p95:6.1f}x"
            )
        print(f"   worst p95 after: {worst:.1f} ms (target < 300)")
        print("\nThe slowest request of each kind: queries, and ms spent in the database (the rest is Django's)")
        for kind, (queries, ms) in after_db.items():
            old_queries, old_ms = before_db[kind]
            print(
                f"   {kind:28} before: {old_queries} queries, {old_ms:7.1f} ms   after: {queries} queries, {ms:6.1f} ms"
            )
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
