"""Links in emails point where Leadflow runs: without LEADFLOW_PUBLIC_URL, at bin/run's
port (LEADFLOW_PORT), so a first run on another port mails links that work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A nurture email rendered as the sender renders it, in a process of its own reading
# project/settings.py from the environment given.
RENDER = """
import django
django.setup()
from nurture import content
compiled = content.compile_step(subject="Hi", text="Hello {{ lead.first_name }}", html_body="<p>Hi</p>")
message = content.render(
    compiled,
    lead=content.SAMPLE_LEAD,
    step={"position": 1, "campaign": "c"},
    sequence={"key": "s", "name": "S"},
    unsubscribe=content.unsubscribe_url(lead_id=7),
    tracking=content.Tracking(lead_id=7, campaign="c", properties={}),
)
print(message.headers["List-Unsubscribe"])
print(message.html)
"""


def render_email(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"LEADFLOW_PUBLIC_URL", "LEADFLOW_PORT", "DATABASE_URL"}}
    environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_DEBUG="true",
        LEADFLOW_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL="filesystem://",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", RENDER], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def test_links_follow_the_port_when_no_public_url_is_set(tmp_path: Path) -> None:
    done = render_email(tmp_path, LEADFLOW_PORT="8123")
    assert done.returncode == 0, done.stderr
    unsubscribe, _, html = done.stdout.partition("\n")
    assert unsubscribe.startswith("<http://127.0.0.1:8123/n/u/")
    # The open pixel too: every absolute link of the message.
    assert 'src="http://127.0.0.1:8123/t/o/' in html
    assert ":8000" not in done.stdout


def test_a_public_url_set_wins_over_the_port(tmp_path: Path) -> None:
    done = render_email(tmp_path, LEADFLOW_PORT="8123", LEADFLOW_PUBLIC_URL="https://leadflow.toys.example/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<https://leadflow.toys.example/n/u/")
    assert ":8123" not in done.stdout


def test_an_empty_public_url_counts_as_unset(tmp_path: Path) -> None:
    done = render_email(tmp_path, LEADFLOW_PORT="9001", LEADFLOW_PUBLIC_URL="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<http://127.0.0.1:9001/n/u/")


def test_a_port_that_is_no_port_stops_with_its_name(tmp_path: Path) -> None:
    for bad in ["80000", "eighty"]:
        done = render_email(tmp_path, LEADFLOW_PORT=bad)
        assert done.returncode != 0
        assert f"LEADFLOW_PORT={bad}" in done.stderr or f"LEADFLOW_PORT='{bad}'" in done.stderr
