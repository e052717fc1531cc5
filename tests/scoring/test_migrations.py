"""Migrations that touch the biggest table: the index the scoring workers claim from is
rebuilt on PostgreSQL without blocking writes (CONCURRENTLY, outside a transaction), and
the migration goes forward and back on PostgreSQL and on SQLite; what waits to be scored
moves to a table of its own and back; the stage changes recorded before the stage history
are copied into it. Each test migrates a database of its own (``empty_database``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from scoring.models import StageChange

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2027, 3, 1, 9, tzinfo=UTC)
BEFORE = ("scoring", "0014_set_aside")
REBUILT = ("scoring", "0015_interaction_unscored_concurrently")
INDEX = "interaction_unscored_idx"
WAITING_BEFORE = ("scoring", "0051_ledger_interaction_unasked")


def index_definition() -> tuple[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    definition, valid = rows[0]
    return str(definition), bool(valid)


def statements(captured: CaptureQueriesContext) -> list[str]:
    """What was run on the index (under its name, or the one it is built under)."""
    return [query["sql"] for query in captured.captured_queries if "interaction_unscored" in query["sql"]]


@pytest.mark.migrations
def test_the_unscored_index_is_rebuilt_concurrently_forward_and_back(postgres: None, empty_database: None) -> None:
    MigrationExecutor(connection).migrate([BEFORE])
    definition, valid = index_definition()
    assert valid
    assert "set_aside" not in definition

    with CaptureQueriesContext(connection) as forward:
        MigrationExecutor(connection).migrate([REBUILT])
    definition, valid = index_definition()
    assert valid
    assert definition.endswith("(id) WHERE ((lead_id IS NOT NULL) AND (scored_at IS NULL) AND (NOT set_aside))")

    with CaptureQueriesContext(connection) as backward:
        MigrationExecutor(connection).migrate([BEFORE])
    definition, valid = index_definition()
    assert valid
    assert "set_aside" not in definition

    for captured in (forward, backward):
        built = [sql for sql in statements(captured) if sql.startswith("CREATE INDEX")]
        dropped = [sql for sql in statements(captured) if sql.startswith("DROP INDEX")]
        assert built, statements(captured)
        assert dropped, statements(captured)
        # Writes to the table go on while an index builds CONCURRENTLY; a plain build blocks them.
        assert all(sql.startswith("CREATE INDEX CONCURRENTLY") for sql in built), built
        assert all(sql.startswith("DROP INDEX CONCURRENTLY") for sql in dropped), dropped


def manage(*args: str, database: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "CELERY_BROKER_URL": "memory://"}
    subprocess.run(
        [sys.executable, "manage.py", *args, "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,  # only keeps a hung run from hanging the suite
    )


def sqlite_index(database: Path) -> str | None:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [INDEX]).fetchone()
    return None if row is None else str(row[0])


@pytest.mark.migrations
def test_the_unscored_index_migrates_forward_and_back_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "leadflow.sqlite3"
    manage("migrate", *BEFORE, database=database)
    assert "set_aside" not in (sqlite_index(database) or "set_aside")

    manage("migrate", *REBUILT, database=database)
    assert '"set_aside"' in (sqlite_index(database) or "")

    manage("migrate", *BEFORE, database=database)
    assert "set_aside" not in (sqlite_index(database) or "set_aside")

    manage("migrate", database=database)
    assert sqlite_index(database) is None  # what waits has a table of its own (0052)

    manage("migrate", *WAITING_BEFORE, database=database)
    assert '"set_aside"' in (sqlite_index(database) or "")


LEADFLOW_APPS = ("scoring", "intake", "routing", "nurture", "reports", "people")


def leadflow_tables() -> list[str]:
    return [t for t in connection.introspection.table_names() if t.split("_", 1)[0] in LEADFLOW_APPS]


@pytest.mark.migrations
def test_every_migration_goes_back_to_an_empty_database_and_forward_again(empty_database: None) -> None:
    """Each migration can be undone, in order, from today's schema to none (scoring's first
    migration is the one every app's depend on), then made again. On PostgreSQL, the scoring
    workers' index is rebuilt on the way without blocking writes, as on the way forward."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "scoring_lead" in leadflow_tables()

    # Back before the table of waiting interactions first (undoing 0052 remakes the index in
    # its own transaction, with the rows it moves back), then to 0015, which built it CONCURRENTLY.
    MigrationExecutor(connection).migrate([WAITING_BEFORE])
    with CaptureQueriesContext(connection) as backward:
        MigrationExecutor(connection).migrate([BEFORE])
    MigrationExecutor(connection).migrate([("scoring", None)])
    assert [t for t in leadflow_tables() if not t.startswith("people_")] == []

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "scoring_waitinginteraction" in leadflow_tables()
    if connection.vendor == "postgresql":
        # Going back past the monthly partitions (0038) rebuilds the whole table, its indexes
        # read from the partitioned one ("ON ONLY"): a copy under the table's lock, not a build.
        built = [sql for sql in statements(backward) if sql.startswith("CREATE INDEX") and " ON ONLY " not in sql]
        dropped = [sql for sql in statements(backward) if sql.startswith("DROP INDEX")]
        assert built, statements(backward)
        assert all(sql.startswith("CREATE INDEX CONCURRENTLY") for sql in built), built
        assert all(sql.startswith("DROP INDEX CONCURRENTLY") for sql in dropped), dropped


@pytest.mark.migrations
def test_what_waited_to_be_scored_waits_in_its_table_and_goes_back_to_unscored(empty_database: None) -> None:
    waiting_after = ("scoring", "0052_interactions_waiting")
    at = datetime(2026, 3, 4, tzinfo=UTC)
    executor = MigrationExecutor(connection)
    executor.migrate([WAITING_BEFORE])
    apps = executor.loader.project_state([WAITING_BEFORE]).apps
    lead = apps.get_model("scoring", "Lead").objects.create(email="old@example.com")
    visitor = apps.get_model("scoring", "Visitor").objects.create(key="v-old")
    interaction = apps.get_model("scoring", "Interaction").objects
    scored = interaction.create(lead=lead, type="webinar", occurred_at=at, idempotency_key="s", scored_at=at)
    waiting = interaction.create(
        lead=lead, type="page_view", occurred_at=at, idempotency_key="w", properties={"url": "/pricing"}
    )
    aside = interaction.create(lead=lead, type="download", occurred_at=at, idempotency_key="a", set_aside=True)
    anonymous = interaction.create(visitor=visitor, type="page_view", occurred_at=at, idempotency_key="v")

    executor = MigrationExecutor(connection)
    executor.migrate([waiting_after])
    apps = executor.loader.project_state([waiting_after]).apps
    moved = list(
        apps.get_model("scoring", "WaitingInteraction").objects.values_list(
            "interaction_id", "lead_id", "type", "properties", "occurred_at"
        )
    )
    assert moved == [(waiting.pk, lead.pk, "page_view", {"url": "/pricing"}, at)]

    executor = MigrationExecutor(connection)
    executor.migrate([WAITING_BEFORE])
    apps = executor.loader.project_state([WAITING_BEFORE]).apps
    unscored = apps.get_model("scoring", "Interaction").objects.filter(scored_at__isnull=True)
    assert sorted(unscored.values_list("pk", flat=True)) == sorted([waiting.pk, aside.pk, anonymous.pk])
    assert scored.pk not in unscored.values_list("pk", flat=True)


