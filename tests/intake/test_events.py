"""POST /api/v1/events: batches, duplicates, every 4xx, keys, visitors."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from intake import events as checks
from intake.api_keys import api_key_issue, api_key_revoke
from scoring import services, timestamps
from scoring.models import Interaction, InteractionKey, Lead, PendingFit, ScoreEntry, Visitor, WaitingInteraction
from tests.conftest import at_once, someone_waits_on_a_lock, wait_for
from tests.factories import LeadFactory, ScoringRuleFactory

URL = "/api/v1/events"


@pytest.fixture
def key(db: None) -> str:
    return api_key_issue(name="Website").key


@pytest.fixture
def api(key: str) -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client: Client, body: object) -> Any:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, raw, content_type="application/json")


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"e-{n}", "type": "email_open", "lead": {"email": f"p{n % 3}@example.com"}, **fields}


def test_one_event_is_accepted_and_its_lead_created(api: Client) -> None:
    response = post(api, event(1, occurred_at="2026-11-20T10:00:00+01:00", properties={"campaign": "spring"}))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    stored = Interaction.objects.get()
    assert stored.lead is not None
    assert (stored.lead.email, stored.type, stored.properties) == (
        "p1@example.com",
        "email_open",
        {"campaign": "spring"},
    )
    assert stored.occurred_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert PendingFit.objects.filter(lead=stored.lead).exists()  # a worker evaluates its fit


def test_a_batch_keeps_the_valid_events_and_names_every_problem(api: Client) -> None:
    batch = [
        event(1),
        {"id": "e-2", "type": "Trial Started", "lead": {"email": "x@example.com"}},
        {"type": "email_open", "lead": {"email": "x@example.com"}},
        event(4, occurred_at="2026-11-20 10:00"),
        event(5, lead={"email": "not-an-email"}),
        event(6, colour="blue"),
        {"id": "e-7", "type": "page_view"},
        event(8, occurred_at=(datetime.now(UTC) + timedelta(days=3)).isoformat()),
        "not an object",
        event(10, visitor_id="v 1"),
        event(11),
    ]
    body = post(api, {"events": batch}).json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    errors = {r["index"]: r["errors"] for r in body["rejected"]}
    assert errors == {
        1: {"type": [errors[1]["type"][0]]},
        2: {"id": ["required: the event's unique id, used to ignore repeats"]},
        3: {"occurred_at": ["give a time zone, e.g. 2026-11-24T10:00:00Z"]},
        4: {"lead.email": ["'not-an-email' is not a valid email address"]},
        5: {"colour": ["unknown field"]},
        6: {"lead": ["required (or visitor_id for an anonymous visitor)"]},
        7: {"occurred_at": ["is more than a day in the future"]},
        8: {"non_field_errors": ["an event must be a JSON object"]},
        9: {"visitor_id": ["must be 1 to 64 letters, digits, '.', '_' or '-'"]},
    }
    assert "'Trial Started' is not a type name" in errors[1]["type"][0]
    assert [r["id"] for r in body["rejected"]][:2] == ["e-2", None]
    assert set(Interaction.objects.values_list("idempotency_key", flat=True)) == {"e-1", "e-11"}


def test_an_event_naming_two_different_leads_is_rejected_naming_both_and_the_rest_kept(api: Client) -> None:
    ana = Lead.objects.create(email="ana@example.com", external_id="crm-1")
    bea = Lead.objects.create(email="bea@example.com", external_id="crm-2")
    batch = [
        {"id": "e-0", "type": "email_open", "lead": {"email": "ana@example.com", "external_id": "crm-2"}},
        {"id": "e-1", "type": "email_open", "lead": {"email": "ana@example.com", "external_id": "crm-1"}},
        {"id": "e-2", "type": "?!", "lead": {"email": "ana@example.com"}},
        {"id": "e-3", "type": "email_open", "lead": {"email": "BEA@example.com", "external_id": "crm-1"}},
        {"id": "e-4", "type": "email_open", "lead": {"external_id": "crm-2"}},
    ]

    body = post(api, {"events": batch}).json()

    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(r["index"], r["id"], sorted(r["errors"])) for r in body["rejected"]] == [
        (0, "e-0", ["lead.email", "lead.external_id"]),
        (2, "e-2", ["type"]),
        (3, "e-3", ["lead.email", "lead.external_id"]),
    ]
    assert body["rejected"][0]["codes"] == {"lead.email": ["lead_mismatch"], "lead.external_id": ["lead_mismatch"]}
    assert "different lead" in body["rejected"][0]["errors"]["lead.email"][0]
    assert sorted(Interaction.objects.values_list("idempotency_key", "lead_id")) == [("e-1", ana.pk), ("e-4", bea.pk)]
    assert Lead.objects.count() == 2
    # Sent again, the refused one is refused again (its id was not used up).
    again = post(api, batch[0]).json()
    assert (again["accepted"], again["duplicates"], len(again["rejected"])) == (0, 0, 1)


def test_two_new_leads_asking_for_one_external_id_keep_it_for_the_first_and_refuse_the_second(api: Client) -> None:
    batch = [
        {"id": "e-0", "type": "email_open", "lead": {"email": "a@x.example", "external_id": "X"}},
        {"id": "e-1", "type": "email_open", "lead": {"email": "b@x.example", "external_id": "X"}},
        {"id": "e-2", "type": "email_open", "lead": {"email": "c@x.example"}},
    ]

    response = post(api, {"events": batch})

    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(r["index"], r["id"], r["codes"]) for r in body["rejected"]] == [
        (1, "e-1", {"lead.email": ["lead_mismatch"], "lead.external_id": ["lead_mismatch"]})
    ]
    a = Lead.objects.get(email="a@x.example")
    assert a.external_id == "X"
    assert not Lead.objects.filter(email="b@x.example").exists()
    assert dict(Interaction.objects.values_list("idempotency_key", "lead__email")) == {
        "e-0": "a@x.example",
        "e-2": "c@x.example",
    }
    # Sent again: the same answer, the stored ones now repeats.
    again = post(api, {"events": batch}).json()
    assert (again["accepted"], again["duplicates"], [r["index"] for r in again["rejected"]]) == (0, 2, [1])


def test_a_new_email_with_the_external_id_of_a_lead_is_rejected_every_time_it_is_sent(api: Client) -> None:
    Lead.objects.create(email="bea@example.com", external_id="crm-2")
    mixed = {"id": "e-0", "type": "email_open", "lead": {"email": "new@x.example", "external_id": "crm-2"}}

    for _ in range(2):
        body = post(api, {"events": [mixed]}).json()
        assert (body["accepted"], body["duplicates"]) == (0, 0)
        assert [(r["index"], r["codes"]) for r in body["rejected"]] == [
            (0, {"lead.email": ["lead_mismatch"], "lead.external_id": ["lead_mismatch"]})
        ]
    assert not Lead.objects.filter(email="new@x.example").exists()
    assert not Interaction.objects.exists()


def test_an_email_a_batch_makes_a_lead_of_with_the_external_id_of_another_is_rejected_every_time(api: Client) -> None:
    Lead.objects.create(email="bea@example.com", external_id="crm-2")
    batch = [
        {"id": "e-1", "type": "email_open", "lead": {"email": "new@x.example"}},
        {"id": "e-2", "type": "email_open", "lead": {"email": "new@x.example", "external_id": "crm-2"}},
    ]

    body = post(api, {"events": batch}).json()
    assert (body["accepted"], body["duplicates"], [r["id"] for r in body["rejected"]]) == (1, 0, ["e-2"])
    again = post(api, {"events": batch}).json()
    assert (again["accepted"], again["duplicates"], [r["id"] for r in again["rejected"]]) == (0, 1, ["e-2"])
    assert Lead.objects.get(email="new@x.example").external_id is None
    assert list(Interaction.objects.values_list("idempotency_key", flat=True)) == ["e-1"]


def test_repeated_ids_count_once_within_a_batch_and_across_requests(api: Client) -> None:
    assert post(api, {"events": [event(1), event(1), event(2)]}).json()["duplicates"] == 1
    again = post(api, {"events": [event(1), event(2), event(3)]}).json()
    assert (again["accepted"], again["duplicates"]) == (1, 2)
    assert Interaction.objects.count() == 3


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "JSON parse error"),
        ("[1, 2]", 400, "the body must be a JSON object"),
        ({"events": {"id": 1}}, 400, "must be a list of events"),
        ({"events": [], "extra": 1}, 400, "send either one event or"),
        ({"events": [event(n) for n in range(1001)]}, 400, "at most 1000 events per request, got 1001"),
    ],
)
def test_a_bad_body_is_refused_whole(api: Client, body: object, status: int, detail: str) -> None:
    response = post(api, body)
    assert response.status_code == status
    assert detail in json.dumps(response.json())
    assert not Interaction.objects.exists()
    assert not Lead.objects.exists()


def test_a_body_over_the_size_limit_is_refused(api: Client, settings: SettingsWrapper) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = post(api, {"events": [event(n) for n in range(40)]})
    assert response.status_code == 413
    assert "the limit is 2000 bytes" in response.json()["detail"]
    assert not Interaction.objects.exists()


def test_keys_missing_wrong_or_revoked_get_401(db: None) -> None:
    anonymous = Client(HTTP_HOST="localhost")
    assert post(anonymous, event(1)).status_code == 401
    wrong = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer lf_0000_nope")
    response = post(wrong, event(1))
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "The API key is not valid.", "code": "invalid_key"},
    )
    issued = api_key_issue(name="Old CRM")
    api_key_revoke(api_key=issued.api_key)
    revoked = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    response = post(revoked, event(1))
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "The API key was revoked.", "code": "revoked_key"},
    )
    assert not Interaction.objects.exists()


def test_only_a_hash_of_the_key_is_stored(key: str) -> None:
    from intake.models import ApiKey

    stored = ApiKey.objects.get()
    assert key not in (stored.key_hash, stored.prefix)
    assert key.startswith(f"lf_{stored.prefix}_")


def test_a_visitor_is_merged_into_the_lead_when_it_identifies(api: Client) -> None:
    ScoringRuleFactory.create(points=3, interaction_types=["page_view"])
    ScoringRuleFactory.create(points=5, interaction_types=["form_submit"])
    pages = [{"id": f"pv-{n}", "type": "page_view", "visitor_id": "v-1"} for n in range(2)]
    assert post(api, {"events": pages}).json()["accepted"] == 2
    assert not Lead.objects.exists()
    services.interactions_score_pending()
    assert Interaction.objects.filter(lead__isnull=True).count() == 2  # waiting for a lead
    assert not WaitingInteraction.objects.exists()  # … not for a worker

    form = {"id": "form-1", "type": "form_submit", "visitor_id": "v-1", "lead": {"email": "Ana@Example.com"}}
    assert post(api, form).json()["accepted"] == 1
    assert post(api, {"id": "pv-9", "type": "page_view", "visitor_id": "v-1"}).json()["accepted"] == 1
    services.interactions_score_pending()
    services.interactions_score_pending()

    lead = Lead.objects.get()
    assert (lead.email, lead.engagement_score) == ("ana@example.com", 3 + 3 + 5 + 3)
    assert Visitor.objects.get().lead == lead
    assert ScoreEntry.objects.filter(lead=lead).count() == 4  # each interaction counted once


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_ids_store_each_once(postgres: None) -> None:
    key = api_key_issue(name="Website").key
    batch = {"events": [event(n) for n in range(200)]}

    def send() -> dict[str, Any]:
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
        result: dict[str, Any] = post(client, batch).json()
        return result

    results = at_once(*[send] * 4)
    assert sum(r["accepted"] for r in results) == 200
    assert sum(r["duplicates"] for r in results) == 600
    assert Interaction.objects.count() == 200
    assert Lead.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_request_storing_its_events_does_not_hold_back_others_naming_its_new_leads(
    postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new lead is committed before the request stores its events: another request naming
    the same person finds it instead of waiting for the first request's commit."""
    from intake import ingest

    stored, release = threading.Event(), threading.Event()
    store = ingest._insert_new

    def slow_store(rows: list[tuple[Any, ...]]) -> set[str]:
        if threading.current_thread() is not threading.main_thread():
            stored.set()
            assert release.wait(timeout=60)  # the first request holds its events' transaction open
        return store(rows)

    monkeypatch.setattr(ingest, "_insert_new", slow_store)
    key = api_key_issue(name="Website").key
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    answers: list[int] = []

    def first() -> None:
        try:
            body = {"id": "evt-first", "type": "email_open", "lead": {"email": "new@example.com"}}
            answers.append(post(client, body).status_code)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert stored.wait(timeout=60)
        with connection.cursor() as cursor:
            # Waiting on the first request's new lead would fail this request rather than hang.
            cursor.execute("SET lock_timeout = '5s'")
        second = post(client, {"id": "evt-second", "type": "email_open", "lead": {"email": "NEW@example.com"}})
        assert second.status_code == 202, second.content
        assert second.json()["accepted"] == 1
    finally:
        release.set()
        thread.join(timeout=60)
    assert answers == [202]
    assert Lead.objects.get().email == "new@example.com"
    assert sorted(Interaction.objects.values_list("idempotency_key", flat=True)) == ["evt-first", "evt-second"]


