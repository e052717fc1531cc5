"""The API's refusals carry stable codes beside English texts, so a program can branch on
what went wrong whatever the caller's language and however a text is later reworded."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from intake.api_keys import api_key_issue
from scoring.models import Interaction, Lead


@pytest.fixture
def api(db: None) -> Client:
    key = api_key_issue(name="CRM", scopes=["events:write", "leads:read", "leads:write"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}", headers={"accept-language": "es"})


def post(client: Client, url: str, body: object, **extra: Any) -> Any:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, raw, content_type="application/json", **extra)


def codes_match(body: dict[str, Any]) -> None:
    """Every refused field has as many codes as messages, and nothing else has codes."""
    codes = body["error_codes"]
    fields = {name: messages for name, messages in body.items() if name != "error_codes"}
    assert set(codes) == set(fields)
    for name, messages in fields.items():
        assert len(codes[name]) == len(messages), name


def test_an_event_refused_in_a_batch_says_why_with_a_code_per_message_in_english(api: Client) -> None:
    batch = {
        "events": [
            {"id": "ok", "type": "email_open", "lead": {"email": "ana@example.com"}},
            {"type": "email_open", "colour": "blue", "lead": {"email": "not an email", "phone": "1"}},
            {"id": "x", "lead": {"email": "bea@example.com"}, "occurred_at": "yesterday"},
        ]
    }
    response = post(api, "/api/v1/events", batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    first, second = body["rejected"]
    assert first["codes"] == {
        "colour": ["unknown_field"],
        "id": ["required"],
        "lead.email": ["invalid"],
        "lead.phone": ["unknown_field"],
    }
    assert first["errors"]["colour"] == ["unknown field"]  # English, though the caller asked for Spanish
    assert set(first["errors"]) == set(first["codes"])
    assert second["codes"] == {"type": ["required"], "occurred_at": ["invalid"]}
    assert second["errors"]["type"] == ["required"]
    assert Interaction.objects.count() == 1  # the valid event is kept


def test_a_lead_refused_by_field_has_drf_s_codes_beside_the_messages(api: Client) -> None:
    response = post(api, "/api/v1/leads", {"email": "not an email", "company_size": "many", "score": 99})
    assert response.status_code == 400
    body = response.json()
    codes_match(body)
    assert body["error_codes"]["score"] == ["unknown_field"]
    assert body["error_codes"]["email"] == ["invalid"]
    assert body["email"] == ["Enter a valid email address."]
    assert not Lead.objects.exists()

    missing = post(api, "/api/v1/leads", {"city": "San José"})
    assert (missing.status_code, missing.json()) == (
        400,
        {"email": ["This field is required."], "error_codes": {"email": ["required"]}},
    )


@pytest.mark.parametrize(
    ("client_kind", "status", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("wrong key", 401, "invalid_key"),
        ("no scope", 403, "missing_scope"),
    ],
)
def test_refusals_of_the_caller_have_a_code(db: None, client_kind: str, status: int, code: str) -> None:
    headers = {"accept-language": "es"}
    if client_kind == "wrong key":
        headers["authorization"] = "Bearer lf_0000_nope"
    if client_kind == "no scope":
        headers["authorization"] = "Bearer " + api_key_issue(name="Site", scopes=["events:write"]).key
    response = Client(HTTP_HOST="localhost", headers=headers).get("/api/v1/leads", {"email": "a@example.com"})
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["detail"].isascii()  # English: a Spanish caller gets no translated text


def test_a_body_that_is_not_json_or_too_large_has_a_code(api: Client, settings: SettingsWrapper) -> None:
    broken = post(api, "/api/v1/events", "{not json")
    assert (broken.status_code, broken.json()["code"]) == (400, "parse_error")
    assert broken.json()["detail"].startswith("JSON parse error")

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    big = post(api, "/api/v1/events", {"id": "e", "type": "x", "lead": {"email": "a@example.com"}, "p": "x" * 3000})
    assert (big.status_code, big.json()["code"]) == (413, "payload_too_large")

    bomb = gzip.compress(b" " * 10_000)
    zipped = post(api, "/api/v1/events", bomb, HTTP_CONTENT_ENCODING="gzip")
    assert (zipped.status_code, zipped.json()["code"]) == (413, "payload_too_large")


def test_unknown_lead_and_nul_in_a_query_have_codes(api: Client) -> None:
    missing = api.get("/api/v1/leads/987654")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    nul = api.get("/api/v1/leads?email=ana%00@example.com")
    assert (nul.status_code, nul.json()["error_codes"]) == (400, {"email": ["invalid"]})
    blank = api.get("/api/v1/leads?email=")
    assert (blank.status_code, blank.json()["error_codes"]) == (400, {"email": ["required"]})
