"""Settings of the test run: production's (DEBUG off), with a secret key of its own
and HTTPS not enforced.

The key is made afresh for each run and put in the environment, so the Celery
workers and commands the tests start sign and check with the same key; a key
given in DJANGO_SECRET_KEY is used instead. The test client and the live server
speak plain HTTP, so HTTPS enforcement is off here; tests/project/ checks the
production configuration with it on.

Spread over processes (pytest-xdist), each process has a test database of its own
(pytest-django names it after the process) and a Redis database of its own for the
broker and the cache: the Celery workers one process starts take only its tasks, and
it purges only its own queue.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ["LEADFLOW_HTTPS_ONLY"] = "false"


def _own_redis_database(url: str, worker: str) -> str:
    """``redis://host:port/N`` for xdist process ``gwK``: database N - K (mod 16)."""
    scheme, _, rest = url.partition("://")
    where, _, path = rest.partition("/")
    database, mark, query = path.partition("?")
    number = (int(database or 0) - int(worker.removeprefix("gw"))) % 16
    return f"{scheme}://{where}/{number}{mark}{query}"


# Once per process tree: the Celery workers and commands a test starts inherit the
# environment, its URL already moved (and PYTEST_XDIST_WORKER with it).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_broker = os.environ.get("CELERY_BROKER_URL", "")
if _worker.startswith("gw") and _broker.startswith("redis://") and os.environ.get("LEADFLOW_TEST_REDIS_OF") != _worker:
    os.environ["CELERY_BROKER_URL"] = _own_redis_database(_broker, _worker)
    os.environ["LEADFLOW_TEST_REDIS_OF"] = _worker

from project.settings import *  # noqa: E402, F403  (after the environment above is set)

# The reports' replica (LEADFLOW_REPORTS_DATABASE_URL) on PostgreSQL: a second connection
# to the test database, as a replica is a second server holding the same rows. Routing to
# it stays off here: most tests run inside a transaction their own connection alone sees,
# so a second connection would read an empty database. The tests about the replica
# (tests/reports/test_replica.py) turn it on with their rows committed.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES.setdefault("reports", {**DATABASES["default"]})  # noqa: F405
    DATABASES["reports"]["TEST"] = {"MIRROR": "default"}  # noqa: F405
LEADFLOW_REPORTS_DATABASE = None
DATABASE_ROUTERS = []

# Passwords hashed in a blink: each test user's password and each login would otherwise
# take PBKDF2's million rounds (a quarter of a second here), hundreds of times a run.
# What is tested is who may log in, never the hash's strength.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
