"""Predictive scoring on the database: versions, activation and rollback, refreshing
probabilities after events, retraining when due, and the command."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from routing.models import Outcome
from scoring import services
from scoring.models import GroupTransition, Lead, LeadPrediction, PredictiveSettings, TrainedModel
from scoring.services import predictive
from tests.factories import ScoringRuleFactory

pytestmark = pytest.mark.django_db


def history(n: int = 120, seed: int = 3) -> list[Lead]:
    """Leads whose plan and page views say how likely they are to buy, and how each ended."""
    rng = random.Random(seed)
    leads = Lead.objects.bulk_create(
        [
            Lead(
                email=f"p{i}@example.com",
                attributes={"plan": rng.choice(["starter", "team", "enterprise"]), "after_call": "x" if i % 2 else "y"},
            )
            for i in range(n)
        ]
    )
    now = timezone.now()
    for i, lead in enumerate(leads):
        plan = lead.attributes["plan"]
        won = (plan == "enterprise" and rng.random() < 0.8) or (plan == "team" and rng.random() < 0.4)
        won = won or (plan == "starter" and rng.random() < 0.1)
        Outcome.objects.create(lead=lead, kind="won" if won else "lost", total_score=0, at=now - timedelta(hours=i))
    return leads


def test_training_stores_a_version_activates_it_and_scores_every_lead() -> None:
    leads = history()
    version = predictive.model_train(excluded=["after_call"])
    assert version.number == 1
    assert version.status == TrainedModel.Status.ACTIVE
    assert version.leads == len(leads)
    assert version.excluded_columns == ["after_call"]
    assert not any(name.startswith("after_call") for name in version.features)
    assert {"cv_auc", "brier", "calibration", "importance", "compared"} <= set(version.metrics)
    assert LeadPrediction.objects.filter(model=version).count() == len(leads)
    enterprise = LeadPrediction.objects.filter(lead__attributes__plan="enterprise")
    starter = LeadPrediction.objects.filter(lead__attributes__plan="starter")
    assert min(p.probability for p in enterprise) > max(p.probability for p in starter)
    reasons = enterprise.first().reasons  # type: ignore[union-attr]
    assert reasons[0]["column"] == "plan"
    assert reasons[0]["text"] == "+ plan: enterprise"


def test_a_new_version_replaces_the_active_one_and_rollback_brings_the_old_one_back() -> None:
    history()
    first = predictive.model_train(excluded=["after_call"])
    second = predictive.model_train(excluded=["after_call", "plan"])
    first.refresh_from_db()
    assert (first.status, second.status) == (TrainedModel.Status.RETIRED, TrainedModel.Status.ACTIVE)
    assert set(LeadPrediction.objects.values_list("model", flat=True)) == {second.pk}
    predictive.model_activate(model_id=first.pk)
    second.refresh_from_db()
    assert second.status == TrainedModel.Status.RETIRED
    assert TrainedModel.objects.get(status="active") == first
    assert set(LeadPrediction.objects.values_list("model", flat=True)) == {first.pk}


def test_a_version_trained_without_activating_leaves_the_active_one_alone() -> None:
    history()
    first = predictive.model_train(excluded=["after_call"])
    kept = predictive.model_train(excluded=["after_call"], activate=False)
    assert kept.status == TrainedModel.Status.RETIRED
    assert predictive.active_model() == first


def test_probabilities_are_refreshed_after_events_that_change_the_score() -> None:
    leads = history()
    ScoringRuleFactory.create(interaction_types=["page_view"], points=5)
    # Leads that viewed pages won more: the model learns it from the interaction counts.
    now = timezone.now()
    for i, lead in enumerate(leads):
        if Outcome.objects.filter(lead=lead, kind="won").exists() or i % 7 == 0:
            for k in range(3):
                services.interaction_record(
                    lead=lead, type="page_view", occurred_at=now - timedelta(days=1), idempotency_key=f"v{i}-{k}"
                )
    services.interactions_score_pending()
    predictive.model_train(excluded=["after_call", "plan", "fit score", "engagement score"])
    predictive.predictions_refresh_changed()  # the first run sets its marks
    quiet = next(lead for lead in leads if not lead.interactions.exists() and lead.attributes["plan"] == "starter")
    before = LeadPrediction.objects.get(lead=quiet)
    untouched = LeadPrediction.objects.exclude(lead=quiet).first()
    assert untouched is not None
    for k in range(3):
        services.interaction_record(lead=quiet, type="page_view", occurred_at=timezone.now(), idempotency_key=f"q{k}")
    services.interactions_score_pending()
    assert predictive.predictions_refresh_changed() == 1
    after = LeadPrediction.objects.get(lead=quiet)
    assert after.probability > before.probability
    assert after.computed_at > before.computed_at
    assert any(r["column"] == "activity:page_view" for r in after.reasons)
    assert LeadPrediction.objects.get(lead=untouched.lead).computed_at == untouched.computed_at
    assert predictive.predictions_refresh_changed() == 0  # nothing new: nothing done


def test_crossing_a_watched_probability_records_a_lead_event_once() -> None:
    history()
    predictive.probability_watches_set(percents=[50])
    predictive.model_train(excluded=["after_call"])
    high = set(LeadPrediction.objects.filter(probability__gte=0.5).values_list("lead_id", flat=True))
    assert high
    events = GroupTransition.objects.filter(kind=GroupTransition.Kind.PROBABILITY)
    assert set(events.values_list("lead_id", flat=True)) == high
    assert set(events.values_list("watch_percent", "direction")) == {(50, "up")}
    predictive.predictions_refresh()  # same probabilities: no new crossing
    assert events.count() == len(high)


def test_retraining_waits_for_enough_new_outcomes_and_says_how_many_are_missing() -> None:
    history(60)
    PredictiveSettings.objects.update_or_create(pk=1, defaults={"min_new_outcomes": 100})
    status = predictive.retrain_status()
    assert not status.due
    assert status.missing == 40
    assert "needs 40 more" in status.message
    assert predictive.retrain_if_due() is None
    PredictiveSettings.objects.filter(pk=1).update(min_new_outcomes=50)
    version = predictive.retrain_if_due()
    assert version is not None
    assert version.number == 1
    assert not predictive.retrain_status().due  # nothing new since


def test_the_command_trains_with_excluded_columns_and_refuses_without_outcomes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(CommandError, match="outcomes: 0 won and 0 lost"):
        call_command("scoring_predictive_train")
    history()
    call_command("scoring_predictive_train", "--exclude", "after_call")
    assert "Version 1" in capsys.readouterr().out
    assert TrainedModel.objects.get().excluded_columns == ["after_call"]


def test_the_admin_lists_versions_with_metrics_and_rolls_back_to_a_chosen_one(admin_client) -> None:
    history()
    first = predictive.model_train(excluded=["after_call"])
    second = predictive.model_train(excluded=["after_call", "plan"])
    page = admin_client.get("/admin/scoring/trainedmodel/").content.decode()
    assert f"{first.metrics['cv_auc']:.3f}" in page
    assert "leads won or lost since the active model was trained" in page
    response = admin_client.post(
        "/admin/scoring/trainedmodel/", {"action": "make_active", "_selected_action": [first.pk]}, follow=True
    )
    assert f"Version {first.number} is now active" in response.content.decode()
    assert predictive.active_model() == first
    second.refresh_from_db()
    assert second.status == TrainedModel.Status.RETIRED
    assert set(LeadPrediction.objects.values_list("model", flat=True)) == {first.pk}


def test_the_stage_an_outcome_writes_is_never_a_feature() -> None:
    """A won lead becomes a customer: learning from the stage would learn the answer."""
    leads = history()
    closed = {o.lead_id: o.kind == "won" for o in Outcome.objects.all()}
    for lead in leads:
        stage = "customer" if closed[lead.pk] else "lead"
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=stage)
    version = predictive.model_train(excluded=[])
    assert not any("lifecycle" in name for name in version.features), version.features
    assert version.metrics["cv_auc"] < 0.99  # learned from the plan, not from the answer
