"""Leadflow's commands run before `migrate` (a newcomer following the README) say to migrate
first, in the site's language, instead of a traceback ending in "no such table"."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["scoring", "intake", "nurture", "routing", "reports", "people"]


def run_before_migrate(tmp_path: Path, *command: str, language: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("LEADFLOW_CACHE_URL", None)
    env["LEADFLOW_LANGUAGE"] = language
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # only so a hung command cannot hang the run
        check=False,
    )


def test_a_model_check_before_migrate_says_to_migrate_in_the_sites_language(tmp_path: Path) -> None:
    english = run_before_migrate(tmp_path, "scoring_model_import", "--check", "examples/toy_store.yaml", language="en")
    assert english.returncode == 1
    assert "Traceback" not in english.stderr
    assert "no such table" not in english.stderr
    assert "The database has no tables yet: run `python manage.py migrate` first." in english.stderr

    spanish = run_before_migrate(tmp_path, "leads_export", language="es")
    assert spanish.returncode == 1
    assert "Traceback" not in spanish.stderr
    assert "La base de datos aún no tiene tablas: ejecuta `python manage.py migrate` primero." in spanish.stderr


def test_every_command_of_leadflow_says_so() -> None:
    from scoring.commands import LeadflowCommand

    commands = [
        f"{app}.management.commands.{name}"
        for app in APPS
        if (ROOT / app / "management" / "commands").is_dir()
        for _, name, _ in pkgutil.iter_modules([str(ROOT / app / "management" / "commands")])
    ]
    assert len(commands) > 10
    others = [name for name in commands if not issubclass(import_module(name).Command, LeadflowCommand)]
    assert others == []
