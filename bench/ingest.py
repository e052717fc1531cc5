"""Ingestion benchmark: events through the HTTP API until scored, on
PostgreSQL + Redis, with a real HTTP server (gunicorn) and real Celery workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/ingest.py [--events 200000] [--leads 50000]

It creates its own database (``<name>_bench`` next to DATABASE_URL's) and
drops it afterwards. In one run it measures and prints:

1. bulk path: all events POSTed in batches of 1,000, from the first request
   until every event is scored (events/s end to end, and accept-only rate);
2. raw COPY of the same rows into a scratch table (the floor: events/s);
3. the naive path on a sample: one Celery task per event through the ORM;
4. a trickle of 100 single events/s for 60 s: p50/p95 from the API's 202 to
   the score being visible in the database;
5. the Celery worker processes' peak resident memory.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import PeakMemory, bench_database, bench_environment, recreate_database  # noqa: E402

PORT = 18931
TOY_TYPES = [
    ("page_view", {"url": "https://toys.example/landing/spring"}),
    ("page_view", {"url": "https://toys.example/blog/puzzles"}),
    ("email_open", {"campaign": "spring"}),
    ("email_click", {"campaign": "spring", "url": "https://toys.example/offer"}),
    ("form_submit", {"form": "newsletter"}),
    ("download", {"file": "guide.pdf"}),
]


def make_events(count: int, leads: int, *, prefix: str, seed: int = 1) -> list[dict[str, object]]:
    generator = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events: list[dict[str, object]] = []
    for n in range(count):
        kind, properties = TOY_TYPES[generator.randrange(len(TOY_TYPES))]
        events.append(
            {
                "id": f"{prefix}-{n}",
                "type": kind,
                "occurred_at": (start + timedelta(seconds=generator.randrange(20 * 86400))).isoformat(),
                "lead": {"email": f"lead{generator.randrange(leads)}@bench.example"},
                "properties": properties,
            }
        )
    return events


class Api:
    """Keep-alive HTTP/1.1 connections to the server, one per thread."""

    def __init__(self, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.local = threading.local()

    def post(self, path: str, body: bytes) -> dict[str, object]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        conn.request("POST", path, body=body, headers=self.headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 202:
            raise RuntimeError(f"{path}: {response.status} {payload[:500]!r}")
        result: dict[str, object] = json.loads(payload)
        return result


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs = Path(tempfile.gettempdir()) / "leadflow-bench"
        self.logs.mkdir(exist_ok=True)

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until(check: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=3, help="concurrent HTTP clients")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=3000)
    parser.add_argument("--trickle-seconds", type=int, default=60)
    parser.add_argument("--trickle-rate", type=int, default=100)
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    if not broker.startswith("redis://"):
        raise SystemExit("bench/ingest.py needs CELERY_BROKER_URL pointing at Redis")
    bench_environment()
    database_url, admin_url, bench_name = bench_database("bench")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "DATABASE_CONN_MAX_AGE": "600",
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from intake.api_keys import api_key_issue
    from project.celery import app

    print(f"Database {bench_name}, broker {broker}; {os.cpu_count()} cores")
    call_command("migrate", verbosity=0)
    call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
    key = api_key_issue(name="bench").key
    app.control.purge()
    connection.close()

    processes = Processes(env)
    python = sys.executable
    processes.start(
        "web",
        [
            python, "-m", "gunicorn", "project.wsgi", f"--bind=127.0.0.1:{PORT}",
            f"--workers={args.web_workers}", "--worker-class=sync", "--timeout=120", "--log-level=warning",
        ],
    )  # fmt: skip
    worker = processes.start(
        "worker",
        [
            python, "-m", "celery", "-A", "project", "worker", "-I", "bench.naive", "--loglevel=WARNING",
            f"--concurrency={args.worker_concurrency}", "--without-gossip", "--without-mingle",
        ],
    )  # fmt: skip
    memory = PeakMemory(worker.pid)
    db = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True)

    def count(sql: str) -> int:
        row = db.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def web_up() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/admin/login/")
            return conn.getresponse().status == 200
        except OSError:
            return False

    try:
        wait_until(web_up, timeout=60, what="gunicorn")
        time.sleep(2)  # the worker's start
        api = Api(key)

        # 1. bulk path ------------------------------------------------------------------
        events = make_events(args.events, args.leads, prefix="bulk")
        bodies = [
            json.dumps({"events": events[i : i + args.batch]}).encode() for i in range(0, len(events), args.batch)
        ]
        print(f"\n1. Bulk: {len(events):,} events for {args.leads:,} leads, {len(bodies)} requests of {args.batch}")
        started = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:
            results = list(pool.map(lambda body: api.post("/api/v1/events", body), bodies))
        accepted_at = time.perf_counter()
        accepted = sum(int(r["accepted"]) for r in results)  # type: ignore[call-overload]
        assert accepted == len(events), f"accepted {accepted} of {len(events)}"
        wait_until(
            lambda: count("SELECT count(*) FROM scoring_interaction WHERE scored_at IS NULL") == 0,
            timeout=1800,
            what="scoring",
        )
        scored_at = time.perf_counter()
        bulk_rate = len(events) / (scored_at - started)
        print(f"   accepted in {accepted_at - started:.1f} s ({len(events) / (accepted_at - started):,.0f} events/s)")
        print(f"   all scored {scored_at - started:.1f} s after the first request")
        print(f"   END TO END: {bulk_rate:,.0f} events/s")
        ledger = count("SELECT count(*) FROM scoring_scoreentry WHERE interaction_id IS NOT NULL")
        mismatch = count(
            "SELECT count(*) FROM scoring_lead l LEFT JOIN (SELECT lead_id, sum(delta) s FROM scoring_scoreentry"
            " GROUP BY lead_id) e ON e.lead_id = l.id WHERE l.fit_score + l.engagement_score <> coalesce(e.s, 0)"
        )
        print(f"   {ledger:,} ledger rows; leads whose cached score differs from the ledger: {mismatch}")

        # 2. raw COPY ---------------------------------------------------------------------
        db.execute(
            "CREATE TABLE bench_copy (idempotency_key text, email text, type text, occurred_at timestamptz,"
            " properties jsonb)"
        )
        buffer = io.StringIO()
        for e in events:
            props = json.dumps(e["properties"]).replace("\\", "\\\\")
            buffer.write(f"{e['id']}\t{e['lead']['email']}\t{e['type']}\t{e['occurred_at']}\t{props}\n")  # type: ignore[index]
        data = buffer.getvalue()
        started = time.perf_counter()
        with db.cursor() as cursor, cursor.copy("COPY bench_copy FROM STDIN") as copy:
            copy.write(data)
        copy_rate = len(events) / (time.perf_counter() - started)
        print(f"\n2. Raw COPY of the same rows into a scratch table: {copy_rate:,.0f} events/s")

        # 3. naive path ---------------------------------------------------------------------
        sample = make_events(args.naive_sample, args.leads, prefix="naive", seed=2)
        naive_task = app.signature("bench.naive_event")
        started = time.perf_counter()
        for event in sample:
            naive_task.apply_async(args=(event,))
        wait_until(
            lambda: (
                count("SELECT count(*) FROM scoring_interaction WHERE source = 'bench-naive' AND scored_at IS NOT NULL")
                == len(sample)
            ),
            timeout=1800,
            what="the naive tasks",
        )
        naive_rate = len(sample) / (time.perf_counter() - started)
        print(f"\n3. Naive (one Celery task per event, ORM), {len(sample):,} events: {naive_rate:,.0f} events/s")

        # 4. trickle -------------------------------------------------------------------------
        total = args.trickle_rate * args.trickle_seconds
        trickle = make_events(total, args.leads, prefix="trickle", seed=3)
        now = datetime.now(UTC).isoformat()
        for event in trickle:
            event["occurred_at"] = now
        accepted_times: dict[str, float] = {}
        visible_times: dict[str, float] = {}
        lock = threading.Lock()
        done = threading.Event()

        def watch() -> None:
            watcher = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True)
            while not done.is_set() or len(visible_times) < len(accepted_times):
                with lock:
                    waiting = [k for k in accepted_times if k not in visible_times]
                if waiting:
                    rows = watcher.execute(
                        "SELECT idempotency_key FROM scoring_interaction"
                        " WHERE idempotency_key = ANY(%s) AND scored_at IS NOT NULL",
                        (waiting,),
                    ).fetchall()
                    seen = time.perf_counter()
                    for (k,) in rows:
                        visible_times[k] = seen
                time.sleep(0.01)
            watcher.close()

        watcher = threading.Thread(target=watch)
        watcher.start()

        def send(event: dict[str, object]) -> None:
            api.post("/api/v1/events", json.dumps(event).encode())
            with lock:
                accepted_times[str(event["id"])] = time.perf_counter()

        print(f"\n4. Trickle: {args.trickle_rate} events/s for {args.trickle_seconds} s")
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            for n, event in enumerate(trickle):
                delay = started + n / args.trickle_rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, event)
        done.set()
        watcher.join(timeout=120)
        latencies = [visible_times[k] - accepted_times[k] for k in accepted_times if k in visible_times]
        missing = len(accepted_times) - len(latencies)
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print(
            f"   accept → scored: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )
        print(f"   mean {statistics.mean(latencies) * 1000:.0f} ms over {len(latencies)} events; never seen: {missing}")

        peak = memory.stop()
        print("\nSummary")
        print(f"   bulk end to end      {bulk_rate:>10,.0f} events/s   (target >= 10,000)")
        print(f"   raw COPY             {copy_rate:>10,.0f} events/s   bulk/COPY = {bulk_rate / copy_rate:.3f}")
        print(f"   naive per-event      {naive_rate:>10,.0f} events/s   bulk/naive = {bulk_rate / naive_rate:.1f}x"
              "   (target >= 20x)")  # fmt: skip
        print(f"   trickle p95          {p95 * 1000:>10.0f} ms         (target < 1000)")
        print(f"   worker peak RSS      {peak / 2**20:>10.0f} MB         (target < 300, largest worker process)")
    finally:
        memory.stop()
        processes.stop()
        db.close()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
