"""Settings of the test run: production's (DEBUG off), with a secret key of its own
and HTTPS not enforced.

The key is made afresh for each run and put in the environment, so the Celery
workers and commands the tests start sign and check with the same key; a key
given in DJANGO_SECRET_KEY is used instead. The test client and the live server
speak plain HTTP, so HTTPS enforcement is off here; tests/project/ checks the
production configuration with it on.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ["LEADFLOW_HTTPS_ONLY"] = "false"

from project.settings import *  # noqa: F403
