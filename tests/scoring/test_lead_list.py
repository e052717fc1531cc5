"""The admin's lead list at a million leads: search through indexes, counts that do not
read the whole table, and the migration that builds the indexes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext

from scoring.models import Lead
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import marketer

ROOT = Path(__file__).resolve().parents[2]
URL = "/admin/scoring/lead/"
BEFORE = ("scoring", "0022_campaigns")
AFTER = ("scoring", "0023_lead_list_indexes")
SEARCH_INDEX = "lead_search_trgm_idx"


@pytest.fixture
def client() -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(marketer())
    return client


def listed(client: Client, **query: str) -> tuple[set[str], Any]:
    response = client.get(URL, query)
    assert response.status_code == 200
    changelist = response.context["cl"]
    return {str(lead) for lead in changelist.result_list}, changelist


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "term"),
    [
        ("email", "ada.lovelace@analytical.example", "LOVELACE@ANAL"),
        ("first_name", "Grace", "rAc"),
        ("last_name", "Hopper", "oppe"),
        ("company", "Acme Robotics", "me rob"),
        ("city", "Valparaíso", "valpar"),
    ],
)
def test_search_finds_a_lead_by_part_of_each_field(client: Client, field: str, value: str, term: str) -> None:
    wanted = LeadFactory.create(**{"email": "wanted@example.com", "first_name": "", "last_name": "", field: value})
    LeadFactory.create(email="other@example.com", first_name="Other", last_name="Person", company="Else", city="Lyon")
    found, changelist = listed(client, q=term)
    assert found == {str(wanted)}
    assert changelist.result_count == 1


@pytest.mark.django_db
def test_search_finds_an_external_id_given_whole_only(client: Client) -> None:
    lead = LeadFactory.create(email=None, external_id="crm-4711")
    LeadFactory.create(email="else@example.com", external_id="crm-47110")
    assert listed(client, q="crm-4711")[0] == {str(lead)}
    assert listed(client, q="crm-47")[0] == set()


@pytest.mark.django_db
def test_a_filtered_list_is_counted_exactly_and_the_whole_table_only_once(client: Client) -> None:
    hot, cold = ScoreGroupFactory.create(min_score=80), ScoreGroupFactory.create(min_score=0)
    LeadFactory.create_batch(3, score_group=hot)
    LeadFactory.create_batch(2, score_group=cold, lifecycle_stage="mql")
    with CaptureQueriesContext(connection) as captured:
        found, changelist = listed(client, score_group__id__exact=str(hot.pk))
    assert len(found) == 3
    assert changelist.result_count == 3
    counts = [query["sql"] for query in captured.captured_queries if "COUNT(" in query["sql"].upper()]
    # The filtered list's count, and no second count of the whole table beside it.
    assert len(counts) == 1, counts
    assert "WHERE" in counts[0], counts
    assert listed(client, lifecycle_stage__exact="mql", score_group__id__exact=str(cold.pk))[1].result_count == 2
    assert listed(client)[1].result_count == 5  # a small table: counted exactly


@pytest.mark.django_db
def test_a_large_table_unfiltered_takes_the_estimate_filtered_the_exact_count(postgres: None, client: Client) -> None:
    group = ScoreGroupFactory.create(min_score=80)
    LeadFactory.create_batch(4, score_group=group)
    LeadFactory.create_batch(2)
    with connection.cursor() as cursor:
        # What ANALYZE would have left after seeing two million rows (undone with the test's transaction).
        cursor.execute("UPDATE pg_class SET reltuples = 2000000 WHERE oid = 'scoring_lead'::regclass")
    with CaptureQueriesContext(connection) as captured:
        changelist = listed(client)[1]
    assert changelist.result_count == 2_000_000
    assert not [query["sql"] for query in captured.captured_queries if "COUNT(" in query["sql"].upper()]
    assert listed(client, score_group__id__exact=str(group.pk))[1].result_count == 4
    assert listed(client, q="example.com")[1].result_count == 6


@pytest.mark.django_db
def test_a_search_reads_the_trigram_index(postgres: None) -> None:
    LeadFactory.create_batch(50)
    LeadFactory.create(last_name="Lovelace")
    # What the list's search asks of the search's table (scoring.lead_search), before it
    # lists the few leads found by id.
    queryset = Lead.objects.filter(id__lead_search=["lovelace"])
    with connection.cursor() as cursor:
        # Tables this small are read whole, or along a primary key; with both turned off,
        # the planner shows which index it would use.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = queryset.explain()
    # The search's own table (scoring's migration 0047), not the lead table's rows.
    assert "leadsearch_document_idx" in plan, plan
    assert SEARCH_INDEX not in plan, plan
    assert [str(lead) for lead in queryset] == [str(Lead.objects.get(last_name="Lovelace"))]


def pg_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'scoring_lead'::regclass AND i.indisvalid"
        )
        return dict(cursor.fetchall())


@pytest.mark.migrations
def test_the_lead_list_indexes_build_concurrently_forward_and_back(postgres: None, empty_database: None) -> None:
    MigrationExecutor(connection).migrate([BEFORE])
    before = pg_indexes()
    assert SEARCH_INDEX not in before
    assert "lead_stage_score_idx" not in before
    assert before["lead_total_score_idx"].endswith("(total_score DESC)")

    with CaptureQueriesContext(connection) as forward:
        MigrationExecutor(connection).migrate([AFTER])
    after = pg_indexes()
    assert "gin_trgm_ops" in after[SEARCH_INDEX]
    assert after["lead_stage_score_idx"].endswith("(lifecycle_stage, total_score DESC, id)")
    assert after["lead_group_score_idx"].endswith("(score_group_id, total_score DESC, id)")
    assert after["lead_total_score_idx"].endswith("(total_score DESC, id)")

    with CaptureQueriesContext(connection) as backward:
        MigrationExecutor(connection).migrate([BEFORE])
    assert pg_indexes() == before

    for captured in (backward, forward):
        sql = [query["sql"] for query in captured.captured_queries]
        built = [s for s in sql if s.startswith("CREATE INDEX") and 'ON "scoring_lead" ' in s]
        dropped = [s for s in sql if s.startswith("DROP INDEX") and '"lead_' in s]
        assert dropped
        # Writes to the lead table go on while an index builds CONCURRENTLY; a plain build blocks them.
        assert all(s.startswith("CREATE INDEX CONCURRENTLY") for s in built), built
        assert all(s.startswith("DROP INDEX CONCURRENTLY") for s in dropped), dropped
    assert any(SEARCH_INDEX in s for s in (q["sql"] for q in forward.captured_queries) if s.startswith("CREATE"))


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


def sqlite_indexes(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'scoring_lead'")
        return {name: str(sql) for name, sql in rows}


@pytest.mark.migrations
def test_the_lead_list_indexes_migrate_forward_and_back_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "leadflow.sqlite3"
    manage("migrate", *BEFORE, database=database)
    before = sqlite_indexes(database)
    assert "lead_stage_score_idx" not in before
    assert '"id"' not in before["lead_total_score_idx"]

    manage("migrate", *AFTER, database=database)
    assert '"lifecycle_stage", "total_score" DESC, "id"' in sqlite_indexes(database)["lead_stage_score_idx"]

    manage("migrate", *BEFORE, database=database)
    assert sqlite_indexes(database) == before

    manage("migrate", database=database)
    assert '"total_score" DESC, "id"' in sqlite_indexes(database)["lead_total_score_idx"]


@pytest.mark.django_db
def test_a_filtered_lists_rows_link_back_to_it_and_carry_their_checkbox_as_django_writes_them(client: Client) -> None:
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)
    leads = [LeadFactory.create(email=f"row{i}@example.com") for i in range(3)]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(score_group=hot)
    response = client.get(URL, {"score_group__id__exact": str(hot.pk), "q": "row"})
    page = response.content.decode()
    for lead in leads:
        # The change page leads back to the same filtered list (Django's _changelist_filters).
        assert (
            f'href="/admin/scoring/lead/{lead.pk}/change/?_changelist_filters=score_group__id__exact%3D{hot.pk}%26q%3Drow"'
            in page
        )
        assert (
            f'<input type="checkbox" name="_selected_action" value="{lead.pk}" class="action-select"'
            f' aria-label="Select this object for an action - {lead.email}">' in page
        )
    unfiltered = client.get(URL).content.decode()
    assert f'href="/admin/scoring/lead/{leads[0].pk}/change/"' in unfiltered
