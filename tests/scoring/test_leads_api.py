"""/api/v1/leads: upsert with fit rescoring, lookups, and erasure."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import services
from scoring.api_keys import api_key_issue
from scoring.models import Interaction, Lead, ScoreEntry, Visitor
from tests.factories import InteractionFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='CRM').key}")


def upsert(api: Client, body: dict[str, Any]) -> Any:
    return api.post("/api/v1/leads", body, content_type="application/json")


def test_upsert_creates_then_updates_and_rescores_fit(api: Client) -> None:
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    created = upsert(api, {"email": "Ana@Example.com", "city": "Fresno", "attributes": {"goal": "gifts"}})
    assert created.status_code == 201
    assert (created.json()["email"], created.json()["fit_score"]) == ("ana@example.com", 0)
    updated = upsert(api, {"email": "ana@example.com", "city": "San José", "attributes": {"kids": 2}})
    assert updated.status_code == 200
    body = updated.json()
    assert (body["fit_score"], body["total_score"]) == (8, 8)
    assert body["attributes"] == {"goal": "gifts", "kids": 2}
    assert body["breakdown"][0]["sentence"] == "+8 when city is San José"
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"city": "x"}, "email"),
        ({"email": "nope"}, "email"),
        ({"email": "a@example.com", "company_size": -3}, "company_size"),
        ({"email": "a@example.com", "annual_revenue": "lots"}, "annual_revenue"),
        ({"email": "a@example.com", "lifecycle_stage": "king"}, "lifecycle_stage"),
        ({"email": "a@example.com", "shoe_size": 42}, "shoe_size"),
        ({"email": "a@example.com", "time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_bad_fields_are_named(api: Client, body: dict[str, Any], field: str) -> None:
    response = upsert(api, body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Lead.objects.exists()


def test_find_by_email_and_read_with_the_reasons(api: Client) -> None:
    ScoringRuleFactory.create(name="Opens", points=2, interaction_types=["email_open"])
    lead, _ = services.lead_upsert(email="bea@example.com")
    InteractionFactory.create_batch(2, lead=lead)
    services.interactions_score_pending()
    found = api.get("/api/v1/leads", {"email": "BEA@example.com"}).json()
    assert [f["id"] for f in found] == [lead.pk]
    assert api.get("/api/v1/leads", {"email": "nobody@example.com"}).json() == []
    assert api.get("/api/v1/leads").status_code == 400
    one = api.get(f"/api/v1/leads/{lead.pk}").json()
    assert (one["engagement_score"], one["breakdown"][0]["points"], one["breakdown"][0]["times"]) == (4, 4, 2)
    assert len(one["recent_ledger"]) == 2
    assert api.get("/api/v1/leads/999999").status_code == 404
    assert Client(HTTP_HOST="localhost").get(f"/api/v1/leads/{lead.pk}").status_code == 401


def test_erasure_removes_everything_and_says_what(api: Client) -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["email_open", "page_view"])
    lead, _ = services.lead_upsert(email="cy@example.com")
    InteractionFactory.create_batch(3, lead=lead)
    visitor = Visitor.objects.create(key="v-1", lead=lead)
    Interaction.objects.create(visitor=visitor, type="page_view", occurred_at=lead.created_at, idempotency_key="pv")
    services.interactions_score_pending()
    response = api.delete(f"/api/v1/leads/{lead.pk}")
    assert response.status_code == 200
    assert response.json()["erased"] == {
        "lead": 1,
        "interactions": 4,
        "score_entries": 3,
        "visitors": 1,
        "group_transitions": 0,
    }
    assert not Lead.objects.exists()
    assert not Interaction.objects.exists()
    assert not ScoreEntry.objects.exists()
    assert api.delete(f"/api/v1/leads/{lead.pk}").status_code == 404


lead_bodies = st.dictionaries(
    st.sampled_from(["email", "city", "company_size", "annual_revenue", "attributes", "lifecycle_stage", "x"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.emails(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=6,
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lead_bodies)
def test_no_body_makes_the_leads_endpoint_fail(api: Client, body: dict[str, Any]) -> None:
    assert upsert(api, body).status_code in {200, 201, 400}
