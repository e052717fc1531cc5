"""The same events give the same scores, awards, group transitions and routing actions
however they are split into batches, in whatever order they arrive, with rescores in
between: each split is compared with the events scored in one batch in time order,
through the real path (recorded rows, the scoring batch, the routing batch)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nurture.models import Enrollment
from routing import services as routing
from routing.models import ActionRun
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, ScoreEntry
from scoring.rules import Dimension
from tests.factories import LeadFactory, ScoreGroupFactory, ScoringRuleFactory, interaction_create
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import rule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 1, 9, tzinfo=UTC)
TYPES = ["email_open", "webinar", "download", "page_view"]
LEADS = 3


@pytest.fixture
def model() -> list[Lead]:
    """Caps and windows, groups warm → mql → sql-ready, and routing that needs the
    stage an earlier crossing set."""
    ScoringRuleFactory.create(key="opens", points=2, interaction_types=["email_open"], cap_count=1, cap_window_days=10)
    ScoringRuleFactory.create(key="webinars", points=5, interaction_types=["webinar"], cap_count=2)
    ScoringRuleFactory.create(key="downloads", points=4, interaction_types=["download"], cap_points=6)
    ScoringRuleFactory.create(key="views", points=1, interaction_types=["page_view"])
    warm = ScoreGroupFactory.create(key="warm", min_score=5)
    mql = ScoreGroupFactory.create(key="mql", min_score=10, leave_below=8)
    ready = ScoreGroupFactory.create(key="sql-ready", min_score=18)
    sequence = SequenceFactory.create(key="mql-nurture")
    StepFactory.create(sequence=sequence, position=1)
    rule("enters_group", {"kind": "add_tag", "tag": "warm"}, group=warm)
    rule("enters_group", {"kind": "set_stage", "stage": "mql"}, {"kind": "enroll", "sequence": sequence}, group=mql)
    rule(
        "enters_group",
        {"kind": "set_stage", "stage": "sql"},
        {"kind": "exit_all"},
        group=ready,
        conditions=[{"field": "lifecycle_stage", "operator": "equals", "value": "mql"}],
    )
    rule("score_rises_to", {"kind": "add_tag", "tag": "fifteen"}, threshold=15)
    return LeadFactory.create_batch(LEADS)


def results(leads: list[Lead]) -> dict[str, Any]:
    """Everything that must not depend on batching, by names rather than ids."""
    by_lead = {lead.pk: n for n, lead in enumerate(leads)}
    out: dict[str, Any] = {}
    for lead in Lead.objects.filter(pk__in=by_lead).select_related("score_group"):
        ledger = ScoreEntry.objects.filter(lead=lead).aggregate(s=Sum("delta"))["s"] or 0
        assert lead.total_score == ledger == lead.fit_score + lead.engagement_score
        out[f"lead {by_lead[lead.pk]}"] = (
            lead.total_score,
            lead.score_group.key if lead.score_group else None,
            lead.lifecycle_stage,
            sorted((lead.attributes or {}).get("tags", [])),
        )
    # Each award by lead, rule, moment and points: of two interactions of the same
    # moment, the one recorded first takes a capped award, so which one it is may
    # depend on arrival, but not the moments, the points or anything they lead to.
    awards = (
        ScoreEntry.objects.filter(lead_id__in=by_lead, interaction__isnull=False)
        .values("interaction_id")
        .annotate(points=Sum("delta"))
        .values_list("lead_id", "interaction__occurred_at", "rule__key", "points")
    )
    out["awards"] = Counter(
        (by_lead[lead_id], occurred_at, rule_key, points) for lead_id, occurred_at, rule_key, points in awards if points
    )
    crossings = GroupTransition.objects.filter(lead_id__in=by_lead, kind="score").order_by("id")
    # Per lead, in the order they were recorded (changes of group only: a watched
    # score crossed without one is part of whichever step covers it).
    transitions: dict[int, list[tuple[str | None, str | None]]] = {n: [] for n in by_lead.values()}
    for t in crossings.select_related("from_group", "to_group"):
        if t.from_group_id != t.to_group_id:
            transitions[by_lead[t.lead_id]].append(
                (t.from_group.key if t.from_group else None, t.to_group.key if t.to_group else None)
            )
    out["transitions"] = transitions
    out["actions"] = Counter(
        (by_lead[lead_id], rule_key, kind)
        for lead_id, rule_key, kind in ActionRun.objects.filter(transition__lead_id__in=by_lead).values_list(
            "transition__lead_id", "action__rule__key", "action__kind"
        )
    )
    out["enrollments"] = sorted(
        (by_lead[lead_id], status) for lead_id, status in Enrollment.objects.values_list("lead_id", "status")
    )
    return out


def play(leads: list[Lead], batches: list[list[tuple[int, int, str, int]]], rescore_after: set[int]) -> dict[str, Any]:
    """Record and score the events batch by batch (each batch in the order given),
    routing after each, rescoring where asked; the results, then all of it undone."""
    with transaction.atomic():
        for n, batch in enumerate(batches):
            for key, lead, kind, offset in batch:
                scoring.interaction_record(
                    lead=leads[lead],
                    type=kind,
                    occurred_at=T0 + timedelta(hours=offset * 12),
                    idempotency_key=f"e{key}",
                )
            scoring.interactions_score_pending()
            routing.transitions_route()
            if n in rescore_after:
                scoring.leads_rescore(lead_ids=[lead.pk for lead in leads])
                routing.transitions_route()
        outcome = results(leads)
        transaction.set_rollback(True)
    return outcome


events = st.lists(
    st.tuples(st.integers(0, LEADS - 1), st.sampled_from(TYPES), st.integers(0, 60)), min_size=1, max_size=24
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events, data=st.data())
def test_results_never_depend_on_batching_order_or_rescores(
    model: list[Lead], events: list[tuple[int, str, int]], data: st.DataObject
) -> None:
    keyed = [(key, lead, kind, offset) for key, (lead, kind, offset) in enumerate(events)]
    # The reference: one batch, in the order things happened.
    in_order = sorted(keyed, key=lambda e: (e[3], e[0]))
    expected = play(model, [in_order], set())

    arrival = data.draw(st.permutations(keyed), label="arrival order")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(keyed) - 1) if len(keyed) > 1 else st.nothing()), label="cuts"))
    edges = [0, *cuts, len(keyed)]
    batches = [list(arrival[a:b]) for a, b in itertools.pairwise(edges)]
    rescores = data.draw(st.sets(st.integers(0, len(batches) - 1)), label="rescore after batches")

    assert play(model, batches, rescores) == expected


def test_a_lead_crossing_every_group_in_one_batch_fires_each_group_rule_in_order(model: list[Lead]) -> None:
    """The events that take a lead from nothing to sql-ready in one batch fire "enters
    mql" (stage mql, enrolled) and then "enters sql-ready", whose condition needs the
    stage mql that the event before it set in the same routing batch."""
    lead = model[0]
    for n in range(2):
        interaction_create(lead=lead, type="webinar", occurred_at=T0 + timedelta(days=n), idempotency_key=f"w{n}")
    interaction_create(lead=lead, type="download", occurred_at=T0, idempotency_key="d")
    scoring.interactions_score_pending()
    routing.transitions_route()
    lead.refresh_from_db()
    assert lead.total_score == 14
    assert lead.score_group is not None
    assert lead.score_group.key == "mql"
    interaction_create(lead=lead, type="download", occurred_at=T0, idempotency_key="d2")
    interaction_create(lead=lead, type="email_open", occurred_at=T0, idempotency_key="o")
    other = model[1]
    for n, kind in enumerate(["webinar", "webinar", "download", "download", "email_open"]):
        interaction_create(lead=other, type=kind, occurred_at=T0, idempotency_key=f"x{n}")
    scoring.interactions_score_pending()
    routing.transitions_route()
    for each in (lead, other):
        each.refresh_from_db()
        assert each.score_group is not None
        assert (each.total_score, each.score_group.key, each.lifecycle_stage) == (18, "sql-ready", "sql")
    assert list(
        GroupTransition.objects.filter(lead=other, kind="score")
        .order_by("id")
        .values_list("from_group__key", "to_group__key")
    ) == [(None, "warm"), ("warm", "mql"), ("mql", "sql-ready")]
    # Enrolled on entering mql, and out of every sequence on reaching sql-ready.
    assert Enrollment.objects.filter(lead=other).values_list("status", flat=True).get() != "active"


def test_each_event_sees_what_the_lead_s_earlier_events_in_the_batch_did() -> None:
    """Two changes of a lead routed in one batch: the second event's rule needs the
    stage the first event's rule sets, and sees it."""
    mql = ScoreGroupFactory.create(key="mql", min_score=40)
    ready = ScoreGroupFactory.create(key="sql-ready", min_score=60)
    rule("enters_group", {"kind": "set_stage", "stage": "mql"}, group=mql)
    handed = rule(
        "enters_group",
        {"kind": "add_tag", "tag": "handed-over"},
        group=ready,
        conditions=[{"field": "lifecycle_stage", "operator": "equals", "value": "mql"}],
    )
    lead = LeadFactory.create()
    for delta in (45, 20):  # two changes, two events, one routing batch
        scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")

    routing.transitions_route()

    assert ActionRun.objects.filter(action__rule=handed).count() == 1
    lead.refresh_from_db()
    assert lead.attributes.get("tags") == ["handed-over"]
