"""What the browser SDKs need of the Segment-compatible doors besides the messages
themselves: CORS preflights for the company's sites, the short paths, their settings
from Leadflow, the beacon's key in the query string, traits in ``context.traits``, and
write-only keys. (tests/sdk/ drives the real SDKs through all of it.)"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from intake.api_keys import api_key_issue
from scoring.models import Interaction, Lead
from tests.conftest import ROOT, wait_for

SITE = "https://toys.example"
PREFLIGHT = {"Origin": SITE, "Access-Control-Request-Method": "POST"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    return api_key_issue(name="Website").key


@pytest.fixture
def site(settings: Any) -> str:
    settings.LEADFLOW_TRACKING_ORIGINS = [SITE]
    return SITE


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def web() -> Client:
    return Client(HTTP_HOST="localhost")


def post(path: str, body: object, **headers: str) -> Any:
    return web().post(path, json.dumps(body), content_type="application/json", headers=headers)


# --- CORS ----------------------------------------------------------------------------


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("path", ["/v1/i", "/v1/t", "/v1/p", "/v1/b", "/v1/track", "/v1/batch", "/beacon/v1/batch"])
def test_a_preflight_from_an_allowed_site_is_answered_with_what_the_sdks_send(path: str) -> None:
    response = web().options(
        path, headers={**PREFLIGHT, "Access-Control-Request-Headers": "authorization,content-type,anonymousid"}
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "anonymousid"} <= allowed
    assert "Origin" in response["Vary"]


@pytest.mark.usefixtures("site")
def test_other_sites_get_no_cors_headers_and_nothing_is_stored(key: str) -> None:
    preflight = web().options("/v1/t", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in preflight
    message = {"messageId": "m-1", "userId": "ada@example.com", "event": "Form Submitted"}
    sent = post("/v1/t", message, Origin="https://evil.example", Authorization=basic(key))
    # The server cannot tell a browser's request from any other; the browser keeps the answer from the page.
    assert sent.status_code == 200
    assert "Access-Control-Allow-Origin" not in sent


@pytest.mark.usefixtures("site")
def test_answers_and_refusals_carry_cors_headers_so_the_sites_page_can_read_them(key: str) -> None:
    message = {"messageId": "m-1", "userId": "ada@example.com", "event": "Form Submitted"}
    accepted = post("/v1/t", message, Origin=SITE, Authorization=basic(key))
    no_key = post("/v1/t", message, Origin=SITE)
    too_deep = web().post("/v1/t", "[" * 40 + "]" * 40, content_type="application/json", headers={"Origin": SITE})
    for response, status in ((accepted, 200), (no_key, 401), (too_deep, 400)):
        assert (response.status_code, response["Access-Control-Allow-Origin"]) == (status, SITE)


def test_a_get_on_a_sending_door_is_refused_naming_the_methods() -> None:
    response = web().get("/v1/t")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json() == {"detail": "GET is not allowed here: use POST"}


# --- short paths, beacon -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("i", {"userId": "ada@example.com", "traits": {"firstName": "Ada"}}),
        ("t", {"userId": "ada@example.com", "event": "Form Submitted"}),
        ("p", {"userId": "ada@example.com", "properties": {"url": "https://toys.example/"}}),
        ("s", {"userId": "ada@example.com", "name": "Home"}),
        ("g", {"userId": "ada@example.com", "groupId": "toys"}),
        ("a", {"userId": "ada@example.com", "previousId": "anon-1"}),
    ],
)
def test_the_short_paths_take_their_message_type(key: str, path: str, message: dict[str, Any]) -> None:
    response = post(f"/v1/{path}", {"messageId": f"m-{path}", **message}, Authorization=basic(key))
    assert response.status_code == 200, response.json()
    answer = response.json()
    counted = {"i": "identified", "g": "identified", "t": "accepted", "p": "accepted"}.get(path, "ignored")
    assert answer[counted] == 1


def test_the_short_batch_path_takes_a_batch(key: str) -> None:
    batch = [
        {"type": "track", "messageId": f"m-{n}", "userId": "ada@example.com", "event": "Form Submitted"}
        for n in range(3)
    ]
    assert post("/v1/b", {"batch": batch}, Authorization=basic(key)).json()["accepted"] == 3


def test_the_beacon_takes_the_key_from_the_query_string(key: str) -> None:
    body = {"batch": [{"type": "track", "messageId": "m-1", "userId": "ada@example.com", "event": "Form Submitted"}]}
    # navigator.sendBeacon sends text/plain and no headers of its own.
    sent = web().post(f"/beacon/v1/batch?writeKey={key}", json.dumps(body), content_type="text/plain")
    assert (sent.status_code, sent.json()["accepted"]) == (200, 1)
    missing = web().post("/beacon/v1/batch", json.dumps(body), content_type="text/plain")
    wrong = web().post("/beacon/v1/batch?writeKey=lf_0_nope", json.dumps(body), content_type="text/plain")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "writeKey" in missing.json()["detail"]
    assert Interaction.objects.count() == 1


def test_only_the_beacon_takes_the_key_from_the_query_string(key: str) -> None:
    message = {"messageId": "m-1", "userId": "ada@example.com", "event": "Form Submitted"}
    assert post(f"/v1/track?writeKey={key}", message).status_code == 401


# --- traits ------------------------------------------------------------------------------


def test_identify_reads_traits_from_context_traits_as_rudderstack_sends_them(key: str) -> None:
    message = {
        "messageId": "m-1",
        "userId": "u-42",
        "context": {"traits": {"email": "Ada@Example.com", "firstName": "Ada", "employees": "12", "plan": "family"}},
    }
    assert post("/v1/identify", message, Authorization=basic(key)).status_code == 200
    lead = Lead.objects.get()
    assert (lead.email, lead.external_id, lead.first_name, lead.company_size) == ("ada@example.com", "u-42", "Ada", 12)
    assert lead.attributes == {"plan": "family"}


def test_traits_win_over_context_traits_and_errors_name_where_the_trait_was(key: str) -> None:
    both = {
        "messageId": "m-1",
        "userId": "ada@example.com",
        "traits": {"firstName": "Ada"},
        "context": {"traits": {"firstName": "Old", "lastName": "Lovelace"}},
    }
    assert post("/v1/identify", both, Authorization=basic(key)).status_code == 200
    assert Lead.objects.values_list("first_name", "last_name").get() == ("Ada", "Lovelace")
    bad = {"messageId": "m-2", "userId": "bea@example.com", "context": {"traits": {"plan": "pro\x00"}}}
    response = post("/v1/identify", bad, Authorization=basic(key))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["context.traits.plan"]
    not_object = {"messageId": "m-3", "userId": "bea@example.com", "context": {"traits": "x"}}
    assert list(post("/v1/identify", not_object, Authorization=basic(key)).json()["errors"]) == ["context.traits"]


# --- the SDKs' settings ------------------------------------------------------------------


@pytest.mark.usefixtures("site")
def test_segment_settings_point_the_sdk_at_leadflow(key: str) -> None:
    response = web().get(f"/v1/projects/{key}/settings", headers={"Origin": SITE})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    segment = response.json()["integrations"]["Segment.io"]
    assert (segment["apiKey"], segment["apiHost"], segment["protocol"]) == (key, "localhost/v1", "http")
    assert list(response.json()["integrations"]) == ["Segment.io"]
    assert response.json()["metrics"]["sampleRate"] == 0


@pytest.mark.usefixtures("site")
def test_rudderstack_source_config_holds_the_key_and_no_destinations(key: str) -> None:
    by_query = web().get(f"/sourceConfig/?p=npm&v=3.34.1&writeKey={key}", headers={"Origin": SITE})
    by_basic = web().get("/sourceConfig/", headers={"Origin": SITE, "Authorization": basic(key)})
    for response in (by_query, by_basic):
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == SITE
        source = response.json()["source"]
        assert (source["writeKey"], source["enabled"], source["destinations"]) == (key, True, [])
        assert source["config"]["statsCollection"]["errors"]["enabled"] is False


def test_settings_are_refused_for_unknown_keys_and_for_keys_that_can_read() -> None:
    unknown = web().get("/v1/projects/lf_0_nope/settings")
    assert (unknown.status_code, list(unknown.json()["errors"])) == (401, ["writeKey"])
    mighty = api_key_issue(name="CRM", scopes=["events:write", "leads:read"]).key
    for response in (web().get(f"/v1/projects/{mighty}/settings"), web().get(f"/sourceConfig/?writeKey={mighty}")):
        assert response.status_code == 403
        assert "leads:read" in response.json()["errors"]["writeKey"][0]


def test_a_browser_key_can_send_but_not_read(key: str) -> None:
    message = {"messageId": "m-1", "userId": "ada@example.com", "event": "Form Submitted"}
    assert post("/v1/t", message, Authorization=basic(key)).status_code == 200
    reader = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert reader.get("/api/v1/leads", {"email": "ada@example.com"}).status_code == 403
    assert reader.get(f"/api/v1/leads/{Lead.objects.get().pk}").status_code == 403


# --- the access log ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_development_servers_access_log_keeps_write_keys_out(tmp_path: Path) -> None:
    """bin/run's server, as it logs: a beacon's key never reaches the log."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_DEBUG": "true",
        "LEADFLOW_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
    }
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    secret = "lf_zz_ThisIsTheSecretPartOfTheKey"  # refused before any look-up: no database needed
    try:
        wait_for(lambda: b"Quit the server" in log.read_bytes() or server.poll() is not None, message="runserver")
        with socket.create_connection(("127.0.0.1", port)) as connection:
            body = b'{"batch": []}'
            connection.sendall(
                f"POST /beacon/v1/batch?writeKey={secret}&x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 401")
        wait_for(lambda: b"/beacon/v1/batch" in log.read_bytes(), message="the access log line")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    text = log.read_text()
    assert "POST /beacon/v1/batch?writeKey=[redacted]&x=1" in text
    assert "ThisIsTheSecretPartOfTheKey" not in text
