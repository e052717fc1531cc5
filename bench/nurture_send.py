"""Nurture sending benchmark: due steps to a local SMTP sink, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
    .venv/bin/python bench/nurture_send.py [--enrollments 100000] [--senders 2] [--batch 500]

It creates its own database (``<name>_nurture_bench`` next to DATABASE_URL's)
and drops it afterwards (keep it with LEADFLOW_BENCH_KEEP=1). It imports the
toy store model and nurture sequences, enrolls ``--enrollments`` leads in the
toy store's Nurture sequence with the first step due, starts an SMTP sink
(aiosmtpd, in its own process, recording every Message-ID), and measures:

1. the batched path: ``--senders`` processes calling
   ``services.deliveries_send_all_due`` (claim with SKIP LOCKED, one SMTP
   connection per process) until nothing is due: messages/s, then checks that
   the sink got every delivery exactly once (no duplicate, no miss);
2. the naive path on a sample, in as many processes: per enrollment, ORM reads,
   template compiled, one SMTP connection per message, rows saved one by one;
3. the queries of one batch for two batch sizes (they must be equal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from common import bench_database, bench_environment, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


# --- the SMTP sink (its own process) ----------------------------------------------------


class SinkHandler:
    """Accepts everything; writes each message's Message-ID to a file, one per line."""

    def __init__(self, out: Any) -> None:
        self.out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        head = content[: content.find(b"\r\n\r\n")] if isinstance(content, bytes) else b""
        found = _MESSAGE_ID.search(head)
        self.out.write((found.group(1) if found else b"<none>") + b"\n")
        return "250 OK"


