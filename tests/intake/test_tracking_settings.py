"""Rate-limit settings: the cache they count in, and what a bad value does at start."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG = ("DATABASE_URL", "CELERY_BROKER_URL", "LEADFLOW_CACHE_URL", "DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE")


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        name: value for name, value in os.environ.items() if name not in CONFIG and not name.startswith("LEADFLOW_")
    }
    environment = {
        **base,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "LEADFLOW_VAR_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def cache_of(tmp_path: Path, **env: str) -> dict[str, object]:
    code = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.CACHES))"
    done = run(tmp_path, ["-c", code], **env)
    assert done.returncode == 0, done.stderr
    cache: dict[str, object] = json.loads(done.stdout)["default"]
    return cache


def test_counts_go_to_the_brokers_redis_unless_a_cache_is_given(tmp_path: Path) -> None:
    broker = "redis://127.0.0.1:6379/4"
    assert cache_of(tmp_path, CELERY_BROKER_URL=broker)["LOCATION"] == broker
    given = cache_of(tmp_path, CELERY_BROKER_URL=broker, LEADFLOW_CACHE_URL="redis://127.0.0.1:6379/9")
    assert given["LOCATION"] == "redis://127.0.0.1:6379/9"
    assert given["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    embedded = cache_of(tmp_path)
    assert embedded["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache", "a first run needs no server"


def test_the_system_checks_accept_the_cache_in_production_and_on_a_first_run(
    tmp_path: Path, postgres: None, redis_broker: str
) -> None:
    from scoring.database import database_url

    production = run(
        tmp_path,
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=redis_broker,
        DJANGO_DEBUG="false",
    )
    first_run = run(tmp_path, ["manage.py", "check", "--fail-level", "WARNING"], DJANGO_DEBUG="true")
    for done in (production, first_run):
        assert "django_ratelimit" not in done.stdout + done.stderr
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADFLOW_CACHE_URL", "memcached://127.0.0.1:11211"),
        ("LEADFLOW_RATE_FORM_LEAD", "lots"),
        ("LEADFLOW_RATE_PAGE_IP", "0/m"),
        ("LEADFLOW_RATE_CLICK_IP", "10/0m"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_setting(tmp_path: Path, name: str, value: str) -> None:
    done = run(tmp_path, ["manage.py", "check"], **{name: value})
    assert done.returncode != 0
    assert f"{name}={value!r}" in done.stderr


def test_off_turns_a_limit_off(tmp_path: Path) -> None:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.LEADFLOW_RATE_LIMITS))"
    )
    done = run(tmp_path, ["-c", code], LEADFLOW_RATE_FORM_IP="off", LEADFLOW_RATE_FORM_LEAD="2/m,20/d")
    assert json.loads(done.stdout)["form"] == {"ip": [], "lead": ["2/m", "20/d"]}
