"""What an attacker tried at the HTTP doors and got a 500 for, or got through: each is now
refused with a 4xx naming the field and the reason, or answered 503 when the database is
busy, and nothing is written."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test import Client

from intake import ingest
from intake.api_keys import api_key_issue
from nurture.models import Enrollment
from scoring.models import Interaction, Lead
from tests.factories import LeadFactory
from tests.nurture.factories import SequenceFactory

pytestmark = pytest.mark.django_db


def client_with(*scopes: str) -> Client:
    key = api_key_issue(name="CRM", scopes=list(scopes)).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client: Client, url: str, body: object, method: str = "post") -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("url", ["http://[abc", "https://]x", "http://[::1"])
def test_a_page_view_of_an_unreadable_address_is_refused_by_its_field(url: str) -> None:
    response = Client(HTTP_HOST="localhost").post(
        "/t/p", json.dumps({"visitor_id": "v1", "url": url}), content_type="text/plain"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["url"] == [
        f"only http(s) URLs of at most 2000 characters can be tracked, not {url!r}"
    ]
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/track"), ("post", "/v1/batch"), ("post", "/beacon/v1/batch"), ("get", "/sourceConfig/")],
)
def test_basic_credentials_that_are_not_ascii_are_refused_as_not_base64(method: str, path: str) -> None:
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Basic \xe9t\xe9")
    response = client.get(path) if method == "get" else client.post(path, "{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["detail"] == "the Basic credentials are not valid base64"


def test_the_api_documentation_answers_get_only() -> None:
    client = Client(HTTP_HOST="localhost")
    assert client.get("/api/v1/docs").status_code == 200
    for method in ("options", "post", "delete"):
        assert getattr(client, method)("/api/v1/docs").status_code == 405, method


def test_an_outcome_with_fields_it_does_not_take_is_refused_by_name_with_the_code_unknown_field() -> None:
    lead = LeadFactory.create(email="ana@example.com")
    client = client_with("outcomes:write")
    response = post(client, f"/api/v1/leads/{lead.pk}/outcomes", {"kind": "won", "lifecycle_stage": "customer"})
    assert response.status_code == 400
    assert response.json() == {
        "lifecycle_stage": ["unknown field"],
        "error_codes": {"lifecycle_stage": ["unknown_field"]},
    }
    response = post(client, "/api/v1/outcomes", {"kind": "won", "lead": {"email": "ana@example.com", "id": 1}})
    assert response.status_code == 400
    assert response.json() == {"lead.id": ["unknown field"], "error_codes": {"lead.id": ["unknown_field"]}}
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "lead"


@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_enrollment_with_a_stage_owner_or_score_is_refused_by_name_and_changes_nothing(method: str) -> None:
    lead = LeadFactory.create(email="ana@example.com")
    SequenceFactory.create(key="nurture")
    client = client_with("enrollments:write")
    body = {"sequence": "nurture", "email": "ana@example.com", "lifecycle_stage": "customer", "score": 99}
    response = post(client, "/api/v1/enrollments", body, method)
    assert response.status_code == 400
    assert response.json() == {
        "lifecycle_stage": ["unknown field"],
        "score": ["unknown field"],
        "error_codes": {"lifecycle_stage": ["unknown_field"], "score": ["unknown_field"]},
    }
    assert not Enrollment.objects.exists()
    lead.refresh_from_db()
    assert (lead.lifecycle_stage, lead.total_score) == ("lead", 0)


def segment_client() -> Client:
    key = api_key_issue(name="Segment").key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}")


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"firstName": {"a": 1}}, "traits.firstName"),
        ({"title": ["CTO"]}, "traits.title"),
        ({"industry": True}, "traits.industry"),
        ({"company": [1, 2]}, "traits.company"),
        ({"company": {"name": {"x": 1}}}, "traits.company.name"),
        ({"address": {"city": ["a"]}}, "traits.address.city"),
        ({"address": {"country": {"b": 2}}}, "traits.address.country"),
    ],
)
def test_an_identify_whose_text_trait_is_not_text_is_refused_by_its_place(traits: dict[str, Any], field: str) -> None:
    LeadFactory.create(email="ana@example.com", first_name="Ana", title="Buyer", company="Toys", city="Lima")
    message = {"messageId": "i-1", "userId": "ana@example.com", "traits": traits}
    response = post(segment_client(), "/v1/identify", message)
    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["must be text"]}
    lead = Lead.objects.get()
    assert (lead.first_name, lead.title, lead.industry, lead.company, lead.city) == ("Ana", "Buyer", "", "Toys", "Lima")


def test_an_identify_keeps_numbers_as_text_and_leaves_a_null_trait_as_it_was() -> None:
    LeadFactory.create(email="ana@example.com", first_name="Ana", title="Buyer")
    traits = {"title": 42, "firstName": None, "company": {"name": None}, "address": {"city": 1010}}
    response = post(
        segment_client(), "/v1/identify", {"messageId": "i-2", "userId": "ana@example.com", "traits": traits}
    )
    assert response.status_code == 200, response.content
    lead = Lead.objects.get()
    assert (lead.first_name, lead.title, lead.city) == ("Ana", "42", "1010")


def test_a_request_the_database_is_too_busy_for_is_answered_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def busy(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("database is locked") from sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ingest, "events_accept", busy)
    client = client_with("events:write")
    event = {"id": "e-1", "type": "email_open", "lead": {"email": "ana@example.com"}}
    response = post(client, "/api/v1/events", {"events": [event]})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "detail": "The database is busy: what this request sent was not kept. Send it again in a moment.",
        "code": "busy",
    }
    beacon = Client(HTTP_HOST="localhost").post(
        "/t/p", json.dumps({"visitor_id": "v1", "url": "https://toys.example/"}), content_type="text/plain"
    )
    assert (beacon.status_code, beacon.json()["code"]) == (503, "busy")


@pytest.mark.parametrize(
    "error",
    [
        ZeroDivisionError(),
        # SQLite's operational errors other than a locked database are bugs: a 500 shows them.
        OperationalError("no such table: scoring_lead"),
    ],
)
def test_an_error_that_is_not_the_databases_moment_stays_a_server_error(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    if isinstance(error, OperationalError):
        error.__cause__ = sqlite3.OperationalError(str(error))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(ingest, "events_accept", broken)
    event = {"id": "e-1", "type": "email_open", "lead": {"email": "ana@example.com"}}
    with pytest.raises(type(error)):
        post(client_with("events:write"), "/api/v1/events", {"events": [event]})


@contextmanager
def transaction_on(database: DatabaseWrapper) -> Iterator[None]:
    """A transaction as ``transaction.atomic`` begins it (by the settings' OPTIONS), on a
    connection of its own outside Django's registry."""
    database.ensure_connection()
    database.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        yield
        database.commit()
    except BaseException:
        database.rollback()
        raise
    finally:
        database.set_autocommit(True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's locking")
def test_on_sqlite_a_transaction_that_reads_then_writes_waits_for_another_writer(tmp_path: Path) -> None:
    """The embedded default: the web server, the worker and beat share one file. A transaction
    that read and then wrote while another process was writing was refused at once
    ("database is locked", a 500), whatever the timeout; it now waits its turn."""
    shared = {**connection.settings_dict, "NAME": str(tmp_path / "shared.sqlite3")}
    writing, done = threading.Event(), threading.Event()
    errors: list[str] = []

    def process(name: str, work: Callable[[DatabaseWrapper], None]) -> None:
        database = DatabaseWrapper(dict(shared), alias=name)  # a connection of this thread's own
        try:
            work(database)
        except OperationalError as exc:
            errors.append(f"{name}: {exc}")
        finally:
            done.set()
            database.close()

    def worker(database: DatabaseWrapper) -> None:
        with transaction_on(database), database.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
            writing.set()
            done.wait(2)  # the write lock held a moment

    def web(database: DatabaseWrapper) -> None:
        writing.wait(5)
        with transaction_on(database), database.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM t")
            cursor.execute("INSERT INTO t VALUES (2)")

    setup = DatabaseWrapper(dict(shared), alias="setup")
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n integer)")
    threads = [threading.Thread(target=process, args=(name, work)) for name, work in (("worker", worker), ("web", web))]
    for thread in threads:
        thread.start()
    writing.wait(5)
    threading.Timer(0.3, done.set).start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == []
        with setup.cursor() as cursor:
            cursor.execute("SELECT n FROM t ORDER BY n")
            assert cursor.fetchall() == [(1,), (2,)]
    finally:
        setup.close()


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/leads/-1", "/api/v1/leads/1%20OR%201=1"])
def test_a_path_under_the_api_that_names_nothing_is_a_404_in_the_apis_shape(path: str) -> None:
    response = client_with("leads:read").get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "No such endpoint or object.", "code": "not_found"}
