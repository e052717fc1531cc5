"""A lead's score on each scorecard in ``GET /api/v1/leads/{id}``: read-only, behind the
``leads:read`` scope, and described in the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.test import Client

from intake.api_keys import api_key_issue
from scoring.models import Lead, LeadScore, Scorecard
from tests.factories import LeadFactory, ScoreGroupFactory

pytestmark = pytest.mark.django_db


def client_with(*scopes: str) -> Client:
    key = api_key_issue(name="CRM", scopes=list(scopes)).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def lead() -> Lead:
    """Scored on toys (in its group "eager"), nothing yet on books, and a score kept on
    the retired scorecard games; nothing on the retired scorecard cards."""
    toys = Scorecard.objects.create(key="toys", name="Toys")
    Scorecard.objects.create(key="books", name="Books")
    games = Scorecard.objects.create(key="games", name="Games", active=False)
    Scorecard.objects.create(key="cards", name="Cards", active=False)
    eager = ScoreGroupFactory.create(key="toys-eager", name="Eager", min_score=30, scorecard=toys)
    lead = LeadFactory.create(email="ana@example.com")
    Lead.objects.filter(pk=lead.pk).update(fit_score=10, engagement_score=5)
    LeadScore.objects.create(lead=lead, scorecard=toys, fit_score=5, engagement_score=30, score_group=eager)
    LeadScore.objects.create(lead=lead, scorecard=games, fit_score=0, engagement_score=7)
    return lead


def test_a_lead_reads_its_score_on_each_scorecard(lead: Lead) -> None:
    found = client_with("leads:read").get(f"/api/v1/leads/{lead.pk}")
    assert found.status_code == 200
    body = found.json()
    # The default scorecard's score stays where it always was.
    assert (body["fit_score"], body["engagement_score"], body["total_score"]) == (10, 5, 15)
    assert body["scorecards"] == [
        {
            "key": "books",
            "name": "Books",
            "active": True,
            "fit_score": 0,
            "engagement_score": 0,
            "total_score": 0,
            "score_group": None,
        },
        {
            "key": "toys",
            "name": "Toys",
            "active": True,
            "fit_score": 5,
            "engagement_score": 30,
            "total_score": 35,
            "score_group": {"key": "toys-eager", "name": "Eager"},
        },
        {
            "key": "games",
            "name": "Games",
            "active": False,
            "fit_score": 0,
            "engagement_score": 7,
            "total_score": 7,
            "score_group": None,
        },
    ]


def test_a_lead_found_by_email_has_its_scorecards_too(lead: Lead) -> None:
    found = client_with("leads:read").get("/api/v1/leads", {"email": "ana@example.com"}).json()
    assert [[card["key"] for card in one["scorecards"]] for one in found] == [["books", "toys", "games"]]


def test_without_scorecards_the_list_is_empty(db: None) -> None:
    lead = LeadFactory.create()
    assert client_with("leads:read").get(f"/api/v1/leads/{lead.pk}").json()["scorecards"] == []


def test_the_scorecards_need_the_leads_read_scope(lead: Lead) -> None:
    refused = client_with("events:write", "leads:write").get(f"/api/v1/leads/{lead.pk}")
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "leads:read"
    assert Client(HTTP_HOST="localhost").get(f"/api/v1/leads/{lead.pk}").status_code == 401


def test_scorecard_scores_cannot_be_written(lead: Lead) -> None:
    api = client_with("leads:read", "leads:write")
    body = {"email": "ana@example.com", "scorecards": [{"key": "toys", "fit_score": 99}]}
    refused = api.post("/api/v1/leads", body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error_codes"]["scorecards"] == ["unknown_field"]
    assert LeadScore.objects.get(lead=lead, scorecard__key="toys").fit_score == 5


def test_the_schema_describes_the_scorecards(db: None) -> None:
    schema = Client(HTTP_HOST="localhost").get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    lead = schema["components"]["schemas"]["Lead"]["properties"]["scorecards"]
    assert lead["items"]["$ref"] == "#/components/schemas/LeadScorecardScore"
    score = schema["components"]["schemas"]["LeadScorecardScore"]["properties"]
    assert set(score) == {"key", "name", "active", "fit_score", "engagement_score", "total_score", "score_group"}
