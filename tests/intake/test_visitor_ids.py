"""A visitor id is the whole value, checked alike at every door: a trailing newline (which
``$`` lets through) or any other character outside the allowed set is refused, never stored."""

from __future__ import annotations

import base64
import json
import string
from typing import Any

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from intake import events as checks
from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from scoring.models import Interaction, Visitor

ALLOWED = frozenset(string.ascii_letters + string.digits + "_.-")
# What "$" alone matches before: a newline at the end.
ALMOST = ["v-1\n", "v-1\r\n", "\nv-1", "v 1", "v-1\x00", "x" * 65, ""]


@given(st.text(alphabet=st.sampled_from(sorted(ALLOWED)) | st.characters(), max_size=70))
def test_a_visitor_id_is_1_to_64_allowed_characters_and_nothing_else(value: str) -> None:
    assert checks.is_visitor_id(value) == (1 <= len(value) <= 64 and set(value) <= ALLOWED)


@pytest.mark.parametrize("value", ["v-1\n", "v-1\n\n", "abc.DEF_9\n"])
def test_a_trailing_newline_is_not_part_of_a_visitor_id(value: str) -> None:
    assert not checks.is_visitor_id(value)
    assert not checks.is_visitor_id(None)
    assert checks.is_visitor_id(value.rstrip("\n"))


@pytest.fixture
def web() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.mark.django_db
@pytest.mark.parametrize("value", ALMOST)
def test_the_api_refuses_the_event_by_its_field(value: str) -> None:
    key = api_key_issue(name="Website").key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"events": [{"id": "pv-1", "type": "page_view", "visitor_id": value}]}

    response = api.post("/api/v1/events", body, content_type="application/json")

    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 0
    assert answer["rejected"][0]["errors"]["visitor_id"] == ["must be 1 to 64 letters, digits, '.', '_' or '-'"]
    assert not Visitor.objects.exists()
    assert not Interaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ALMOST)
def test_the_page_beacon_refuses_it_by_its_field(web: Client, value: str) -> None:
    body = {"visitor_id": value, "url": "https://toys.example/"}

    response = web.post("/t/p", json.dumps(body), content_type="text/plain")

    assert response.status_code == 400
    assert "visitor_id" in response.json()["errors"]
    assert not Visitor.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ALMOST[:-1])
def test_a_form_refuses_it_in_the_post_and_ignores_it_in_the_cookie(web: Client, value: str) -> None:
    TrackedForm.objects.create(key="signup", name="Signup")

    refused = web.post("/t/f/signup", {"email": "bea@example.com", "visitor_id": value})
    assert refused.status_code == 400
    assert "visitor_id" in refused.content.decode()

    web.cookies["lf_vid"] = value
    accepted = web.post("/t/f/signup", {"email": "bea@example.com"})
    assert accepted.status_code == 200
    assert not Visitor.objects.exists(), "a cookie that is not a visitor id identifies nobody"


@pytest.mark.django_db
def test_segment_keeps_such_an_anonymous_id_only_as_a_hash() -> None:
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    segment = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {basic}")
    body: dict[str, Any] = {"messageId": "p-1", "anonymousId": "v-1\n", "properties": {"url": "https://toys.example/"}}

    response = segment.post("/v1/page", json.dumps(body), content_type="application/json")

    assert response.status_code == 200, response.content
    [visitor] = Visitor.objects.values_list("key", flat=True)
    assert visitor.startswith("h-")
    assert "\n" not in visitor
