"""A batch writes its ledger rows at the time it is told (``now``), on every database: the
demo history plays 90 days through the services, each told its day, and the reports read
a lead's score at a hand-off from the rows written until then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scoring import model_file, services
from scoring.decay import Kind, Policy
from scoring.models import Interaction, Lead, ScorecardEntry, ScoreEntry
from tests.factories import interaction_create

pytestmark = pytest.mark.django_db

MODEL = """
leadflow_model: 1
score_groups: [{key: warm, name: Warm, min_score: 10}]
rules:
  - {key: opens, name: Opens, dimension: engagement, points: 2, interaction_types: [email_open]}
scorecards:
  - key: books
    name: Books
    score_groups: [{key: books-warm, name: Warm for books, min_score: 10}]
    rules:
      - {key: book-opens, name: Book opens, dimension: engagement, points: 3, interaction_types: [email_open]}
"""
DAY = datetime(2026, 9, 1, 10, tzinfo=UTC)
NIGHT = datetime(2026, 10, 1, 2, tzinfo=UTC)


def test_scoring_and_decay_write_their_rows_at_the_time_they_are_told() -> None:
    services.scoring_model_import(spec=model_file.load_text(MODEL))
    lead = Lead.objects.create(email="ana@example.com")
    interaction_create(lead=lead, type="email_open", occurred_at=DAY, idempotency_key="o-1", received_at=DAY)
    services.interactions_score_pending(now=DAY)
    assert set(ScoreEntry.objects.values_list("cause", "created_at")) == {("rule", DAY)}
    assert set(ScorecardEntry.objects.values_list("cause", "created_at")) == {("rule", DAY)}
    assert Interaction.objects.get().lead_id == lead.pk

    services.decay_policy_set(policy=Policy(kind=Kind.LINEAR, points_per_day=1, after_days=1))
    services.leads_decay(today=NIGHT.date(), now=NIGHT)
    assert set(ScoreEntry.objects.filter(cause="decay").values_list("created_at", flat=True)) == {NIGHT}
