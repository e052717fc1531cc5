"""Model versions benchmark: does keeping drafts slow the live engine, and how fast is the
publish screen's count of leads crossing the draft's thresholds?

    .venv/bin/python bench/model_versions.py [--leads 100000] [--interactions 3000] [--drafts 20] [--rounds 3]

With DATABASE_URL pointing at PostgreSQL it creates its own database
(``<name>_versions_bench`` next to DATABASE_URL's) and drops it afterwards (keep it with
LEADFLOW_BENCH_KEEP=1); without, a scratch SQLite file (use fewer leads there, e.g.
``--leads 20000``). It loads the toy store's model, fills ``--leads`` leads with scores and
groups, then measures:

1. scoring ``--interactions`` new interactions (the workers' path) with no draft, and the same
   with ``--drafts`` drafts present (each a full copy of the model's rows), in ``--rounds``
   rounds, each going first every other round; the ratio drafts / none should stay near 1
   (the engine reads the live rows only, through the tables' default managers);
2. reading the live rules as the engine does (``selectors.rules_pure``), with and without the
   drafts, many times;
3. the publish screen's counts (:func:`scoring.services.versions.publish_crossings`) on all
   the leads, against the baseline of the same counts computed lead by lead in Python (every
   lead read); the results must be equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_environment, bench_settings, recreate_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=3000)
    parser.add_argument("--drafts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    admin_url = bench_name = ""
    scratch = None
    if postgres:
        admin_url, bench_name = bench_settings("versions_bench")
    else:
        bench_environment()
        scratch = tempfile.TemporaryDirectory()
        os.environ.update(
            {
                "DATABASE_URL": f"sqlite:///{scratch.name}/bench.sqlite3",
                "LEADFLOW_LOG_LEVEL": "WARNING",
                "DJANGO_DEBUG": "false",
                "DJANGO_SETTINGS_MODULE": "project.settings",
            }
        )
        bench_name = "SQLite (scratch file)"
    try:
        run(args, bench_name)
    finally:
        if postgres and not os.environ.get("LEADFLOW_BENCH_KEEP"):
            from django.db import connections

            connections.close_all()
            recreate_database(admin_url, bench_name, drop_only=True)
        if scratch is not None:
            scratch.cleanup()


def run(args: argparse.Namespace, bench_name: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from scoring import rules as pure
    from scoring import selectors, services
    from scoring.models import Interaction, Lead, ModelVersion, ScoreGroup, ScoringRule
    from scoring.services import versions

    call_command("migrate", verbosity=0)
    call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)

    started = time.perf_counter()
    batch = 5000
    for low in range(0, args.leads, batch):
        Lead.objects.bulk_create(
            Lead(
                email=f"lead{i}@bench.example",
                fit_score=(i * 7919) % 40 - 5,
                engagement_score=(i * 104729) % 90,
                engagement_base=(i * 104729) % 90,
            )
            for i in range(low, min(low + batch, args.leads))
        )
    with connection.cursor() as c:
        c.execute(
            """
            UPDATE scoring_lead SET score_group_id = (
                SELECT g.id FROM scoring_scoregroup g
                WHERE g.version_id IS NULL AND g.min_score <= scoring_lead.fit_score + scoring_lead.engagement_score
                ORDER BY g.min_score DESC LIMIT 1)
            """
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE scoring_lead")
    print(f"Database {bench_name}: {args.leads:,} leads, filled in {time.perf_counter() - started:.1f} s")

    lead_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[: max(1, args.interactions // 3)])
    at = datetime.now(UTC) - timedelta(days=1)
    made = 0

    def score_batch() -> float:
        nonlocal made
        stored = Interaction.objects.bulk_create(
            Interaction(
                lead_id=lead_ids[n % len(lead_ids)],
                type=("email_open", "email_click", "page_view")[n % 3],
                properties={"url": "/toys"} if n % 3 == 2 else {},
                occurred_at=at + timedelta(seconds=made + n),
                idempotency_key=f"bench-{made + n}",
            )
            for n in range(args.interactions)
        )
        services.interactions_wait(stored)
        made += args.interactions
        started = time.perf_counter()
        services.interactions_score_pending()
        return time.perf_counter() - started

    def rules_read(times: int = 200) -> float:
        started = time.perf_counter()
        for _ in range(times):
            selectors.rules_pure()
        return (time.perf_counter() - started) / times

    # 1 and 2: the engine with and without drafts, alternating ------------------------------------
    none_times, drafts_times, none_reads, drafts_reads = [], [], [], []

    def without_drafts() -> None:
        none_times.append(score_batch())
        none_reads.append(rules_read())

    def with_drafts() -> None:
        drafts = [versions.draft_create(user=None, name=f"bench {n}") for n in range(args.drafts)]
        drafts_times.append(score_batch())
        drafts_reads.append(rules_read())
        for draft in drafts:
            versions.draft_discard(draft=draft)

    score_batch()  # warm up (caches, the first plans), not counted
    for round_ in range(args.rounds):
        # Each goes first every other round: the growing tables favour neither.
        for measure in (without_drafts, with_drafts) if round_ % 2 == 0 else (with_drafts, without_drafts):
            measure()
    live_rules = ScoringRule.objects.count()
    none_s, drafts_s = statistics.median(none_times), statistics.median(drafts_times)
    print(
        f"\n1. Scoring {args.interactions:,} interactions (median of {args.rounds} rounds):"
        f"\n   no draft          {none_s:.2f} s ({args.interactions / none_s:,.0f}/s)"
        f"\n   {args.drafts} drafts present  {drafts_s:.2f} s ({args.interactions / drafts_s:,.0f}/s)"
        f"  ({args.drafts * live_rules:,} draft rules beside {live_rules} live ones)"
        f"\n   ratio drafts / none: {drafts_s / none_s:.2f}"
    )
    none_r, drafts_r = statistics.median(none_reads), statistics.median(drafts_reads)
    print(
        f"\n2. Reading the live rules as the engine does: {none_r * 1000:.2f} ms without drafts, "
        f"{drafts_r * 1000:.2f} ms with {args.drafts}; ratio {drafts_r / none_r:.2f}"
    )

    # 3: the publish screen's counts ---------------------------------------------------------------
    draft = versions.draft_create(user=None, name="lower thresholds")
    for group in ScoreGroup.all_versions.filter(version=draft):
        group.min_score -= 10
        group.leave_below = None
        group.save()
    started = time.perf_counter()
    moves = versions.publish_crossings(draft=draft)
    screen = time.perf_counter() - started

    started = time.perf_counter()
    live = {g.pk: g for g in ScoreGroup.objects.all()}
    drafted = list(ScoreGroup.all_versions.filter(version=draft))
    by_key = {g.key: g for g in drafted}
    bands = [pure.Band(g.pk, g.min_score, g.leave_below) for g in drafted]
    naive: Counter[tuple[str, str]] = Counter()
    for lead in Lead.objects.only("score_group_id", "total_score").iterator(chunk_size=5000):
        now = live.get(lead.score_group_id) if lead.score_group_id else None
        same = by_key.get(now.key) if now else None
        new = pure.group_for(lead.total_score, bands, current=same.pk if same else None)
        after = next((g for g in drafted if g.pk == new), None)
        if (now.key if now else None) != (after.key if after else None):
            naive[(now.name if now else "no group", after.name if after else "no group")] += 1
    per_lead = time.perf_counter() - started
    same_result = naive == Counter({(m.from_group, m.to_group): m.leads for m in moves})
    moving = sum(m.leads for m in moves)
    print(
        f"\n3. Publish screen's counts on {args.leads:,} leads ({moving:,} would change group, "
        f"{len(moves)} from-to pairs): {screen * 1000:.0f} ms"
        f"\n   baseline, lead by lead in Python: {per_lead * 1000:.0f} ms; ratio {screen / per_lead:.3f}"
        f"\n   same counts: {'yes' if same_result else 'NO'}"
    )
    assert ModelVersion.objects.filter(status=ModelVersion.Status.LIVE).count() == 1


if __name__ == "__main__":
    main()
