"""Shared fixtures. Tests marked ``services`` need PostgreSQL, Redis or a Celery
worker: without them they are skipped, except in CI (CI=true), where a missing
service fails the run instead of hiding tests. Tests marked ``browser`` need
Chromium in the same way. A test that asks for one of these fixtures is given the
marker at collection, so ``-m "not services and not browser"`` selects exactly the
tests that run on the embedded defaults (CI's SQLite pass)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import translation
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pytest_django.plugin import blocking_manager_key

from scoring.database import database_url

# No test asserts a time (the benchmarks measure): hypothesis's deadline and its "too
# slow" health check fail a property test because a shared machine is busy, never
# because the property is false.
hypothesis_settings.register_profile("leadflow", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("leadflow")

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


SERVICE_FIXTURES = frozenset({"postgres", "redis_broker", "celery_workers"})
BROWSER_FIXTURES = frozenset({"chromium"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the fixtures it uses (directly or through other fixtures), so
    the markers never lag behind what a test needs."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SERVICE_FIXTURES and item.get_closest_marker("services") is None:
            item.add_marker(pytest.mark.services)
        if fixtures & BROWSER_FIXTURES and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)
    # The slowest tests first (those migrating a database back and forth, a minute or more
    # each), instead of one process running the last of them alone. They run before the
    # tests Django runs first (in a transaction rolled back), so each leaves the rows its
    # migrations made as it found them (pytest_runtest_teardown below).
    items.sort(key=lambda item: item.get_closest_marker("migrations") is None)


# The test database's rows as its migrations made them (groups and their permissions,
# the schedule, event types…), read before the first test marked migrations changes them.
_MIGRATED: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _migrated_rows_read(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("migrations") is None or _MIGRATED:
        return
    if "empty_database" in request.fixturenames:
        return  # the test database stays as it is
    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        _MIGRATED["rows"] = connection.creation.serialize_db_to_string()
        _MIGRATED["database"] = str(connection.settings_dict["NAME"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a test marked migrations, once its database was emptied (a test outside a
    transaction ends so), put back the rows the migrations made, as Django's
    ``serialized_rollback`` does: the tests after it in its process read them (the
    schedule, the groups' permissions), as they would after any test rolled back. Not after
    the process's last test: the test database is gone by then, and the connection names
    the database of DATABASE_URL again."""
    yield
    if item.get_closest_marker("migrations") is None or not _MIGRATED or nextitem is None:
        return
    if "empty_database" in getattr(item, "fixturenames", ()):
        return
    if str(connection.settings_dict["NAME"]) != _MIGRATED["database"]:
        return
    with item.config.stash[blocking_manager_key].unblock():
        # Sequences kept: the rows come back with their ids, below what the sequences give next.
        call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True, reset_sequences=False)
        connection.creation.deserialize_db_from_string(_MIGRATED["rows"])


@pytest.fixture
def empty_database(django_db_setup: None, django_db_blocker: Any, tmp_path: Path) -> Iterator[None]:
    """For a test of a migration: the default connection pointed, for the test, at a new
    database holding no table (on the test database's server), then back at the test
    database, left as it was. The test migrates it forward to just before the migration
    it tests, which applies only what that migration depends on, then through it and
    back. Undoing the test database's later migrations instead took a minute or more a
    test (Django renders the models' state for each migration it undoes). Whatever a
    migration's code reads or writes through the default connection goes there too."""
    from django.contrib.contenttypes.models import ContentType

    assert not connection.in_atomic_block, "a test migrating a database of its own has no django_db mark"
    with django_db_blocker.unblock():
        test_database = connection.settings_dict["NAME"]
        if connection.vendor == "postgresql":
            name = f"{test_database}_empty"
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{name}"')
        else:
            name = str(tmp_path / "empty.sqlite3")
        # Kept open, not closed: closing an in-memory SQLite database deletes it.
        kept = connection.connection
        connection.connection = None
        connection.settings_dict["NAME"] = name
        ContentType.objects.clear_cache()  # its ids are the database's own
        try:
            yield
        finally:
            connection.close()
            connection.connection = kept
            connection.settings_dict["NAME"] = test_database
            ContentType.objects.clear_cache()
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_rate_limits(monkeypatch: pytest.MonkeyPatch) -> str:
    """Rate-limit counts of this test only, in every test (the tracking endpoints, the
    browser tests' pixel and click): its own key prefix in the shared cache, which keeps
    counts for up to a day, across tests and test runs. Set on the settings themselves,
    not through an override: an override hides SETTINGS_MODULE, which commands starting
    helper processes pass on."""
    prefix = f"rl:test-{uuid.uuid4().hex}:"
    monkeypatch.setattr(settings, "RATELIMIT_CACHE_PREFIX", prefix, raising=False)
    return prefix


