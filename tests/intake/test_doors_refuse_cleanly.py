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

import psycopg
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError, connection
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.http import HttpResponse
from django.test import Client, RequestFactory

from intake import ingest
from intake.api_keys import api_key_issue
from intake.errors import DatabaseBusy
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


@pytest.mark.parametrize(
    "url",
    [
        "http://[abc",
        "https://]x",
        "http://[::1",
        "http://example.com:abc/",
        "http://ex ample.com/",
        "http://ex\nample.com/",
        "http://example.com:8\t0/",
        "http://:80/",
    ],
)
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
    ("traits", "kept"),
    [
        ({"firstName": {"a": 1}}, {"firstName": {"a": 1}}),
        ({"title": ["CTO"]}, {"title": ["CTO"]}),
        ({"industry": True}, {"industry": True}),
        ({"company": [1, 2]}, {"company": [1, 2]}),
        ({"company": {"name": {"x": 1}}}, {"company": {"x": 1}}),
        ({"address": {"city": ["a"], "country": "ES"}}, {"address": {"city": ["a"]}}),
        ({"address": {"country": {"b": 2}}}, {"address": {"country": {"b": 2}}}),
    ],
)
def test_an_identify_s_text_trait_that_is_not_text_is_kept_as_an_attribute(
    traits: dict[str, Any], kept: dict[str, Any]
) -> None:
    """What the field cannot hold is kept as written, as a company's is on its account: the
    message's other traits are still written."""
    LeadFactory.create(email="ana@example.com", first_name="Ana", title="Buyer", company="Toys", city="Lima")
    message = {"messageId": "i-1", "userId": "ana@example.com", "traits": {"lastName": "Ruiz", **traits}}
    response = post(segment_client(), "/v1/identify", message)
    assert response.status_code == 200, response.content
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.title, lead.industry, lead.company, lead.city) == (
        "Ana",
        "Ruiz",
        "Buyer",
        "",
        "Toys",
        "Lima",
    )
    assert lead.country == (
        "ES" if "country" in traits.get("address", {}) and "country" not in kept.get("address", {}) else ""
    )
    assert lead.attributes == kept


def test_an_identify_keeps_numbers_as_text_and_leaves_a_null_trait_as_it_was() -> None:
    LeadFactory.create(email="ana@example.com", first_name="Ana", title="Buyer", company="Toys", company_size=12)
    traits = {"title": 42, "firstName": None, "company": {"name": None}, "address": {"city": 1010}, "employees": None}
    response = post(
        segment_client(), "/v1/identify", {"messageId": "i-2", "userId": "ana@example.com", "traits": traits}
    )
    assert response.status_code == 200, response.content
    lead = Lead.objects.get()
    kept = (lead.first_name, lead.title, lead.city, lead.company, lead.company_size)
    assert kept == ("Ana", "42", "1010", "Toys", 12)


def operational_error(cause: Exception) -> OperationalError:
    """Django's error as its database wrapper raises it: the driver's error its cause."""
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # as the driver sets it
    return error


BUSY = [
    sqlite_error("database is locked", sqlite3.SQLITE_BUSY),
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
    psycopg.OperationalError("connection failed: server closed the connection unexpectedly"),
]
NOT_BUSY = [
    # A bug or a lasting condition: a 500 shows it (and its traceback in the log).
    sqlite_error("no such table: scoring_lead", sqlite3.SQLITE_ERROR),
    sqlite_error("database table is locked", sqlite3.SQLITE_LOCKED),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    psycopg.errors.DiskFull("could not extend file"),
]


@pytest.fixture
def busy_intake(monkeypatch: pytest.MonkeyPatch) -> list[Exception]:
    """The intake's storing raises what the list holds (the first item)."""
    raised: list[Exception] = []

    def fail(*args: Any, **kwargs: Any) -> None:
        raise raised[0]

    monkeypatch.setattr(ingest, "events_accept", fail)
    return raised


@pytest.mark.parametrize("cause", BUSY, ids=lambda e: type(e).__name__)
def test_a_request_the_database_is_too_busy_for_is_answered_503_with_retry_after(
    busy_intake: list[Exception], cause: Exception
) -> None:
    busy_intake.append(operational_error(cause))
    event = {"id": "e-1", "type": "email_open", "lead": {"email": "ana@example.com"}}
    response = post(client_with("events:write"), "/api/v1/events", {"events": [event]})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "detail": "The database was busy and the request did not complete. Send it again in a moment.",
        "code": "busy",
    }


