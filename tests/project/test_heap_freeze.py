"""Long-lived processes put what they hold after start-up out of the cyclic garbage
collector's walks (gc.freeze): it is never freed, and walking it at every full collection
took half of a scoring worker's processor time and a third of a rescore's."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

# Each in a fresh interpreter: freezing is for the whole process, and the tests' own must not change.
WORKER = """
import gc
import django
from project.celery import app
from celery.signals import worker_process_init
django.setup()
before = gc.get_freeze_count()
worker_process_init.send(sender=None)  # what Celery sends in each new pool process
print(before, gc.get_freeze_count())
"""

WEB = """
import gc
before = gc.get_freeze_count()
import project.wsgi
print(before, gc.get_freeze_count())
"""


@pytest.mark.parametrize("code", [WORKER, WEB], ids=["celery worker process", "wsgi process"])
def test_a_long_lived_process_freezes_what_it_holds_after_start_up(code: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after = (int(n) for n in done.stdout.split()[-2:])
    # Nothing frozen before; Django, the apps and (for a worker) Celery after: many thousands of objects.
    assert before == 0
    assert after > 50_000
