"""One bad row never stops a scoring batch: it is set aside with its error, the rows
around it are scored as if it were not there, and a retry after fixing it scores it
once. The bad rows are planted past every check, with SQL, as an old bug or a
restore would leave them."""

from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.events import events_check
from intake.ingest import events_accept
from scoring import services, setaside
from scoring.models import (
    Interaction,
    Lead,
    PendingFit,
    RescoreJob,
    ScoreEntry,
    ScoringRule,
    SetAside,
    WaitingInteraction,
)
from scoring.services import engagement as engagement_service
from tests.conftest import Workers, wait_for
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory, fit_rule, interactions_scored

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def plant(sql: str, params: list[Any]) -> None:
    """Write past every check, as a bug or a restore would. A change of an interaction is
    made to its waiting row too (what a worker reads), as the intake would have copied it."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if sql.startswith("UPDATE scoring_interaction SET"):
            waiting = sql.replace("scoring_interaction", "scoring_waitinginteraction").replace(
                "WHERE id =", "WHERE interaction_id ="
            )
            cursor.execute(waiting, params)


def engagement(lead: Lead) -> tuple[int, int]:
    """(cached engagement, ledger rows) of a lead."""
    return (
        Lead.objects.values_list("engagement_score", flat=True).get(pk=lead.pk),
        ScoreEntry.objects.filter(lead=lead).count(),
    )


def open_set_aside(kind: str) -> list[SetAside]:
    return list(SetAside.objects.filter(kind=kind, resolved_at__isnull=True))


@pytest.fixture
def rules() -> None:
    ScoringRuleFactory.create(key="forms", points=2, interaction_types=["form_submit"])
    ScoringRuleFactory.create(key="opens", points=1, interaction_types=["email_open"], cap_count=2)


def activity(lead: Lead, hours: range) -> None:
    for i in hours:
        InteractionFactory.create(lead=lead, type="email_open", occurred_at=T0 + timedelta(hours=i))
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(hours=i))


@pytest.mark.usefixtures("rules")
def test_an_interaction_from_1_bc_is_set_aside_and_the_batch_around_it_is_scored_as_without_it(
    postgres: None,
) -> None:
    twin, lead = LeadFactory.create(), LeadFactory.create()
    activity(twin, range(2))
    activity(lead, range(2))
    bad = InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)
    activity(twin, range(2, 4))
    activity(lead, range(2, 4))  # after the bad row, in the same batch
    # What the API let in before it checked dates: psycopg cannot even read it back.
    plant("UPDATE scoring_interaction SET occurred_at = '0001-01-01 00:00:00+14 BC' WHERE id = %s", [bad.pk])

    scored = services.interactions_score_pending(batch_size=100)

    assert scored == 17
    assert engagement(lead) == engagement(twin) == (2 + 4 * 2, 6)
    assert Interaction.objects.filter(pk=bad.pk).values_list("set_aside", flat=True).get()
    assert not WaitingInteraction.objects.exists()
    (row,) = open_set_aside("interaction")
    assert (row.row_id, row.lead_id, row.failures, row.error_type) == (bad.pk, lead.pk, 1, "django.db.utils.DataError")
    assert "before year 1" in row.error
    assert "Traceback" in row.traceback

    # Again (the minute sweep): the row is out of the workers' way; nothing doubles.
    assert services.interactions_score_pending(batch_size=100) == 0
    assert SetAside.objects.get().failures == 1
    # Rescoring the lead does not take it for scored (nor choke on it).
    assert services.leads_rescore(lead_ids=[lead.pk]) == 0

    # Fixed, then retried: scored once.
    plant("UPDATE scoring_interaction SET occurred_at = %s WHERE id = %s", [T0 + timedelta(hours=9), bad.pk])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert (retried.ok, retried.result) == (True, "scored")
    assert engagement(lead) == (12, 7)
    assert ScoreEntry.objects.filter(interaction_id=bad.pk).count() == 1
    row.refresh_from_db()
    assert (row.resolved_at is not None, row.retry_result) == (True, "scored")
    assert setaside.rows_retry(ids=[row.pk]) == []
    assert services.interactions_score_pending(batch_size=100) == 0
    assert engagement(lead) == (12, 7)


@pytest.mark.usefixtures("rules")
def test_properties_that_are_not_an_object_set_the_interaction_aside() -> None:
    ScoringRuleFactory.create(key="spring", points=5, interaction_types=["download"])
    spring = ScoringRule.objects.get(key="spring")
    spring.conditions.create(field="campaign", operator="equals", value="spring")
    lead = LeadFactory.create()
    good = InteractionFactory.create(lead=lead, type="download", properties={"campaign": "spring"})
    bad = InteractionFactory.create(lead=lead, type="download")
    later = InteractionFactory.create(lead=lead, type="download", properties={"campaign": "spring"})
    plant("UPDATE scoring_interaction SET properties = '[\"spring\"]' WHERE id = %s", [bad.pk])

    services.interactions_score_pending()

    assert set(ScoreEntry.objects.values_list("interaction_id", flat=True)) == {good.pk, later.pk}
    (row,) = open_set_aside("interaction")
    assert (row.row_id, row.error_type) == (bad.pk, "AttributeError")
    # Retried without a fix: set aside again, one more failure, and it says so.
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert not retried.ok
    assert retried.result.startswith("failed again: AttributeError")
    row.refresh_from_db()
    assert (row.failures, row.resolved_at) == (2, None)
    assert Interaction.objects.get(pk=bad.pk).set_aside


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rules")
def test_a_batch_that_goes_through_runs_as_before_without_a_savepoint_or_a_look_at_set_aside_rows() -> None:
    lead = LeadFactory.create()
    activity(lead, range(3))

    with CaptureQueriesContext(connection) as queries:
        assert services.interactions_score_pending() == 6

    statements = " ".join(query["sql"] for query in queries)
    assert "SAVEPOINT" not in statements
    assert "scoring_setaside" not in statements
    assert engagement(lead)[0] == 2 + 3 * 2


def test_an_error_that_may_pass_stops_the_batch_and_sets_nothing_aside(
    rules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    InteractionFactory.create(type="form_submit")

    def lost(*args: object, **kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(engagement_service, "_interactions_score", lost)
    with pytest.raises(OperationalError):
        services.interactions_score_pending()
    assert not SetAside.objects.exists()
    assert WaitingInteraction.objects.count() == 1
    assert not Interaction.objects.filter(set_aside=True).exists()


def test_a_lead_whose_fit_cannot_be_evaluated_is_set_aside_and_the_others_are_evaluated() -> None:
    fit_rule(5, "industry", "equals", "Toys")
    leads = [LeadFactory.create(industry="Toys", fit_pending=True) for _ in range(5)]
    bad = leads[2]
    plant("UPDATE scoring_lead SET attributes = '[1, 2]' WHERE id = %s", [bad.pk])

    services.interactions_score_pending()

    fit = dict(Lead.objects.values_list("pk", "fit_score"))
    assert [fit[lead.pk] for lead in leads] == [5, 5, 0, 5, 5]
    assert not PendingFit.objects.exists()
    (row,) = open_set_aside("fit")
    assert (row.row_id, row.lead_id, row.error_type) == (bad.pk, bad.pk, "AttributeError")

    services.interactions_score_pending()
    assert SetAside.objects.get().failures == 1

    plant("UPDATE scoring_lead SET attributes = '{}' WHERE id = %s", [bad.pk])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert (retried.ok, retried.result) == (True, "fit evaluated")
    assert Lead.objects.values_list("fit_score", flat=True).get(pk=bad.pk) == 5
    assert ScoreEntry.objects.filter(lead=bad).count() == 1


def test_a_rescore_job_sets_aside_a_lead_it_cannot_rescore_and_goes_on(postgres: None, rules: None) -> None:
    leads = [LeadFactory.create() for _ in range(3)]
    for lead in leads:
        activity(lead, range(1))
    services.interactions_score_pending()
    broken = Interaction.objects.filter(lead=leads[1]).order_by("pk").first()
    assert broken is not None
    plant("UPDATE scoring_interaction SET occurred_at = '4714-11-24 00:00:00+00 BC' WHERE id = %s", [broken.pk])
    ScoringRule.objects.filter(key="forms").update(points=7)
    job = services.rescore_job_start(lead_ids=[lead.pk for lead in leads], background=False)

    job = services.rescore_job_run(job_id=job.pk, chunk_size=10)

    assert (job.status, job.done, job.total) == (RescoreJob.Status.DONE, 3, 3)
    assert [engagement(lead)[0] for lead in leads] == [8, 3, 8]
    (row,) = open_set_aside("rescore")
    assert (row.row_id, row.error_type) == (leads[1].pk, "django.db.utils.DataError")

    plant("UPDATE scoring_interaction SET occurred_at = %s WHERE id = %s", [T0, broken.pk])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok
    assert retried.result.startswith("rescored")
    assert engagement(leads[1])[0] == 8


def test_erasing_a_lead_can_delete_its_set_aside_rows() -> None:
    fit_rule(5, "industry", "equals", "Toys")
    kept, erased = LeadFactory.create(fit_pending=True), LeadFactory.create(fit_pending=True)
    plant("UPDATE scoring_lead SET attributes = '\"not an object\"' WHERE id IN (%s, %s)", [kept.pk, erased.pk])
    services.leads_rescore_fit_pending()
    assert SetAside.objects.count() == 2

    assert setaside.rows_erase(lead_ids=[erased.pk]) == 1

    assert list(SetAside.objects.values_list("lead_id", flat=True)) == [kept.pk]


# --- the splitting itself ------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.integers(1, 10**6), unique=True, max_size=60), data=st.data())
def test_splitting_sets_aside_exactly_the_rows_that_fail_and_processes_every_other_once_in_order(
    rows: list[int], data: st.DataObject
) -> None:
    bad = set(data.draw(st.lists(st.sampled_from(rows), unique=True)) if rows else [])
    processed: list[int] = []
    calls = 0

    def process(part: list[int]) -> int:
        nonlocal calls
        calls += 1
        if bad & set(part):
            raise ValueError(f"rows {sorted(bad & set(part))} are bad")
        processed.extend(part)
        return len(part)

    left: list[int] = []
    with transaction.atomic():
        done = setaside.rows_isolate(kind="test", rows=[(r, r) for r in rows], process=process, leave=left.extend)
        recorded = set(SetAside.objects.filter(kind="test").values_list("row_id", flat=True))
        transaction.set_rollback(True)

    assert processed == [r for r in rows if r not in bad]
    assert sum(done.results) == len(processed)
    assert done.set_aside == left == [r for r in rows if r in bad]
    assert recorded == bad
    # Few attempts: each bad row costs at most two per halving on its way down.
    assert calls <= 1 + 2 * len(bad) * max(1, len(rows)).bit_length()


def test_splitting_stops_at_an_error_that_may_pass() -> None:
    def process(part: list[int]) -> None:
        if 3 in part:
            raise OperationalError("deadlock detected")

    with transaction.atomic(), pytest.raises(OperationalError):
        setaside.rows_isolate(kind="test", rows=[(r, None) for r in range(1, 9)], process=process)
    assert not SetAside.objects.exists()


# --- the admin ---------------------------------------------------------------------


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_admin_lists_set_aside_rows_with_their_error_and_retries_them(admin: Client) -> None:
    fit_rule(5, "industry", "equals", "Toys")
    bad = LeadFactory.create(industry="Toys", fit_pending=True)
    plant("UPDATE scoring_lead SET attributes = '[1, 2]' WHERE id = %s", [bad.pk])
    services.leads_rescore_fit_pending()
    row = SetAside.objects.get()
    url = reverse("admin:scoring_setaside_changelist")

    listed = page(admin, url)
    assert "Lead (fit evaluation)" in listed
    assert "AttributeError: 'list' object has no attribute 'items'" in listed
    assert reverse("admin:scoring_lead_change", args=[bad.pk]) in listed
    assert "Lead (fit evaluation)" in page(admin, f"{url}?kind=fit&status=open")
    assert reverse("admin:scoring_lead_change", args=[bad.pk]) not in page(admin, f"{url}?kind=decay")
    detail = page(admin, reverse("admin:scoring_setaside_change", args=[row.pk]))
    assert "Traceback (most recent call last)" in detail

    plant("UPDATE scoring_lead SET attributes = '{}' WHERE id = %s", [bad.pk])
    response = admin.post(url, {"action": "retry", "_selected_action": [row.pk]}, follow=True)

    assert "1 row back in its batch: fit evaluated." in html.unescape(response.content.decode())
    row.refresh_from_db()
    assert (row.resolved_at is not None, row.retry_result) == (True, "fit evaluated")
    assert Lead.objects.values_list("fit_score", flat=True).get(pk=bad.pk) == 5
    assert "retried: fit evaluated" in page(admin, f"{url}?status=retried")


def test_only_who_may_change_set_aside_rows_may_retry_them() -> None:
    fit_rule(5, "industry", "equals", "Toys")
    bad = LeadFactory.create(fit_pending=True)
    plant("UPDATE scoring_lead SET attributes = '[1]' WHERE id = %s", [bad.pk])
    services.leads_rescore_fit_pending()
    row = SetAside.objects.get()
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_setaside"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(viewer)
    url = reverse("admin:scoring_setaside_changelist")

    assert 'value="retry"' not in page(client, url)
    client.post(url, {"action": "retry", "_selected_action": [row.pk]})

    row.refresh_from_db()
    assert row.resolved_at is None


# --- a real worker ------------------------------------------------------------------


@pytest.mark.services
def test_a_worker_scores_around_a_planted_row_and_the_admin_retries_it(
    celery_workers: Workers, admin_user: Any
) -> None:
    from scoring.tasks import interactions_score_pending_task

    ScoringRuleFactory.create(key="forms", points=2, interaction_types=["form_submit"])
    lead, _ = services.lead_upsert(email="ana@example.com")
    before = [InteractionFactory.create(lead=lead, type="form_submit") for _ in range(3)]
    bad = InteractionFactory.create(lead=lead, type="form_submit")
    after = [InteractionFactory.create(lead=lead, type="form_submit") for _ in range(3)]
    plant("UPDATE scoring_interaction SET occurred_at = '0001-01-01 00:00:00+14 BC' WHERE id = %s", [bad.pk])
    celery_workers.start()

    interactions_score_pending_task.delay()

    good = [i.pk for i in before + after]
    wait_for(
        lambda: interactions_scored(pk__in=good).count() == 6 and SetAside.objects.exists(),
        message=f"the worker to score around the bad row\n{celery_workers.logs()}",
    )
    assert engagement(lead) == (12, 6)
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.lead_id) == ("interaction", bad.pk, lead.pk)

    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    url = reverse("admin:scoring_setaside_changelist")
    assert "timestamp too small (before year 1)" in page(client, url)
    plant("UPDATE scoring_interaction SET occurred_at = %s WHERE id = %s", [T0, bad.pk])
    client.post(url, {"action": "retry", "_selected_action": [row.pk]})

    assert engagement(lead) == (14, 7)
    sweep = interactions_score_pending_task.delay()  # the sweep after: nothing left, nothing twice
    wait_for(lambda: f"{sweep.id}] succeeded" in celery_workers.logs(), message=f"the sweep\n{celery_workers.logs()}")
    assert engagement(lead) == (14, 7)


def test_an_event_a_visitor_s_identify_handed_over_is_set_aside_and_retried_until_it_is_scored() -> None:
    """Stored by the API (as the intake writes it), handed to the lead by an identify, then
    set aside: it stays set aside through each retry without a fix (never lost between
    "set aside" and "waiting"), and is scored once fixed."""
    ScoringRuleFactory.create(key="spring", points=5, interaction_types=["download"])
    ScoringRule.objects.get(key="spring").conditions.create(field="campaign", operator="equals", value="spring")
    now = timezone.now()

    def accept(*raws: dict[str, Any]) -> None:
        checked, problems = events_check(list(raws), now=now)
        assert not problems
        events_accept(checked, source="test")

    accept({"id": "dl-1", "type": "download", "visitor_id": "v-9", "properties": {"campaign": "spring"}})
    bad = Interaction.objects.get(idempotency_key="dl-1")
    plant("UPDATE scoring_interaction SET properties = '[\"spring\"]' WHERE id = %s", [bad.pk])
    accept({"id": "pv-1", "type": "page_view", "visitor_id": "v-9", "lead": {"email": "ana@example.com"}})
    assert WaitingInteraction.objects.filter(pk=bad.pk).exists()  # handed to the lead, waiting

    services.interactions_score_pending()

    assert Interaction.objects.get(pk=bad.pk).set_aside
    assert not WaitingInteraction.objects.exists()
    (row,) = open_set_aside("interaction")
    for failures in (2, 3):
        (retried,) = setaside.rows_retry(ids=[row.pk])
        assert retried.result.startswith("failed again: AttributeError"), retried.result
        row.refresh_from_db()
        assert row.failures == failures
        assert Interaction.objects.get(pk=bad.pk).set_aside
        assert not WaitingInteraction.objects.exists()

    plant('UPDATE scoring_interaction SET properties = \'{"campaign": "spring"}\' WHERE id = %s', [bad.pk])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok, retried.result
    assert list(ScoreEntry.objects.values_list("interaction_id", "delta")) == [(bad.pk, 5)]
    assert interactions_scored(pk=bad.pk).exists()


@pytest.mark.usefixtures("rules")
def test_a_retry_of_a_row_that_cannot_be_read_beside_a_fixed_one_scores_the_fixed_one(postgres: None) -> None:
    """Retried together, the one still unreadable is set aside again and the one fixed is
    scored: the retry puts them back in the workers' way without reading them."""
    lead = LeadFactory.create()
    broken = InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)
    fixed = InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(hours=1))
    for row in (broken, fixed):
        plant("UPDATE scoring_interaction SET occurred_at = '0001-01-01 00:00:00+14 BC' WHERE id = %s", [row.pk])
    services.interactions_score_pending()
    rows = {row.row_id: row for row in open_set_aside("interaction")}
    assert set(rows) == {broken.pk, fixed.pk}
    plant("UPDATE scoring_interaction SET occurred_at = %s WHERE id = %s", [T0 + timedelta(hours=1), fixed.pk])

    results = {r.row_id: r for r in setaside.rows_retry(ids=[rows[broken.pk].pk, rows[fixed.pk].pk])}

    assert results[fixed.pk].ok, results[fixed.pk].result
    assert results[broken.pk].result.startswith("failed again: django.db.utils.DataError"), results[broken.pk].result
    assert list(ScoreEntry.objects.values_list("interaction_id", "delta")) == [(fixed.pk, 2)]
    assert Interaction.objects.filter(pk=broken.pk).values_list("set_aside", flat=True).get()
    assert not WaitingInteraction.objects.exists()


