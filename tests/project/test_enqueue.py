"""Services hand work to the workers by task name, never importing the tasks (which import
the services), and the options a task is declared with still apply: a web process that
never imported a tasks module sends the sweep with its expiry, so a backlog of sweeps
queued while workers were down runs once, not N times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (module, function, its arguments) -> (the task it sends, the expiry it is declared with)
ENQUEUES = {
    ("scoring.services", "scoring_enqueue", ()): ("scoring.score_pending", 120),
    ("scoring.services.rescore", "_rescore_enqueue", (7,)): ("scoring.rescore_job", None),
    ("nurture.services.sending", "_send_enqueue", ()): ("nurture.send_due", 55),
    ("routing.services", "notifications_enqueue", ()): ("routing.send_notifications", 55),
    ("routing.services", "webhooks_enqueue", ()): ("routing.deliver_webhooks", 55),
}

# Run in a process of its own, as a web process starts: nothing imports a tasks module
# but the apps' ready(). Prints what was published: (task, seconds until it expires).
CODE = """
import importlib, json, os
from datetime import datetime
from celery.signals import before_task_publish
from django.utils import timezone
sent = []
def published(sender=None, headers=None, **kwargs):
    expires = (headers or {}).get("expires")
    left = (datetime.fromisoformat(expires) - timezone.now()).total_seconds() if expires else None
    sent.append([sender, left])
before_task_publish.connect(published, weak=False)
module, function, args = json.loads(os.environ["LEADFLOW_TEST_ENQUEUE"])
getattr(importlib.import_module(module), function)(*args)
print("SENT " + json.dumps(sent))
"""


@pytest.mark.parametrize(("call", "expected"), list(ENQUEUES.items()), ids=[key[1] for key in ENQUEUES])
def test_a_task_enqueued_by_name_keeps_the_options_it_is_declared_with(
    call: tuple[str, str, tuple[int, ...]], expected: tuple[str, int | None]
) -> None:
    task, expires = expected
    env = {**os.environ, "CELERY_BROKER_URL": "memory://", "LEADFLOW_TEST_ENQUEUE": json.dumps(call)}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CODE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # only keeps a hung process from hanging the run
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("SENT "))
    sent = json.loads(line.removeprefix("SENT "))
    assert sent, result.stderr
    assert {name for name, _ in sent} == {task}
    for _, left in sent:
        if expires is None:
            assert left is None
        else:
            assert left is not None
            assert 0 < left <= expires
