"""Settings from the environment: a variable set to nothing counts as not set, so
``DATABASE_URL=`` in a shell or a compose file starts the embedded defaults instead of
failing on an empty URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_blank_variables_fall_back_to_the_embedded_defaults(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": "",
        "CELERY_BROKER_URL": "  ",
        "LEADFLOW_LANGUAGE": "",
        "LEADFLOW_VAR_DIR": str(tmp_path),
    }
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.LANGUAGE_CODE]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["django.db.backends.sqlite3", "filesystem://", "en"]
    assert (tmp_path / "broker" / "queue").is_dir()  # the file broker's folders are made