@pytest.fixture(autouse=True)
def site_language() -> Iterator[None]:
    """Each test starts in the site's language. A request of the test client in another
    language (Accept-Language, a signed-in person's choice) leaves that language active in
    the thread, as a server's next request would reset it: a later test calling gettext
    directly would read it."""
    yield
    translation.deactivate()


@pytest.fixture
def postgres() -> None:
    _need(connection.vendor == "postgresql", "DATABASE_URL does not point at PostgreSQL")


@pytest.fixture
def redis_broker() -> str:
    url = settings.CELERY_BROKER_URL
    _need(url.startswith("redis://"), "CELERY_BROKER_URL does not point at Redis")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _need(False, f"Redis at {url} does not answer ({exc})")
    return url


class Workers:
    """Real ``celery worker`` processes on the test database and Redis."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, count: int = 1, *, concurrency: int = 2, env: dict[str, str] | None = None) -> None:
        from project.celery import app

        app.control.purge()  # nothing left over from another test
        for index in range(len(self.processes), len(self.processes) + count):
            log = Path(tempfile.mkstemp(prefix=f"leadflow-worker{index}-", suffix=".log")[1])
            process_env = {
                **os.environ,
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": self.broker,
                **(env or {}),
            }
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "project",
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={concurrency}",
                    "--pool=prefork",
                    "--without-gossip",
                    "--without-mingle",
                    f"--hostname=test{index}@%h",
                ],
                cwd=ROOT,
                env=process_env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            self.processes.append((process, log))
        deadline = time.monotonic() + 60
        for process, log in self.processes:
            while b" ready." not in log.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)

    def stop(self) -> None:
        for process, log in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.unlink(missing_ok=True)
        self.processes.clear()

    def kill(self) -> None:
        """SIGKILL every worker process and its pool children: no clean-up runs."""
        import psutil

        for process, _ in self.processes:
            try:
                tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for member in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            process.wait()

    def logs(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-2000:] for _, log in self.processes)


@pytest.fixture
def celery_workers(postgres: None, redis_broker: str, transactional_db: None) -> Iterator[Workers]:
    workers = Workers(redis_broker)
    try:
        yield workers
    finally:
        workers.stop()


def wait_for(check: Callable[[], bool], *, timeout: float = 60, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.2)


def someone_waits_on_a_lock() -> bool:
    """PostgreSQL: whether a session of this database waits for a lock another holds."""
    with connection.cursor() as cursor:
        # Asked inside a transaction, the view would answer as at its first reading in it.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


class FirstCheckWaits:
    """Once :meth:`start` is called, the first rule (of the model given, a lead's or an
    account's) whose points are checked against the others' waits, checked and not yet
    saved, until the other side goes on (:attr:`went_on`) or waits for a lock this one
    holds: the moment two saves without a lock each passed the check alone. :attr:`checked`
    tells the other side that the first was checked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.checked, self.went_on = threading.Event(), threading.Event()
        self._monkeypatch, self._guard = monkeypatch, threading.Lock()

    def start(self, model: type[Any]) -> None:
        check = model._check_fit_within_column

        def check_then_wait(rule: Any) -> None:
            check(rule)
            with self._guard:
                first = not self.checked.is_set()
                self.checked.set()
            if not first:
                self.went_on.set()
                return
            wait_for(
                lambda: self.went_on.is_set() or someone_waits_on_a_lock(), message="the other save to go on or wait"
            )

        self._monkeypatch.setattr(model, "_check_fit_within_column", check_then_wait)


@pytest.fixture
def first_check_waits(monkeypatch: pytest.MonkeyPatch) -> FirstCheckWaits:
    return FirstCheckWaits(monkeypatch)


def unreadable_time() -> tuple[str, str]:
    """A time as an old bug or a restore could leave it in a row, past every check, that
    reading the row back cannot turn into a datetime; and words of the error that raises."""
    if connection.vendor == "postgresql":
        return "0001-01-01 00:00:00+00 BC", "before year 1"  # psycopg's reading of it
    return "2026-13-01 00:00:00", "month must be in 1..12"  # Django's SQLite converter's


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium for Playwright, which cannot download browsers of its own here.
    Browser tests are skipped without it, except in CI, where it must be installed."""
    _need(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need(False, "the playwright package is missing (pip install -e '.[dev]')")
    return CHROMIUM


def at_once(*calls: Callable[[], T], timeout: float = 120) -> list[T]:
    """Run each call in a thread of its own (so its own database connection), all
    released together by a barrier; their results in order. An error in any of them
    is raised here, after all have ended."""
    barrier = threading.Barrier(len(calls))
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(calls))]
