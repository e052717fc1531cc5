"""With DEBUG off: HTTPS only (redirect, HSTS, secure cookies) unless switched off, a
proxy's X-Forwarded-Proto believed only when asked, a Content-Security-Policy, and
`manage.py check --deploy` silent."""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
YEAR = 365 * 24 * 3600
SECURITY = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
]
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DATABASE_URL": "postgres://leadflow:db-password@127.0.0.1:5432/leadflow",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def production_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **PRODUCTION, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **extra}
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    if "LEADFLOW_HTTPS_ONLY" not in extra:
        env.pop("LEADFLOW_HTTPS_ONLY", None)  # the test run's switch
    return env


@pytest.fixture
def load_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """project/settings.py as a process with this environment would read it."""

    def load(**extra: str) -> dict[str, Any]:
        with monkeypatch.context() as patch:
            for name, value in production_env(**extra).items():
                patch.setenv(name, value)
            if "LEADFLOW_HTTPS_ONLY" not in extra:
                patch.delenv("LEADFLOW_HTTPS_ONLY", raising=False)
            loaded = runpy.run_path(str(ROOT / "project" / "settings.py"))
        return {name: loaded.get(name) for name in [*SECURITY, "CONTENT_SECURITY_POLICY"]}

    return load


def test_production_is_https_only_by_default(load_settings: Any) -> None:
    loaded = load_settings()
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == YEAR
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None  # a forwarded header is not believed unasked


def test_one_switch_turns_https_enforcement_off(load_settings: Any) -> None:
    loaded = load_settings(LEADFLOW_HTTPS_ONLY="false")
    assert not loaded["SECURE_SSL_REDIRECT"]
    assert loaded["SECURE_HSTS_SECONDS"] == 0
    assert not loaded["SESSION_COOKIE_SECURE"]
    assert not loaded["CSRF_COOKIE_SECURE"]


def test_a_first_run_in_debug_mode_is_plain_http(load_settings: Any) -> None:
    loaded = load_settings(DJANGO_DEBUG="true")
    assert not loaded["SECURE_SSL_REDIRECT"]
    assert not loaded["SESSION_COOKIE_SECURE"]


def _production(load_settings: Any, **extra: str) -> Any:
    loaded = load_settings(**extra)
    return override_settings(**{name: loaded[name] for name in SECURITY})


@pytest.mark.django_db
def test_production_redirects_plain_http_and_sends_hsts_and_secure_cookies(load_settings: Any) -> None:
    with _production(load_settings):
        client = Client()
        response = client.get("/accounts/login/")
        assert response.status_code == 301
        assert response["Location"] == "https://testserver/accounts/login/"

        response = client.get("/accounts/login/", secure=True)
        assert response.status_code == 200
        assert response["Strict-Transport-Security"] == f"max-age={YEAR}; includeSubDomains; preload"
        assert response.cookies["csrftoken"]["secure"] is True


@pytest.mark.django_db
def test_behind_a_tls_proxy_that_says_so_requests_are_secure_without_a_loop(load_settings: Any) -> None:
    with _production(load_settings, LEADFLOW_TRUST_X_FORWARDED_PROTO="true"):
        client = Client()
        response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
        assert response.status_code == 200
        assert "Strict-Transport-Security" in response
        # A request the proxy says came in plain is still sent to HTTPS.
        assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301
    with _production(load_settings):
        # Unasked, the header is the client's word and is not believed.
        assert Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 301


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy(client: Client) -> None:
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"].startswith("'self'")
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # only so a hung check cannot hang the run
        check=False,
    )


def test_check_deploy_finds_nothing_in_the_production_configuration() -> None:
    result = _check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_notices_https_switched_off() -> None:
    result = _check_deploy(production_env(LEADFLOW_HTTPS_ONLY="false"))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout
