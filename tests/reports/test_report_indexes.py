"""The ledger's index by lead carries ``created_at`` for the reports' score at a hand-off
(scoring's migration 0027): built without blocking the ledger's writes, and undone."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

BEFORE = ("scoring", "0027_predictive_model")
AFTER = ("scoring", "0028_report_indexes")
INDEX = "ledger_lead_rule_idx"


def ledger_index() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX])
        return str(cursor.fetchone()[0])


@pytest.mark.migrations
def test_the_ledger_index_gains_created_at_concurrently_forward_and_back(postgres: None, empty_database: None) -> None:
    MigrationExecutor(connection).migrate([BEFORE])
    assert ledger_index().endswith("(lead_id, rule_id, occurred_at) INCLUDE (dimension, delta, interaction_id)")

    with CaptureQueriesContext(connection) as forward:
        MigrationExecutor(connection).migrate([AFTER])
    assert ledger_index().endswith(
        "(lead_id, rule_id, occurred_at) INCLUDE (dimension, delta, interaction_id, created_at)"
    )

    with CaptureQueriesContext(connection) as backward:
        MigrationExecutor(connection).migrate([BEFORE])
    assert ledger_index().endswith("(lead_id, rule_id, occurred_at) INCLUDE (dimension, delta, interaction_id)")

    for captured in (backward, forward):
        # This index's statements (under its name or the one it is built under).
        sql = [query["sql"] for query in captured.captured_queries if '"ledger_lead_rule_' in query["sql"]]
        built = [s for s in sql if s.startswith("CREATE INDEX")]
        dropped = [s for s in sql if s.startswith("DROP INDEX")]
        assert built
        assert dropped
        # The ledger is written on every score change: a plain build would block those writes.
        assert all(s.startswith("CREATE INDEX CONCURRENTLY") for s in built), built
        assert all(s.startswith("DROP INDEX CONCURRENTLY") for s in dropped), dropped
