"""What-if benchmark on PostgreSQL: a 90-day replay of a draft beside the live model,
against the full rescore of the same data.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/whatif.py \\
        [--leads 1000000] [--interactions 5000000] [--rescore-sample 100000 | --full-rescore]

Creates its own database (``<name>_bench_whatif``), fills it with the toy store's
history as bench/decay.py does (interactions 5 to 90 days old, already scored), makes a
draft (emails worth more, a lower first group) and in one run measures and prints:

1. the replay (``manage.py scoring_replay``, in its own process as a worker runs it):
   its time and its peak resident memory (``getrusage`` of the child processes);
2. the baseline: rescoring the same leads from their history after the same change.
   By default a sample of leads is rescored in this process and the time extrapolated
   to every lead (the output says so); ``--full-rescore`` runs ``manage.py
   scoring_rescore`` on all of them instead;
3. the ratio of the two.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import PeakMemory, bench_database, bench_environment, recreate_database  # noqa: E402
from decay import generate  # noqa: E402

DRAFT = "emails worth 3"


def children_peak_mb() -> float:
    """The largest resident memory any finished child process reached (Linux: KB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rescore-sample", type=int, default=100_000, help="leads rescored to time the baseline")
    parser.add_argument("--full-rescore", action="store_true", help="rescore every lead (slow) instead of a sample")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run (LEADFLOW_BENCH_KEEP=1)")
    parser.add_argument("--fill-only", action="store_true", help="fill the database and stop (with --reuse later)")
    args = parser.parse_args()

    bench_environment()
    database_url, admin_url, name = bench_database("bench_whatif", reuse=args.reuse)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from scoring import model_file, services
    from scoring.models import Interaction, Lead, ModelVersion, ScoringRule
    from scoring.services import versions

    python = sys.executable
    try:
        call_command("migrate", verbosity=0)
        filled = ModelVersion.objects.filter(status=ModelVersion.Status.DRAFT, name=DRAFT).first()
        if filled is None:
            call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        rules = dict(ScoringRule.objects.values_list("key", "id"))
        print(
            f"Database {name}: {Lead.objects.count():,} leads, {Interaction.objects.count():,} interactions;"
            f" {os.cpu_count()} cores, replay over {settings.LEADFLOW_REPLAY_PROCESSES} processes"
            " (LEADFLOW_REPLAY_PROCESSES)"
        )
        if filled is None:
            with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as db:
                generate(db, leads=args.leads, interactions=args.interactions, rules=rules)
            # The draft: email opens and clicks worth 3 instead of 2, and nurture from 6 points
            # instead of 40 (the generated leads hold a few points each: many move).
            spec = model_file.dump_data(services.scoring_model_export())
            for rule in spec["rules"]:
                if rule["key"] == "email-interaction":
                    rule["points"] = 3
            spec["score_groups"][0]["min_score"] = 6
            filled = versions.draft_import(spec=model_file.load_data(spec), user=None, name=DRAFT)
        version = filled
        connection.close()
        if args.fill_only:
            return

        # --- 1. replay ----------------------------------------------------------------------
        started = time.perf_counter()
        child = subprocess.Popen(
            [python, "manage.py", "scoring_replay", str(version.pk), "--days", str(args.days)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        memory = PeakMemory(child.pid)
        out, err = child.communicate()
        replay = time.perf_counter() - started
        memory.stop()
        if child.returncode:
            raise SystemExit(f"replay failed:\n{out}\n{err}")
        peak = children_peak_mb()
        print(f"\n1. Replay of {args.days} days (live and draft in one pass): {replay:.1f} s (target < 120 s)")
        print(
            f"   peak RSS {peak:.0f} MB in the largest process (getrusage; target < 300 MB),"
            f" {memory.peak_total / 2**20:.0f} MB all its processes together (sampled, proportional set sizes)"
        )
        print("   " + "\n   ".join(out.strip().splitlines()))

        # --- 2. rescore (baseline) ------------------------------------------------------------
        ScoringRule.objects.filter(key="email-interaction").update(points=3)
        if args.full_rescore:
            started = time.perf_counter()
            subprocess.run([python, "manage.py", "scoring_rescore", "--quiet"], cwd=ROOT, env=env, check=True)
            rescore = time.perf_counter() - started
            how = f"all {args.leads:,} leads, manage.py scoring_rescore"
        else:
            sample = min(args.rescore_sample, args.leads)
            ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:sample])
            started = time.perf_counter()
            for low in range(0, len(ids), 2000):
                services.leads_rescore(lead_ids=ids[low : low + 2000])
            measured = time.perf_counter() - started
            rescore = measured * args.leads / max(1, len(ids))
            how = (
                f"EXTRAPOLATED from {len(ids):,} leads rescored in {measured:.1f} s in one process"
                f" (x {args.leads / max(1, len(ids)):.1f})"
            )
        print(f"\n2. Rescore of the same data after the same change: {rescore:.1f} s ({how})")
        ScoringRule.objects.filter(key="email-interaction").update(points=2)  # the live model as it was
        print(f"\n3. replay / rescore = {replay / rescore:.2f}")
    finally:
        connection.close()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, name, drop_only=True)


if __name__ == "__main__":
    main()
