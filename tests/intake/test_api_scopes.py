"""API keys have scopes: each endpoint refuses a key without its scope (403, naming it)
and changes nothing; keys are created with scopes by command and admin; keys from
before scopes keep every one."""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from intake.api_keys import api_key_issue
from intake.models import ApiKey, ApiScope
from nurture.models import Enrollment
from routing.models import Outcome
from scoring import services
from scoring.models import Account, Interaction, Lead
from tests.factories import LeadFactory
from tests.nurture.factories import SequenceFactory, StepFactory

ALL = [scope.value for scope in ApiScope]


@dataclass(frozen=True)
class Door:
    scope: ApiScope
    call: Callable[[Client, Lead], HttpResponseBase]


def _json(client: Client, method: str, path: str, body: object) -> HttpResponseBase:
    call = getattr(client, method)
    response: HttpResponseBase = call(path, json.dumps(body), content_type="application/json")
    return response


ENROLL = {"sequence": "nurture", "email": "ana@example.com"}
DOORS = {
    "POST /api/v1/events": Door(
        ApiScope.EVENTS_WRITE,
        lambda c, lead: _json(
            c, "post", "/api/v1/events", {"id": "e-1", "type": "email_open", "lead": {"email": "x@example.com"}}
        ),
    ),
    "GET /api/v1/leads": Door(ApiScope.LEADS_READ, lambda c, lead: c.get("/api/v1/leads", {"email": lead.email or ""})),
    "GET /api/v1/leads/{id}": Door(ApiScope.LEADS_READ, lambda c, lead: c.get(f"/api/v1/leads/{lead.pk}")),
    "POST /api/v1/leads": Door(
        ApiScope.LEADS_WRITE,
        lambda c, lead: _json(c, "post", "/api/v1/leads", {"email": lead.email, "city": "Elsewhere"}),
    ),
    "DELETE /api/v1/leads/{id}": Door(ApiScope.LEADS_ERASE, lambda c, lead: c.delete(f"/api/v1/leads/{lead.pk}")),
    "POST /api/v1/enrollments": Door(
        ApiScope.ENROLLMENTS_WRITE, lambda c, lead: _json(c, "post", "/api/v1/enrollments", ENROLL)
    ),
    "DELETE /api/v1/enrollments": Door(
        ApiScope.ENROLLMENTS_WRITE, lambda c, lead: _json(c, "delete", "/api/v1/enrollments", ENROLL)
    ),
    "GET /api/v1/leads/{id}/score-history": Door(
        ApiScope.LEADS_READ, lambda c, lead: c.get(f"/api/v1/leads/{lead.pk}/score-history")
    ),
    "POST /api/v1/leads/{id}/outcomes": Door(
        ApiScope.OUTCOMES_WRITE,
        lambda c, lead: _json(c, "post", f"/api/v1/leads/{lead.pk}/outcomes", {"kind": "won", "client_id": "d-1"}),
    ),
    "GET /api/v1/accounts": Door(ApiScope.LEADS_READ, lambda c, lead: c.get("/api/v1/accounts")),
    "GET /api/v1/accounts/{id}": Door(
        ApiScope.LEADS_READ,
        lambda c, lead: c.get(f"/api/v1/accounts/{Account.objects.get_or_create(domain='acme.example')[0].pk}"),
    ),
    "POST /api/v1/outcomes": Door(
        ApiScope.OUTCOMES_WRITE,
        lambda c, lead: _json(
            c, "post", "/api/v1/outcomes", {"lead": {"email": lead.email}, "kind": "won", "client_id": "d-1"}
        ),
    ),
}
SEGMENT: dict[str, dict[str, Any]] = {
    "/v1/identify": {"userId": "ana@example.com", "traits": {"city": "Elsewhere", "plan": "gold"}},
    "/v1/track": {"userId": "ana@example.com", "event": "Email Opened", "messageId": "m-1"},
    "/v1/page": {"anonymousId": "v-1", "messageId": "m-2"},
    "/v1/batch": {"batch": [{"type": "identify", "userId": "bea@example.com", "traits": {"city": "Fresno"}}]},
}


