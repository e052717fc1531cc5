"""What a scoring worker's take of a batch costs once a backlog waits, planned as it is
(index scans only) and as it was (the planner's choice from the statistics it has).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/claim_plan.py \\
        [--backlog 100000] [--batch 2000] [--takes 20] [--rounds 3]

In its own database (``<name>_claim``, dropped afterwards): 10,000 leads, the
waiting interactions' statistics taken while the table was empty (before
autovacuum's next analyse), and 500 waiting interactions. Two sessions, as two
workers, each take a batch a dozen times, so that each has its statement prepared and
its plan cached; then ``--backlog`` more interactions arrive (a burst; a broker outage
caught up by the sweep). Alternating, ``--rounds`` times, each session takes a batch
of ``--batch`` ``--takes`` times (each take rolled back, so the backlog stays):

- the baseline: the take's statement planned as the planner chooses, as workers ran it
  before;
- as it is: ``scoring.services.engagement._interactions_take`` (index scans only).

Both take the same rows: the batch, and the other waiting interactions of its leads.

It prints the database server's processor time and the wall time per take, and the
ratio to the baseline's in the same round (lower is better).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sized
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import new_leads_insert, run_in_bench_database, server_process_seconds  # noqa: E402

LEADS = 10_000
WARM_BACKLOG = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=100_000, help="interactions waiting when timed")
    parser.add_argument("--batch", type=int, default=2000, help="a worker's batch (LEADFLOW_SCORING_BATCH_SIZE)")
    parser.add_argument("--takes", type=int, default=20, help="takes timed per round and way")
    parser.add_argument("--rounds", type=int, default=3, help="times each way, alternating")
    args = parser.parse_args()
    run_in_bench_database("claim", lambda: run(args))


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from scoring import bulk
    from scoring.services import engagement

    call_command("migrate", verbosity=0)
    new_leads_insert(LEADS)
    connection.cursor().execute("ANALYZE scoring_interaction, scoring_waitinginteraction")

    def arrive(count: int, start: int) -> None:
        connection.cursor().execute(
            "WITH i AS (INSERT INTO scoring_interaction (type, properties, occurred_at, source, idempotency_key,"
            " received_at, lead_id, set_aside) SELECT 'page_view', '{\"url\": \"/pricing\"}',"
            " now() - interval '1 day' + g * interval '1 ms', 'bench',"
            " 'evt-' || g, now(), (SELECT min(id) FROM scoring_lead) + g %% %s, false"
            " FROM generate_series(%s, %s) g RETURNING id, lead_id, type, properties, occurred_at)"
            " INSERT INTO scoring_waitinginteraction (interaction_id, lead_id, type, properties, occurred_at)"
            " SELECT * FROM i",
            [LEADS, start, start + count - 1],
        )

    arrive(WARM_BACKLOG, 1)
    connection.close()

    def before(batch: int) -> Sized:
        return bulk.pg_execute(engagement._TAKE_SQL, [batch, batch])

    def now(batch: int) -> Sized:
        return engagement._interactions_take(batch)

    # One thread, so one session, each way.
    ways = {"before (baseline)": (before, ThreadPoolExecutor(1)), "as it is": (now, ThreadPoolExecutor(1))}

    def takes(take: Callable[[int], Sized], batch: int, times: int) -> tuple[float, float, int]:
        """(server seconds, wall seconds, rows) of ``times`` takes, each rolled back."""
        with connection.cursor() as session:
            session.execute("SELECT pg_backend_pid()")
            (pid,) = session.fetchone()
        server, wall, rows = server_process_seconds(pid), time.perf_counter(), 0
        for _ in range(times):
            with transaction.atomic():
                rows += len(take(batch))
                transaction.set_rollback(True)
        return server_process_seconds(pid) - server, time.perf_counter() - wall, rows

    for take, pool in ways.values():
        pool.submit(takes, take, 100, 12).result()  # prepared, its plan cached
    arrive(args.backlog, WARM_BACKLOG + 1)
    connection.close()
    print(f"A take of {args.batch:,} (and their leads' others) from a backlog of {args.backlog + WARM_BACKLOG:,}"
          " waiting interactions, per take")  # fmt: skip
    ratios = []
    for round_ in range(1, args.rounds + 1):
        figures, taken = {}, set()
        for way, (take, pool) in ways.items():
            server, wall, rows = pool.submit(takes, take, args.batch, args.takes).result()
            figures[way] = (server / args.takes * 1000, wall / args.takes * 1000)
            taken.add(rows // args.takes)
        assert len(taken) == 1, taken  # the same rows, whatever the plan
        (base_server, base_wall), (server, wall) = figures.values()
        ratios.append(server / base_server)
        print(f"  round {round_} ({taken.pop():,} rows a take): before (baseline) {base_server:.1f} ms of the server's"
              f" processor ({base_wall:.1f} ms wall), as it is {server:.1f} ({wall:.1f});"
              f" ratio {server / base_server:.2f}")  # fmt: skip
    print(f"  ratio {min(ratios):.2f}-{max(ratios):.2f}")
    for _, pool in ways.values():
        pool.submit(lambda: connection.close()).result()
        pool.shutdown()


if __name__ == "__main__":
    main()
