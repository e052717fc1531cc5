"""Web and worker processes build Celery's message sender when they start, not at the first
message they send (about 160 ms of processor time the first request that enqueued scoring
paid), and without connecting to the broker."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

# In a fresh interpreter: what the tests' own process has imported says nothing.
WEB = """
import sys
import project.wsgi
from project.celery import app
print("celery.events" in sys.modules, "send_task_message" in vars(app.amqp))
"""

WORKER = """
import sys
import django
from project.celery import app
from celery.signals import worker_process_init
django.setup()
worker_process_init.send(sender=None)  # what Celery sends in each new pool process
print("celery.events" in sys.modules, "send_task_message" in vars(app.amqp))
"""


@pytest.mark.parametrize("code", [WEB, WORKER], ids=["wsgi process", "celery worker process"])
def test_a_process_starts_ready_to_send_and_with_the_broker_down(code: str) -> None:
    # A port nothing listens on: a connection attempt would fail the start or hang it.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": "redis://127.0.0.1:9/0"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "True"]