@pytest.mark.parametrize(
    ("kind", "spanish", "english"),
    [
        ("transition", "se reintentó: queda para el próximo enrutamiento (ocupado)", "next routing run"),
        ("notification", "se reintentó: de vuelta en la bandeja de salida", "back in the outbox"),
        ("webhook", "se reintentó: nada que hacer: ya no está pendiente", "no longer pending"),
        ("sla", "se reintentó: nada que hacer: ya no está abierto", "no longer open"),
        ("decay", "se reintentó: sin política de decaimiento: nada que hacer", "no decay policy"),
        ("rescore", "se reintentó: repuntuado (0 movimientos escritos en el registro)", "ledger rows"),
        ("interaction", "se reintentó: no espera puntuación", "not waiting"),
        ("fit", "se reintentó: queda para el próximo lote de puntuación", "next scoring batch"),
    ],
)
def test_what_a_retry_of_each_kind_did_reads_in_spanish(
    admin_user: User, kind: str, spanish: str, english: str
) -> None:
    # A row whose own row is gone by the retry: each kind says what it did (or had nothing to do).
    now = timezone.now()
    row = SetAside.objects.create(
        kind=kind, row_id=987654, error_type="ValueError", error="bad", first_failed_at=now, last_failed_at=now
    )
    spanish_reader = Client(headers={"accept-language": "es"})
    spanish_reader.force_login(admin_user)

    url = reverse("admin:scoring_setaside_changelist")
    spanish_reader.post(url, {"action": "retry", "_selected_action": [row.pk]})
    shown = page(spanish_reader, reverse("admin:scoring_setaside_change", args=[row.pk]))

    assert spanish in shown
    assert english not in shown
    row.refresh_from_db()
    assert english in row.retry_result  # the English kept


