"""What one message sent with a key may write on a lead: a key used in web pages no more
than a tracked form (50 traits, 5,000 characters each, custom attributes only while the lead
holds fewer than 200), a key kept on a server at most 500 traits a message."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.models import Lead
from tests.intake.test_public_keys import segment_client, send

pytestmark = pytest.mark.django_db


def traits_of(count: int, *, email: str = "ana@example.com", prefix: str = "t") -> dict[str, Any]:
    return {"email": email, **{f"{prefix}{n}": n for n in range(count)}}


def test_a_public_keys_identify_writes_at_most_as_many_traits_as_a_form_has_fields(settings: Any) -> None:
    """One identify from a page once gave a lead 2,500 attributes, and the leads' export as
    many columns for every lead."""
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 100  # pages may bring these names (test_page_attribute_names)
    page = segment_client(public=True)
    assert send(page, "identify", {"type": "identify", "messageId": "i-1", "traits": traits_of(50)}).status_code == 200
    assert len(Lead.objects.get(email="ana@example.com").attributes) == 50

    many = {"type": "identify", "messageId": "i-2", "userId": "ana@example.com", "traits": traits_of(51, prefix="x")}
    refused = send(page, "identify", many)

    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "traits": ["at most 50 traits per message with a key used in web pages, got 51"]
    }
    assert len(Lead.objects.get(email="ana@example.com").attributes) == 50
    # In a batch, the message is refused and the others kept.
    batch = [many, {"type": "identify", "messageId": "i-3", "traits": {"email": "bo@example.com", "plan": "pro"}}]
    answer = send(page, "batch", {"batch": batch}).json()
    assert (answer["identified"], [r["index"] for r in answer["rejected"]]) == (1, [0])
    assert Lead.objects.get(email="bo@example.com").attributes == {"plan": "pro"}


def test_a_public_keys_trait_holds_at_most_as_much_as_a_forms_field() -> None:
    page = segment_client(public=True)
    traits = {"email": "ana@example.com", "note": "x" * 5001}

    refused = send(page, "identify", {"type": "identify", "messageId": "i-1", "traits": traits})

    assert refused.status_code == 400
    assert refused.json()["errors"] == {"traits.note": ["at most 5000 characters (written as JSON), got 5003"]}
    assert not Lead.objects.exists()


def test_a_public_key_fills_a_leads_custom_attributes_up_to_200_in_all() -> None:
    server, page = segment_client(public=False), segment_client(public=True)
    known = {"type": "identify", "messageId": "i-1", "traits": traits_of(190, prefix="s")}
    assert send(server, "identify", known).status_code == 200

    for n in range(3):
        more = {"type": "identify", "messageId": f"p-{n}", "traits": traits_of(5, prefix=f"p{n}-")}
        assert send(page, "identify", more).status_code == 200

    attributes = Lead.objects.get(email="ana@example.com").attributes
    assert len(attributes) == 200
    assert {f"p0-{n}" for n in range(5)} | {f"p1-{n}" for n in range(5)} <= set(attributes)
    # A key kept on a server is not held to it: the company says what it knows.
    more = {"type": "identify", "messageId": "i-2", "traits": traits_of(5, prefix="s2-")}
    assert send(server, "identify", more).status_code == 200
    assert len(Lead.objects.get(email="ana@example.com").attributes) == 205


def test_a_server_keys_identify_or_group_call_writes_at_most_500_traits() -> None:
    server = segment_client(public=False)

    refused = send(server, "identify", {"type": "identify", "messageId": "i-1", "traits": traits_of(501)})

    assert refused.status_code == 400
    assert refused.json()["errors"] == {"traits": ["at most 500 traits per message, got 501"]}
    assert (
        send(server, "identify", {"type": "identify", "messageId": "i-2", "traits": traits_of(500)}).status_code == 200
    )
    group = {"type": "group", "messageId": "g-1", "userId": "ana@example.com", "groupId": "acme"}
    refused = send(server, "group", {**group, "traits": {f"t{n}": n for n in range(501)}})
    assert refused.json()["errors"] == {"traits": ["at most 500 traits per message, got 501"]}
