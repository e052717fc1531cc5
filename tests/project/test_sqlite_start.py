"""A first run on SQLite starts without warnings a user cannot act on, while PostgreSQL
keeps the ledgers' and the reports' covering indexes (INCLUDE)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
# The indexes carrying columns outside their key (models.Index(include=…)).
COVERING = ["ledger_lead_rule_idx", "sc_ledger_lead_rule_idx", "account_entry_idx", "origin_lead_source_idx"]


def test_check_on_sqlite_prints_no_warning_of_indexes_it_cannot_cover(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'leadflow.sqlite3'}"}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("LEADFLOW_CACHE_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # --database: the checks `migrate` and `runserver` run, which read the database's features.
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # only so a hung check cannot hang the run
        check=False,
    )
    assert "W040" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_postgresql_builds_the_covering_indexes_with_include(postgres: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [COVERING])
        built = dict(cursor.fetchall())
    assert sorted(built) == sorted(COVERING)
    assert all(" INCLUDE (" in definition for definition in built.values()), built
