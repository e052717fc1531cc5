"""The company's own event types through every door that takes a type: the API, Segment
``track`` (the real segment-analytics-python client too) and scoring's own service; each
stored interaction counted under its type once, bad type names refused by field."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import EventType, Interaction, Lead, SegmentEvent
from tests.conftest import at_once
from tests.factories import LeadFactory, ScoringRuleFactory

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def api(db: None) -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='CRM').key}")


@pytest.fixture
def segment(db: None) -> Client:
    basic = base64.b64encode(f"{api_key_issue(name='Segment').key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def post_events(client: Client, *events: dict[str, Any]) -> Any:
    response = client.post("/api/v1/events", json.dumps({"events": list(events)}), content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


def track(client: Client, *messages: dict[str, Any]) -> Any:
    batch = [{"type": "track", "userId": "ana@example.com", **m} for m in messages]
    response = client.post("/v1/batch", json.dumps({"batch": batch}), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def seen(key: str) -> tuple[int, datetime | None, datetime | None]:
    row = EventType.objects.get(key=key)
    return row.seen_count, row.first_seen_at, row.last_seen_at


def event(n: int, kind: str, day: int) -> dict[str, Any]:
    return {
        "id": f"e-{n}",
        "type": kind,
        "lead": {"email": "ana@example.com"},
        "occurred_at": T0.replace(day=day).isoformat(),
    }


def test_the_api_takes_an_own_type_scores_it_and_counts_it_once(api: Client) -> None:
    ScoringRuleFactory.create(name="Trials", points=10, interaction_types=["trial_started"])
    body = post_events(api, event(1, "trial_started", 5), event(2, "trial_started", 3), event(3, "demo-booked", 4))
    assert (body["accepted"], body["rejected"]) == (3, [])
    # A repeat is not stored, so not counted; a later batch adds to the count and widens the dates.
    assert post_events(api, event(1, "trial_started", 5))["duplicates"] == 1
    post_events(api, event(4, "trial_started", 9))

    assert seen("trial_started") == (3, T0.replace(day=3), T0.replace(day=9))
    assert seen("demo-booked") == (1, T0.replace(day=4), T0.replace(day=4))
    assert not EventType.objects.filter(key="email_open", seen_count__gt=0).exists()
    services.interactions_score_pending()
    assert Lead.objects.get().engagement_score == 30


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("Trial Started", "'Trial Started' is not a type name: use lowercase letters, digits, - and _"),
        ("trial.started", "'trial.started' is not a type name"),
        ("-trial", "starting with a letter or digit"),
        ("t" * 41, "is 41 characters; a type name has at most 40"),
        ("", "must not be empty"),
        (7, "must be a type name (text), not int"),
    ],
)
def test_a_bad_type_name_is_refused_naming_the_type_field(api: Client, kind: object, reason: str) -> None:
    body = post_events(api, {"id": "e-1", "type": kind, "lead": {"email": "ana@example.com"}})
    assert body["accepted"] == 0
    [rejected] = body["rejected"]
    assert list(rejected["errors"]) == ["type"]
    assert reason in rejected["errors"]["type"][0]
    assert not Interaction.objects.exists()
    assert not EventType.objects.filter(seen_count__gt=0).exists()


def test_segment_track_names_become_types_by_the_mapping_else_their_slug(segment: Client) -> None:
    meetings = EventType.objects.create(key="meeting_held", label="Meeting held", declared=True)
    SegmentEvent.objects.create(name="Demo Booked", event_type=meetings)
    SegmentEvent.objects.create(name="Email Opened", event_type=meetings)  # the mapping wins over Segment's names
    body = track(
        segment,
        {"messageId": "m-1", "event": "Trial Started"},
        {"messageId": "m-2", "event": "  demo BOOKED "},
        {"messageId": "m-3", "event": "Email Opened"},
        {"messageId": "m-4", "event": "Form Submitted"},
        {"messageId": "m-5", "event": "Invited Teammate (Admin)"},
        {"messageId": "m-6", "event": "trial_started"},
    )
    assert (body["accepted"], body["rejected"]) == (6, [])
    types = dict(Interaction.objects.values_list("idempotency_key", "type"))
    assert types == {
        "m-1": "trial_started",
        "m-2": "meeting_held",
        "m-3": "meeting_held",
        "m-4": "form_submit",
        "m-5": "invited_teammate_admin",
        "m-6": "trial_started",
    }
    assert Interaction.objects.get(idempotency_key="m-2").properties["event"] == "  demo BOOKED "
    assert EventType.objects.get(key="meeting_held").seen_count == 2
    assert EventType.objects.get(key="trial_started").seen_count == 2


def test_a_segment_event_name_that_makes_no_type_is_refused_naming_event(segment: Client) -> None:
    response = segment.post(
        "/v1/track",
        json.dumps({"messageId": "m-1", "userId": "ana@example.com", "event": "!!!"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["event"]
    assert not Interaction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_segment_sdk_scores_a_product_event(live_server: Any) -> None:
    ScoringRuleFactory.create(name="Teammates", points=4, interaction_types=["invited_teammate"])
    errors: list[Any] = []
    sdk = SegmentClient(
        write_key=api_key_issue(name="Segment").key,
        host=live_server.url,
        sync_mode=True,
        on_error=lambda e, b: errors.append(e),
    )
    sdk.track("bo@example.com", "Invited Teammate", {"plan": "team"})
    sdk.track("bo@example.com", "Invited Teammate", {"plan": "team"})
    sdk.flush()
    assert errors == []
    services.interactions_score_pending()
    assert Lead.objects.get(email="bo@example.com").engagement_score == 8
    assert EventType.objects.get(key="invited_teammate").seen_count == 2


def test_scorings_own_service_takes_an_own_type_and_counts_it(db: None) -> None:
    lead = LeadFactory.create()
    services.interaction_record(lead=lead, type="trial_started", occurred_at=T0, idempotency_key="k")
    services.interaction_record(lead=lead, type="trial_started", occurred_at=T0, idempotency_key="k")
    assert seen("trial_started") == (1, T0, T0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_the_same_types_count_every_stored_event(postgres: None) -> None:
    key = api_key_issue(name="CRM").key

    def send(start: int) -> Any:
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
        kinds = ["trial_started", "demo-booked"] if start % 2 else ["demo-booked", "trial_started"]
        return post_events(client, *[event(start + n, kinds[n % 2], 1 + n % 20) for n in range(0, 200)])

    results = at_once(*[lambda start=start: send(start) for start in (0, 100, 1000, 1100)])
    assert sum(r["accepted"] for r in results) == Interaction.objects.count() == 600
    counted = dict(EventType.objects.filter(seen_count__gt=0).values_list("key", "seen_count"))
    stored = {k: Interaction.objects.filter(type=k).count() for k in counted}
    assert counted == stored
