"""Routing on a scorecard's groups: its transitions go through routing's outbox like the
default score's, and score thresholds keep watching the default score only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from routing import selectors, services
from routing.models import ActionRun
from scoring import model_file
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, LeadScore, Scorecard, ScoreGroup
from tests.factories import InteractionFactory, LeadFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, rule

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)

MODEL = """
leadflow_model: 1
score_groups:
  - {key: warm, name: Warm, min_score: 30}
rules:
  - {key: forms, name: Forms, dimension: engagement, points: 5, interaction_types: [form_submit]}
scorecards:
  - key: toys
    name: Toys
    score_groups:
      - {key: toys-hot, name: Hot for toys, min_score: 20, leave_below: 15}
    rules:
      - {key: toy-pages, name: Toy pages, dimension: engagement, points: 8, interaction_types: [page_view]}
"""


@pytest.mark.django_db
def test_a_scorecards_group_fires_its_trigger_once_and_thresholds_watch_the_default_score() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(MODEL))
    hot = ScoreGroup.every_scorecard.get(key="toys-hot")
    rule("enters_group", {"kind": "set_stage", "stage": "mql"}, group=hot, key="toys-hot-mql")
    rule("score_rises_to", {"kind": "set_stage", "stage": "sql"}, threshold=10, key="score-10-sql")
    lead, _ = scoring.lead_upsert(email="ana@example.com")
    for n in range(3):  # 24 on toys, 0 on the default score
        InteractionFactory.create(lead=lead, type="page_view", occurred_at=T0 + timedelta(hours=n))
    scoring.interactions_score_pending()

    services.transitions_route(now=T0 + timedelta(days=1))
    services.transitions_route(now=T0 + timedelta(days=1))

    lead.refresh_from_db()
    assert lead.lifecycle_stage == "mql"
    assert list(ActionRun.objects.values_list("action__rule__key", flat=True)) == ["toys-hot-mql"]
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()
    assert Lead.objects.get(pk=lead.pk).total_score == 0


@pytest.mark.django_db
def test_a_routing_section_names_a_scorecards_group_by_its_key() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(MODEL))
    routing = """
leadflow_model: 1
routing:
  - key: toys-hot
    name: Hot for toys
    trigger: enters_group
    group: toys-hot
    actions:
      - {kind: set_stage, stage: mql}
"""
    scoring.scoring_model_import(spec=model_file.load_text(routing))

    exported = model_file.dump_data(scoring.scoring_model_export())
    assert exported["routing"][0]["group"] == "toys-hot"


@pytest.mark.django_db
def test_a_team_sorts_its_queue_by_its_scorecards_score() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(MODEL))
    toys = Scorecard.objects.get(key="toys")
    team = TeamFactory.create(scorecard=toys)
    rep = RepFactory.create(team=team)
    items = []
    # The default score says a, b, c; the toys score says c, a, b (b has none on toys: 0).
    for email, default, on_toys in [("a@example.com", 90, 10), ("b@example.com", 80, None), ("c@example.com", 70, 50)]:
        lead = LeadFactory.create(email=email, engagement_score=default)
        if on_toys is not None:
            LeadScore.objects.create(lead=lead, scorecard=toys, engagement_score=on_toys)
        items.append(QueueItemFactory.create(lead=lead, team=team, entered_at=T0))

    page = selectors.queue_page(rep=rep, now=T0 + timedelta(hours=1))

    assert [row.item.lead.email for row in page.rows] == ["c@example.com", "a@example.com", "b@example.com"]
    client = Client()
    client.force_login(rep.user)
    shown = client.get(reverse("sales:queue")).content.decode()
    assert "score on Toys" in shown
    assert shown.index("Toys: 50") < shown.index("Toys: 10") < shown.index("Toys: 0")
    # Without a scorecard the team sorts by the lead's score, as before.
    team.scorecard = None
    team.save()
    rep.refresh_from_db()
    page = selectors.queue_page(rep=rep, now=T0 + timedelta(hours=1))
    assert [row.item.lead.email for row in page.rows] == ["a@example.com", "b@example.com", "c@example.com"]


@pytest.mark.django_db
def test_a_teams_scorecard_round_trips_through_the_model_file_and_a_wrong_one_is_named() -> None:
    scoring.scoring_model_import(spec=model_file.load_text(MODEL))
    teams = "leadflow_model: 1\nteams:\n  - {key: toy-sales, name: Toy sales, assignment: queue, scorecard: toys}\n"
    scoring.scoring_model_import(spec=model_file.load_text(teams))
    assert model_file.dump_data(scoring.scoring_model_export())["teams"][0]["scorecard"] == "toys"

    with pytest.raises(model_file.ModelFileError) as caught:
        scoring.scoring_model_import(spec=model_file.load_text(teams.replace("scorecard: toys", "scorecard: games")))
    assert caught.value.errors == [
        "teams[0].scorecard: 'games' is not an active scorecard of the model (scorecards: toys)"
    ]
