"""What the rules mean, as the README's *What the rules mean* says, each with its example:
negative conditions on an empty field, a points cap clipping the last award, a window's
exact bounds, validity judged at the interaction's time, totals below zero. Each goes
through the real path (interactions stored, scored in a batch, written to the ledger)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from scoring import rules as pure
from scoring import services
from scoring.decay import Kind, Policy
from scoring.models import Interaction, Lead, RuleCondition, ScoreEntry, ScoringRule
from tests.factories import InteractionFactory, LeadFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)


def awards(rule: ScoringRule) -> list[tuple[datetime, int]]:
    """(when the interaction happened, points) of each award the rule gave, in time order."""
    return list(
        ScoreEntry.objects.filter(rule=rule, interaction__isnull=False)
        .order_by("interaction__occurred_at")
        .values_list("interaction__occurred_at", "delta")
    )


def interactions(lead: Lead, kind: str, *times: datetime, **properties: object) -> None:
    for at in times:
        InteractionFactory.create(lead=lead, type=kind, occurred_at=at, properties=dict(properties))
    services.interactions_score_pending()


def sentence(rule: ScoringRule) -> str:
    return pure.describe_rule(rule.as_pure())


# --- not_equals / not_one_of on an empty field ------------------------------------------


def test_negative_conditions_hold_when_the_field_is_empty_and_the_sentence_says_so() -> None:
    not_retail = fit_rule(5, "industry", "not_equals", "Retail")
    outside = fit_rule(3, "country", "not_one_of", ["US", "Canada"])
    assert sentence(not_retail) == "+5 when industry is not Retail (or empty)"
    assert sentence(outside) == "+3 when country is none of US, Canada (or empty)"

    unknown, _ = services.lead_upsert(email="unknown@example.com")
    retail, _ = services.lead_upsert(email="retail@example.com", fields={"industry": " retail", "country": "us"})
    toys, _ = services.lead_upsert(email="toys@example.com", fields={"industry": "Toys", "country": "Spain"})
    assert (unknown.fit_score, retail.fit_score, toys.fit_score) == (8, 0, 8)


def test_is_set_excludes_the_empty_field_from_a_negative_condition() -> None:
    rule = fit_rule(5, "industry", "is_set")
    RuleCondition.objects.create(rule=rule, position=1, field="industry", operator="not_equals", value="Retail")
    assert sentence(rule) == "+5 when industry is set and industry is not Retail (or empty)"
    unknown, _ = services.lead_upsert(email="unknown@example.com")
    toys, _ = services.lead_upsert(email="toys@example.com", fields={"industry": "Toys"})
    assert (unknown.fit_score, toys.fit_score) == (0, 5)


# --- caps --------------------------------------------------------------------------------


def test_a_points_cap_clips_the_last_award() -> None:
    rule = ScoringRuleFactory.create(points=10, interaction_types=["webinar"], cap_points=25)
    lead = LeadFactory.create()
    interactions(lead, "webinar", *(T0 + timedelta(days=d) for d in range(4)))
    assert [points for _, points in awards(rule)] == [10, 10, 5]
    lead.refresh_from_db()
    assert lead.engagement_score == 25


def test_a_window_holds_awards_less_than_its_days_apart_measured_in_elapsed_hours() -> None:
    """Once per 7 days: an open 7 days minus a second after an award is refused, one exactly
    7 days (168 hours) after it is awarded, whatever the time zones the times were sent in."""
    rule = ScoringRuleFactory.create(points=1, interaction_types=["email_open"], cap_count=1, cap_window_days=7)
    lead = LeadFactory.create()
    costa_rica = ZoneInfo("America/Costa_Rica")
    week = timedelta(days=7)
    interactions(
        lead,
        "email_open",
        T0,
        (T0 + week - timedelta(seconds=1)).astimezone(costa_rica),
        (T0 + week).astimezone(costa_rica),
    )
    assert awards(rule) == [(T0, 1), (T0 + week, 1)]


def test_a_window_ignores_daylight_saving_a_week_later_at_the_same_local_time_is_an_hour_short() -> None:
    rule = ScoringRuleFactory.create(points=1, interaction_types=["email_open"], cap_count=1, cap_window_days=7)
    lead = LeadFactory.create()
    madrid = ZoneInfo("Europe/Madrid")
    before = datetime(2026, 3, 25, 9, tzinfo=madrid)  # 08:00 UTC
    after_the_change = datetime(2026, 4, 1, 9, tzinfo=madrid)  # 07:00 UTC: 6 days 23 hours later
    an_hour_on = datetime(2026, 4, 1, 10, tzinfo=madrid)  # 168 hours later
    interactions(lead, "email_open", before, after_the_change, an_hour_on)
    assert awards(rule) == [(before, 1), (an_hour_on, 1)]


# --- validity ----------------------------------------------------------------------------


def test_validity_dates_apply_to_when_the_interaction_happened_not_when_it_arrived() -> None:
    """A campaign rule valid for a month (from its start included to its end excluded): a
    download inside it counts even when it arrives weeks after the end; one at the very end
    does not, nor one a second before the start."""
    end = timezone.now().replace(microsecond=0) - timedelta(days=20)
    start = end - timedelta(days=31)
    rule = ScoringRuleFactory.create(points=4, interaction_types=["download"], valid_from=start, valid_until=end)
    lead = LeadFactory.create()
    interactions(lead, "download", start - timedelta(seconds=1), start, end - timedelta(seconds=1), end)
    assert not Interaction.objects.filter(lead=lead, received_at__lt=end).exists()  # all arrived after the end
    assert awards(rule) == [(start, 4), (end - timedelta(seconds=1), 4)]


def test_a_fit_rule_counts_while_valid_and_a_rescore_after_its_end_takes_it_back() -> None:
    end = timezone.now() + timedelta(days=1)
    fit_rule(5, "industry", "equals", "Toys", valid_until=end)
    lead, _ = services.lead_upsert(email="toys@example.com", fields={"industry": "Toys"})
    assert lead.fit_score == 5
    services.leads_rescore(lead_ids=[lead.pk], at=end)
    lead.refresh_from_db()
    assert lead.fit_score == 0


# --- below zero ----------------------------------------------------------------------------


def test_totals_may_go_below_zero_and_decay_leaves_them_there() -> None:
    careers = ScoringRuleFactory.create(points=-10, interaction_types=["page_view"])
    RuleCondition.objects.create(rule=careers, field="url", operator="matches", value="*/careers*")
    fit_rule(-5, "attributes.distance_km", "gt", 80)
    lead, _ = services.lead_upsert(email="jobseeker@example.com", fields={"attributes": {"distance_km": 300}})
    interactions(lead, "page_view", T0, url="https://toys.example/careers/driver")
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.total_score) == (-5, -10, -15)

    services.decay_policy_set(policy=Policy(Kind.LINEAR, points_per_day=2, after_days=1, floor=0))
    services.leads_decay(today=date(2027, 1, 1))
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.total_score) == (-10, -15)  # decay never raises a score
