"""Rescoring from history after a rule change, and the fresh-start tool."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from scoring import services
from scoring.models import Lead, RescoreJob, ScoreEntry, ScoringRule
from scoring.services import rescore
from tests.factories import InteractionFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def ledger(lead: Lead) -> tuple[int, int]:
    rows = ScoreEntry.objects.filter(lead=lead)
    fit = rows.filter(dimension="fit").aggregate(s=Sum("delta"))["s"] or 0
    engagement = rows.filter(dimension="engagement").aggregate(s=Sum("delta"))["s"] or 0
    return fit, engagement


def scores(lead: Lead) -> tuple[int, int]:
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == ledger(lead)
    return lead.fit_score, lead.engagement_score


@pytest.fixture
def history() -> list[Lead]:
    """Three leads scored under the old rules: opens +1, forms +2 (at most 2 times)."""
    ScoringRuleFactory.create(key="opens", points=1, interaction_types=["email_open"])
    ScoringRuleFactory.create(key="forms", points=2, interaction_types=["form_submit"], cap_count=2)
    fit_rule(5, "industry", "equals", "Toys", key="toys")
    leads = [
        services.lead_upsert(email=f"l{n}@example.com", fields={"industry": "Toys" if n else "Food"})[0]
        for n in range(3)
    ]
    for n, lead in enumerate(leads):
        for i in range(n + 2):
            InteractionFactory.create(lead=lead, type="email_open", occurred_at=T0 + timedelta(hours=i))
            InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(hours=i))
    services.interactions_score_pending()
    return leads


def change_rules() -> None:
    """The marketer changes the model: opens +3, forms capped at 1, toys fit +7, a new download rule."""
    ScoringRule.objects.filter(key="opens").update(points=3)
    ScoringRule.objects.filter(key="forms").update(cap_count=1)
    ScoringRule.objects.filter(key="toys").update(points=7)


def test_rescore_equals_scoring_from_scratch_and_twice_changes_nothing(history: list[Lead]) -> None:
    assert [scores(lead) for lead in history] == [(0, 2 + 4), (5, 3 + 4), (5, 4 + 4)]
    change_rules()

    services.leads_rescore(lead_ids=[lead.pk for lead in history])

    rescored = [scores(lead) for lead in history]
    assert rescored == [(0, 6 + 2), (7, 9 + 2), (7, 12 + 2)]
    assert ScoreEntry.objects.filter(cause="rescore").exists()
    # A brand-new lead with the same history scored by the new rules lands on the same numbers.
    fresh, _ = services.lead_upsert(email="fresh@example.com", fields={"industry": "Toys"})
    for i in range(4):
        InteractionFactory.create(lead=fresh, type="email_open", occurred_at=T0 + timedelta(hours=i))
        InteractionFactory.create(lead=fresh, type="form_submit", occurred_at=T0 + timedelta(hours=i))
    services.interactions_score_pending()
    assert scores(fresh) == rescored[2]
    # Twice: nothing more.
    rows = ScoreEntry.objects.count()
    services.leads_rescore(lead_ids=[lead.pk for lead in history])
    assert ScoreEntry.objects.count() == rows


def test_a_rescore_with_nothing_to_change_writes_nothing(history: list[Lead]) -> None:
    """Nothing changed since the leads were scored: no ledger row, no lead row, nothing else."""
    with CaptureQueriesContext(connection) as queries:
        assert services.leads_rescore(lead_ids=[lead.pk for lead in history]) == 0
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert [scores(lead) for lead in history] == [(0, 2 + 4), (5, 3 + 4), (5, 4 + 4)]


def test_a_rescore_after_retention_sees_back_to_the_horizon_only(history: list[Lead], settings: Any) -> None:
    """What each rule gave so far is read from the horizon on, as the interactions are: an
    award older than it is in the opening balance and stays as it is."""
    settings.LEADFLOW_RETENTION_MONTHS = 1
    at = T0 + timedelta(days=75)  # the horizon (December 1st) is after every interaction: nothing to see
    ScoringRule.objects.filter(key="opens").update(points=3)
    assert services.leads_rescore(lead_ids=[lead.pk for lead in history], at=at) == 0
    assert [scores(lead) for lead in history] == [(0, 2 + 4), (5, 3 + 4), (5, 4 + 4)]


def test_a_deactivated_rule_is_taken_back(history: list[Lead]) -> None:
    ScoringRule.objects.filter(key="forms").update(active=False)
    services.leads_rescore(lead_ids=[history[0].pk])
    assert scores(history[0]) == (0, 2)


def test_a_job_reports_progress_and_resumes_where_it_stopped(history: list[Lead]) -> None:
    change_rules()
    job = services.rescore_job_start(background=False)
    assert (job.total, job.done, job.status) == (3, 0, "queued")
    seen: list[int] = []

    def stop_after_first_chunk(current: RescoreJob) -> None:
        seen.append(current.done)
        if current.done == 2:
            raise KeyboardInterrupt  # the worker is stopped here

    with pytest.raises(KeyboardInterrupt):
        services.rescore_job_run(job_id=job.pk, chunk_size=2, progress=stop_after_first_chunk)
    job.refresh_from_db()
    assert (job.done, job.percent, job.status) == (2, 67, "running")
    assert list(job.lanes.values_list("last_lead_id", "finished")) == [(history[1].pk, False)]

    services.rescore_job_run(job_id=job.pk, chunk_size=2, progress=lambda current: seen.append(current.done))
    job.refresh_from_db()
    assert (job.status, job.done, job.percent) == ("done", 3, 100)
    assert seen == [2, 3]
    assert [scores(lead) for lead in history] == [(0, 8), (7, 11), (7, 14)]


def test_the_command_shows_a_progress_bar(history: list[Lead]) -> None:
    change_rules()
    out, err = StringIO(), StringIO()
    call_command("scoring_rescore", "--chunk", "1", stdout=out, stderr=err)
    assert "3/3" in err.getvalue()
    assert "3 leads rescored" in out.getvalue()
    with pytest.raises(CommandError, match="--group"):
        call_command("scoring_rescore", "--group", "nope")


def test_fresh_start_resets_engagement_with_the_reason_in_the_ledger(history: list[Lead]) -> None:
    assert services.leads_engagement_reset(reason="New season", lead_ids=[history[1].pk]) == 1
    assert scores(history[1]) == (5, 0)
    assert ScoreEntry.objects.get(lead=history[1], note="Fresh start: New season").delta == -7
    assert scores(history[2]) == (5, 8)
    call_command("scoring_reset_engagement", "--all", "--reason", "Model v2")
    assert [scores(lead)[1] for lead in history] == [0, 0, 0]
    with pytest.raises(ValueError, match="reason"):
        services.leads_engagement_reset(reason=" ")


def test_a_rescore_is_not_activity_for_decay(history: list[Lead]) -> None:
    lead = history[2]
    lead.refresh_from_db()
    before = (lead.engagement_base, lead.engagement_base_at)
    change_rules()
    services.leads_rescore(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.engagement_base == before[0] + 6  # what the rescore added
    assert lead.engagement_base_at == before[1]  # the decay clock keeps running


def many_leads(count: int) -> list[Lead]:
    """Leads with an open and a form each, scored under the old rules."""
    ScoringRuleFactory.create(key="opens", points=1, interaction_types=["email_open"])
    ScoringRuleFactory.create(key="forms", points=2, interaction_types=["form_submit"])
    leads = Lead.objects.bulk_create(Lead(email=f"m{n}@example.com") for n in range(count))
    for lead in leads:
        InteractionFactory.create(lead=lead, type="email_open", occurred_at=T0)
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)
    services.interactions_score_pending()
    return leads


def test_a_large_job_is_split_into_lanes_that_cover_every_lead_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rescore, "RESCORE_LANE_MIN", 10)
    leads = many_leads(45)
    job = services.rescore_job_start(background=False)
    lanes = list(job.lanes.values_list("low", "high"))
    assert len(lanes) == 4
    assert lanes[0][0] == leads[0].pk
    assert lanes[-1][1] == leads[-1].pk + 1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(lanes))  # no gap, no overlap
    ScoringRule.objects.filter(key="opens").update(points=4)

    job = services.rescore_job_run(job_id=job.pk, chunk_size=7)

    assert (job.status, job.done, job.total, job.entries) == ("done", 45, 45, 45)
    assert set(job.lanes.values_list("finished", flat=True)) == {True}
    assert {scores(lead) for lead in leads} == {(0, 6)}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_workers_sharing_a_job_rescore_each_lead_once(postgres: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import at_once

    monkeypatch.setattr(rescore, "RESCORE_LANE_MIN", 10)
    leads = many_leads(60)
    job = services.rescore_job_start(background=False)
    ScoringRule.objects.filter(key="forms").update(points=5)

    at_once(*[lambda: services.rescore_job_run(job_id=job.pk, chunk_size=4)] * 3)

    job.refresh_from_db()
    assert (job.status, job.done, job.entries) == ("done", 60, 60)
    assert {scores(lead) for lead in leads} == {(0, 6)}
    assert ScoreEntry.objects.filter(cause="rescore").count() == 60


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_command_shares_a_job_with_helper_processes(postgres: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helpers are other processes on the same (test) database; the bar counts their leads too."""
    leads = many_leads(30)
    ScoringRule.objects.filter(key="opens").update(points=2)
    monkeypatch.setattr(rescore, "RESCORE_LANE_MIN", 5)
    out, err = StringIO(), StringIO()

    call_command("scoring_rescore", "--jobs", "3", "--chunk", "2", stdout=out, stderr=err)

    assert "30 leads rescored, 30 ledger rows written" in out.getvalue()
    assert "30/30" in err.getvalue()
    assert "failed" not in err.getvalue()  # the helpers connected to the test database and worked
    assert {scores(lead) for lead in leads} == {(0, 4)}
    job = RescoreJob.objects.get()
    assert job.lanes.count() == 6
