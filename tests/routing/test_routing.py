"""Routing rules acting on group transitions: both ways, every crossing, once per transition."""

from __future__ import annotations

import pytest

from nurture.models import Enrollment
from routing import services
from routing.models import ActionRun, RoutingAction, RoutingRule
from routing.triggers import Event, RuleTrigger, Trigger, fires
from scoring import services as scoring
from scoring.models import GroupTransition, Lead
from scoring.rules import Dimension
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.factories import SequenceFactory, StepFactory


def Transition(from_group: int | None, to_group: int | None) -> Event:
    return Event(from_group=from_group, to_group=to_group)


def test_triggers_fire_on_each_crossing_of_their_group() -> None:
    enters, leaves = RuleTrigger(Trigger.ENTERS_GROUP, 2), RuleTrigger(Trigger.LEAVES_GROUP, 2)
    assert fires(enters, Transition(1, 2))
    assert fires(enters, Transition(None, 2))
    assert not fires(enters, Transition(2, 3))
    assert fires(leaves, Transition(2, 3))
    assert fires(leaves, Transition(2, None))
    assert not fires(leaves, Transition(1, 2))


def adjust(lead: Lead, delta: int) -> None:
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")


@pytest.mark.django_db
def test_entering_and_leaving_a_group_enroll_and_exit_each_time() -> None:
    frequent = ScoreGroupFactory.create(key="frequent", min_score=60, leave_below=55)
    ScoreGroupFactory.create(key="nurture", min_score=40)
    sequence = SequenceFactory.create(key="frequent-offers", reenroll="always")
    StepFactory.create(sequence=sequence, position=1)
    enter = RoutingRule.objects.create(key="enter", name="Enter frequent", trigger="enters_group", group=frequent)
    RoutingAction.objects.create(rule=enter, position=0, kind="enroll", sequence=sequence)
    RoutingAction.objects.create(rule=enter, position=1, kind="set_stage", stage="mql")
    leave = RoutingRule.objects.create(key="leave", name="Leave frequent", trigger="leaves_group", group=frequent)
    RoutingAction.objects.create(rule=leave, kind="exit_sequence", sequence=sequence)
    lead = LeadFactory.create()

    adjust(lead, 65)  # enters frequent
    # The crossings (into nurture on the way, then frequent), then the change of stage it made.
    assert services.transitions_route() == 3
    assert Enrollment.objects.filter(lead=lead, sequence=sequence, status="active").count() == 1
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "mql"

    adjust(lead, -8)  # 57: hysteresis, no transition
    adjust(lead, -10)  # 47: leaves to nurture
    assert services.transitions_route() == 1
    assert not Enrollment.objects.filter(lead=lead, sequence=sequence, status="active").exists()

    adjust(lead, 20)  # 67: enters again, and the rule fires again
    services.transitions_route()
    assert Enrollment.objects.filter(lead=lead, sequence=sequence, status="active").count() == 1
    assert ActionRun.objects.filter(action__rule=enter).count() == 4  # two actions, two crossings
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_actions_run_once_per_transition_even_when_routing_runs_again() -> None:
    frequent = ScoreGroupFactory.create(key="frequent", min_score=60)
    rule = RoutingRule.objects.create(key="r", name="Stage", trigger="enters_group", group=frequent)
    action = RoutingAction.objects.create(rule=rule, kind="set_stage", stage="sql")
    lead = LeadFactory.create()
    adjust(lead, 70)
    services.transitions_route()
    # A crash after the action but before marking the transition: routing runs it again.
    GroupTransition.objects.update(processed_at=None)
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage="lead")
    services.transitions_route()
    assert ActionRun.objects.filter(action=action).count() == 1
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "lead"  # not done a second time
