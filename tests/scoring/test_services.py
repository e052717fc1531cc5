"""Scoring services on a real database: ledger rows, cached scores, groups."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from scoring import selectors, services
from scoring.models import Interaction, Lead, RuleCondition, ScoreEntry, WaitingInteraction
from scoring.rules import Dimension
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def assert_ledger_matches(lead: Lead) -> None:
    lead.refresh_from_db()
    fit = ScoreEntry.objects.filter(lead=lead, dimension="fit").aggregate(s=Sum("delta"))["s"] or 0
    engagement = ScoreEntry.objects.filter(lead=lead, dimension="engagement").aggregate(s=Sum("delta"))["s"] or 0
    assert (lead.fit_score, lead.engagement_score, lead.total_score) == (fit, engagement, fit + engagement)


def test_fit_is_re_evaluated_when_attributes_change() -> None:
    near = fit_rule(8, "city", "equals", "San José")
    far = fit_rule(-5, "attributes.distance_km", "gt", 80)
    lead, created = services.lead_upsert(email="ana@example.com", fields={"city": "San José"})
    assert created
    assert lead.fit_score == 8

    lead, created = services.lead_upsert(
        email="ANA@example.com", fields={"city": "Fresno", "attributes": {"distance_km": 240}}
    )
    assert not created
    assert lead.fit_score == -5
    rows = list(ScoreEntry.objects.filter(lead=lead).order_by("id").values_list("rule_id", "delta"))
    assert rows == [(near.id, 8), (near.id, -8), (far.id, -5)]
    assert_ledger_matches(lead)

    # Saving the same attributes again writes nothing.
    services.lead_upsert(email="ana@example.com", fields={"city": "Fresno"})
    assert ScoreEntry.objects.filter(lead=lead).count() == 3


def test_deactivating_a_fit_rule_takes_its_points_back_on_rescore() -> None:
    rule = fit_rule(5, "industry", "equals", "Toys")
    lead, _ = services.lead_upsert(email="b@example.com", fields={"industry": "Toys"})
    assert lead.fit_score == 5
    rule.active = False
    rule.save()
    services.leads_rescore_fit(lead_ids=[lead.pk])
    assert_ledger_matches(lead)
    assert lead.fit_score == 0


def test_interactions_are_scored_once_with_caps_and_groups() -> None:
    nurture = ScoreGroupFactory.create(key="nurture", min_score=4)
    ScoreGroupFactory.create(key="frequent", min_score=100)
    ScoringRuleFactory.create(points=2, interaction_types=["email_open"], cap_count=2)
    spring = ScoringRuleFactory.create(points=5, interaction_types=["email_click"])
    RuleCondition.objects.create(rule=spring, field="campaign", operator="equals", value="spring")
    lead = LeadFactory.create()
    for n in range(3):
        InteractionFactory.create(lead=lead, type="email_open", occurred_at=T0 + timedelta(hours=n))
    InteractionFactory.create(lead=lead, type="email_click", properties={"campaign": "spring"}, occurred_at=T0)
    InteractionFactory.create(lead=lead, type="email_click", properties={"campaign": "winter"}, occurred_at=T0)

    assert services.interactions_score_pending(batch_size=2) == 5
    assert_ledger_matches(lead)
    assert lead.engagement_score == 2 + 2 + 5
    assert lead.score_group == nurture
    assert lead.last_activity_at == T0 + timedelta(hours=2)
    assert not WaitingInteraction.objects.exists()

    # Running it again finds nothing to do and changes nothing.
    assert services.interactions_score_pending() == 0
    assert ScoreEntry.objects.count() == 3


def test_interaction_record_is_idempotent_by_key() -> None:
    lead = LeadFactory.create()
    first = services.interaction_record(lead=lead, type="form_submit", occurred_at=T0, idempotency_key="k1")
    again = services.interaction_record(lead=lead, type="form_submit", occurred_at=T0, idempotency_key="k1")
    assert first.created
    assert not again.created
    assert again.interaction.pk == first.interaction.pk
    assert Interaction.objects.count() == 1


def test_interaction_record_rejects_bad_input_by_field() -> None:
    lead = LeadFactory.create()
    with pytest.raises(ValueError, match=r"^type: 'Fax Sent' is not a type name"):
        services.interaction_record(lead=lead, type="Fax Sent", occurred_at=T0, idempotency_key="k")
    with pytest.raises(ValueError, match=r"^occurred_at: give a time zone"):
        services.interaction_record(lead=lead, type="webinar", occurred_at=datetime(2026, 1, 1), idempotency_key="k")
    assert Interaction.objects.count() == 0


def test_manual_adjustment_keeps_the_reason_and_the_invariant() -> None:
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=15, note="Met at the fair")
    assert_ledger_matches(lead)
    assert lead.engagement_score == 15
    with pytest.raises(ValueError, match=r"^note"):
        services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=1, note=" ")


def test_breakdown_explains_the_score_by_rule() -> None:
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    ScoringRuleFactory.create(name="Opens", points=1, interaction_types=["email_open"])
    lead, _ = services.lead_upsert(email="c@example.com", fields={"city": "San José"})
    InteractionFactory.create_batch(3, lead=lead)
    services.interactions_score_pending()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.FIT, delta=-2, note="Competitor")
    lines = {line.label: line for line in selectors.lead_score_breakdown(lead=lead)}
    assert lines["Lives in San José"].points == 8
    assert lines["Lives in San José"].sentence == "+8 when city is San José"
    assert (lines["Opens"].points, lines["Opens"].times) == (3, 3)
    assert lines["Manual adjustment"].points == -2
    assert sum(line.points for line in lines.values()) == 9


def test_regroup_follows_changed_thresholds() -> None:
    low = ScoreGroupFactory.create(min_score=10)
    lead = LeadFactory.create()
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=15, note="x")
    lead.refresh_from_db()
    assert lead.score_group == low
    low.min_score = 20
    low.save()
    services.leads_regroup()
    lead.refresh_from_db()
    assert lead.score_group is None
