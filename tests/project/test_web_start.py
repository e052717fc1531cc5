"""A web process builds Celery's message sender when it starts, not in the first request
that asks a worker for something (about 160 ms of processor time that request paid), and
without connecting to the broker."""

import os
import subprocess
import sys

from django.conf import settings

# In a fresh interpreter: what the tests' own process has imported says nothing.
WEB = """
import sys
import project.wsgi
from project.celery import app
print("celery.events" in sys.modules, "send_task_message" in vars(app.amqp))
"""


def test_a_web_process_starts_ready_to_send_and_with_the_broker_down() -> None:
    # A port nothing listens on: a connection attempt would fail the start or hang it.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": "redis://127.0.0.1:9/0"}
    done = subprocess.run(
        [sys.executable, "-c", WEB], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "True"]
