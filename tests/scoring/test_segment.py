"""The Segment-compatible endpoints, driven by the real segment-analytics-python client."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]

from scoring import services
from scoring.api_keys import api_key_issue, api_key_revoke
from scoring.models import Interaction, Lead, ScoreEntry
from tests.factories import ScoringRuleFactory, fit_rule


@pytest.fixture
def rules() -> None:
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    ScoringRuleFactory.create(name="Forms", points=2, interaction_types=["form_submit"])
    ScoringRuleFactory.create(name="Opens", points=1, interaction_types=["email_open"])
    pricing = ScoringRuleFactory.create(name="Pricing page", points=3, interaction_types=["page_view"])
    pricing.conditions.create(position=0, field="url", operator="matches", value="*/pricing*")


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.usefixtures("rules")
def test_the_segment_sdk_sends_identify_track_and_page(live_server: Any, compressed: bool) -> None:
    key = api_key_issue(name="Segment").key
    errors: list[Any] = []
    sdk = SegmentClient(
        write_key=key, host=live_server.url, sync_mode=True, gzip=compressed, on_error=lambda e, b: errors.append(e)
    )
    sdk.page(anonymous_id="anon-1", name="Pricing", properties={"url": "https://toys.example/pricing"})
    sdk.identify(
        "ana@example.com",
        {"firstName": "Ana", "address": {"city": "San José"}, "plan": "family", "employees": 12},
        anonymous_id="anon-1",
    )
    sdk.track("ana@example.com", "Form Submitted", {"form": "newsletter"})
    sdk.track("ana@example.com", "Email Opened", {"campaign": "spring"})
    sdk.flush()
    assert errors == []

    services.interactions_score_pending()
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.city, lead.company_size) == ("ana@example.com", "Ana", "San José", 12)
    assert lead.attributes == {"plan": "family"}
    assert (lead.fit_score, lead.engagement_score) == (8, 3 + 2 + 1)
    assert set(Interaction.objects.values_list("type", flat=True)) == {"page_view", "form_submit", "email_open"}
    assert ScoreEntry.objects.filter(lead=lead, interaction__isnull=False).count() == 3


@pytest.fixture
def segment(db: None) -> tuple[Client, str]:
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}"), key


def send(client: Client, path: str, body: object) -> Any:
    return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")


def test_duplicate_message_ids_count_once(segment: tuple[Client, str]) -> None:
    client, _ = segment
    message = {"type": "track", "messageId": "m-1", "userId": "bea@example.com", "event": "Form Submitted"}
    assert send(client, "batch", {"batch": [message, message]}).json()["duplicates"] == 1
    assert send(client, "track", message).json()["duplicates"] == 1
    assert Interaction.objects.count() == 1


def test_clock_skew_is_corrected_with_sent_at(segment: tuple[Client, str]) -> None:
    client, _ = segment
    now = datetime.now(UTC)
    device_ahead = timedelta(hours=1)
    body = {
        "messageId": "m-skew",
        "userId": "cy@example.com",
        "event": "Email Opened",
        "timestamp": (now - timedelta(minutes=10) + device_ahead).isoformat(),
        "sentAt": (now + device_ahead).isoformat(),
    }
    assert send(client, "track", body).status_code == 200
    occurred = Interaction.objects.get().occurred_at
    assert abs(occurred - (now - timedelta(minutes=10))) < timedelta(seconds=5)


def test_gzip_and_write_key_in_the_body_are_accepted_and_bad_gzip_refused(segment: tuple[Client, str]) -> None:
    _, key = segment
    anonymous = Client(HTTP_HOST="localhost")
    body = {"writeKey": key, "batch": [{"type": "page", "messageId": "p-1", "anonymousId": "v-1"}]}
    zipped = gzip.compress(json.dumps(body).encode())
    response = anonymous.post(
        "/v1/batch", zipped, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert (response.status_code, response.json()["accepted"]) == (200, 1)
    bad = anonymous.post(
        "/v1/batch", b"not gzip", content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert bad.status_code == 400


def test_missing_wrong_or_revoked_write_keys_get_401(segment: tuple[Client, str]) -> None:
    message = {"messageId": "m", "userId": "d@example.com", "event": "Form Submitted"}
    assert send(Client(HTTP_HOST="localhost"), "track", message).status_code == 401
    assert send(Client(HTTP_HOST="localhost"), "track", {**message, "writeKey": "lf_x_y"}).status_code == 401
    issued = api_key_issue(name="Old")
    api_key_revoke(api_key=issued.api_key)
    assert send(Client(HTTP_HOST="localhost"), "track", {**message, "writeKey": issued.key}).status_code == 401
    assert not Interaction.objects.exists()


def test_an_unknown_event_is_rejected_naming_event_and_the_rest_kept(segment: tuple[Client, str]) -> None:
    client, _ = segment
    batch = [
        {"type": "track", "messageId": "a", "userId": "e@example.com", "event": "Spaceship Launched"},
        {"type": "track", "messageId": "b", "userId": "e@example.com", "event": "form_submit"},
        {"type": "screen", "messageId": "c", "userId": "e@example.com"},
    ]
    body = send(client, "batch", {"batch": batch}).json()
    assert (body["success"], body["accepted"], body["ignored"]) == (True, 1, 1)
    assert [(r["index"], list(r["errors"])) for r in body["rejected"]] == [(0, ["event"])]
