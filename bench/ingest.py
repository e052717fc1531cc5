"""Ingestion benchmark: events through the HTTP API until scored, on
PostgreSQL + Redis, with a real HTTP server (gunicorn) and real Celery workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/ingest.py [--events 200000] [--leads 50000] \\
        [--scorecards 3 --accounts] [--bulk-only]

It creates its own database (``<name>_bench`` next to DATABASE_URL's) and
drops it afterwards. In one run it measures and prints:

1. bulk path: all events POSTed in batches of 1,000, from the first request
   until every event is scored (events/s end to end, and accept-only rate);
2. raw COPY of the same rows into a scratch table (the floor: events/s);
3. the naive path on a sample: one Celery task per event through the ORM;
4. a trickle of 100 single events/s for 60 s: p50/p95 from the API's 202 to
   the score being visible in the database;
5. the Celery worker processes' peak resident memory.

The leads' domain is on the free-mail list, so they belong to no account (accounts
are measured by ``--accounts``). With ``--scorecards N`` (N scorecards in all, the
default one included) and/or ``--accounts``, step 1 is the single-scorecard figure
without accounts, and is followed in the same run by
1b: the model published again with N - 1 further scorecards (each with rules that
match the events), account groups and account fit rules, and the same number of
events for as many new leads with company domains (four leads an account); it
waits until every event is scored and every account's roll-up refreshed, and
prints the rate and its ratio to step 1's (target >= 0.7). ``--bulk-only`` stops
after step 1 (and 1b).
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

from common import PeakMemory, SessionCpu, bench_database, bench_environment, recreate_database, settle, tree_cpu  # noqa: E402

# Another port when two runs share a machine (LEADFLOW_BENCH_PORT).
PORT = int(os.environ.get("LEADFLOW_BENCH_PORT", "18931"))
TOY_TYPES = [
    ("page_view", {"url": "https://toys.example/landing/spring"}),
    ("page_view", {"url": "https://toys.example/blog/puzzles"}),
    ("email_open", {"campaign": "spring"}),
    ("email_click", {"campaign": "spring", "url": "https://toys.example/offer"}),
    ("form_submit", {"form": "newsletter"}),
    ("download", {"file": "guide.pdf"}),
]


def make_events(count: int, leads: int, *, prefix: str, seed: int = 1, accounts: int = 0) -> list[dict[str, object]]:
    """``count`` events of ``leads`` leads; with ``accounts``, the leads' emails are on
    that many company domains (``p7@co3.example``), else all on ``bench.example``."""
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
                "lead": {"email": email(generator.randrange(leads), accounts)},
                "properties": properties,
            }
        )
    return events


def email(lead: int, accounts: int) -> str:
    return f"p{lead}@co{lead % accounts}.example" if accounts else f"lead{lead}@bench.example"


# Each further scorecard scores every event type the bench sends, with its own points,
# groups (with hysteresis) and decay.
SCORECARD = """
  - key: {key}
    name: {name}
    score_groups:
      - {{key: {key}-warm, name: Warm for {name}, min_score: 10}}
      - {{key: {key}-hot, name: Hot for {name}, min_score: 30, leave_below: 25}}
    rules:
      - {{key: {key}-pages, name: Reads {name} pages, dimension: engagement, points: 2,
         interaction_types: [page_view], conditions: [{{field: url, operator: contains, value: /landing/}}]}}
      - {{key: {key}-blog, name: Reads the blog, dimension: engagement, points: 1,
         interaction_types: [page_view], conditions: [{{field: url, operator: contains, value: /blog/}}]}}
      - {{key: {key}-email, name: {name} email, dimension: engagement, points: 3,
         interaction_types: [email_open, email_click]}}
      - {{key: {key}-forms, name: {name} forms and downloads, dimension: engagement, points: 5,
         interaction_types: [form_submit, download]}}
    decay: {{policy: linear, points_per_day: 1, after_days: 14}}
"""
ACCOUNT_GROUPS = """
account_groups:
  - {key: target, name: Target, min_score: 20}
  - {key: engaged, name: Engaged, min_score: 50, leave_below: 45}
  - {key: hot, name: Hot, min_score: 80, leave_below: 70}
