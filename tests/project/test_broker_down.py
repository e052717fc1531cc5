"""A dead broker costs the API one short connection attempt, not seconds: the request
stores the events, answers 202 and leaves scoring to the minute sweep; publishing
works again as soon as the broker is back."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from intake.api_keys import api_key_issue
from scoring.models import Interaction

ROOT = Path(__file__).resolve().parents[2]
FALLBACK = "the periodic sweep will score pending interactions"


class LoopbackBroker:
    """A TCP server on loopback standing in for the broker. ``mode`` is what it does with
    each connection it accepts: ``close`` it at once (a broker going away), keep it
    ``silent`` (one that accepts but never answers), or ``forward`` it to ``upstream``
    (the real Redis: the broker is back). ``accepted`` counts connections."""

    def __init__(self, mode: str, upstream: tuple[str, int] | None = None) -> None:
        self.mode = mode
        self.upstream = upstream
        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            if self.mode == "close":
                client.close()
            elif self.mode == "silent":
                self._open.append(client)
            else:
                assert self.upstream is not None
                upstream = socket.create_connection(self.upstream)
                self._open += [client, upstream]
                for source, target in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._server.close()
        for sock in self._open:
            sock.close()


@pytest.fixture
def broker() -> Iterator[LoopbackBroker]:
    server = LoopbackBroker("close")
    yield server
    server.close()


def test_a_broker_that_accepts_but_never_answers_costs_one_connection_per_publish(broker: LoopbackBroker) -> None:
    """Settings as production reads them (a process of its own) with the broker at a server
    that never answers: each publish connects once, gives up, and logs the fallback."""
    broker.mode = "silent"
    env = {**os.environ, "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0"}
    code = "from scoring.services import scoring_enqueue\nscoring_enqueue()\nscoring_enqueue()\nprint('answered')"
    # The timeout only keeps a publish that wrongly waits for ever from hanging the run.
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "answered" in result.stdout
    assert result.stderr.count(FALLBACK) == 2
    assert broker.accepted == 2  # one attempt each, no retries


def use_broker(url: str) -> None:
    """Point this process's Celery app at ``url``, where Celery reads it first (the
    environment) and in its settings, dropping pooled connections and producers: both
    are made again on next use. (Not app.close(): it also unregisters the app, which
    then knows no task imported after it.)"""
    from project.celery import app

    pool = getattr(app, "_pool", None)
    if pool is not None:
        pool.force_close_all()
    setattr(app, "_pool", None)  # noqa: B010 (private: rebuilt on next use)
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010 (private: rebuilt on next use)
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.update(broker_url=url)


@pytest.fixture
def app_broker(redis_broker: str, broker: LoopbackBroker) -> Iterator[tuple[LoopbackBroker, str]]:
    """Point the web process's Celery app at ``broker`` (forwarding to the test run's Redis
    when it is up); the settings' transport options stay as they are."""
    real = redis.connection.parse_url(redis_broker)
    broker.upstream = real.get("host", "127.0.0.1"), int(real.get("port", 6379))
    use_broker(f"redis://127.0.0.1:{broker.port}/{real.get('db', 0)}")
    try:
        yield broker, redis_broker
    finally:
        use_broker(redis_broker)


@pytest.mark.django_db
def test_events_are_stored_and_answered_while_the_broker_is_down_and_enqueued_once_it_is_back(
    app_broker: tuple[LoopbackBroker, str],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, redis_url = app_broker
    queue = redis.Redis.from_url(redis_url)
    queue.delete("leadflow")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='Website').key}")

    def post(event_id: str) -> int:
        body = {"id": event_id, "type": "email_open", "lead": {"email": "ana@example.com"}}
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/v1/events", json.dumps(body), content_type="application/json")
        return response.status_code

    with caplog.at_level(logging.WARNING, logger="scoring.services"):
        assert post("down-1") == 202
    assert Interaction.objects.filter(idempotency_key="down-1").exists()
    assert broker.accepted == 1  # one connection attempt, no publish retries
    assert FALLBACK in caplog.text
    assert queue.llen("leadflow") == 0

    broker.mode = "forward"  # the broker is back: the same process publishes again
    caplog.clear()
    assert post("back-1") == 202
    assert FALLBACK not in caplog.text
    assert queue.llen("leadflow") == 1
    queue.delete("leadflow")