@pytest.mark.django_db(transaction=True)
def test_a_new_lead_stays_when_storing_its_events_fails_and_the_retry_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake import ingest

    def broken(rows: list[tuple[Any, ...]]) -> set[str]:
        raise DatabaseError("the disk is full")

    key = api_key_issue(name="Website").key
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}", raise_request_exception=False)
    body = {"id": "evt-1", "type": "email_open", "lead": {"email": "ana@example.com"}}
    with monkeypatch.context() as patched:
        patched.setattr(ingest, "_insert_new", broken)
        assert post(client, body).status_code >= 500
    assert Interaction.objects.count() == 0
    assert list(Lead.objects.values_list("email", flat=True)) == ["ana@example.com"]
    assert PendingFit.objects.filter(lead__email="ana@example.com").exists()
    again = post(client, body)
    assert again.json()["accepted"] == 1
    assert Interaction.objects.get().lead == Lead.objects.get()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "naming", [{"lead": {"email": "ana@example.com"}}, {"visitor_id": "v-1"}], ids=["by email", "by her visitor"]
)
def test_an_erasure_waits_for_a_request_storing_the_lead_s_events_and_removes_them_too(
    postgres: None, monkeypatch: pytest.MonkeyPatch, naming: dict[str, Any]
) -> None:
    """No key in the database ties an interaction to its lead: the request holds its leads'
    rows (those its events name, and its visitors') while it stores, so an erasure started
    meanwhile waits for its commit and then finds (and deletes) the new events rather than
    leave them naming a lead, or a visitor, that is gone."""
    from intake import ingest
    from scoring import erasure

    ana = LeadFactory.create(email="ana@example.com")
    Visitor.objects.create(key="v-1", lead=ana)
    stored, failed = threading.Event(), []
    store = ingest._insert_new

    def store_then_wait(rows: list[tuple[Any, ...]]) -> set[str]:
        new = store(rows)
        stored.set()
        wait_for(someone_waits_on_a_lock, timeout=60, message="the erasure to wait for the request")
        return new

    def request() -> None:
        try:
            raw = {"id": "e-0", "type": "page_view", **naming}
            events, _ = checks.events_check([raw], now=datetime.now(UTC))
            ingest.events_accept(events, source="api")
        except (AssertionError, DatabaseError) as exc:  # reported below
            failed.append(exc)
            stored.set()
        finally:
            connection.close()

    monkeypatch.setattr(ingest, "_insert_new", store_then_wait)
    thread = threading.Thread(target=request)
    thread.start()
    try:
        assert stored.wait(timeout=60)
        with transaction.atomic():
            report = erasure.lead_erase(lead_id=ana.pk)
    finally:
        thread.join(timeout=60)
    assert not failed, failed
    assert (report.removed["interactions"], report.removed["visitors"]) == (1, 1)
    assert not Interaction.objects.exists()
    assert not InteractionKey.objects.exists()


