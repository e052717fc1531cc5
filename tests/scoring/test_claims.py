"""How scoring batches share the work on PostgreSQL: a lead another transaction holds
does not hold up the interactions of the other leads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from scoring import services
from scoring.models import Interaction, Lead, PendingFit, ScoreEntry, WaitingInteraction
from tests.conftest import someone_waits_on_a_lock, wait_for
from tests.factories import LeadFactory, ScoringRuleFactory, fit_rule, interactions_create, interactions_scored

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def scored_now(lead: Lead) -> tuple[int, int]:
    """(scored, waiting) interactions of ``lead``, as this thread's connection sees them."""
    return interactions_scored(lead=lead).count(), WaitingInteraction.objects.filter(lead=lead).count()


@pytest.mark.django_db(transaction=True)
def test_a_lead_held_elsewhere_does_not_hold_up_the_others_and_is_scored_once_free(postgres: None) -> None:
    ScoringRuleFactory.create(name="Any open", points=2, interaction_types=["email_open"])
    busy, free = LeadFactory.create(), LeadFactory.create()
    # In id order the busy lead's interactions come first: a batch of all of them used to
    # wait for the busy lead before it wrote anything.
    interactions_create(
        Interaction(lead=lead, type="email_open", occurred_at=T0 + timedelta(minutes=n), idempotency_key=f"e-{n}")
        for n, lead in enumerate([busy] * 3 + [free] * 4)
    )
    seen: dict[str, tuple[int, int]] = {}
    holding, failed = threading.Event(), []

    def hold_the_busy_lead() -> None:
        # Another transaction on the busy lead (a person's edit, decay, another worker…),
        # kept until the scoring below waits for it.
        try:
            with transaction.atomic():
                Lead.objects.select_for_update(no_key=True).get(pk=busy.pk)
                holding.set()
                wait_for(someone_waits_on_a_lock, timeout=60, message="the scoring to wait for the busy lead")
                seen["free"], seen["busy"] = scored_now(free), scored_now(busy)
        except (AssertionError, DatabaseError) as exc:  # reported below
            failed.append(exc)
            holding.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_busy_lead)
    holder.start()
    assert holding.wait(30)
    try:
        taken = services.interactions_score_pending(batch_size=100)
    finally:
        holder.join(60)
    assert not failed, failed
    # While the busy lead was held, the free lead's interactions were scored and committed;
    # the busy lead's waited, then were scored once it was free.
    assert seen == {"free": (4, 0), "busy": (0, 3)}
    assert taken == 7
    assert scored_now(busy) == (3, 0)
    busy.refresh_from_db()
    free.refresh_from_db()
    assert (busy.engagement_score, free.engagement_score) == (6, 8)
    assert ScoreEntry.objects.filter(cause="rule").count() == 7


