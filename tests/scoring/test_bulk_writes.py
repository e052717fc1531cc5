"""scoring.bulk's set-based writes: on PostgreSQL each is one statement, sent through
Django's cursor wrapper, so query counts, execute wrappers and Django's error classes
see it as they see the ORM's; on the embedded default (SQLite) the same calls write
the same rows through Django's bulk methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from scoring import bulk, services
from scoring.models import Lead, PendingFit, ScoreEntry
from scoring.services.ledger import lead_states_lock
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory

pytestmark = pytest.mark.django_db


def test_a_bulk_update_on_postgresql_is_one_counted_statement(postgres: None) -> None:
    leads = LeadFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        bulk.values_update(Lead, ["fit_score"], [(lead.pk, 10 + n) for n, lead in enumerate(leads)])

    (statement,) = [query["sql"] for query in queries]
    assert statement.startswith('UPDATE "scoring_lead" SET "fit_score"')
    assert "unnest" in statement
    assert list(Lead.objects.order_by("pk").values_list("fit_score", flat=True)) == [10, 11, 12]


def test_a_scoring_batch_on_postgresql_counts_its_claim_and_its_ledger_insert(postgres: None) -> None:
    ScoringRuleFactory.create(key="opens", points=3, interaction_types=["email_open"])
    lead = LeadFactory.create()
    InteractionFactory.create_batch(2, lead=lead)

    with CaptureQueriesContext(connection) as queries:
        assert services.interactions_score_pending() == 2

    statements = [query["sql"] for query in queries]
    assert any("FOR NO KEY UPDATE SKIP LOCKED" in sql for sql in statements), statements  # the claim
    assert any(sql.startswith('INSERT INTO "scoring_scoreentry"') and "unnest" in sql for sql in statements)
    assert ScoreEntry.objects.filter(lead=lead).count() == 2


def test_execute_wrappers_see_bulk_statements(postgres: None) -> None:
    lead = LeadFactory.create()
    seen: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        bulk.values_update(Lead, ["engagement_score"], [(lead.pk, 4)])

    assert len(seen) == 1
    assert seen[0].startswith('UPDATE "scoring_lead"')


def test_a_batch_finds_its_leads_through_the_key_when_the_statistics_are_old(postgres: None) -> None:
    """Planned from statistics taken when the lead table was small (a new installation, a
    large import faster than autovacuum's next analyze), looking a batch's leads up by id
    read the whole table, once per request and per scoring batch: the intake's hold, the
    workers' lock and their update of the scores find each lead through the primary key."""
    services.leads_create(keys=[(f"early{n}@acme.example", None) for n in range(20)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_lead")
    services.leads_create(keys=[(f"p{n}@acme.example", None) for n in range(20_000)])
    ids = sorted(Lead.objects.values_list("pk", flat=True))[::10]

    def whole_table_reads() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'scoring_lead'")
            return int(cursor.fetchone()[0])

    before = whole_table_reads()
    assert services.leads_hold(ids) == set(ids)
    assert whole_table_reads() == before
    assert set(lead_states_lock(ids)) == set(ids)
    assert whole_table_reads() == before
    with CaptureQueriesContext(connection) as queries:
        bulk.values_update(Lead, ["engagement_score"], [(pk, 4) for pk in ids])
    assert whole_table_reads() == before
    assert Lead.objects.filter(engagement_score=4).count() == len(ids)
    plan, update, plan_back = [query["sql"] for query in queries]
    settings = ["enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin"]
    assert plan == "; ".join(f"SET LOCAL {name} = off" for name in settings)
    assert update.startswith('UPDATE "scoring_lead"')
    assert plan_back == "; ".join(f"SET LOCAL {name} TO DEFAULT" for name in settings)


def test_a_refused_bulk_statement_raises_djangos_error_as_the_orm_does(postgres: None) -> None:
    lead = LeadFactory.create()

    with pytest.raises(DataError, match="out of range"):
        bulk.values_update(Lead, ["fit_score"], [(lead.pk, 2**40)])


@pytest.mark.parametrize("update_from", [True, False], ids=["sqlite-3.33-or-newer", "older-sqlite"])
def test_the_embedded_default_writes_the_same_rows(update_from: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the database (and on SQLite, whatever its version): the rows updated are
    the ones given, however many statements the parameters take."""
    monkeypatch.setattr(bulk, "SQLITE_UPDATE_FROM", update_from and bulk.SQLITE_UPDATE_FROM)
    leads = LeadFactory.create_batch(600)  # 600 rows x 3 columns: past SQLite's 999 parameters
    other = LeadFactory.create(fit_score=7)

    bulk.values_update(
        Lead, ["fit_score", "engagement_score"], [(lead.pk, 5 + n, n % 3) for n, lead in enumerate(leads)]
    )

    got = dict(Lead.objects.exclude(pk=other.pk).values_list("pk", "fit_score"))
    assert got == {lead.pk: 5 + n for n, lead in enumerate(leads)}
    assert [lead.pk for lead in leads[:4]] == list(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads[:4]]).order_by("pk").values_list("pk", flat=True)
    )
    assert list(
        Lead.objects.filter(pk__in=[leads[0].pk, leads[1].pk, leads[2].pk])
        .order_by("pk")
        .values_list("engagement_score", flat=True)
    ) == [0, 1, 2]
    assert Lead.objects.get(pk=other.pk).fit_score == 7, "a row not given is left alone"


def test_an_upsert_inserts_new_rows_and_updates_existing_ones_with_their_json() -> None:
    """On either database: one statement on PostgreSQL (JSON sent as text, not quoted into an
    array), Django's bulk_create elsewhere; JSON values go in as Python values and come back so."""
    from django.utils import timezone

    from scoring.models import LeadPrediction, TrainedModel

    version = TrainedModel.objects.create(number=1, algorithm="logistic_regression", fitted=b"")
    kept, changed, new = LeadFactory.create_batch(3)
    now = timezone.now()
    LeadPrediction.objects.create(lead=kept, model=version, probability=0.1, reasons=[], above=[], computed_at=now)
    LeadPrediction.objects.create(lead=changed, model=version, probability=0.2, reasons=[], above=[], computed_at=now)
    reasons = [{"column": "plan", "value": 'team "pro" \\ 50%', "effect": 0.5, "text": "+ plan: team"}]
    fields = ["lead", "model", "probability", "reasons", "above", "computed_at"]

    with CaptureQueriesContext(connection) as queries:
        bulk.values_upsert(
            LeadPrediction,
            fields,
            [(changed.pk, version.pk, 0.7, reasons, [50], now), (new.pk, version.pk, 0.9, [], [50, 80], now)],
            unique=["lead"],
        )

    if connection.vendor == "postgresql":
        (statement,) = [query["sql"] for query in queries]
        assert "unnest" in statement
        assert "ON CONFLICT" in statement
    got = {p.lead_id: (p.probability, p.reasons, p.above) for p in LeadPrediction.objects.all()}
    assert got == {kept.pk: (0.1, [], []), changed.pk: (0.7, reasons, [50]), new.pk: (0.9, [], [50, 80])}


@pytest.mark.parametrize("count", [1, 2, 5])
def test_an_insert_writes_every_row_whether_its_columns_vary_or_hold_one_value(count: int) -> None:
    """A column holding one value in every row goes to PostgreSQL once; the rows written are
    still every row given, with every value, also when no column varies (identical rows)."""
    from django.utils import timezone

    now = timezone.now()
    leads = LeadFactory.create_batch(count)
    rows = [(lead.pk, "engagement", 3, "rule", now, None, None, "", None, now) for lead in leads]
    same = [(leads[0].pk, "fit", 2, "manual", now, None, None, "by hand", None, now)] * count

    with CaptureQueriesContext(connection) as queries:
        bulk.values_insert(ScoreEntry, services.LEDGER_FIELDS, rows)
        bulk.values_insert(ScoreEntry, services.LEDGER_FIELDS, same)

    if connection.vendor == "postgresql":
        assert len(queries) == 2
    written = sorted(ScoreEntry.objects.values_list("lead_id", "dimension", "delta", "cause", "occurred_at", "note"))
    assert written == sorted(
        [(lead.pk, "engagement", 3, "rule", now, "") for lead in leads]
        + [(leads[0].pk, "fit", 2, "manual", now, "by hand")] * count
    )


def test_leads_created_in_bulk_are_the_leads_the_orm_makes_and_skip_those_taken() -> None:
    taken = Lead.objects.create(email="taken@example.com", first_name="Ana")
    made = Lead.objects.create(email="orm@example.com")

    services.leads_create(keys=[("new@example.com", None), ("TAKEN@example.com", None), (None, "crm-7")])

    def fields(lead: Lead) -> dict[str, Any]:
        skip = {"id", "email", "external_id", "account", "created_at", "updated_at"}
        return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields if f.name not in skip}

    new, by_id = Lead.objects.get(email="new@example.com"), Lead.objects.get(external_id="crm-7")
    assert fields(new) == fields(by_id) == fields(made)
    # Created in the account of the email's domain; by external id alone, in none.
    assert (new.account and new.account.domain, by_id.account) == ("example.com", None)
    assert new.created_at > made.created_at  # made now
    assert new.updated_at > made.updated_at
    # The new leads wait for a worker to evaluate their fit; the one taken already does not.
    assert set(PendingFit.objects.values_list("lead_id", flat=True)) == {new.pk, by_id.pk}
    # The one whose email was taken (in another case) is left as it was.
    assert Lead.objects.filter(email__iexact="taken@example.com").count() == 1
    assert Lead.objects.get(pk=taken.pk).first_name == "Ana"


def test_id_columns_go_as_array_literals_and_read_back_whole(postgres: None) -> None:
    """A list of ints (None among them or not) is sent as the text of an array literal,
    any other list as psycopg's binary array: the database reads the same values either way,
    past the 32-bit range and with NULLs where the list has None."""
    big = 2**40
    sent: list[Any] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        sent.extend(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        rows = bulk.pg_fetch(
            "SELECT a, b, c FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS u (a, b, c) ORDER BY a",
            [[3, 1, big], [None, 7, -2], ["x", "", "z"]],
        )

    assert sent == [f"{{3,1,{big}}}", "{NULL,7,-2}", ["x", "", "z"]]
    assert rows == [(1, 7, ""), (3, None, "x"), (big, -2, "z")]
    # Lists of anything else (bools are ints to Python, digits in text) keep psycopg's own arrays.
    flags, texts = [True, False], ["1", "a"]
    assert bulk.pg_execute("SELECT %s::bool[], %s::text[]", [flags, texts]) == [(flags, texts)]


def test_a_placeholder_without_its_parameter_is_refused_before_the_database(postgres: None) -> None:
    with pytest.raises(ValueError, match="2 placeholders for 1 parameters"):
        bulk.pg_execute("SELECT %s::int, %s::int", [1])