"""


def model_with_scorecards(scorecards: int) -> str:
    """The toy store's model file with ``scorecards - 1`` further scorecards and account groups."""
    text = (ROOT / "examples/toy_store.yaml").read_text() + ACCOUNT_GROUPS
    names = ["Puzzles", "Books", "Games", "Kits", "Dolls", "Blocks", "Trains", "Crafts", "Music"]
    if scorecards > 1:
        text += "scorecards:" + "".join(
            SCORECARD.format(key=f"card-{n}", name=names[n % len(names)]) for n in range(1, scorecards)
        )
    return text


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
    parser.add_argument("--scorecards", type=int, default=1, help="1b: scorecards in all (the default one included)")
    parser.add_argument("--accounts", action="store_true", help="1b: leads with company domains, in accounts")
    parser.add_argument("--bulk-only", action="store_true", help="stop after step 1 (and 1b)")
    args = parser.parse_args()
    if args.scorecards < 1:
        raise SystemExit("--scorecards: at least 1 (the default scorecard)")
    compare = args.scorecards > 1 or args.accounts

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
    from scoring.models import AccountRule, FreeMailDomain

    print(f"Database {bench_name}, broker {broker}; {os.cpu_count()} cores")
    call_command("migrate", verbosity=0)
    call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
    key = api_key_issue(name="bench").key
    # Steps 1 to 4 are the figures without accounts: the leads' domain is on the free-mail
    # list (else every lead would join one account of 50,000 leads, whose roll-up each
    # scoring task would sum again; --accounts measures accounts of four leads, in 1b).
    FreeMailDomain.objects.get_or_create(domain="bench.example")
    app.control.purge()
    connection.close()

    processes = Processes(env)
    python = sys.executable
    web = processes.start(
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

        def bulk(events: list[dict[str, object]], *, accounts: bool) -> tuple[float, float]:
            """POST ``events`` in batches until every one is scored (and, with ``accounts``,
            every account's roll-up refreshed); print the figures and return events/s end to
            end and accepted."""
            bodies = [
                json.dumps({"events": events[i : i + args.batch]}).encode() for i in range(0, len(events), args.batch)
            ]
            sessions = SessionCpu(admin_url, bench_name)
            web_before, worker_before = tree_cpu(web.pid), tree_cpu(worker.pid)
            started = time.perf_counter()
            with ThreadPoolExecutor(args.senders) as pool:
                results = list(pool.map(lambda body: api.post("/api/v1/events", body), bodies))
            accepted_at = time.perf_counter()
            web_cpu = tree_cpu(web.pid) - web_before
            accepted = sum(int(r["accepted"]) for r in results)  # type: ignore[call-overload]
            assert accepted == len(events), f"accepted {accepted} of {len(events)}"
            # Polled through the workers' own table of what is left to score; checked whole after.
            wait_until(
                lambda: (
                    count("SELECT count(*) FROM (SELECT 1 FROM scoring_waitinginteraction LIMIT 1) AS left_to_score")
                    == 0
                    and count("SELECT count(*) FROM (SELECT 1 FROM scoring_staleaccount LIMIT 1) AS stale") == 0
                ),
                timeout=1800,
                what="scoring",
            )
            scored_at = time.perf_counter()
            worker_cpu = tree_cpu(worker.pid) - worker_before
            database_cpu = sessions.stop()
            unscored = count("SELECT count(*) FROM scoring_interaction WHERE lead_id IS NULL OR set_aside") + count(
                "SELECT count(*) FROM scoring_waitinginteraction"
            )
            assert unscored == 0, f"{unscored} interactions left unscored (set aside?)"
            rate = len(events) / (scored_at - started)
            print(f"   {len(bodies)} requests of {args.batch}; accepted in {accepted_at - started:.1f} s"
                  f" ({len(events) / (accepted_at - started):,.0f} events/s)")  # fmt: skip
            done = "scored and rolled up" if accounts else "scored"
            print(f"   all {done} {scored_at - started:.1f} s after the first request")
            print(f"   END TO END: {rate:,.0f} events/s")
            per_event = 1e6 / len(events)
            print(f"   processor time per event: web {web_cpu * per_event:,.0f} µs (accepting), worker"
                  f" {worker_cpu * per_event:,.0f} µs, database {database_cpu * per_event:,.0f} µs"
                  " (all the benchmark database's sessions)")  # fmt: skip
            return rate, len(events) / (accepted_at - started)

        def check_ledgers() -> None:
            ledger = count("SELECT count(*) FROM scoring_scoreentry WHERE interaction_id IS NOT NULL")
            mismatch = count(
                "SELECT count(*) FROM scoring_lead l LEFT JOIN (SELECT lead_id, sum(delta) s FROM scoring_scoreentry"
                " GROUP BY lead_id) e ON e.lead_id = l.id WHERE l.fit_score + l.engagement_score <> coalesce(e.s, 0)"
            )
            print(f"   {ledger:,} ledger rows; leads whose cached score differs from the ledger: {mismatch}")

        # 1. bulk path ------------------------------------------------------------------
        events = make_events(args.events, args.leads, prefix="bulk")
        print(
            f"\n1. Bulk: {len(events):,} events for {args.leads:,} leads"
            + (", one scorecard, no accounts" if compare else "")
        )
        bulk_rate, accept_rate = bulk(events, accounts=False)
        check_ledgers()

        # 1b. several scorecards and accounts ------------------------------------------------
        if compare:
            settle(db)
            accounts = max(1, args.leads // 4) if args.accounts else 0
            cards_label = f"{args.scorecards} scorecard{'s' if args.scorecards > 1 else ''}"
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as model:
                model.write(model_with_scorecards(args.scorecards))
                model.flush()
                call_command("scoring_model_import", "--publish", model.name, verbosity=0)
            if args.accounts:
                toys = AccountRule.objects.create(key="toys-or-retail", name="Toys or retail", points=40)
                toys.conditions.create(field="industry", operator="one_of", value=["Toys", "Retail"])
                big = AccountRule.objects.create(key="2000-people-or-more", name="2,000 people or more", points=25)
                big.conditions.create(field="company_size", operator="gte", value=2000)
            connection.close()
            time.sleep(2)  # let the workers see the new model (as after any publishing)
            cards = make_events(args.events, args.leads, prefix="cards", seed=4, accounts=accounts)
            print(f"\n1b. Bulk with {cards_label}"
                  + (f" and accounts ({accounts:,} companies)" if accounts else "")
                  + f": {len(cards):,} events for {args.leads:,} new leads")  # fmt: skip
            cards_rate, _ = bulk(cards, accounts=bool(accounts))
            check_ledgers()
            card_rows = count("SELECT count(*) FROM scoring_scorecardentry")
            card_mismatch = count(
                "SELECT count(*) FROM scoring_leadscore s LEFT JOIN (SELECT lead_id, scorecard_id, sum(delta) d"
                " FROM scoring_scorecardentry GROUP BY lead_id, scorecard_id) e"
                " ON e.lead_id = s.lead_id AND e.scorecard_id = s.scorecard_id"
                " WHERE s.fit_score + s.engagement_score <> coalesce(e.d, 0)"
            )
            print(f"   {card_rows:,} scorecard ledger rows; lead scores differing from their ledger: {card_mismatch}")
            if accounts:
                in_accounts = count("SELECT count(*) FROM scoring_lead WHERE account_id IS NOT NULL")
                companies = count("SELECT count(*) FROM scoring_account")
                account_rows = count("SELECT count(*) FROM scoring_accountentry")
                rollup = count(
                    "SELECT count(*) FROM scoring_account a LEFT JOIN (SELECT account_id, sum(total_score) t"
                    " FROM scoring_lead WHERE account_id IS NOT NULL GROUP BY account_id) l ON l.account_id = a.id"
                    " WHERE a.lead_score <> coalesce(l.t, 0)"
                )
                print(f"   {in_accounts:,} leads in {companies:,} accounts, {account_rows:,} account ledger rows;"
                      f" accounts whose lead score is not their leads' sum: {rollup}")  # fmt: skip
            print(f"   {cards_label}{' and accounts' if accounts else ''} / one scorecard:"
                  f" {cards_rate / bulk_rate:.2f}   (target >= 0.7)")  # fmt: skip
        if args.bulk_only:
            return

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
                # Each task stores and scores its event in one transaction.
                count("SELECT count(*) FROM scoring_interaction WHERE source = 'bench-naive'") == len(sample)
            ),
            timeout=1800,
            what="the naive tasks",
        )
        naive_rate = len(sample) / (time.perf_counter() - started)
        print(f"\n3. Naive (one Celery task per event, ORM), {len(sample):,} events: {naive_rate:,.0f} events/s")

        # 4. trickle -------------------------------------------------------------------------
        settle(db)  # the bulk and naive steps' dead rows gone, as autovacuum would have them
        total = args.trickle_rate * args.trickle_seconds
        trickle = make_events(total, args.leads, prefix="trickle", seed=3)
        now = datetime.now(UTC).isoformat()
        for event in trickle:
            event["occurred_at"] = now
        accepted_times: dict[str, float] = {}
        visible_times: dict[str, float] = {}
        lock = threading.Lock()
        done = threading.Event()

        # The trickle's rows come after every id stored so far: the watcher reads them by the
        # primary key's index (the interactions have no index on the key: it is unique in its own table).
        with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as first:
            (before,) = first.execute("SELECT COALESCE(max(id), 0) FROM scoring_interaction").fetchone() or (0,)

        def watch() -> None:
            watcher = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True)
            while not done.is_set() or len(visible_times) < len(accepted_times):
                with lock:
                    waiting = [k for k in accepted_times if k not in visible_times]
                if waiting:
                    rows = watcher.execute(
                        "SELECT idempotency_key FROM scoring_interaction i WHERE id > %s"
                        " AND idempotency_key = ANY(%s) AND NOT EXISTS"
                        " (SELECT FROM scoring_waitinginteraction w WHERE w.interaction_id = i.id)",
                        (before, waiting),
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
        print(f"   bulk end to end      {bulk_rate:>10,.0f} events/s   (target >= 25,000)")
        print(f"   bulk accepted        {accept_rate:>10,.0f} events/s   (target >= 50,000)")
        print(f"   raw COPY             {copy_rate:>10,.0f} events/s   bulk/COPY = {bulk_rate / copy_rate:.3f}")
        print(f"   naive per-event      {naive_rate:>10,.0f} events/s   bulk/naive = {bulk_rate / naive_rate:.1f}x"
              "   (target >= 20x)")  # fmt: skip
        print(f"   trickle p95          {p95 * 1000:>10.0f} ms         (target < 250)")
        print(f"   worker peak RSS      {peak / 2**20:>10.0f} MB         (target < 300, largest worker process)")
    finally:
        memory.stop()
        processes.stop()
        db.close()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
