"""Segment's HTTP API documents ``messageId`` as optional: a message without one is stored
under an id made from its content, so the same body sent again is still a repeat."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from intake.api_keys import api_key_issue
from scoring.models import Interaction, Lead

TRACK = {"userId": "bea@example.com", "event": "Form Submitted", "timestamp": "2026-12-01T10:00:00Z"}


@pytest.fixture
def client(db: None) -> Client:
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")


def send(client: Client, path: str, body: object) -> Any:
    return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")


def test_a_track_without_message_id_sent_twice_is_stored_once(client: Client) -> None:
    first = send(client, "track", {**TRACK, "sentAt": "2026-12-01T10:00:01Z"})
    assert first.status_code == 200, first.json()
    # A retry: the same message, sent (and so stamped) a moment later.
    again = send(client, "track", {**TRACK, "sentAt": "2026-12-01T10:00:09Z"})
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    in_a_batch = send(client, "batch", {"batch": [{"type": "track", **TRACK}]})
    assert in_a_batch.json()["duplicates"] == 1
    assert Interaction.objects.count() == 1


def test_two_different_tracks_without_message_id_are_both_stored(client: Client) -> None:
    assert send(client, "track", TRACK).status_code == 200
    assert send(client, "track", {**TRACK, "properties": {"form": "demo"}}).status_code == 200
    assert send(client, "track", {**TRACK, "timestamp": "2026-12-01T11:00:00Z"}).status_code == 200
    assert Interaction.objects.count() == 3
    assert all(len(key) <= 200 for key in Interaction.objects.values_list("idempotency_key", flat=True))


def test_an_identify_without_message_id_is_accepted(client: Client) -> None:
    answer = send(client, "identify", {"userId": "ana@example.com", "traits": {"firstName": "Ana"}})
    assert answer.status_code == 200, answer.json()
    assert Lead.objects.get().first_name == "Ana"
