"""The Segment-compatible endpoints, driven by the real segment-analytics-python client."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]

from intake import imports
from intake.api_keys import api_key_issue, api_key_revoke
from scoring import services
from scoring.models import Interaction, Lead, ScoreEntry, Visitor
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


def test_segment_refusals_are_english_whatever_the_callers_language(segment: tuple[Client, str]) -> None:
    """Programs read them, as the API's: the checks they share with the tracked forms, which
    a person reads in their language, answer here in English."""
    client, key = segment
    spanish = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=client.defaults["HTTP_AUTHORIZATION"])
    spanish.defaults["HTTP_ACCEPT_LANGUAGE"] = "es"
    message = {"type": "track", "messageId": "m-1", "userId": "no es un correo@", "event": "Email Opened"}

    single = send(spanish, "track", message)
    beacon = spanish.post(
        f"/beacon/v1/batch?writeKey={key}", json.dumps({"batch": [message]}), content_type="text/plain"
    )

    assert single.json()["errors"] == {"userId": ["'no es un correo@' is not a valid email address"]}
    assert beacon.json()["rejected"][0]["errors"] == single.json()["errors"]


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


def test_an_event_that_names_no_type_is_rejected_naming_event_and_the_rest_kept(segment: tuple[Client, str]) -> None:
    client, _ = segment
    batch = [
        {"type": "track", "messageId": "a", "userId": "e@example.com", "event": "?!"},
        {"type": "track", "messageId": "b", "userId": "e@example.com", "event": "form_submit"},
        {"type": "screen", "messageId": "c", "userId": "e@example.com"},
        {"type": "track", "messageId": "d", "userId": "e@example.com", "event": 7},
    ]
    body = send(client, "batch", {"batch": batch}).json()
    assert (body["success"], body["accepted"], body["ignored"]) == (True, 1, 1)
    assert [(r["index"], list(r["errors"])) for r in body["rejected"]] == [(0, ["event"]), (3, ["event"])]


# --- limits, all or nothing, times, fields -------------------------------------------


def test_a_track_whose_email_and_user_id_name_two_different_leads_is_rejected_naming_both(
    segment: tuple[Client, str],
) -> None:
    client, _ = segment
    Lead.objects.create(email="ana@example.com", external_id="crm-1")
    Lead.objects.create(email="bea@example.com", external_id="crm-2")
    mixed: dict[str, Any] = {"type": "track", "messageId": "m-0", "userId": "crm-2", "event": "Form Submitted"}
    mixed["traits"] = {"email": "ana@example.com"}
    fine = {**mixed, "messageId": "m-1", "userId": "crm-1"}

    body = send(client, "batch", {"batch": [mixed, fine]}).json()

    assert (body["accepted"], [r["index"] for r in body["rejected"]]) == (1, [0])
    assert sorted(body["rejected"][0]["errors"]) == ["traits.email", "userId"]
    single = send(client, "track", {**mixed, "messageId": "m-2"})
    assert single.status_code == 400
    assert sorted(single.json()["errors"]) == ["traits.email", "userId"]
    assert list(Interaction.objects.values_list("idempotency_key", flat=True)) == ["m-1"]


def test_two_tracks_giving_one_new_user_id_to_two_new_emails_keep_the_first_and_refuse_the_second(
    segment: tuple[Client, str],
) -> None:
    client, _ = segment
    first: dict[str, Any] = {"type": "track", "messageId": "m-0", "userId": "X", "event": "Form Submitted"}
    first["traits"] = {"email": "a@x.example"}
    second = {**first, "messageId": "m-1", "traits": {"email": "b@x.example"}}

    response = send(client, "batch", {"batch": [first, second]})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], [r["index"] for r in body["rejected"]]) == (1, [1])
    assert sorted(body["rejected"][0]["errors"]) == ["traits.email", "userId"]
    assert list(Interaction.objects.values_list("idempotency_key", "lead__email")) == [("m-0", "a@x.example")]
    again = send(client, "batch", {"batch": [first, second]}).json()
    assert (again["accepted"], again["duplicates"], [r["index"] for r in again["rejected"]]) == (0, 1, [1])


def identify(n: int, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": f"i-{n}", "userId": f"p{n}@example.com", "traits": traits}


def stored() -> tuple[int, int, int]:
    return Lead.objects.count(), Interaction.objects.count(), Visitor.objects.count()


def test_a_batch_over_1000_messages_is_refused_whole(segment: tuple[Client, str]) -> None:
    client, _ = segment
    response = send(client, "batch", {"batch": [identify(n) for n in range(1001)]})
    assert response.status_code == 400
    assert response.json()["errors"] == {"batch": ["at most 1000 messages per batch, got 1001"]}
    assert stored() == (0, 0, 0)


def test_a_batch_over_500_kb_is_refused_whole(segment: tuple[Client, str]) -> None:
    client, _ = segment
    messages = [identify(n, note="x" * 20_000) for n in range(30)]  # each message under 32 KB
    response = send(client, "batch", {"batch": messages})
    assert response.status_code == 413
    assert "the limit is 512000 bytes" in response.json()["detail"]
    zipped = client.post(
        "/v1/batch",
        gzip.compress(json.dumps({"batch": messages}).encode()),
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 413  # what counts is the JSON, not its compressed size
    assert stored() == (0, 0, 0)


def test_a_message_over_32_kb_is_refused_and_so_is_its_batch(segment: tuple[Client, str]) -> None:
    client, _ = segment
    response = send(client, "batch", {"batch": [identify(1), identify(2, note="x" * 33_000)]})
    assert response.status_code == 400
    [(field, [reason])] = response.json()["errors"].items()
    assert field == "batch[1]"
    assert "at most 32768 bytes (32 KB) each" in reason
    single = send(client, "identify", identify(3, note="x" * 33_000))
    assert single.status_code == 413
    assert stored() == (0, 0, 0)


def test_a_batch_that_fails_part_way_leaves_nothing_behind(
    segment: tuple[Client, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = segment
    client.raise_request_exception = False
    Lead.objects.create(email="p1@example.com", city="Fresno")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    # The identifies are written, then storing the track fails: all inside one transaction.
    monkeypatch.setattr("intake.segment.ingest.events_accept", broken)
    batch = [
        identify(1, city="San José", plan="gold"),
        {**identify(2, city="Lima"), "anonymousId": "v-2"},
        {"type": "track", "messageId": "t-1", "userId": "p1@example.com", "event": "Email Opened"},
    ]
    assert send(client, "batch", {"batch": batch}).status_code == 500
    assert list(Lead.objects.values_list("email", "city", "attributes")) == [("p1@example.com", "Fresno", {})]
    assert stored() == (1, 0, 0)


def test_a_thousand_identifies_in_one_batch_all_land_in_a_few_statements(
    segment: tuple[Client, str], django_assert_max_num_queries: Any
) -> None:
    client, _ = segment
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    Lead.objects.create(email="p0@example.com", first_name="Old", attributes={"kept": True})
    batch = [
        {**identify(n, firstName=f"P{n}", city="San José", plan="gold"), "anonymousId": f"v-{n}"} for n in range(1000)
    ]
    # Not one round of queries per message. SQLite takes at most 999 parameters a statement,
    # so Django's bulk methods split the batch there: a statement per ~35 leads written.
    limit = 25 if connection.vendor == "postgresql" else 80
    with django_assert_max_num_queries(limit):
        response = send(client, "batch", {"batch": batch})
    assert (response.status_code, response.json()["identified"], response.json()["rejected"]) == (200, 1000, [])
    assert Lead.objects.filter(city="San José", attributes__plan="gold").count() == 1000
    assert Lead.objects.get(email="p0@example.com").attributes == {"kept": True, "plan": "gold"}
    assert Visitor.objects.filter(lead__isnull=False).count() == 1000
    services.interactions_score_pending()  # fit is evaluated by the workers
    assert set(Lead.objects.values_list("fit_score", flat=True)) == {8}


def test_identifies_in_one_batch_apply_in_order(segment: tuple[Client, str]) -> None:
    client, _ = segment
    batch = [
        {**identify(1), "userId": "crm-1", "traits": {"email": "p1@example.com", "city": "Lima", "plan": "a"}},
        {"type": "identify", "userId": "crm-2", "traits": {"email": "P1@example.com", "city": "Quito", "tier": 2}},
    ]
    body = send(client, "batch", {"batch": batch}).json()
    assert (body["identified"], body["rejected"]) == (2, [])
    ana = Lead.objects.get(email="p1@example.com")
    assert (ana.city, ana.attributes, ana.external_id) == ("Quito", {"plan": "a", "tier": 2}, "crm-2")


def test_an_identify_making_a_lead_names_its_new_account_after_the_company_trait(segment: tuple[Client, str]) -> None:
    """As a lead the API makes with its company: the account of a new domain takes the
    company's name, not the domain's, when the identify that makes the lead gives one."""
    client, _ = segment
    batch = [
        {**identify(1), "userId": "carmen@acme-logistica.es", "traits": {"company": "Acme Logística"}},
        {**identify(2), "userId": "sin@empresa.es", "traits": {"firstName": "Sin"}},
    ]
    assert send(client, "batch", {"batch": batch}).json()["identified"] == 2
    names = dict(Lead.objects.values_list("email", "account__name"))
    assert (names["carmen@acme-logistica.es"], names["sin@empresa.es"]) == ("Acme Logística", "empresa.es")


MISMATCH = {
    "traits.email": ["names a different lead than the external id does; give one lead"],
    "userId": ["names a different lead than the email does; give one lead"],
}


def test_an_identify_naming_one_lead_by_email_and_another_by_user_id_is_refused_naming_both(
    segment: tuple[Client, str],
) -> None:
    """Another lead's external id as userId: the email's lead was updated and the id left
    where it was, silently; a track naming them so is refused, and so is the identify."""
    client, _ = segment
    Lead.objects.create(email="held@example.com", external_id="crm-1")
    Lead.objects.create(email="ana@example.com", city="Lima")
    batch = [
        {
            "type": "identify",
            "messageId": "i-0",
            "userId": "crm-1",
            "traits": {"email": "ana@example.com", "city": "Quito"},
        },
        # an email no lead has with a lead's external id: a new lead would be another one
        {"type": "identify", "messageId": "i-1", "userId": "crm-1", "traits": {"email": "new@example.com"}},
        # an external id no lead has goes to the email's lead; asked again with another email, refused
        {"type": "identify", "messageId": "i-2", "userId": "crm-9", "context": {"traits": {"email": "bo@example.com"}}},
        {"type": "identify", "messageId": "i-3", "userId": "crm-9", "traits": {"email": "ana@example.com"}},
        {"type": "identify", "messageId": "i-4", "userId": "crm-1", "traits": {"email": "held@example.com", "tier": 3}},
    ]
    for _ in range(2):  # sent again, answered alike
        body = send(client, "batch", {"batch": batch}).json()
        assert body["identified"] == 2
        assert body["rejected"] == [
            {"index": 0, "messageId": "i-0", "errors": MISMATCH},
            {"index": 1, "messageId": "i-1", "errors": MISMATCH},
            {"index": 3, "messageId": "i-3", "errors": MISMATCH},
        ]
    assert Lead.objects.get(email="ana@example.com").city == "Lima"
    assert not Lead.objects.filter(email="new@example.com").exists()
    assert Lead.objects.get(email="bo@example.com").external_id == "crm-9"
    assert Lead.objects.get(external_id="crm-1").attributes == {"tier": 3}

    single = send(client, "identify", batch[0])
    assert single.status_code == 400
    assert single.json()["errors"] == MISMATCH
    assert Lead.objects.get(email="ana@example.com").city == "Lima"


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"timestamp": "0001-01-01T00:00:00+14:00"}, "timestamp", "must be 1970-01-01T00:00:00Z or later"),
        ({"originalTimestamp": "1969-12-31T23:59:59Z"}, "originalTimestamp", "must be 1970-01-01T00:00:00Z or later"),
        (
            {"timestamp": "2026-11-24T10:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
            "timestamp",
            "is more than a day in the future (corrected for the device's clock with sentAt)",
        ),
        (
            {"timestamp": "0002-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"},
            "sentAt",
            "corrected time is no date",
        ),
        (
            {"timestamp": "2026-11-24T10:00:00Z", "sentAt": "2126-11-24T10:00:00Z"},
            "timestamp",
            "1970-01-01T00:00:00Z or later (corrected for the device's clock with sentAt)",
        ),
        ({"timestamp": "2026-11-24T10:00:00Z", "sentAt": "soon"}, "sentAt", "is not an ISO 8601 date and time"),
        ({"timestamp": 12}, "timestamp", "must be an ISO 8601 date and time (text)"),
    ],
)
def test_times_outside_the_range_as_sent_or_corrected_are_refused_by_field(
    segment: tuple[Client, str], message: dict[str, Any], field: str, reason: str
) -> None:
    client, _ = segment
    track = {"type": "track", "messageId": "m-1", "userId": "ana@example.com", "event": "Email Opened", **message}
    body = send(client, "batch", {"batch": [track]}).json()
    [rejected] = body["rejected"]
    assert list(rejected["errors"]) == [field]
    assert reason in rejected["errors"][field][0]
    single = send(client, "track", track)
    assert single.status_code == 400
    assert field in single.json()["errors"]
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"plan": "gold\x00"}, "traits.plan"),
        (
            {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}},
            "traits.deep.a.b.c.d.e.f.g.h",
        ),
    ],
)
def test_traits_no_attribute_may_hold_refuse_the_identify_naming_the_trait(
    segment: tuple[Client, str], traits: dict[str, Any], field: str
) -> None:
    client, _ = segment
    response = send(client, "identify", {"userId": "ana@example.com", "traits": traits})
    assert response.status_code == 400
    [name] = response.json()["errors"]
    assert name.startswith(field)
    assert not Lead.objects.exists()


# Segment's spec types employees as text: senders write ranges ("51-200"). A range is kept
# as written, not read as a number: a rule "company size at least 100" would answer for a
# figure nobody sent, whichever bound or midpoint were taken.
@pytest.mark.parametrize("employees", ["51-200", "10000+", "lots", "²", "9" * 5000, 10**12, -1, 12.5, True])
def test_employees_the_lead_cannot_hold_are_kept_as_an_attribute_and_cost_no_trait(
    segment: tuple[Client, str], employees: object
) -> None:
    client, _ = segment
    traits = {"email": "Ana@Example.com", "firstName": "Ana", "employees": employees, "plan": "pro"}
    response = send(client, "identify", {"userId": "u-1", "traits": traits})
    assert response.status_code == 200, response.json()
    lead = Lead.objects.get()
    assert (lead.email, lead.external_id, lead.first_name, lead.company_size) == ("ana@example.com", "u-1", "Ana", None)
    assert lead.attributes == {"employees": employees, "plan": "pro"}


def test_employees_as_the_sdks_send_them_are_kept(segment: tuple[Client, str]) -> None:
    client, _ = segment
    for n, employees in enumerate([12, 12.0, " 40 ", 2_147_483_647]):
        assert send(client, "identify", identify(n, employees=employees)).status_code == 200
    assert sorted(size or 0 for size in Lead.objects.values_list("company_size", flat=True)) == [
        12,
        12,
        40,
        2_147_483_647,
    ]


hostile = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\x00", "\ud800", "a\udfffb", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "@", ""]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile, children, max_size=3),
    max_leaves=10,
)
segment_messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "page", "screen", "alias", "nope"]) | json_values,
        "messageId": hostile | json_values,
        "userId": st.emails() | hostile | json_values,
        "anonymousId": st.from_regex(r"[a-z0-9-]{1,70}", fullmatch=True) | hostile | json_values,
        "event": st.sampled_from(["Email Opened", "Form Submitted", "form_submit"]) | hostile | json_values,
        "traits": st.dictionaries(
            st.sampled_from(["email", "employees", "firstName", "company", "address", "plan"]) | hostile, json_values
        )
        | json_values,
        "properties": json_values,
        "context": st.fixed_dictionaries({}, optional={"traits": json_values, "page": json_values}) | json_values,
        "timestamp": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | hostile | json_values,
        "originalTimestamp": hostile | json_values,
        "sentAt": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | hostile | json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["batch", "identify", "track", "page"]),
    body=st.one_of(
        json_values,
        segment_messages,
        st.fixed_dictionaries(
            {"batch": st.lists(segment_messages, max_size=5) | json_values},
            optional={"sentAt": hostile | json_values, "context": json_values},
        ),
    ),
)
def test_no_body_makes_a_segment_endpoint_fail(segment: tuple[Client, str], path: str, body: object) -> None:
    client, _ = segment
    response = client.post(f"/v1/{path}", json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.content[:500]
    if response.status_code == 200:
        answer = response.json()
        sent = len(body["batch"]) if path == "batch" and isinstance(body, dict) else 1
        counted = answer["accepted"] + answer["duplicates"] + answer["identified"] + answer["ignored"]
        assert counted + len(answer["rejected"]) == sent


@pytest.mark.parametrize("batched", [False, True])
def test_a_later_value_of_a_lead_field_drops_the_attribute_that_held_an_earlier_one(
    segment: tuple[Client, str], batched: bool
) -> None:
    client, _ = segment
    messages = [
        {"type": "identify", "messageId": "i-1", "userId": "ana@example.com", "traits": {"employees": "51-200"}},
        {
            "type": "identify",
            "messageId": "i-2",
            "userId": "ana@example.com",
            "traits": {"title": ["CTO", "CEO"], "address": {"city": ["a"], "country": {"x": 1}}, "plan": "pro"},
        },
        {
            "type": "identify",
            "messageId": "i-3",
            "userId": "ana@example.com",
            "traits": {"employees": 120, "title": "CTO", "address": {"city": "Lima"}},
        },
    ]
    if batched:
        assert send(client, "batch", {"batch": messages}).json()["rejected"] == []
    else:
        for message in messages:
            assert send(client, "identify", message).status_code == 200
    lead = Lead.objects.get()
    assert (lead.company_size, lead.title, lead.city) == (120, "CTO", "Lima")
    assert lead.attributes == {"address": {"country": {"x": 1}}, "plan": "pro"}


def test_a_value_the_api_or_an_import_gives_drops_the_attribute_kept_for_the_field(segment: tuple[Client, str]) -> None:
    client, _ = segment
    kept = {"employees": "51-200", "title": ["CTO"], "plan": "pro"}
    for email in ("ana@example.com", "bo@example.com"):
        assert send(client, "identify", {"userId": email, "traits": kept}).status_code == 200
    key = api_key_issue(name="CRM", scopes=["leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"email": "ana@example.com", "company_size": 120, "attributes": {"seats": 3}}
    assert api.post("/api/v1/leads", body, content_type="application/json").status_code == 200
    mapping = imports.mapping_load("key: {column: email, field: email}\nfields: {title: title}\n")
    imports.leads_import(data=b"email,title\nbo@example.com,CEO\n", mapping=mapping)
    ana, bo = Lead.objects.order_by("email")
    assert (ana.company_size, ana.attributes) == (120, {"title": ["CTO"], "plan": "pro", "seats": 3})
    assert (bo.title, bo.attributes) == ("CEO", {"employees": "51-200", "plan": "pro"})


def test_a_field_sent_empty_keeps_the_attribute_kept_for_it(segment: tuple[Client, str]) -> None:
    """Clearing a field gives it no value: the one it could not hold stays the only one known."""
    client, _ = segment
    assert send(client, "identify", {"userId": "ana@example.com", "traits": {"title": ["CTO"]}}).status_code == 200
    assert send(client, "identify", {"userId": "ana@example.com", "traits": {"title": ""}}).status_code == 200
    assert Lead.objects.values_list("title", "attributes").get() == ("", {"title": ["CTO"]})