def run_sink(port: int, out_path: str) -> None:
    from aiosmtpd.smtp import SMTP

    with open(out_path, "wb", buffering=1 << 16) as out:
        handler = SinkHandler(out)
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(
            loop.create_server(lambda: SMTP(handler, hostname="sink"), host="127.0.0.1", port=port, backlog=64)
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("sink ready", flush=True)
        loop.run_until_complete(stop.wait())
        server.close()
        loop.run_until_complete(server.wait_closed())
        out.flush()


# --- senders (their own processes) ---------------------------------------------------------


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.urls import NoReverseMatch, clear_url_caches, reverse

    try:
        reverse("nurture:unsubscribe", kwargs={"token": "x"})
    except NoReverseMatch:
        # project/urls.py does not include nurture's URLs yet.
        settings.ROOT_URLCONF = "tests.nurture.urls"
        clear_url_caches()


def run_sender(now: datetime, batch: int) -> None:
    django_setup()
    from nurture import services

    profile_dir = os.environ.get("LEADFLOW_BENCH_PROFILE")
    if profile_dir:  # a cProfile of each sender, for finding where the time goes
        import cProfile

        profiler = cProfile.Profile()
        summary = profiler.runcall(services.deliveries_send_all_due, now=now, batch_size=batch, budget_seconds=10**9)
        profiler.dump_stats(str(Path(profile_dir) / f"sender-{os.getpid()}.prof"))
    else:
        summary = services.deliveries_send_all_due(now=now, batch_size=batch, budget_seconds=10**9)
    print(f"sent {summary.sent} failed {summary.failed_temporary + summary.failed_permanent}", flush=True)


def run_naive(now: datetime, part: int, parts: int, sequence_key: str) -> None:
    """The obvious way: one enrollment at a time through the ORM, one SMTP connection per message."""
    django_setup()
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives

    from nurture import content
    from nurture.models import Delivery, Enrollment

    ids = list(
        Enrollment.objects.filter(sequence__key=sequence_key, status="active", next_run_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = 0
    for pk in (pk for pk in ids if pk % parts == part):  # by id: stable while the other process works
        enrollment = Enrollment.objects.select_related("lead", "sequence").get(pk=pk)
        step = enrollment.sequence.steps.filter(position__gt=enrollment.position).order_by("position").first()
        if step is None:
            continue
        delivery = Delivery.objects.create(
            enrollment=enrollment, step=step, message_id=f"<naive.{pk}.{step.pk}@bench>", created_at=now, updated_at=now
        )
        compiled = content.compile_step(
            subject=step.subject_template, text=step.text_template, html_body=step.html_template
        )
        lead, sequence = enrollment.lead, enrollment.sequence
        unsubscribe = content.unsubscribe_url(lead_id=lead.pk, delivery_id=delivery.pk)
        campaign = step.campaign_key()
        rendered = content.render(
            compiled,
            lead=content.lead_context(lead),
            step={"position": step.position, "campaign": campaign},
            sequence={"key": sequence.key, "name": sequence.name},
            unsubscribe=unsubscribe,
            tracking=content.Tracking(
                lead.pk, campaign, {"sequence": sequence.key, "step": step.position, "delivery": delivery.pk}
            ),
        )
        message = EmailMultiAlternatives(
            rendered.subject,
            rendered.text,
            settings.DEFAULT_FROM_EMAIL,
            [str(lead.email)],
            headers={**rendered.headers, "Message-ID": delivery.message_id},
        )
        if rendered.html:
            message.attach_alternative(rendered.html, "text/html")
        message.send()  # opens and closes its own connection
        delivery.status, delivery.sent_at = "sent", now
        delivery.save(update_fields=["status", "sent_at"])
        enrollment.position = step.position
        enrollment.next_run_at = now + timedelta(days=3)
        enrollment.save(update_fields=["position", "next_run_at"])
        sent += 1
    print(f"sent {sent}", flush=True)


# --- the driver ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Sink:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.path = Path(tempfile.mkstemp(prefix="leadflow-sink-", suffix=".txt")[1])
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(self.port), str(self.path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "ready" not in line:
            raise SystemExit(f"the SMTP sink did not start: {line!r}")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> list[str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        ids = self.path.read_text().split()
        self.path.unlink(missing_ok=True)
        return ids


def run_processes(args_list: list[list[str]], env: dict[str, str]) -> tuple[float, float]:
    """Start the processes at once; seconds until the last one exits, and their CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, __file__, *a], cwd=ROOT, env=env) for a in args_list]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a sender failed (exit {process.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return time.perf_counter() - started, cpu


def enroll_due(sequence_key: str, *, first_lead: int, count: int, due: datetime) -> None:
    """``count`` new leads enrolled in the sequence with the first step due at ``due`` (set-based)."""
    from django.db import connection

    from nurture.models import Sequence
    from scoring.models import Lead

    leads = [Lead(email=f"lead{n}@bench.example", first_name=f"Lead{n}") for n in range(first_lead, first_lead + count)]
    for start in range(0, len(leads), 5000):
        Lead.objects.bulk_create(leads[start : start + 5000])
    sequence = Sequence.objects.get(key=sequence_key)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO nurture_enrollment (lead_id, sequence_id, position, next_run_at, status, exit_reason,"
            " enrolled_at) SELECT id, %s, 0, %s, 'active', '', %s FROM scoring_lead"
            " WHERE email LIKE 'lead%%@bench.example' AND id NOT IN (SELECT lead_id FROM nurture_enrollment)",
            [sequence.pk, due, due],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--query-batches", type=int, nargs=2, default=[50, 1000])
    args = parser.parse_args()

    bench_environment()
    database_url, admin_url, bench_name = bench_database("nurture_bench")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "600",
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DEFAULT_FROM_EMAIL": "Toy Store <hello@toys.example>",
        "LEADFLOW_PUBLIC_URL": "https://leadflow.example",
    }
    sink: Sink | None = None
    try:
        sink = Sink(env)
        env.update({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port)})
        os.environ.update(env)
        django_setup()
        from django.conf import settings as django_settings
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from nurture import services, timing
        from nurture.models import Delivery, Sequence

        print(
            f"Database {bench_name}; {os.cpu_count()} cores; {args.senders} sender processes, batches of {args.batch}"
        )
        call_command("migrate", verbosity=0)
        call_command("scoring_model_import", "--publish", str(ROOT / "examples/toy_store.yaml"), verbosity=0)
        call_command("nurture_sequences_import", str(ROOT / "examples/toy_store_nurture.yaml"), verbosity=0)
        # A copy of the Nurture sequence for the naive sample, so the two paths never share enrollments.
        source = Sequence.objects.get(key="nurture")
        steps = list(source.steps.all())
        naive = Sequence.objects.create(key="nurture-naive", name="Nurture (naive)")
        for step in steps:
            step.pk, step.sequence = None, naive
            step.save()
        # The sender checks each step's send window (weekdays 09:00-18:00 here) when it
        # sends: the run's clock is the window's next opening from now (now, inside it),
        # so the benchmark sends everything whatever the hour it runs at.
        first_step = min(steps, key=lambda step: step.position)
        site_zone = timing.time_zone(django_settings.TIME_ZONE)  # the bench's leads have no zone of their own
        now = timing.next_send_time(datetime.now(UTC), first_step.window(), site_zone)
        due = now - timedelta(minutes=1)
        enroll_due("nurture", first_lead=0, count=args.enrollments, due=due)
        connection.close()
        print(f"{args.enrollments:,} enrollments due in the toy store's Nurture sequence")

        # 1. the batched path -------------------------------------------------------------------
        sink_cpu = sink.cpu_seconds()
        seconds, cpu = run_processes([["--sender", now.isoformat(), str(args.batch)] for _ in range(args.senders)], env)
        sink_cpu = sink.cpu_seconds() - sink_cpu
        rate = args.enrollments / seconds
        print(f"\n1. Batched: {args.enrollments:,} messages in {seconds:.1f} s: {rate:,.0f} messages/s")
        print(
            f"   CPU per message: senders {1000 * cpu / args.enrollments:.2f} ms,"
            f" SMTP sink {1000 * sink_cpu / args.enrollments:.2f} ms (load average {os.getloadavg()[0]:.1f})"
        )
        sent_ids = set(Delivery.objects.filter(status="sent").values_list("message_id", flat=True))
        other = Delivery.objects.exclude(status="sent").count()
        received = sink.stop()
        counts: dict[str, int] = {}
        for message_id in received:
            counts[message_id] = counts.get(message_id, 0) + 1
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        missing = len(sent_ids - counts.keys())
        unexpected = len(counts.keys() - sent_ids)
        print(
            f"   sink received {len(received):,} messages; deliveries sent {len(sent_ids):,}, not sent {other};"
            f" duplicates {duplicates}, missing {missing}, unexpected {unexpected}"
        )
        ok = duplicates == 0 and missing == 0 and unexpected == 0 and len(sent_ids) == args.enrollments
        print(f"   exactly once: {'yes' if ok else 'NO'}")

        # 2. the naive path ------------------------------------------------------------------------
        sink = Sink(env)
        env.update({"EMAIL_PORT": str(sink.port)})
        enroll_due("nurture-naive", first_lead=args.enrollments, count=args.naive_sample, due=due)
        connection.close()
        naive_seconds, _ = run_processes(
            [
                ["--naive", now.isoformat(), str(part), str(args.senders), "nurture-naive"]
                for part in range(args.senders)
            ],
            env,
        )
        naive_rate = args.naive_sample / naive_seconds
        naive_received = len(sink.stop())
        print(
            f"\n2. Naive (ORM per enrollment, one SMTP connection per message), {args.naive_sample:,} messages:"
            f" {naive_rate:,.0f} messages/s (sink received {naive_received:,})"
        )

        # 3. queries per batch ----------------------------------------------------------------------
        sink = Sink(env)
        from django.conf import settings

        settings.EMAIL_PORT = sink.port
        queries = []
        offset = args.enrollments + args.naive_sample
        for size in args.query_batches:
            enroll_due("nurture", first_lead=offset, count=size, due=due)
            offset += size
            with CaptureQueriesContext(connection) as captured:
                summary = services.deliveries_send_due(now=now + timedelta(seconds=1), batch_size=size)
            assert summary.sent == size, summary
            queries.append(len(captured.captured_queries))
        sink.stop()
        sink = None
        print(
            "\n3. Queries per batch: "
            + ", ".join(f"{q} for a batch of {size:,}" for size, q in zip(args.query_batches, queries, strict=True))
        )

        print("\nSummary")
        print(f"   batched            {rate:>10,.0f} messages/s   (target >= 500)")
        print(f"   naive              {naive_rate:>10,.0f} messages/s   batched/naive = {rate / naive_rate:.1f}x")
        print(f"   exactly once       {'yes' if ok else 'NO':>10}")
        print(f"   queries per batch  {' = '.join(map(str, queries)):>10}   (independent of the batch size)")
    finally:
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not os.environ.get("LEADFLOW_BENCH_KEEP"):
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--sink":
        run_sink(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--sender":
        run_sender(datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--naive":
        run_naive(datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
