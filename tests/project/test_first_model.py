"""bin/run's first run loads the company's own model when LEADFLOW_MODEL names it, else the toy store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def first_run(tmp_path: Path, started_in: Path = ROOT, **env: str) -> list[str]:
    """The manage.py commands bin/run's first-run step runs (a python that only writes them down)."""
    stub = tmp_path / "bin"
    stub.mkdir(parents=True)
    log = tmp_path / "commands.txt"
    (stub / "python").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (stub / "python").chmod(0o755)
    environment = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", **env}
    for name in ("LEADFLOW_MODEL", "LEADFLOW_LANGUAGE", "LEADFLOW_DEMO_LEADS"):
        if name not in env:
            environment.pop(name, None)
    subprocess.run(
        # As bin/run does: where it was started, then Leadflow's folder (bin/_venv.sh moves there).
        ["bash", "-c", 'set -euo pipefail; started_in="$1"; source bin/_first_model.sh', "bash", str(started_in)],
        cwd=ROOT,
        env=environment,
        check=True,
        timeout=60,
    )
    return log.read_text().splitlines()


def test_the_company_s_own_model_is_loaded_instead_of_the_toy_store(tmp_path: Path) -> None:
    """The toy store's sequences and routing name its groups: loaded beside a company's own
    model, they would keep its file from leaving those groups out."""
    commands = first_run(tmp_path, LEADFLOW_MODEL="/srv/models/tallyboard.yaml")
    assert commands == ["manage.py scoring_model_import --if-empty --publish /srv/models/tallyboard.yaml"]


def test_a_model_file_named_from_where_bin_run_was_started_is_read_from_there(tmp_path: Path) -> None:
    """``cd ~/acme && LEADFLOW_MODEL=acme.yaml ~/leadflow/bin/run``: acme.yaml is ~/acme's."""
    company = tmp_path / "acme"
    commands = first_run(tmp_path, started_in=company, LEADFLOW_MODEL="models/acme.yaml")
    assert commands == [f"manage.py scoring_model_import --if-empty --publish {company}/models/acme.yaml"]
    assert "started_in=" in (ROOT / "bin" / "run").read_text().split("_venv.sh")[0]


def test_without_a_model_of_its_own_the_toy_store_and_its_history_are_loaded(tmp_path: Path) -> None:
    commands = first_run(tmp_path, LEADFLOW_DEMO_LEADS="200")
    assert commands == [
        "manage.py scoring_model_import --if-empty --publish examples/toy_store.yaml",
        "manage.py nurture_sequences_import --if-empty examples/toy_store_nurture.yaml",
        "manage.py scoring_model_import --if-empty --publish examples/toy_store_routing.yaml",
        "manage.py demo_history --first-run --leads 200",
    ]
    spanish = first_run(tmp_path / "es", LEADFLOW_LANGUAGE="es", LEADFLOW_DEMO_LEADS="0")
    assert spanish == [
        "manage.py scoring_model_import --if-empty --publish examples/es/toy_store.yaml",
        "manage.py nurture_sequences_import --if-empty examples/es/toy_store_nurture.yaml",
        "manage.py scoring_model_import --if-empty --publish examples/es/toy_store_routing.yaml",
    ]