@pytest.mark.parametrize("kind", ["decay", "interaction"])
def test_a_retried_row_reads_in_spanish_without_taking_its_kind_for_one_gender(
    admin_user: User, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # "el lead", "la interacción": the row's status and the result any kind may get ("processed",
    # when its retry says nothing of the row) fit either, where they said "reintentada: procesada".
    monkeypatch.setitem(setaside._KINDS, kind, dataclasses.replace(setaside.kinds()[kind], retry=lambda ids: {}))
    now = timezone.now()
    row = SetAside.objects.create(
        kind=kind, row_id=987654, error_type="ValueError", error="bad", first_failed_at=now, last_failed_at=now
    )
    spanish_reader = Client(headers={"accept-language": "es"})
    spanish_reader.force_login(admin_user)
    change = reverse("admin:scoring_setaside_change", args=[row.pk])
    waiting = page(spanish_reader, change)

    spanish_reader.post(reverse("admin:scoring_setaside_changelist"), {"action": "retry", "_selected_action": [row.pk]})
    shown = page(spanish_reader, change)

    assert "sin resolver" in waiting
    assert "se reintentó: se procesó" in shown
    assert "Último reintento" in shown
    assert ">apartada<" not in waiting
    for gendered in ("reintentad", "procesad"):
        assert gendered not in waiting + shown
    row.refresh_from_db()
    assert row.retry_result == "processed"  # the English kept


def test_a_set_aside_interaction_reads_as_one_in_spanish(admin_user: User) -> None:
    # "set aside" is also the count of a lead import's rows ("7 apartadas"): an interaction is one.
    interaction = InteractionFactory.create()
    Interaction.objects.filter(pk=interaction.pk).update(set_aside=True)
    spanish_reader = Client(headers={"accept-language": "es"})
    spanish_reader.force_login(admin_user)

    listed = page(spanish_reader, reverse("admin:scoring_interaction_changelist"))
    shown = page(spanish_reader, reverse("admin:scoring_interaction_change", args=[interaction.pk]))

    assert 'class="field-scoring_state">apartada</td>' in listed
    assert "<label>Apartada:</label>" in shown
    assert '<div class="readonly">apartada</div>' in shown
