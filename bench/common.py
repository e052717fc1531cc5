"""What the benchmarks share: their own scratch database and memory sampling."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg


def bench_environment() -> None:
    """What every benchmark runs with, before it builds its processes' environment (so they
    all share it): production's settings (DEBUG off), where Leadflow refuses to start without
    a secret key of its own, so a random one when none is set; and HTTPS not enforced unless
    asked for, as their clients speak plain HTTP on loopback (it would answer 301)."""
    if not os.environ.get("DJANGO_SECRET_KEY", "").strip():
        os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ.setdefault("LEADFLOW_HTTPS_ONLY", "false")


def django_setup() -> None:
    """Django set up in this process for a benchmark of one piece that makes no database of
    its own (:func:`bench_environment`, the project's settings as the environment gives
    them)."""
    bench_environment()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def cpu_per_call(call: Callable[[], object], repeat: int, *, warm: int = 10) -> float:
    """This process's processor seconds per call of ``call``, over ``repeat`` calls after
    ``warm`` untimed ones (caches, the interpreter's specialised code)."""
    for _ in range(warm):
        call()
    started = time.process_time()
    for _ in range(repeat):
        call()
    return (time.process_time() - started) / repeat


def bench_database_url(base: str, suffix: str = "bench") -> tuple[str, str, str]:
    """(URL of the benchmark's own database next to ``base``'s, URL of the
    server's ``postgres`` database for creating it, its name)."""
    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "postgres"
    bench_name = f"{name}_{suffix}"
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return urlunsplit(parts._replace(path=f"/{bench_name}")), admin_url, bench_name


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def settle(db: psycopg.Connection, *tables: str) -> None:
    """Start a timed step from the state autovacuum keeps a live database in (this
    machine's PostgreSQL runs without it): ``tables`` (default: all) vacuumed and
    analysed, then a fresh checkpoint. ``db`` in autocommit."""
    db.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    db.execute("CHECKPOINT")


class PeakMemory:
    """Samples the resident memory of a process tree; keeps the largest single process
    (``peak``) and the largest sum over the tree at one moment (``peak_total``). The sum
    adds proportional set sizes (a page shared by n processes counts 1/n in each: forked
    processes share their parent's pages), not resident sizes, which count them n times."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self.peak = 0
        self.peak_total = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    self.peak = max(self.peak, process.memory_info().rss)
                    total += process.memory_full_info().pss
            self.peak_total = max(self.peak_total, total)

    def stop(self) -> int:
        self.stop_event.set()
        self.thread.join()
        return self.peak


def bench_database(suffix: str, *, reuse: bool = False) -> tuple[str, str, str]:
    """Create (afresh) the benchmark's database next to DATABASE_URL's, which must be
    PostgreSQL; with ``reuse``, keep it as an earlier run left it (when there is one).

    Returns (its URL, the admin URL to drop it with, its name).
    """
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("the benchmarks need DATABASE_URL pointing at PostgreSQL")
    database_url, admin_url, name = bench_database_url(base, suffix)
    if reuse:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return database_url, admin_url, name
    recreate_database(admin_url, name)
    return database_url, admin_url, name


def bench_settings(suffix: str) -> tuple[str, str]:
    """Everything before ``django.setup()`` of a benchmark run in this process: the
    environment (:func:`bench_environment`), a fresh database (:func:`bench_database`)
    and the production settings on it, logging quiet, connections kept.

    Returns (the admin URL to drop the database with, its name).
    """
    bench_environment()
    database_url, admin_url, name = bench_database(suffix)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "600",
            "LEADFLOW_LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "project.settings",
        }
    )
    return admin_url, name


def run_in_bench_database(suffix: str, run: Callable[[], None]) -> None:
    """``run()`` on a fresh database of its own (:func:`bench_settings`), then that database
    dropped whether or not it finished (sessions still open on it are ended)."""
    admin_url, name = bench_settings(suffix)
    try:
        run()
    finally:
        recreate_database(admin_url, name, drop_only=True)


def new_leads_insert(count: int) -> None:
    """``count`` leads in one statement on Django's connection (Django set up), with the
    columns the intake writes for a new lead and emails ``person<g>@company<g>.example``
    (g = 1…count)."""
    from django.db import connection
    from django.db.models import Field

    from scoring.models import Lead
    from scoring.services.fields import _new_lead_template

    names, values = _new_lead_template()
    fields = [Lead._meta.get_field(name) for name in names]
    lead_columns = ", ".join(connection.ops.quote_name(f.column) for f in fields if isinstance(f, Field))
    assert len(fields) == len(values) == lead_columns.count(",") + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO scoring_lead ({lead_columns}, email) SELECT {', '.join(['%s'] * len(values))},"  # noqa: S608
            " 'person' || g || '@company' || g || '.example' FROM generate_series(1, %s) g",
            [*values, count],
        )


class SessionCpu:
    """Samples the processor time of the server processes of one database's sessions (read
    from /proc: the server must run on this machine); ``stop`` returns what they used since
    the start (a session open then counts from what it had used; one that ends between two
    samples loses up to 0.2 s)."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.conn = psycopg.connect(admin_url, autocommit=True)
        self.name = name
        self.seen: dict[int, float] = {}
        self.sample()
        self.base = dict(self.seen)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = %s AND pid <> pg_backend_pid()",
            [self.name, "client backend"],
        ).fetchall()
        for (pid,) in rows:
            with contextlib.suppress(OSError, IndexError):
                self.seen[pid] = server_process_seconds(pid)

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            self.sample()

    def stop(self) -> float:
        self.stop_event.set()
        self.thread.join()
        self.sample()
        self.conn.close()
        return sum(used - self.base.get(pid, 0.0) for pid, used in self.seen.items())


def server_process_seconds(pid: int) -> float:
    """Processor seconds used so far by the database server's process of one session
    (``SELECT pg_backend_pid()``), read from /proc: the server must run on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def tree_cpu(pid: int) -> float:
    """Processor seconds used so far by a process and its living descendants (a server's
    workers, a Celery pool's processes)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total
