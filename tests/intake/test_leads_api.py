"""/api/v1/leads: upsert with fit rescoring, lookups, and erasure."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import EventType, Interaction, Lead, ScoreEntry, Visitor
from tests.conftest import wait_for
from tests.factories import InteractionFactory, ScoringRuleFactory, fit_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    key = api_key_issue(name="CRM", scopes=["leads:read", "leads:write", "leads:erase"]).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


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
        # A revenue is never below nothing; a company's id is text or a whole number, as
        # Segment's group call takes it (1.5 made an account "1.5").
        ({"email": "a@example.com", "annual_revenue": -1}, "annual_revenue"),
        ({"email": "a@example.com", "account_id": 1.5}, "account_id"),
        ({"email": "a@example.com", "account_id": True}, "account_id"),
        ({"email": "a@example.com", "account_id": {"id": 3}}, "account_id"),
        ({"email": "a@example.com", "external_id": 2.5}, "external_id"),
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


def test_the_reasons_name_the_company_s_own_types_by_their_labels(api: Client) -> None:
    """A declared type reads as its label in the breakdown, as the admin's rule list and the
    sales queue write it: "+25 for each Trial started", not the type name trial_started."""
    EventType.objects.update_or_create(key="trial_started", defaults={"label": "Trial started", "declared": True})
    ScoringRuleFactory.create(name="Trial", points=25, interaction_types=["trial_started"])
    lead, _ = services.lead_upsert(email="dee@example.com")
    InteractionFactory.create(lead=lead, type="trial_started")
    services.interactions_score_pending()
    one = api.get(f"/api/v1/leads/{lead.pk}").json()
    assert [line["sentence"] for line in one["breakdown"]] == ["+25 for each Trial started"]


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


hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "9" * 400, "1e999", "NaN", "Mars/Olympus"]),
)
lead_bodies = st.dictionaries(
    st.sampled_from(["email", "external_id", "city", "company_size", "annual_revenue", "attributes", "time_zone", "x"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | hostile_text | st.emails(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
        max_leaves=6,
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lead_bodies)
def test_no_body_makes_the_leads_endpoint_fail(api: Client, body: dict[str, Any]) -> None:
    # json.dumps escapes lone surrogates and writes NaN and Infinity, as careless senders do.
    response = api.post("/api/v1/leads", json.dumps(body), content_type="application/json")
    assert response.status_code in {200, 201, 400, 409}, response.content[:300]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"company_size": 10**12}, "company_size"),
        ({"company_size": 2_147_483_648}, "company_size"),
        ({"annual_revenue": 10**20}, "annual_revenue"),
        ({"annual_revenue": "1e400"}, "annual_revenue"),
        ({"first_name": "A\x00na"}, "first_name"),
        ({"external_id": "crm\x00-1"}, "external_id"),
        ({"attributes": {"plan\x00": "gold"}}, "attributes.plan\\u0000"),
        ({"attributes": {"tags": ["ok", "x\x00"]}}, "attributes.tags[1]"),
        ({"attributes": {f"a{n}": n for n in range(501)}}, "attributes"),
        ({"attributes": {"owner": "eve"}}, "attributes.owner"),
        ({"attributes": {"fit_score": 99}}, "attributes.fit_score"),
        ({"attributes": {"lifecycle_stage": "customer"}}, "attributes.lifecycle_stage"),
    ],
)
def test_values_the_columns_cannot_hold_are_refused_by_field(api: Client, body: dict[str, Any], field: str) -> None:
    response = upsert(api, {"email": "a@example.com", **body})
    assert response.status_code == 400
    assert field in response.json()
    assert not Lead.objects.exists()


def test_the_largest_company_size_the_column_holds_is_kept(api: Client) -> None:
    assert (
        upsert(api, {"email": "a@example.com", "company_size": 2_147_483_647}).json()["company_size"] == 2_147_483_647
    )


def test_attributes_nested_past_ten_levels_are_refused_naming_the_place(api: Client) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(10):
        deep = {"a": deep}
    response = upsert(api, {"email": "a@example.com", "attributes": deep})
    assert (response.status_code, response.json()) == (
        400,
        {
            "attributes" + ".a" * 10: ["nested deeper than 10 levels (objects and lists)"],
            "error_codes": {"attributes" + ".a" * 10: ["invalid"]},
        },
    )


def test_an_external_id_another_lead_has_is_a_conflict_answered_at_once(
    api: Client, django_assert_max_num_queries: Any
) -> None:
    services.lead_upsert(email="ana@example.com", fields={"external_id": "crm-1"})
    services.lead_upsert(email="bea@example.com", fields={"city": "Fresno"})
    conflict = {
        "external_id": ["another lead already has this external_id"],
        "error_codes": {"external_id": ["conflict"]},
    }
    with django_assert_max_num_queries(10):  # no retry loop
        created = upsert(api, {"email": "cy@example.com", "external_id": "crm-1", "city": "Lima"})
    assert (created.status_code, created.json()) == (409, conflict)
    updated = upsert(api, {"email": "bea@example.com", "external_id": "crm-1", "city": "San José"})
    assert (updated.status_code, updated.json()) == (409, conflict)
    # Nothing half-stored: no new lead, the other one unchanged.
    assert sorted(Lead.objects.values_list("email", "city", "external_id")) == [
        ("ana@example.com", "", "crm-1"),
        ("bea@example.com", "Fresno", None),
    ]
    # Its own external id again is no conflict.
    assert upsert(api, {"email": "ana@example.com", "external_id": "crm-1", "city": "Lima"}).status_code == 200


def test_lead_upsert_names_external_id_when_another_lead_has_it(db: None) -> None:
    services.lead_upsert(email="ana@example.com", fields={"external_id": "crm-1"})
    with pytest.raises(
        services.LeadConflict, match=r"^external_id: another lead already has this external_id$"
    ) as raised:
        services.lead_upsert(email="bea@example.com", fields={"external_id": "crm-1"})
    assert isinstance(raised.value, ValueError)  # callers mapping ValueError to 400 need nothing new
    assert raised.value.field == "external_id"
    assert not Lead.objects.filter(email="bea@example.com").exists()


def backend_waits_for_a_lock(query_start: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [query_start + "%"],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_two_requests_creating_the_same_email_make_one_lead_and_both_succeed(postgres: None) -> None:
    """The race lead_upsert retries: the other request's insert commits while ours waits on the index."""
    inserted, release = threading.Event(), threading.Event()
    results: list[Any] = []

    def other_request() -> None:
        try:
            with transaction.atomic():
                Lead.objects.create(email="dee@example.com", title="Buyer")
                inserted.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    def this_request() -> None:
        try:
            inserted.wait(timeout=60)
            results.append(services.lead_upsert(email="dee@example.com", fields={"city": "Fresno"}))
        except BaseException as exc:  # noqa: BLE001 - checked below, in the test's thread
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=other_request), threading.Thread(target=this_request)]
    for thread in threads:
        thread.start()
    # Ours looked for the email, found none, and now waits on the unique index for the other's insert.
    wait_for(lambda: backend_waits_for_a_lock('INSERT INTO "scoring_lead"'), message="the insert to wait")
    release.set()
    for thread in threads:
        thread.join(timeout=60)

    [(lead, created)] = results
    assert created is False
    assert Lead.objects.count() == 1
    assert Lead.objects.values_list("email", "title", "city").get() == ("dee@example.com", "Buyer", "Fresno")
    assert lead.pk == Lead.objects.get().pk


