"""Sales queue and routing benchmark on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/sales_queue.py \\
        [--leads 1000000] [--queued 100000] [--transitions 10000] [--requests 200]

Creates its own database (``<name>_queue_bench`` next to DATABASE_URL's) and
drops it afterwards (keep it with LEADFLOW_BENCH_KEEP=1). Fills it with SQL:
``--leads`` leads with scores and groups, 10 teams of 20 reps, ``--queued``
of those leads in the teams' queues (each rep holding a full capacity of 50
open items, the rest of each team's queue waiting unclaimed), three ledger
rows and five interactions per queued lead. Then measures:

1. the sales queue page (``GET /sales/`` through Django's full stack, as a
   rep, pages 1-4, reps of every team): p50 / p95 / max, and its query count
   for a team with 10,000 queued leads and for one with 100 (they must be
   equal); the baseline is the same page built naively in the same run (one
   query per lead for its reasons and its interactions);
2. routing ``--transitions`` group transitions (half enter Preferential: exit
   every sequence, route to a team's queue with round robin, set the stage,
   tag, round robin over a routing team of 20 reps with room; half enter
   Nurture: enroll in a sequence) with
   ``routing.services.transitions_route``: transitions/s; the baseline is a
   naive router in the same run (each action in its own savepoint through the
   one-lead services) on a sample.
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

TEAMS = 10
REPS_PER_TEAM = 20
CAPACITY = 50  # open items a rep holds at most (the default)


def fill(db: Any, *, leads: int, queued: int) -> None:
    """Leads, teams, reps, queue items, ledger rows and interactions, in SQL."""
    from django.contrib.auth.hashers import make_password

    password = make_password("bench")
    with db.cursor() as c:
        c.execute(
            """
            INSERT INTO scoring_lead (email, first_name, last_name, title, department, company, industry,
                country, city, attributes, lifecycle_stage, fit_score, engagement_score, engagement_base,
                engagement_base_at, last_activity_at, time_zone, created_at, updated_at)
            SELECT 'lead' || i || '@bench.example', 'First' || i, 'Last' || i, 'Buyer', 'Purchasing',
                'Company ' || mod(i, 5000), (ARRAY['Toys','Retail','Education','Software'])[1 + mod(i, 4)],
                (ARRAY['US','Spain','Canada','Mexico','Germany'])[1 + mod(i, 5)], 'City', '{}'::jsonb, 'lead',
                mod(hashint, 40), mod(hashint / 40, 70), mod(hashint / 40, 70),
                now() - interval '3 days', now() - interval '3 days', '', now(), now()
            FROM (SELECT i, abs(hashtext(i::text)) AS hashint FROM generate_series(1, %s) AS i) AS s
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
        # Teams 0-9 and 10 (the small one) for the page; "routing" for the routing run, with room.
        for t in [*range(TEAMS + 1), "routing"]:
            c.execute(
                "INSERT INTO routing_team (key, name, assignment, sla_hours, sla_action, email)"
                " VALUES (%s, %s, 'round_robin', 4, 'notify', '') RETURNING id",
                [f"team-{t}", f"Team {t}"],
            )
            (team_id,) = c.fetchone()
            capacity = CAPACITY if t != "routing" else 100_000
            for r in range(REPS_PER_TEAM):
                c.execute(
                    "INSERT INTO auth_user (username, password, is_superuser, first_name, last_name, email,"
                    " is_staff, is_active, date_joined) VALUES (%s, %s, false, '', '', %s, false, true, now())"
                    " RETURNING id",
                    [f"rep-{t}-{r}", password, f"rep-{t}-{r}@bench.example"],
                )
                (user_id,) = c.fetchone()
                c.execute(
                    "INSERT INTO routing_rep (user_id, team_id, available, capacity) VALUES (%s, %s, true, %s)",
                    [user_id, team_id, capacity],
                )
                c.execute(
                    "INSERT INTO auth_user_groups (user_id, group_id)"
                    " SELECT %s, id FROM auth_group WHERE name = 'Sales'",
                    [user_id],
                )
        # Queued leads: every tenth lead up to --queued, spread over teams 0-9 (10,000 each);
        # team 10 gets 100, to compare query counts. In each team every rep holds a full
        # capacity of open items (assigned, claimed, accepted or qualified), as round robin
        # leaves them; the rest of the team's queue waits unclaimed.
        c.execute(
            """
            INSERT INTO routing_queueitem (lead_id, team_id, owner_id, status, entered_at, claimed_at, reason,
                budget, authority, need, timeline)
            SELECT l.id, t.id, r.user_id,
                CASE WHEN r.user_id IS NULL THEN 'open'
                     ELSE (ARRAY['open', 'claimed', 'accepted', 'qualified'])[1 + mod(l.k / %(reps)s, 4)] END,
                now() - mod(l.n, 600) * interval '1 minute',
                CASE WHEN r.user_id IS NOT NULL AND mod(l.k / %(reps)s, 4) > 0 THEN now() END, '',
                b.v, b.v, b.v, b.v
            FROM (SELECT id, n, (n - 1) / %(teams)s AS k
                  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM scoring_lead WHERE mod(id, 10) = 0
                        ORDER BY id LIMIT %(queued)s) AS numbered) AS l
            JOIN routing_team t ON t.key = 'team-' || mod(l.n, %(teams)s)
            LEFT JOIN LATERAL (SELECT rep.user_id FROM routing_rep rep WHERE rep.team_id = t.id
                               AND l.k < %(reps)s * %(capacity)s ORDER BY rep.id OFFSET mod(l.k, %(reps)s) LIMIT 1) r
                ON true
            CROSS JOIN LATERAL (SELECT CASE WHEN r.user_id IS NOT NULL AND mod(l.k / %(reps)s, 4) = 3
                                THEN 'known' ELSE '' END AS v) b
            """,
            {"reps": REPS_PER_TEAM, "queued": queued, "teams": TEAMS, "capacity": CAPACITY},
        )
        c.execute(
            """
            INSERT INTO routing_queueitem (lead_id, team_id, status, entered_at, reason, budget, authority, need,
                timeline)
            SELECT l.id, (SELECT id FROM routing_team WHERE key = 'team-10'), 'open', now(), '', '', '', '', ''
            FROM scoring_lead l WHERE mod(l.id, 10) = 5 ORDER BY l.id LIMIT 100
            """
        )
        c.execute(
            "UPDATE scoring_lead l SET owner_id = q.owner_id,"
            " queue_team_id = CASE WHEN q.owner_id IS NULL THEN q.team_id END"
            " FROM routing_queueitem q WHERE q.lead_id = l.id"
        )
        c.execute(
            """
            INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, rule_id, occurred_at, created_at, note)
            SELECT q.lead_id, r.dimension, r.points, 'rule', r.id, now() - interval '3 days', now(), ''
            FROM routing_queueitem q
            CROSS JOIN LATERAL (SELECT * FROM scoring_scoringrule ORDER BY id LIMIT 3) r
            """
        )
        c.execute(
            """
            INSERT INTO scoring_interaction (lead_id, type, properties, occurred_at, source, idempotency_key,
                received_at)
            SELECT q.lead_id, (ARRAY['email_open','page_view','download','webinar','form_submit'])[k],
                jsonb_build_object('url', 'https://toys.example/p/' || k), now() - k * interval '1 hour', 'bench',
                'bench-' || q.lead_id || '-' || k, now()
            FROM routing_queueitem q CROSS JOIN generate_series(1, 5) AS k
            """
        )
    db.commit()
    with db.cursor() as c:
        for table in ("scoring_lead", "routing_queueitem", "scoring_scoreentry", "scoring_interaction"):
            c.execute(f"VACUUM ANALYZE {table}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def naive_page(user: Any) -> int:
    """The queue page as one would first write it: the rows, then per lead its
    reasons and interactions. Returns the bytes of the rendered rows."""
    from django.db.models import Q

    from routing.models import QueueItem, Rep
    from scoring import selectors
    from scoring.models import Interaction

    rep = Rep.objects.get(user=user)
    items = (
        QueueItem.objects.filter(Q(owner=user) | Q(team_id=rep.team_id, owner__isnull=True))
        .filter(status__in=QueueItem.OPEN_STATUSES)
        .select_related("lead")
        .order_by("-lead__total_score", "entered_at")[:25]
    )
    size = 0
    for item in items:
        reasons = selectors.lead_score_breakdown(lead=item.lead)[:3]
        recent = list(Interaction.objects.filter(lead_id=item.lead_id).order_by("-occurred_at")[:3])
        size += len(str(item.lead)) + len(reasons) + len(recent)
    return size


def time_requests(client: Any, users: list[Any], pages: int, requests: int, naive: bool = False) -> list[float]:
    timings = []
    for i in range(requests):
        user = users[i % len(users)]
        page = 1 + (i // len(users)) % pages
        if naive:
            started = time.perf_counter()
            naive_page(user)
        else:
            client.force_login(user)
            started = time.perf_counter()
            response = client.get("/sales/", {"page": page})
            if response.status_code != 200:
                raise SystemExit(f"/sales/ answered {response.status_code} for {user}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def setup_routing(bench_transitions: int) -> tuple[list[int], list[int], list[Any]]:
    """Rules as the toy store's, and transitions (unsaved) for leads in no queue.
    Returns the lead ids for the batched run, those of the naive sample, and the rows."""
    from django.utils import timezone

    from nurture.models import Sequence
    from routing.models import RoutingAction, RoutingRule, Team
    from scoring.models import GroupTransition, Lead, ScoreGroup

    nurture, preferential = ScoreGroup.objects.get(key="nurture"), ScoreGroup.objects.get(key="preferential")
    sequence = Sequence.objects.get(key="nurture")
    team = Team.objects.get(key="team-routing")
    hot = RoutingRule.objects.create(
        key="hot", name="Preferential to sales", trigger="enters_group", group=preferential
    )
    actions: list[tuple[str, dict[str, Any]]] = [
        ("exit_all", {}),
        ("route_to_queue", {"team": team}),
        ("set_stage", {"stage": "sql"}),
        ("add_tag", {"tag": "hot"}),
    ]
    for position, (kind, extra) in enumerate(actions):
        RoutingAction.objects.create(rule=hot, position=position, kind=kind, **extra)
    warm = RoutingRule.objects.create(key="warm", name="Nurture", trigger="enters_group", group=nurture)
    RoutingAction.objects.create(rule=warm, kind="enroll", sequence=sequence)
    free = list(
        Lead.objects.filter(queue_items__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[: bench_transitions + bench_transitions // 10]
    )
    now = timezone.now()
    rows = [
        GroupTransition(
            lead_id=lead_id,
            kind="score",
            to_group=preferential if i % 2 == 0 else nurture,
            direction="up",
            previous_total=0,
            total_score=80 if i % 2 == 0 else 40,
            cause="rule",
            occurred_at=now,
        )
        for i, lead_id in enumerate(free)
    ]
    return free[:bench_transitions], free[bench_transitions:], rows


def naive_route(event_ids: list[int]) -> None:
    """Per event, per action: a savepoint, an ActionRun, the one-lead service."""
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    from nurture import services as nurture
    from routing import services, triggers
    from routing.models import ActionRun, QueueItem
    from scoring import services as scoring
    from scoring.models import GroupTransition

    rules = services.rules_load()
    now = timezone.now()
    for event in GroupTransition.objects.filter(pk__in=event_ids).select_related("lead").order_by("id"):
        moved = triggers.Event(from_group=event.from_group_id, to_group=event.to_group_id)
        with transaction.atomic():
            for loaded in rules:
                if not triggers.fires(loaded.trigger, moved):
                    continue
                for action in loaded.actions:
                    try:
                        with transaction.atomic():
                            ActionRun.objects.create(transition=event, action=action)
                            if action.kind == "enroll" and action.sequence:
                                nurture.enrollment_try_start(lead=event.lead, sequence=action.sequence, now=now)
                            elif action.kind == "exit_all":
                                nurture.leads_exit_all(lead_ids=[event.lead_id], now=now)
                            elif action.kind == "route_to_queue" and action.team:
                                if not QueueItem.objects.filter(
                                    lead=event.lead, status__in=QueueItem.OPEN_STATUSES
                                ).exists():
                                    services.leads_queue(team=action.team, lead_ids=[event.lead_id], now=now)
                            elif action.kind == "set_stage":
                                scoring.leads_stage_set(lead_ids=[event.lead_id], stage=action.stage, cause="routing")
                            elif action.kind == "add_tag":
                                scoring.leads_tag(lead_ids=[event.lead_id], tag=action.tag)
                    except IntegrityError:
                        pass
            GroupTransition.objects.filter(pk=event.pk).update(processed_at=now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--transitions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    admin_url, bench_name = bench_settings("queue_bench")
    try:
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from routing import services
        from routing.models import ActionRun, QueueItem
        from scoring.models import GroupTransition

        call_command("migrate", verbosity=0)
        call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        call_command("nurture_sequences_import", str(ROOT / "examples/toy_store_nurture.yaml"), verbosity=0)
        started = time.perf_counter()
        connection.ensure_connection()
        fill(connection.connection, leads=args.leads, queued=args.queued)
        print(
            f"Database {bench_name}: {args.leads:,} leads, {QueueItem.objects.count():,} queued"
            f" ({TEAMS} teams of {REPS_PER_TEAM} reps + one of 100 leads),"
            f" filled in {time.perf_counter() - started:.0f} s"
        )

        # 1. the sales queue page -----------------------------------------------------------
        client = Client(HTTP_HOST="127.0.0.1")
        reps = list(
            User.objects.filter(username__startswith="rep-")
            .exclude(username__startswith="rep-10-")
            .exclude(username__startswith="rep-routing-")
        )
        reps = reps[::7][:20]
        time_requests(client, reps, 4, 20)  # warm up
        fast = time_requests(client, reps, 4, args.requests)
        naive = time_requests(client, reps, 1, max(20, args.requests // 4), naive=True)
        counts = {}
        for team in ("team-0", "team-10"):
            username = f"rep-{team.removeprefix('team-')}-1"
            label = f"{QueueItem.objects.filter(team__key=team).count():,} queued"
            client.force_login(User.objects.get(username=username))
            with CaptureQueriesContext(connection) as queries:
                client.get("/sales/")
            counts[label] = len(queries)
        p95, naive_p95 = percentile(fast, 95), percentile(naive, 95)
        print(f"\n1. Sales queue page, {len(fast)} requests by {len(reps)} reps, pages 1-4:")
        print(f"   p50 {statistics.median(fast):.1f} ms, p95 {p95:.1f} ms (target < 100), max {max(fast):.1f} ms")
        print(
            f"   naive page (reasons and interactions per lead), {len(naive)} requests: "
            f"p95 {naive_p95:.1f} ms -> the page is {naive_p95 / p95:.1f}x faster"
        )
        print(
            "   queries per page: "
            + ", ".join(f"{label}: {n}" for label, n in counts.items())
            + (" (equal: does not grow with the queue)" if len(set(counts.values())) == 1 else " (NOT equal)")
        )

        # 2. routing throughput --------------------------------------------------------------
        batched_leads, naive_leads, rows = setup_routing(args.transitions)
        GroupTransition.objects.bulk_create(rows, batch_size=5000)
        naive_ids = list(GroupTransition.objects.filter(lead_id__in=naive_leads).values_list("id", flat=True))
        # The naive sample is routed first; then the batched router finds only the rest pending.
        started = time.perf_counter()
        naive_route(naive_ids)
        naive_rate = len(naive_ids) / (time.perf_counter() - started)
        # The stage changes the naive router caused are not part of the batched run.
        GroupTransition.objects.filter(lead_id__in=naive_leads, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
        pending = GroupTransition.objects.filter(processed_at__isnull=True).count()
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profiler = cProfile.Profile()
            processed = profiler.runcall(services.transitions_route)
            profiler.dump_stats(os.environ["BENCH_PROFILE"])
        else:
            processed = services.transitions_route()
        seconds = time.perf_counter() - started
        rate = args.transitions / seconds
        runs = ActionRun.objects.filter(transition__lead_id__in=batched_leads).count()
        print(f"\n2. Routing {pending:,} transitions ({processed - pending:,} stage changes they caused, routed too):")
        print(f"   {seconds:.2f} s: {rate:,.0f} transitions/s (target >= 2,000); {runs:,} actions run once each")
        print(
            f"   naive router on {len(naive_ids):,}: {naive_rate:,.0f} transitions/s"
            f" -> batched/naive = {rate / naive_rate:.1f}x"
        )
        before = ActionRun.objects.count()
        again = services.transitions_route()
        print(
            f"   a second run finds {again} transitions to route and adds"
            f" {ActionRun.objects.count() - before} action runs"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
