"""Routing on the predicted probability: "rises to N% or more" and "falls below N%" fire
on each crossing, once, and not while the probability hovers at the border."""

from __future__ import annotations

import pytest

from routing import services
from routing.models import ActionRun, RoutingRule
from routing.triggers import Event, EventKind, RuleTrigger, Trigger, fires, watched_probabilities
from scoring.models import GroupTransition, Lead, LeadPrediction, PredictiveSettings
from scoring.services import predictive
from tests.routing.factories import rule
from tests.scoring.test_predictive_service import history


def crossed(percent: int, rose: bool) -> Event:
    return Event(EventKind.PROBABILITY, watch_percent=percent, rose=rose)


def test_probability_rules_fire_on_their_own_value_and_direction_only() -> None:
    rises = RuleTrigger(Trigger.PROBABILITY_RISES, percent=70)
    falls = RuleTrigger(Trigger.PROBABILITY_FALLS, percent=70)
    assert fires(rises, crossed(70, True))
    assert not fires(rises, crossed(70, False))
    assert not fires(rises, crossed(60, True))
    assert fires(falls, crossed(70, False))
    assert not fires(falls, crossed(70, True))
    # Score events never fire them, and probability events fire no score rule.
    assert not fires(rises, Event(EventKind.SCORE, previous_total=10, total=90))
    assert not fires(RuleTrigger(Trigger.SCORE_RISES_TO, threshold=70), crossed(70, True))
    assert watched_probabilities([rises, falls, RuleTrigger(Trigger.SCORE_RISES_TO, threshold=5)]) == {70}


def test_a_probability_rule_needs_its_percent() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as raised:
        RoutingRule(key="p", name="p", trigger="probability_rises").clean()
    assert "probability" in raised.value.message_dict


def runs(made: RoutingRule) -> set[int]:
    return set(ActionRun.objects.filter(action__rule=made).values_list("transition__lead_id", flat=True))


@pytest.mark.django_db
def test_leads_crossing_a_watched_probability_are_routed_once_each_way() -> None:
    history()
    likely = rule("probability_rises", {"kind": "add_tag", "tag": "likely"}, probability=50)
    cooled = rule("probability_falls", {"kind": "add_tag", "tag": "cooled"}, probability=50)
    assert PredictiveSettings.objects.get().watched_percents == [50]

    predictive.model_train(excluded=["after_call"])
    services.transitions_route()
    high = set(LeadPrediction.objects.filter(probability__gte=0.5).values_list("lead_id", flat=True))
    assert high
    assert runs(likely) == high
    assert not runs(cooled)
    tagged = {
        pk for pk, attributes in Lead.objects.values_list("pk", "attributes") if "likely" in attributes.get("tags", [])
    }
    assert tagged == high

    # The same probabilities again: nothing crosses, nothing is routed again.
    predictive.predictions_refresh()
    services.transitions_route()
    assert ActionRun.objects.filter(action__rule=likely).count() == len(high)

    # A model that no longer sees the plan (nor the tags routing just gave) rates every lead
    # at the base rate, just under 50%: inside the hysteresis band (5 points), nobody falls.
    predictive.model_train(excluded=["after_call", "plan", "tags"])
    services.transitions_route()
    base_rate = set(LeadPrediction.objects.values_list("probability", flat=True))
    assert len(base_rate) == 1
    assert 0.45 <= base_rate.pop() < 0.5
    assert not runs(cooled)
    # With no hysteresis, the same probability is below 50%: every lead that rose falls, once.
    PredictiveSettings.objects.filter(pk=1).update(hysteresis_points=0)
    predictive.predictions_refresh()
    predictive.predictions_refresh()
    services.transitions_route()
    assert runs(cooled) == high
    assert ActionRun.objects.filter(action__rule=cooled).count() == len(high)
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()