def test_a_visitor_whose_lead_is_erased_before_its_events_are_stored_comes_back_anonymous(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The visitor's lead was read, then erased (with the visitor) before the request held
    it: the page view is stored for the visitor made anew, anonymous, as a first visit."""
    from intake import ingest
    from scoring import erasure

    ana = LeadFactory.create(email="ana@example.com")
    Visitor.objects.create(key="v-1", lead=ana)
    hold = services.leads_hold

    def erased_first(lead_ids: Any) -> set[int]:
        if Lead.objects.filter(pk=ana.pk).exists():
            erasure.lead_erase(lead_id=ana.pk)
        return hold(lead_ids)

    monkeypatch.setattr(services, "leads_hold", erased_first)  # the module the intake calls it from
    events, _ = checks.events_check([{"id": "pv-1", "type": "page_view", "visitor_id": "v-1"}], now=datetime.now(UTC))
    assert ingest.events_accept(events, source="api").accepted == 1
    stored = Interaction.objects.get()
    assert stored.lead_id is None
    assert stored.visitor is not None
    assert (stored.visitor.key, stored.visitor.lead_id) == ("v-1", None)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("found_by", ["email", "external_id"])
def test_a_lead_erased_before_its_events_are_stored_is_created_again_for_them(
    db: None, monkeypatch: pytest.MonkeyPatch, found_by: str
) -> None:
    """The lead a request found or created in its first transaction was erased before its
    second: the events are stored for the person's lead made anew, as a later event naming
    them would be, not for the id that is gone."""
    from intake import ingest
    from scoring import erasure

    ana = LeadFactory.create(email="ana@example.com", external_id="crm-1")
    store = ingest._events_store

    def erased_meanwhile(unique: Any, leads: dict[int, int], **kwargs: Any) -> Any:
        erasure.lead_erase(lead_id=ana.pk)
        return store(unique, leads, **kwargs)

    monkeypatch.setattr(ingest, "_events_store", erased_meanwhile)
    reference = {"email": "ana@example.com"} if found_by == "email" else {"external_id": "crm-1"}
    events, _ = checks.events_check([event(0, lead=reference), event(1, lead=reference)], now=datetime.now(UTC))
    assert ingest.events_accept(events, source="api").accepted == 2
    again = Lead.objects.get()
    assert again.pk != ana.pk
    assert getattr(again, found_by) == reference[found_by]
    assert set(Interaction.objects.values_list("lead_id", flat=True)) == {again.pk}


def test_the_openapi_schema_validates(db: None) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = Client(HTTP_HOST="localhost").get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/events" in schema["paths"]


OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14), "far west")])
# Text PostgreSQL refuses or that breaks naive code, besides arbitrary text.
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d\ude00", "0001-01-01T00:00:00+14:00", "9" * 400]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)
event_shaped = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=30), st.integers(), json_values),
        "type": st.one_of(st.sampled_from(["email_open", "page_view", "fax", "Fax Sent", ""]), json_values),
        "occurred_at": st.one_of(st.datetimes(timezones=OFFSETS).map(datetime.isoformat), st.text(), json_values),
        "lead": st.one_of(
            st.fixed_dictionaries({}, optional={"email": st.emails() | st.text(), "external_id": json_values}),
            json_values,
        ),
        "visitor_id": st.one_of(st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True), json_values),
        "properties": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, event_shaped, st.fixed_dictionaries({"events": st.lists(event_shaped, max_size=5)})))
def test_no_body_makes_the_events_endpoint_fail(api: Client, body: object) -> None:
    response = post(api, json.dumps(body))  # lone surrogates escaped, as a sender's JSON would have them
    assert response.status_code in {202, 400}, response.content[:500]
    if response.status_code == 202:
        payload = response.json()
        sent = len(body["events"]) if isinstance(body, dict) and "events" in body else 1
        assert payload["accepted"] + payload["duplicates"] + len(payload["rejected"]) == sent


def test_text_postgresql_cannot_store_is_refused_by_field(api: Client) -> None:
    body = post(api, {"events": [event(1, id="a\x00b"), event(2, properties={"url": "x\x00"})]}).json()
    assert {r["index"]: list(r["errors"]) for r in body["rejected"]} == {0: ["id"], 1: ["properties.url"]}


# --- times outside 1970 .. a day ahead --------------------------------------------


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "1969-12-31T23:59:59Z"])
def test_a_time_before_1970_is_refused_by_field(api: Client, stamp: str) -> None:
    body = post(api, event(1, occurred_at=stamp)).json()
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"] == {"occurred_at": ["must be 1970-01-01T00:00:00Z or later"]}
    assert not Interaction.objects.exists()


def test_the_first_second_of_1970_and_almost_a_day_ahead_are_kept(api: Client) -> None:
    ahead = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    body = post(api, {"events": [event(1, occurred_at="1970-01-01T00:00:00Z"), event(2, occurred_at=ahead)]}).json()
    assert (body["accepted"], body["rejected"]) == (2, [])


NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(timezones=OFFSETS))
def test_a_time_is_taken_exactly_when_it_lies_from_1970_to_a_day_ahead(moment: datetime) -> None:
    expected = moment >= timestamps.EARLIEST and moment - NOW <= timestamps.MAX_FUTURE
    try:
        checks.timestamp_check(moment.isoformat(), now=NOW)
    except ValueError:
        assert not expected
    else:
        assert expected


def test_interaction_record_refuses_a_time_outside_the_range_naming_the_field(db: None) -> None:
    lead = LeadFactory.create()
    for when, reason in [
        (datetime.fromisoformat("0001-01-01T00:00:00+14:00"), "must be 1970-01-01T00:00:00Z or later"),
        (datetime.now(UTC) + timedelta(days=2), "is more than a day in the future"),
    ]:
        with pytest.raises(ValueError, match=rf"^occurred_at: {reason}$"):
            services.interaction_record(lead=lead, type="email_open", occurred_at=when, idempotency_key="k")
    assert not Interaction.objects.exists()


def test_interaction_record_refuses_a_lead_erased_meanwhile_and_keeps_no_key(db: None) -> None:
    from scoring import erasure

    lead = LeadFactory.create()
    erasure.lead_erase(lead_id=lead.pk)  # the caller still holds the lead it read before
    with pytest.raises(ValueError, match=rf"^lead: {lead.pk} was erased$"):
        services.interaction_record(lead=lead, type="email_open", occurred_at=datetime.now(UTC), idempotency_key="k")
    assert not Interaction.objects.exists()
    assert not InteractionKey.objects.exists()


def test_properties_nested_past_ten_levels_reject_the_event_naming_the_place(api: Client) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(10):
        deep = {"a": deep}
    body = post(api, {"events": [event(1, properties={"ok": {"a": 1}}), event(2, properties=deep)]}).json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["errors"] == {
        "properties" + ".a" * 10: ["nested deeper than 10 levels (objects and lists)"]
    }


def test_a_value_that_cannot_be_stored_is_named_by_its_place_in_objects_and_lists() -> None:
    def problem(value: object) -> tuple[str, str] | None:
        return checks.json_value_problem(value, path="properties", max_depth=10)

    assert problem({"tags": ["ok", {"x": float("nan")}]}) == ("properties.tags[1].x", "must be a finite number")
    assert problem({"ok": ["a", "b\x00"]}) == ("properties.ok[1]", checks.NUL_MESSAGE)
    assert problem({"é": ["\ud800"]}) == ("properties.é[0]", checks.SURROGATE_MESSAGE)
    assert problem({"ok": ["ü", {"ñ": 1.5}]}) is None


any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=6) | st.sampled_from(
    ["", "a\x00", "\ud800", "ñ", "\udfff x"]
)


plain_or_not = st.none() | st.booleans() | st.integers() | st.floats() | any_text


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(any_text, plain_or_not | st.lists(plain_or_not, max_size=2), max_size=4))
def test_flat_properties_are_judged_as_the_walk_judges_them(value: dict[str, object]) -> None:
    """Most events' properties are a flat object of plain values, answered without the walk:
    the same answer, field and reason as the walk gives (a read-only mapping takes the walk)."""
    walked = checks.json_value_problem(MappingProxyType(value), path="properties", max_depth=10)
    assert checks.json_value_problem(value, path="properties", max_depth=10) == walked


def test_an_address_is_judged_the_same_the_second_time() -> None:
    assert checks.email_normalize(" Ana@Example.COM ") == checks.email_normalize("Ana@Example.COM") == "ana@example.com"
    for _ in range(2):
        with pytest.raises(ValueError, match="is not a valid email address"):
            checks.email_normalize("ana@@example.com")


def django_accepts(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


# Parts of addresses near the validator's edges: quoted users, dots, IP literals, IDNs,
# "localhost" (allowed by name), labels of 63 characters and more, past 320 characters.
EDGE_USERS = ["ana", "a.b", ".a", "a..b", '"a b"', '"a@b"', '"a\\"b"', "a+tag", "ñ", "", "x" * 64]
EDGE_DOMAINS = [
    "example.com",
    "localhost",
    "[127.0.0.1]",
    "[IPv6:::1]",
    "[300.1.1.1]",
    "münchen.de",
    "xn--mnchen-3ya.de",
    "a-.com",
    "-a.com",
    "example.c",
    "example.123",
    f"{'a' * 63}.com",
    f"{'a' * 64}.com",
    ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 63, "com"]),
    "example.com.",
    "",
]


def test_addresses_at_the_validators_edges_are_judged_as_django_judges_them() -> None:
    """The check splits Django's validation in two and remembers the domain's part: every
    address gets the validator's answer, whatever domain was judged before it."""
    for user in EDGE_USERS:
        for domain in EDGE_DOMAINS:
            for email in (f"{user}@{domain}", f"{user}@@{domain}", f"{user}@{domain}".upper()):
                assert checks._email_valid(email) is django_accepts(email), email


@settings(max_examples=500, deadline=None)
@given(user=st.sampled_from(EDGE_USERS) | any_text, domain=st.sampled_from(EDGE_DOMAINS) | any_text)
def test_any_address_is_judged_as_djangos_validator_judges_it(user: str, domain: str) -> None:
    for text in (f"{user}@{domain}", user, domain, f"{user}@{domain}" * 2):
        assert checks._email_valid(text) is django_accepts(text), text


@pytest.mark.parametrize("stamp", ["2026-11-20T10:00:00-23:59", "2026-11-20T10:00:00+20:00"])
def test_a_time_zone_offset_postgresql_cannot_hold_is_kept_as_its_instant(api: Client, stamp: str) -> None:
    # Python reads offsets up to 23:59, PostgreSQL stores at most 15:59: it was a 500.
    body = post(api, event(1, occurred_at=stamp)).json()
    assert (body["accepted"], body["rejected"]) == (1, [])
    assert Interaction.objects.get().occurred_at == datetime.fromisoformat(stamp)
