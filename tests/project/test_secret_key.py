"""Production refuses the published development key; bin/run keeps a key of its own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from project.env import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY = [PYTHON, "-m", "celery", "-A", "project"]

# Each way Leadflow starts: the web server (WSGI), the worker, beat and manage.py.
STARTS = {
    "web": [PYTHON, "-c", "import project.wsgi"],
    "worker": [*CELERY, "worker", "--pool=solo", "--without-gossip", "--without-mingle"],
    "beat": [*CELERY, "beat"],
    "manage.py": [PYTHON, "manage.py", "check"],
}


def production_env(**extra: str) -> dict[str, str]:
    """The environment of a production start: the test run's own key and switches removed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_DEBUG": "false"}
    for name in ("DJANGO_SECRET_KEY", "LEADFLOW_HTTPS_ONLY"):
        env.pop(name, None)
    return {**env, **extra}


def start(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The timeout only keeps a start that wrongly goes on from hanging the run.
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("how", STARTS)
@pytest.mark.parametrize("key", [None, "", DEVELOPMENT_SECRET_KEY], ids=["unset", "empty", "development-key"])
def test_production_refuses_to_start_without_a_key_of_its_own(how: str, key: str | None) -> None:
    env = production_env() if key is None else production_env(DJANGO_SECRET_KEY=key)
    result = start(STARTS[how], env)
    assert result.returncode != 0
    # The message says what to set and how to make one.
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_production_starts_with_a_key_of_its_own() -> None:
    result = start([PYTHON, "manage.py", "check"], production_env(DJANGO_SECRET_KEY="k" * 10 + "-own-key-" + "x" * 40))
    assert result.returncode == 0, result.stderr


def test_a_first_run_in_debug_mode_needs_no_key() -> None:
    result = start([PYTHON, "manage.py", "check"], production_env(DJANGO_DEBUG="true"))
    assert result.returncode == 0, result.stderr


def source_key_script(var_dir: Path, **extra: str) -> str:
    env = {**production_env(), "LEADFLOW_VAR_DIR": str(var_dir), **extra}
    env["PATH"] = f"{Path(PYTHON).parent}:{env['PATH']}"  # bin/run has .venv/bin first
    result = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source bin/_secret_key.sh; printf %s "$DJANGO_SECRET_KEY"'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()[-1]


def test_bin_run_makes_a_key_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    first = source_key_script(var_dir)
    key_file = var_dir / "secret-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first
    assert len(first) >= 50
    assert first != DEVELOPMENT_SECRET_KEY
    # The next start uses the same key: links signed before it still work.
    assert source_key_script(var_dir) == first
    # And production accepts it.
    result = start([PYTHON, "manage.py", "check"], production_env(DJANGO_SECRET_KEY=first))
    assert result.returncode == 0, result.stderr


def test_bin_run_uses_a_key_given_in_the_environment(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    assert source_key_script(var_dir, DJANGO_SECRET_KEY="given-" + "y" * 50) == "given-" + "y" * 50
    assert not (var_dir / "secret-key.txt").exists()


def test_the_test_run_signs_with_a_key_of_its_own_shared_with_its_processes() -> None:
    from django.conf import settings

    assert not settings.DEBUG
    assert settings.SECRET_KEY not in {"", DEVELOPMENT_SECRET_KEY}
    # Workers and commands started by tests inherit it.
    assert os.environ["DJANGO_SECRET_KEY"] == settings.SECRET_KEY


OWN_KEY = "k" * 10 + "-own-key-" + "x" * 40


@pytest.mark.parametrize("how", ["web", "manage.py"])
def test_production_refuses_the_development_key_as_a_fallback(how: str) -> None:
    # Whatever the development key signed (anyone can sign with it) would still be accepted.
    fallbacks = f"an-old-key-of-our-own-{'z' * 30}, {DEVELOPMENT_SECRET_KEY}"
    result = start(STARTS[how], production_env(DJANGO_SECRET_KEY=OWN_KEY, DJANGO_SECRET_KEY_FALLBACKS=fallbacks))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FALLBACKS holds the published development key" in result.stderr


def test_production_starts_with_old_keys_of_its_own_as_fallbacks() -> None:
    fallbacks = f"an-old-key-of-our-own-{'z' * 30},another-old-one-{'w' * 30}"
    result = start(
        [PYTHON, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY_FALLBACKS)"],
        production_env(DJANGO_SECRET_KEY=OWN_KEY, DJANGO_SECRET_KEY_FALLBACKS=fallbacks),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == repr(fallbacks.split(","))


def test_a_debug_run_may_keep_the_development_key_as_a_fallback() -> None:
    env = production_env(DJANGO_DEBUG="true", DJANGO_SECRET_KEY_FALLBACKS=DEVELOPMENT_SECRET_KEY)
    result = start([PYTHON, "manage.py", "check"], env)
    assert result.returncode == 0, result.stderr