@pytest.mark.django_db
def test_a_batch_is_read_from_the_waiting_index_in_id_order_not_by_sorting_the_backlog(postgres: None) -> None:
    # Statistics taken while the table was empty (autovacuum's next analyse not yet come):
    # planned from them, the take reads every waiting interaction and sorts them, and a
    # worker's prepared statement keeps that plan for each batch while a backlog grows.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_waitinginteraction")
    ScoringRuleFactory.create(name="Any open", points=2, interaction_types=["email_open"])
    leads = LeadFactory.create_batch(5)
    interactions_create(
        Interaction(lead=leads[n % 5], type="email_open", occurred_at=T0 + timedelta(seconds=n), idempotency_key=str(n))
        for n in range(600)
    )
    plans: list[str] = []

    def explain_the_take(execute, sql, params, many, context):
        if "WITH waiting" in sql:
            execute(f"EXPLAIN (COSTS OFF) {sql}", params, many, context)
            plans.append("\n".join(row[0] for row in context["cursor"].fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_the_take):
        taken = services.interactions_score_pending(batch_size=1000)
    assert taken == 600
    assert plans
    for plan in plans:
        waiting = plan.partition("CTE held")[0]  # the interactions' part (the leads' is sorted by id)
        assert "Index Scan using scoring_waitinginteraction_pkey" in waiting, plan
        for reading_all in ("Bitmap", "Seq Scan", "->  Sort"):
            assert reading_all not in waiting, plan
        # The held leads' other waiting interactions: looked up by lead, not by reading the
        # waiting table in id order once for each lead.
        later = plan.partition("CTE later")[2]
        assert "waiting_lead_time_idx" in later, plan
        assert "pkey" not in later, plan
        assert "Seq Scan" not in later, plan
    assert Lead.objects.filter(engagement_score=240).count() == 5
    # The statements after the take, in the same transaction, are planned as usual.
    with transaction.atomic(), connection.cursor() as cursor:
        services.engagement._interactions_take(10)
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan')")
        assert cursor.fetchone() == ("on", "on")


@pytest.mark.django_db
def test_a_batch_takes_the_other_waiting_interactions_of_the_leads_it_holds(postgres: None) -> None:
    ScoringRuleFactory.create(name="Any open", points=2, interaction_types=["email_open"])
    first, second, third = LeadFactory.create_batch(3)
    # In id order; the last happened before the others.
    when = [T0 + timedelta(minutes=n) for n in (5, 6, 7, 8)] + [T0]
    rows = interactions_create(
        Interaction(lead=lead, type="email_open", occurred_at=at, idempotency_key=str(n))
        for n, (lead, at) in enumerate(zip([first, second, first, third, first], when, strict=True))
    )
    with transaction.atomic():
        claimed = services.engagement._interactions_claim(batch_size=2)
        transaction.set_rollback(True)
    # The first two, and the first lead's third: its fifth happened before the batch's
    # earliest, and waits for a later batch with the third lead's.
    assert sorted(f.id for f in claimed.facts) == [rows[0].pk, rows[1].pk, rows[2].pk]
    assert claimed.more
    assert services.interactions_score_pending(batch_size=2) == 5
    assert not WaitingInteraction.objects.exists()
    scores = dict(Lead.objects.values_list("pk", "engagement_score"))
    assert (scores[first.pk], scores[second.pk], scores[third.pk]) == (6, 2, 2)
    assert ScoreEntry.objects.filter(cause="rule").count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_lead_whose_fields_are_being_written_keeps_its_fit_queued_until_they_are_committed(
    postgres: None,
) -> None:
    """The queue row of a lead already waiting is not written again by a change of its
    fields; the lead's row, which the change holds, is what keeps a batch from reading
    the fields before the change and dropping the lead from the queue."""
    fit_rule(5, "industry", "equals", "Toys")
    lead = LeadFactory.create(email="reader@example.com", industry="Books", fit_pending=True)
    written, evaluated, failed = threading.Event(), threading.Event(), []

    def import_the_new_industry() -> None:
        try:
            with transaction.atomic():
                services.leads_merge(fields={"reader@example.com": {"industry": "Toys"}})
                written.set()
                assert evaluated.wait(30), "the batch below did not finish"
        except (AssertionError, DatabaseError) as exc:  # reported below
            failed.append(exc)
        finally:
            written.set()
            connection.close()

    writer = threading.Thread(target=import_the_new_industry)
    writer.start()
    assert written.wait(30)
    try:
        during = services.leads_rescore_fit_pending()
        queued_during = PendingFit.objects.filter(lead=lead).exists()
    finally:
        evaluated.set()
        writer.join(60)
    assert not failed, failed
    # The batch left the held lead to a later one rather than wait for it or read it stale.
    assert (during, queued_during) == (0, True)
    assert Lead.objects.values_list("fit_score", flat=True).get(pk=lead.pk) == 0

    assert services.leads_rescore_fit_pending() == 1
    assert Lead.objects.values_list("industry", "fit_score").get(pk=lead.pk) == ("Toys", 5)
    assert not PendingFit.objects.exists()
