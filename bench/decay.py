"""Decay and rescore benchmark on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/decay.py \\
        [--leads 1000000] [--interactions 5000000] [--skip-rescore]

Creates its own database (``<name>_bench_decay``), fills it with COPY, and in
one run measures and prints:

1. a raw SQL UPDATE of the rows decay changes (rolled back): the baseline;
2. the nightly decay of every lead (``manage.py scoring_decay``, in its own
   process as a worker runs it), its time, its ratio to the baseline, and its
   peak resident memory; then checks the ledger invariant;
3. a rescore of every lead from its interactions (``manage.py scoring_rescore``)
   after a rule change, its time and peak memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import PeakMemory, bench_database, recreate_database  # noqa: E402

TODAY = datetime(2026, 11, 24, tzinfo=UTC).date()


def copy_rows(db: psycopg.Connection, table: str, columns: list[str], rows: io.StringIO) -> None:
    with db.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(rows.getvalue())


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return (seconds, its peak resident memory in MB, output)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(process.pid)
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    peak = memory.stop()
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out}\n{err}")
    return elapsed, peak / 2**20, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--chunk", type=int, default=2000, help="rescore: leads per transaction")
    parser.add_argument("--skip-rescore", action="store_true", help="stop after the decay (faster iterations)")
    args = parser.parse_args()

    database_url, admin_url, name = bench_database("bench_decay")
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
    from django.core.management import call_command
    from django.db import connection

    from scoring.models import Lead, ScoringRule

    python = sys.executable
    try:
        call_command("migrate", verbosity=0)
        call_command("scoring_model_import", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        rules = dict(ScoringRule.objects.values_list("key", "id"))
        connection.close()
        db = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True)
        print(f"Database {name}: {args.leads:,} leads, {args.interactions:,} interactions; {os.cpu_count()} cores")

        # --- data -----------------------------------------------------------------------
        started = time.perf_counter()
        generator = random.Random(5)
        now = datetime.now(UTC)
        fixed = {  # every NOT NULL column without a database default, as the model defaults say
            f.column: f.get_default()
            for f in Lead._meta.concrete_fields
            if not f.null
            and not f.primary_key
            and not getattr(f, "generated", False)
            and f.column not in {"engagement_score", "engagement_base"}
        }
        per_lead = [0] * (args.leads + 1)
        last_seen: list[datetime] = [now] * (args.leads + 1)
        kinds = [("page_view", {"url": "https://toys.example/landing/a"}), ("email_open", {}), ("form_submit", {})]
        interactions = io.StringIO()
        ledger = io.StringIO()
        for n in range(1, args.interactions + 1):
            lead_id = generator.randrange(1, args.leads + 1)
            kind, props = kinds[n % 3]
            at = now - timedelta(days=generator.randrange(5, 90), seconds=generator.randrange(86400))
            interactions.write(
                f"{n}\t{lead_id}\t{kind}\t{at.isoformat()}\t{json.dumps(props)}\tbench\tevt-{n}\t{now}\t{now}\n"
            )
            rule = {
                "page_view": "landing-page-visit",
                "email_open": "email-interaction",
                "form_submit": "form-submission",
            }[kind]
            ledger.write(f"{lead_id}\tengagement\t2\trule\t{rules[rule]}\t{n}\t{at.isoformat()}\t{now}\t\n")
            per_lead[lead_id] += 2
            last_seen[lead_id] = max(last_seen[lead_id], at) if per_lead[lead_id] > 2 else at
        leads = io.StringIO()
        columns = [
            "id",
            *fixed,
            "email",
            "engagement_score",
            "engagement_base",
            "engagement_base_at",
            "last_activity_at",
        ]
        for lead_id in range(1, args.leads + 1):
            values = []
            for column, default in fixed.items():
                if column in {"created_at", "updated_at"}:
                    values.append(now.isoformat())
                elif isinstance(default, dict):
                    values.append("{}")
                elif isinstance(default, bool):
                    values.append("t" if default else "f")
                else:
                    values.append(str(default))
            seen = last_seen[lead_id].isoformat() if per_lead[lead_id] else "\\N"
            values += [f"lead{lead_id}@bench.example", str(per_lead[lead_id]), str(per_lead[lead_id]), seen, seen]
            leads.write(f"{lead_id}\t" + "\t".join(values) + "\n")
        copy_rows(db, "scoring_lead", columns, leads)
        copy_rows(
            db,
            "scoring_interaction",
            [
                "id",
                "lead_id",
                "type",
                "occurred_at",
                "properties",
                "source",
                "idempotency_key",
                "received_at",
                "scored_at",
            ],
            interactions,
        )
        copy_rows(
            db,
            "scoring_scoreentry",
            [
                "lead_id",
                "dimension",
                "delta",
                "cause",
                "rule_id",
                "interaction_id",
                "occurred_at",
                "created_at",
                "note",
            ],
            ledger,
        )
        del leads, interactions, ledger, per_lead, last_seen
        for table in ("scoring_lead", "scoring_interaction", "scoring_scoreentry"):
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608 (fixed table names)
            db.execute(f"VACUUM ANALYZE {table}")
        print(f"   data loaded in {time.perf_counter() - started:.0f} s")

        # --- 1. baseline ----------------------------------------------------------------------
        quiet_since = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) - timedelta(days=14)
        with db.transaction(force_rollback=True):
            started = time.perf_counter()
            updated = db.execute(
                "UPDATE scoring_lead SET engagement_score = GREATEST(0, engagement_score - 2)"
                " WHERE engagement_score > 0 AND engagement_base_at < %s",
                (quiet_since,),
            ).rowcount
            raw = time.perf_counter() - started
        print(f"\n1. Raw UPDATE of the {updated:,} quiet leads (rolled back): {raw:.1f} s")

        # --- 2. decay ------------------------------------------------------------------------
        elapsed, peak, output = run_measured([python, "manage.py", "scoring_decay", "--day", TODAY.isoformat()], env)
        run = db.execute(
            "SELECT extract(epoch FROM finished_at - started_at) FROM scoring_decayrun ORDER BY id DESC LIMIT 1"
        ).fetchone()
        decay_seconds = float(run[0]) if run else elapsed
        print(f"\n2. Nightly decay: {decay_seconds:.1f} s of work ({elapsed:.1f} s with the process start)  ({output})")
        print(
            f"   decay / raw UPDATE = {decay_seconds / raw:.2f}   (target <= 2)   peak RSS {peak:.0f} MB (target < 300)"
        )
        again, _, output = run_measured([python, "manage.py", "scoring_decay", "--day", TODAY.isoformat()], env)
        print(f"   the same day again: {again:.1f} s ({output})")
        mismatch = db.execute(
            "SELECT count(*) FROM scoring_lead l LEFT JOIN (SELECT lead_id, sum(delta) s FROM scoring_scoreentry"
            " GROUP BY lead_id) e ON e.lead_id = l.id WHERE l.fit_score + l.engagement_score <> coalesce(e.s, 0)"
        ).fetchone()
        print(f"   leads whose cached score differs from the ledger: {mismatch[0] if mismatch else '?'}")

        # --- 3. rescore ------------------------------------------------------------------------
        if args.skip_rescore:
            return
        db.execute("UPDATE scoring_scoringrule SET points = 3 WHERE key = 'email-interaction'")
        elapsed, peak, output = run_measured([python, "manage.py", "scoring_rescore", "--chunk", str(args.chunk)], env)
        print(f"\n3. Rescore of {args.leads:,} leads / {args.interactions:,} interactions: {elapsed:.0f} s"
              f" (target < 300 s), peak RSS {peak:.0f} MB")  # fmt: skip
        print(f"   {output.splitlines()[-1] if output else ''}")
        db.close()
    finally:
        connection.close()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, name, drop_only=True)


if __name__ == "__main__":
    main()
