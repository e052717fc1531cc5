"""Public tracking: signed open/click links, the snippet and its beacon, form capture."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from scoring import services, tracking
from scoring.models import Interaction, Lead, ScoreEntry, TrackedForm, Visitor
from tests.factories import LeadFactory, ScoringRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def lead() -> Lead:
    return LeadFactory.create(email="ana@example.com")


def tamper(path: str) -> str:
    head, token = path.rsplit("/", 1)
    index = len(token) // 2
    return f"{head}/{token[:index]}{'A' if token[index] != 'A' else 'B'}{token[index + 1 :]}"


def test_the_open_pixel_records_an_open_for_the_lead(web: Client, lead: Lead) -> None:
    path = tracking.open_url(lead_id=lead.pk, campaign="spring", properties={"sequence": "nurture", "step": 2})
    response = web.get(path)
    assert (response.status_code, response["Content-Type"]) == (200, "image/gif")
    assert "no-cache" in response["Cache-Control"]
    opened = Interaction.objects.get()
    assert (opened.lead, opened.type) == (lead, "email_open")
    assert opened.properties == {"sequence": "nurture", "step": 2, "campaign": "spring"}


def test_the_click_redirects_only_to_the_signed_url(web: Client, lead: Lead) -> None:
    path = tracking.click_url(lead_id=lead.pk, url="https://toys.example/offer?x=1", campaign="spring")
    response = web.get(path, {"next": "https://evil.example/", "url": "https://evil.example/"})
    assert (response.status_code, response["Location"]) == (302, "https://toys.example/offer?x=1")
    clicked = Interaction.objects.get()
    assert (clicked.type, clicked.properties["url"]) == ("email_click", "https://toys.example/offer?x=1")


def test_tampered_or_misused_tokens_get_404_and_record_nothing(web: Client, lead: Lead) -> None:
    opened = tracking.open_url(lead_id=lead.pk, campaign="c")
    clicked = tracking.click_url(lead_id=lead.pk, url="https://toys.example/", campaign="c")
    assert web.get(tamper(opened)).status_code == 404
    assert web.get(tamper(clicked)).status_code == 404
    click_token = clicked.rsplit("/", 1)[1]
    assert web.get(f"/t/o/{click_token}.gif").status_code == 404  # another purpose's token
    lead.delete()
    assert web.get(opened).status_code == 404  # an erased lead
    assert not Interaction.objects.exists()


def test_only_web_urls_can_be_signed() -> None:
    with pytest.raises(ValueError, match="http"):
        tracking.click_url(lead_id=1, url="javascript:alert(1)", campaign="c")


def test_clicks_feed_the_score(web: Client, lead: Lead) -> None:
    ScoringRuleFactory.create(points=4, interaction_types=["email_click"])
    web.get(tracking.click_url(lead_id=lead.pk, url="https://toys.example/", campaign="spring"))
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 4


def test_the_snippet_is_javascript_that_beacons_to_leadflow(web: Client) -> None:
    response = web.get("/t/lf.js")
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert "/t/p" in body
    assert "lf_vid" in body
    assert "sendBeacon" in body


def beacon(web: Client, body: object, origin: str | None = None) -> Any:
    headers = {"Origin": origin} if origin else {}
    return web.post("/t/p", json.dumps(body), content_type="text/plain", headers=headers)  # as sendBeacon sends it


def test_a_page_view_is_recorded_for_the_anonymous_visitor(web: Client) -> None:
    response = beacon(web, {"visitor_id": "v-1", "url": "https://toys.example/landing/a", "seconds_on_page": 12.4})
    assert response.status_code == 204
    viewed = Interaction.objects.get()
    assert (viewed.lead, viewed.visitor, viewed.type) == (None, Visitor.objects.get(key="v-1"), "page_view")
    assert viewed.properties["path"] == "/landing/a"
    assert viewed.properties["seconds_on_page"] == 12


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"visitor_id": "bad id", "url": "https://toys.example/"}, "visitor_id"),
        ({"visitor_id": "v", "url": "ftp://toys.example/"}, "url"),
        ({"visitor_id": "v", "url": "https://toys.example/", "seconds_on_page": -1}, "seconds_on_page"),
    ],
)
def test_a_bad_beacon_is_refused_naming_the_field(web: Client, body: dict[str, object], field: str) -> None:
    response = beacon(web, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Interaction.objects.exists()


def test_cors_only_for_allowed_origins(web: Client, settings: Settings) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = ["https://toys.example"]
    body = {"visitor_id": "v", "url": "https://toys.example/"}
    allowed = beacon(web, body, origin="https://toys.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://toys.example"
    other = beacon(web, body, origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_a_form_identifies_the_visitor_whose_views_are_then_scored_once(web: Client) -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["page_view"])
    ScoringRuleFactory.create(points=5, interaction_types=["form_submit"])
    TrackedForm.objects.create(
        key="newsletter", name="Newsletter", lead_fields=["first_name", "attributes.goal"], success_url=""
    )
    for n in range(3):
        beacon(web, {"visitor_id": "v-9", "url": f"https://toys.example/p{n}"})
    web.cookies["lf_vid"] = "v-9"
    response = web.post(
        "/t/f/newsletter", {"email": "Bea@Example.com", "first_name": "Bea", "attributes.goal": "gifts", "kids": "2"}
    )
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.attributes) == ("bea@example.com", "Bea", {"goal": "gifts"})
    form = Interaction.objects.get(type="form_submit")
    assert form.properties == {"form": "newsletter", "kids": "2"}
    services.interactions_score_pending()
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 3 * 2 + 5
    assert ScoreEntry.objects.filter(lead=lead).count() == 4


def test_forms_unknown_inactive_or_without_email_are_refused(web: Client) -> None:
    assert web.post("/t/f/nope", {"email": "a@example.com"}).status_code == 404
    TrackedForm.objects.create(key="old", name="Old", active=False)
    assert web.post("/t/f/old", {"email": "a@example.com"}).status_code == 404
    TrackedForm.objects.create(key="demo", name="Demo request", success_url="https://toys.example/thanks")
    bad = web.post("/t/f/demo", {"email": "not an email"})
    assert bad.status_code == 400
    assert "email" in bad.content.decode()
    good = web.post("/t/f/demo", {"email": "c@example.com"})
    assert (good.status_code, good["Location"]) == (303, "https://toys.example/thanks")
    assert Interaction.objects.count() == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(alphabet=st.characters(blacklist_characters="/?#%\x00", codec="ascii"), min_size=1, max_size=80))
def test_random_tokens_never_record_or_fail(web: Client, token: str) -> None:
    assert web.get(f"/t/c/{token}").status_code == 404
    assert web.get(f"/t/o/{token}.gif").status_code == 404
    assert not Interaction.objects.exists()
