"""Exit goals and the re-enrollment policy: pure, no database."""

from __future__ import annotations

import pytest

from nurture import goals
from nurture.goals import ExitReason, Goals, History, LeadFacts, ReenrollPolicy

NURTURE, FREQUENT, PREFERENTIAL = 1, 2, 3
MIN_SCORE = {NURTURE: 40, FREQUENT: 60, PREFERENTIAL: 80}


def lead(group: int | None = NURTURE, **kwargs: object) -> LeadFacts:
    return LeadFacts(group_id=group, group_min_score=MIN_SCORE.get(group or 0), **kwargs)  # type: ignore[arg-type]


def test_no_goal_met_keeps_the_lead_in() -> None:
    assert goals.exit_reason(Goals(reach_group_id=FREQUENT, reach_min_score=60), lead(NURTURE)) is None


def test_reaching_the_goal_group_or_a_higher_one_exits() -> None:
    g = Goals(reach_group_id=FREQUENT, reach_min_score=60)
    assert goals.exit_reason(g, lead(FREQUENT)) is ExitReason.REACHED_GROUP
    assert goals.exit_reason(g, lead(PREFERENTIAL)) is ExitReason.REACHED_GROUP
    assert goals.exit_reason(g, lead(None)) is None


def test_leaving_the_group_exits() -> None:
    g = Goals(leave_group_id=PREFERENTIAL)
    assert goals.exit_reason(g, lead(PREFERENTIAL)) is None
    assert goals.exit_reason(g, lead(FREQUENT)) is ExitReason.LEFT_GROUP
    assert goals.exit_reason(g, lead(None)) is ExitReason.LEFT_GROUP


def test_conversion_and_sales_exit_only_when_asked() -> None:
    customer = lead(lifecycle_stage="customer")
    assert goals.exit_reason(Goals(on_conversion=True), customer) is ExitReason.CONVERTED
    assert goals.exit_reason(Goals(on_conversion=False), customer) is None
    for facts in (lead(lifecycle_stage="sql"), lead(lifecycle_stage="opportunity"), lead(has_owner=True)):
        assert goals.exit_reason(Goals(on_sales=True), facts) is ExitReason.ROUTED_TO_SALES
        assert goals.exit_reason(Goals(on_sales=False), facts) is None
    assert goals.exit_reason(Goals(on_sales=True), lead(lifecycle_stage="mql")) is None


def test_unsubscribing_always_exits_and_comes_first() -> None:
    everything = Goals(reach_group_id=NURTURE, reach_min_score=40, on_conversion=True, on_sales=True)
    facts = lead(NURTURE, unsubscribed=True, lifecycle_stage="customer", has_owner=True)
    assert goals.exit_reason(everything, facts) is ExitReason.UNSUBSCRIBED
    assert goals.exit_reason(Goals(), lead(unsubscribed=True)) is ExitReason.UNSUBSCRIBED


def decide(
    policy: ReenrollPolicy, history: History, facts: LeadFacts | None = None, **kwargs: object
) -> goals.Decision:
    options: dict[str, object] = {"has_email": True, "sequence_active": True, "has_steps": True, **kwargs}
    return goals.enrollment_decision(
        policy=policy,
        history=history,
        lead=facts or lead(),
        goals=Goals(reach_group_id=FREQUENT, reach_min_score=60),
        **options,  # type: ignore[arg-type]
    )


OPEN, ENDED, NEW = History(has_open=True), History(has_ended=True), History()


@pytest.mark.parametrize(
    ("policy", "history", "start", "close_open"),
    [
        (ReenrollPolicy.NEVER, NEW, True, False),
        (ReenrollPolicy.NEVER, OPEN, False, False),
        (ReenrollPolicy.NEVER, ENDED, False, False),
        (ReenrollPolicy.AFTER_ENDED, NEW, True, False),
        (ReenrollPolicy.AFTER_ENDED, OPEN, False, False),
        (ReenrollPolicy.AFTER_ENDED, ENDED, True, False),
        (ReenrollPolicy.ALWAYS, NEW, True, False),
        (ReenrollPolicy.ALWAYS, OPEN, True, True),
        (ReenrollPolicy.ALWAYS, ENDED, True, False),
    ],
)
def test_reenrollment_policy(policy: ReenrollPolicy, history: History, start: bool, close_open: bool) -> None:
    decision = decide(policy, history)
    assert (decision.start, decision.close_open) == (start, close_open)
    assert bool(decision.refusal) != start


@pytest.mark.parametrize(
    ("facts", "history", "kwargs", "refusal"),
    [
        (lead(unsubscribed=True), NEW, {}, "unsubscribed"),
        (lead(), NEW, {"has_email": False}, "no email address"),
        (lead(), History(address_bounced=True), {}, "email address bounced"),
        (lead(), NEW, {"sequence_active": False}, "sequence inactive"),
        (lead(), NEW, {"has_steps": False}, "sequence has no steps"),
        (lead(FREQUENT), NEW, {}, "already meets an exit goal: reached the goal score group"),
    ],
)
def test_consent_deliverability_and_goals_come_before_any_policy(
    facts: LeadFacts, history: History, kwargs: dict[str, object], refusal: str
) -> None:
    for policy in ReenrollPolicy:
        decision = decide(policy, history, facts, **kwargs)
        assert not decision.start
        assert decision.refusal == refusal