@pytest.mark.parametrize(
    ("language", "text", "revenue"),
    [
        ("es", "1.250,50", "1250.50"),
        ("es", "1250,5", "1250.50"),
        ("en", "1,250.50", "1250.50"),
        ("en", "1250", "1250.00"),
        # Marks the site does not write, read only one way: a program's figure, a CRM's English one.
        ("es", "1200000.50", "1200000.50"),
        ("es", "1,250.50", "1250.50"),
        ("en", "1.250,50", "1250.50"),
    ],
)
def test_a_revenue_sent_as_text_is_read_as_the_site_s_language_writes_it(
    api: Client, settings: Any, language: str, text: str, revenue: str
) -> None:
    settings.LANGUAGE_CODE = language
    response = upsert(api, {"email": "a@example.com", "annual_revenue": text})
    assert response.status_code == 201, response.json()
    assert response.json()["annual_revenue"] == revenue


@pytest.mark.parametrize(
    ("language", "text", "example"),
    [
        ("en", "1,2,3", "1,250.50"),
        ("es", "1.2.3,5,6", "1.250,50"),
        ("es", "1e400", "1.250,50"),
        ("en", "1e400", "1,250.50"),
        ("en", "12 million", "1,250.50"),
    ],
)
def test_a_revenue_not_written_as_the_site_s_language_writes_numbers_is_refused_saying_how(
    api: Client, settings: Any, language: str, text: str, example: str
) -> None:
    """Read in the site's language whatever the caller's (here English)."""
    settings.LANGUAGE_CODE = language
    response = api.post(
        "/api/v1/leads",
        {"email": "a@example.com", "annual_revenue": text},
        content_type="application/json",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    (reason,) = response.json()["annual_revenue"]
    assert f"such as {example}" in reason
    assert not Lead.objects.exists()


def test_a_company_size_sent_as_text_is_read_as_the_site_s_language_writes_it(api: Client, settings: Any) -> None:
    settings.LANGUAGE_CODE = "es"
    assert upsert(api, {"email": "a@example.com", "company_size": "1.200"}).json()["company_size"] == 1200
    refused = upsert(api, {"email": "b@example.com", "company_size": "1,5"})
    assert refused.status_code == 400
    assert "company_size" in refused.json()


def test_a_revenue_sent_as_a_json_number_is_read_as_before_whatever_the_site_s_language(
    api: Client, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "es"
    response = upsert(api, {"email": "a@example.com", "annual_revenue": 1200000.5, "company_size": 1200})
    assert response.status_code == 201, response.json()
    assert (response.json()["annual_revenue"], response.json()["company_size"]) == ("1200000.50", 1200)