def test_the_busy_answer_of_the_cross_site_doors_keeps_their_shape_and_cors_headers(
    busy_intake: list[Exception], settings: Any
) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = ["https://toys.example"]
    busy_intake.append(operational_error(sqlite_error("database is locked", sqlite3.SQLITE_BUSY)))
    site = Client(HTTP_HOST="localhost", headers={"Origin": "https://toys.example"})
    beacon = site.post(
        "/t/p", json.dumps({"visitor_id": "v1", "url": "https://toys.example/"}), content_type="text/plain"
    )
    assert (beacon.status_code, beacon.json()["code"]) == (503, "busy")
    assert beacon["Access-Control-Allow-Origin"] == "https://toys.example"
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    track = {"messageId": "m-1", "userId": "ana@example.com", "event": "Email Opened"}
    segment = site.post(
        "/v1/track", json.dumps(track), content_type="application/json", HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert segment.status_code == 503
    assert (segment.json()["success"], segment.json()["code"]) == (False, "busy")
    assert segment["Access-Control-Allow-Origin"] == "https://toys.example"


def test_a_page_a_person_sees_answers_busy_in_text() -> None:
    # A tracked click, a form, an admin page: a person reads it, not a program.
    busy = operational_error(sqlite_error("database is locked", sqlite3.SQLITE_BUSY))
    middleware = DatabaseBusy(lambda request: HttpResponse())
    for path in ("/t/c/a-token", "/admin/scoring/lead/", "/sales/"):
        response = middleware.process_exception(RequestFactory().get(path), busy)
        assert response is not None
        assert (response.status_code, response["Content-Type"]) == (503, "text/plain; charset=utf-8"), path
        assert response.content.decode().startswith("The database was busy")


@pytest.mark.parametrize("path", ["/sales/", "/reports/", "/admin/"])
def test_a_busy_database_outside_a_view_is_answered_busy_too(
    monkeypatch: pytest.MonkeyPatch, django_user_model: Any, path: str
) -> None:
    """The signed-in person's session is read by a middleware, before any view: a busy
    database there was a server error (the views' middleware does not hear of it)."""
    person = django_user_model.objects.create_user("rep", password="x")
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    client.force_login(person)
    busy = operational_error(sqlite_error("database is locked", sqlite3.SQLITE_BUSY))

    def session_read(*args: Any, **kwargs: Any) -> None:
        raise busy

    monkeypatch.setattr(SessionStore, "_get_session_from_db", session_read)
    response = client.get(path)
    assert (response.status_code, response["Retry-After"]) == (503, "1")
    assert response.content.decode().startswith("The database was busy")
    # Any other error there is still the server's error page.
    monkeypatch.setattr(SessionStore, "_get_session_from_db", lambda *args, **kwargs: 1 / 0)
    assert client.get(path).status_code == 500


@pytest.mark.parametrize("error", [ZeroDivisionError(), *NOT_BUSY], ids=lambda e: type(e).__name__ + str(e)[:12])
def test_an_error_that_is_not_the_databases_moment_stays_a_server_error(
    busy_intake: list[Exception], error: Exception
) -> None:
    raised = error if isinstance(error, ZeroDivisionError) else operational_error(error)
    busy_intake.append(raised)
    event = {"id": "e-1", "type": "email_open", "lead": {"email": "ana@example.com"}}
    with pytest.raises(type(raised)):
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
            # The write lock held until the web's transaction ends, or for a second: before,
            # the web's write failed at once under it; now the web waits at its BEGIN.
            done.wait(1)

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
    client = client_with("leads:read")
    # As a program posts: no CSRF cookie, and the checks on (the test client turns them off).
    strict = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    for response in (client.get(path), strict.post(path, "{}", content_type="application/json")):
        assert response.status_code == 404
        assert response.json() == {"detail": "No such endpoint or object.", "code": "not_found"}


def test_an_enrollment_names_its_unknown_fields_with_its_other_problems_at_once() -> None:
    response = post(client_with("enrollments:write"), "/api/v1/enrollments", {"sequence": "", "extra": 1})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"sequence", "email", "extra", "error_codes"}
    assert body["error_codes"]["extra"] == ["unknown_field"]