@pytest.fixture
def world(db: None) -> Lead:
    """A lead enrolled in a sequence: everything a refused request could change."""
    lead = LeadFactory.create(email="ana@example.com", city="Fresno")
    sequence = SequenceFactory.create(key="nurture")
    StepFactory.create(sequence=sequence, position=1, wait_hours=2)
    from nurture import services as nurture_services

    assert nurture_services.enrollment_try_start(lead=lead, sequence=sequence).enrollment is not None
    return lead


def state() -> tuple[Any, ...]:
    return (
        list(Lead.objects.order_by("pk").values_list("email", "city", "attributes", "lifecycle_stage")),
        Interaction.objects.count(),
        list(Enrollment.objects.values_list("lead_id", "status")),
        Outcome.objects.count(),
    )


def bearer(scopes: list[str]) -> Client:
    key = api_key_issue(name="Some system", scopes=scopes).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.parametrize("door", list(DOORS))
def test_each_endpoint_refuses_a_key_without_its_scope_and_changes_nothing(world: Lead, door: str) -> None:
    scope = DOORS[door].scope
    before = state()
    response = DOORS[door].call(bearer([s for s in ALL if s != scope.value]), world)
    assert response.status_code == 403
    assert response.json() == {  # type: ignore[attr-defined]
        "detail": f"This API key lacks the scope {scope.value}.",
        "code": "missing_scope",
        "required_scope": scope.value,
    }
    assert state() == before
    # The scope alone is enough.
    assert DOORS[door].call(bearer([scope.value]), world).status_code in {200, 201, 202}


