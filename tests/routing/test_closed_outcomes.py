"""How each lead's sales story ended, as replay and predictive training read it
(scoring.outcomes.closed_outcomes, kept by routing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from routing.models import Outcome
from scoring.models import Lead
from scoring.outcomes import closed_outcomes
from tests.factories import LeadFactory


def outcome(lead: Lead, kind: str, days_ago: int) -> None:
    Outcome.objects.create(lead=lead, kind=kind, total_score=0, at=timezone.now() - timedelta(days=days_ago))


@pytest.mark.django_db
def test_the_latest_closing_outcome_says_won_or_not_and_open_leads_are_absent() -> None:
    won, lost, disqualified, reopened_and_won, open_lead, claimed = LeadFactory.create_batch(6)
    outcome(won, Outcome.Kind.WON, 3)
    outcome(lost, Outcome.Kind.LOST, 3)
    outcome(disqualified, Outcome.Kind.DISQUALIFIED, 3)
    outcome(reopened_and_won, Outcome.Kind.LOST, 20)
    outcome(reopened_and_won, Outcome.Kind.WON, 2)
    outcome(claimed, Outcome.Kind.CLAIMED, 1)
    outcome(claimed, Outcome.Kind.ACCEPTED, 1)

    assert closed_outcomes() == {won.pk: True, lost.pk: False, disqualified.pk: False, reopened_and_won.pk: True}
    assert closed_outcomes(lead_ids=[won.pk, open_lead.pk]) == {won.pk: True}
    # Only outcomes since a day: the story closed 20 days ago no longer counts on its own.
    assert closed_outcomes(since=timezone.now() - timedelta(days=10)) == {
        won.pk: True,
        lost.pk: False,
        disqualified.pk: False,
        reopened_and_won.pk: True,
    }
    assert closed_outcomes(since=timezone.now() - timedelta(days=2, hours=12)) == {reopened_and_won.pk: True}