@pytest.mark.migrations
def test_the_event_types_migration_counts_the_interactions_already_stored_once(empty_database: None) -> None:
    before, after = ("scoring", "0017_model_name_and_description"), ("scoring", "0018_event_types")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    apps = executor.loader.project_state([before]).apps
    lead = apps.get_model("scoring", "Lead").objects.create(email="old@example.com")
    interaction = apps.get_model("scoring", "Interaction")
    for n, (kind, day) in enumerate([("webinar", 4), ("webinar", 2), ("download", 9)]):
        interaction.objects.create(
            lead=lead, type=kind, occurred_at=datetime(2026, 3, day, tzinfo=UTC), idempotency_key=f"old-{n}"
        )
    executor = MigrationExecutor(connection)
    executor.migrate([after])
    event_type = executor.loader.project_state([after]).apps.get_model("scoring", "EventType")
    counted = {t.key: (t.seen_count, t.first_seen_at, t.last_seen_at) for t in event_type.objects.all()}
    assert counted["webinar"] == (2, datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    assert counted["download"] == (1, datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
    assert counted["email_open"] == (0, None, None)  # built in, listed before it is seen
    assert len(counted) == 8

    MigrationExecutor(connection).migrate([before])  # and back
    assert "scoring_eventtype" not in connection.introspection.table_names()


PATTERN_BEFORE = ("scoring", "0047_lead_search_table")
PATTERN_DROPPED = ("scoring", "0048_pattern_indexes_dropped")
# The intake's write tables and their unique text keys: each had a varchar_pattern_ops copy.
PATTERN_KEYED = {
    "scoring_interactionkey": ["key"],
    "scoring_visitor": ["key"],
    "scoring_lead": ["external_id"],
    "scoring_account": ["domain", "external_id"],
}


def pattern_indexed() -> set[tuple[str, str]]:
    """(table, column) of the intake's write tables that have a pattern index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [list(PATTERN_KEYED), "%varchar_pattern_ops%"],
        )
        rows = cursor.fetchall()
    return {
        (table, column) for table, definition in rows for column in PATTERN_KEYED[table] if f"({column} " in definition
    }


def lookup_plan(sql: str, value: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table: ask which index serves it
        cursor.execute(f"EXPLAIN {sql}", [value])
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_intake_tables_lose_their_pattern_indexes_concurrently_and_keep_their_lookups(
    postgres: None, empty_database: None
) -> None:
    every = {(table, column) for table, columns in PATTERN_KEYED.items() for column in columns}
    MigrationExecutor(connection).migrate([PATTERN_BEFORE])
    assert pattern_indexed() == every
    with CaptureQueriesContext(connection) as forward:
        MigrationExecutor(connection).migrate([PATTERN_DROPPED])
    assert pattern_indexed() == set()
    # What Leadflow asks of these keys is equality, which their unique indexes still answer.
    with transaction.atomic():
        for sql, index in (
            ("SELECT 1 FROM scoring_interactionkey WHERE key = %s", "scoring_interactionkey_pkey"),
            ("SELECT 1 FROM scoring_visitor WHERE key = %s", "scoring_visitor_key_key"),
            ("SELECT 1 FROM scoring_lead WHERE external_id = %s", "scoring_lead_external_id_key"),
            ("SELECT 1 FROM scoring_account WHERE domain = %s", "scoring_account_domain_key"),
            ("SELECT 1 FROM scoring_account WHERE external_id = %s", "scoring_account_external_id_key"),
        ):
            assert index in lookup_plan(sql, "acme"), sql

    with CaptureQueriesContext(connection) as backward:
        MigrationExecutor(connection).migrate([PATTERN_BEFORE])
    assert pattern_indexed() == every
    dropped = [q["sql"] for q in forward.captured_queries if "_like" in q["sql"]]
    built = [q["sql"] for q in backward.captured_queries if "_like" in q["sql"]]
    assert len(dropped) == len(built) == len(every)
    # The API and the workers go on writing these tables meanwhile.
    assert all(sql.startswith("DROP INDEX CONCURRENTLY") for sql in dropped), dropped
    assert all(sql.startswith("CREATE INDEX CONCURRENTLY") for sql in built), built


@pytest.mark.migrations
def test_the_stage_history_migration_copies_the_changes_recorded_before_it(empty_database: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("scoring", "0020_ledger_revisions")])
    # The lead table as it was then (today's model has columns added since).
    old_lead = executor.loader.project_state(("scoring", "0020_ledger_revisions")).apps.get_model("scoring", "Lead")
    lead_id = old_lead.objects.create(email="then@example.com").pk
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_grouptransition (lead_id, kind, from_stage, to_stage, direction, previous_total,"
            " total_score, detail, cause, occurred_at) VALUES"
            " (%s, 'stage', 'lead', 'mql', '', 0, 0, '', 'routing', %s),"
            " (%s, 'score', '', '', 'up', 0, 50, '', 'rule', %s)",
            [lead_id, AT, lead_id, AT],
        )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    changes = StageChange.objects.filter(lead_id=lead_id).values_list("from_stage", "to_stage", "cause", "at")
    assert list(changes) == [("lead", "mql", "routing", AT)]