@pytest.mark.parametrize("path", list(SEGMENT))
def test_segment_endpoints_refuse_a_write_key_without_events_write(world: Lead, path: str) -> None:
    before = state()
    key = api_key_issue(name="Browser", scopes=[s for s in ALL if s != "events:write"]).key
    basic = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}")
    response = basic.post(path, json.dumps(SEGMENT[path]), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["success"] is False
    assert "events:write" in response.json()["detail"]
    in_body = Client(HTTP_HOST="localhost").post(
        path, json.dumps({**SEGMENT[path], "writeKey": key}), content_type="application/json"
    )
    assert in_body.status_code == 403
    assert state() == before
    allowed = api_key_issue(name="Browser", scopes=["events:write"]).key
    assert (
        Client(HTTP_HOST="localhost")
        .post(path, json.dumps({**SEGMENT[path], "writeKey": allowed}), content_type="application/json")
        .json()["success"]
    )


def test_a_new_key_may_only_send_events_unless_given_more(db: None) -> None:
    assert api_key_issue(name="Website").api_key.scopes == ["events:write"]
    assert api_key_issue(name="CRM", scopes=["leads:erase", "leads:read", "leads:read"]).api_key.scopes == [
        "leads:read",
        "leads:erase",
    ]
    with pytest.raises(ValueError, match="unknown 'leads:delete'; the scopes are events:write, leads:read"):
        api_key_issue(name="CRM", scopes=["leads:delete"])
    with pytest.raises(ValueError, match="give at least one"):
        api_key_issue(name="CRM", scopes=[])


def test_api_key_create_takes_scopes_and_names_the_valid_ones(db: None) -> None:
    out, err = StringIO(), StringIO()
    call_command("api_key_create", "CRM", "--scope", "leads:read", "--scope", "leads:write", stdout=out, stderr=err)
    key = ApiKey.objects.get(name="CRM")
    assert key.scopes == ["leads:read", "leads:write"]
    assert "scopes leads:read, leads:write" in err.getvalue()
    assert out.getvalue().strip().startswith(f"lf_{key.prefix}_")

    call_command("api_key_create", "Website", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.get(name="Website").scopes == ["events:write"]

    with pytest.raises(CommandError, match=r"unknown 'everything'; the scopes are " + ", ".join(ALL)):
        call_command("api_key_create", "Bad", "--scope", "everything", stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.filter(name="Bad").exists()


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def test_the_admin_chooses_scopes_as_labelled_checkboxes_and_changes_them(admin: Client) -> None:
    page = admin.get(reverse("admin:intake_apikey_add")).content.decode()
    for scope in ApiScope:
        assert f'type="checkbox" name="scopes" value="{scope.value}"' in page
        assert str(scope.label) in page
    assert 'value="events:write" id="id_scopes_0" checked' in page  # the default

    admin.post(reverse("admin:intake_apikey_add"), {"name": "CRM", "scopes": ["leads:read", "leads:write"]})
    key = ApiKey.objects.get(name="CRM")
    assert key.scopes == ["leads:read", "leads:write"]

    change = reverse("admin:intake_apikey_change", args=[key.pk])
    assert 'value="leads:read" id="id_scopes_1" checked' in admin.get(change).content.decode()
    admin.post(change, {"name": "CRM", "scopes": ["leads:read"]})
    key.refresh_from_db()
    assert key.scopes == ["leads:read"]
    refused = admin.post(change, {"name": "CRM", "scopes": ["everything"]})
    assert refused.status_code == 200  # the form again, with the error on the field
    assert "Select a valid choice" in refused.content.decode()
    assert "leads:read" in admin.get(reverse("admin:intake_apikey_changelist")).content.decode()


def test_the_api_docs_say_which_scope_each_operation_needs(db: None) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = Client(HTTP_HOST="localhost").get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    expected = {
        ("/api/v1/events", "post"): "events:write",
        ("/api/v1/leads", "get"): "leads:read",
        ("/api/v1/leads", "post"): "leads:write",
        ("/api/v1/leads/{lead_id}", "get"): "leads:read",
        ("/api/v1/leads/{lead_id}", "delete"): "leads:erase",
        ("/api/v1/enrollments", "post"): "enrollments:write",
        ("/api/v1/enrollments", "delete"): "enrollments:write",
        ("/api/v1/leads/{lead_id}/score-history", "get"): "leads:read",
        ("/api/v1/leads/{lead_id}/outcomes", "post"): "outcomes:write",
        ("/api/v1/outcomes", "post"): "outcomes:write",
        ("/api/v1/accounts", "get"): "leads:read",
        ("/api/v1/accounts/{account_id}", "get"): "leads:read",
    }
    for (path, method), scope in expected.items():
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"apiKey": [scope]}]
        assert f"the scope `{scope}`" in operation["description"]
        assert "403" in operation["responses"]


def test_scopes_read_in_the_admins_language_and_in_english_in_the_api_docs(db: None, django_user_model: Any) -> None:
    admin_user = django_user_model.objects.create_superuser("ana", password="x")
    client = Client(HTTP_HOST="localhost", headers={"accept-language": "es"})
    client.force_login(admin_user)

    page = client.get("/admin/intake/apikey/add/").content.decode()

    assert "Leer leads y sus puntuaciones" in page
    assert "Read leads and their scores" not in page
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    assert "(Read leads and their scores); without it: 403." in schema["paths"]["/api/v1/leads"]["get"]["description"]


@pytest.mark.migrations
def test_keys_made_before_scopes_keep_every_scope(empty_database: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("scoring", "0011_rescore_lanes")])
    old_apps = executor.loader.project_state([("scoring", "0011_rescore_lanes")]).apps
    old_apps.get_model("scoring", "ApiKey").objects.create(name="Old CRM", prefix="0ld", key_hash="x" * 64)

    executor = MigrationExecutor(connection)
    executor.migrate([("scoring", "0012_api_key_scopes")])
    new_apps = executor.loader.project_state([("scoring", "0012_api_key_scopes")]).apps
    # Every scope there was then (scopes added since are given to keys that need them).
    then = importlib.import_module("scoring.migrations.0012_api_key_scopes").ALL_SCOPES
    assert new_apps.get_model("scoring", "ApiKey").objects.get(prefix="0ld").scopes == then
    assert set(then) < set(ALL)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert api_key_issue(name="New").api_key.scopes == ["events:write"]  # new keys: the default
    services.lead_upsert(email="after@example.com")  # the schema is whole again
