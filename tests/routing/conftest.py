"""Routing fixtures: real HTTP servers on loopback that receive webhooks (one that
answers, one that drips its answer a byte at a time), and the real SMTP server of
the nurture tests for notifications.

Webhooks may not call loopback addresses unless LEADFLOW_WEBHOOK_ALLOWED_NETWORKS
allows them, so these tests allow 127.0.0.0/8, in the settings and in the
environment (Celery workers started by a test read theirs from it); the tests of
the refusals set the allowance back to nothing."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.test import override_settings

from tests.nurture.conftest import smtp, smtp_sink  # noqa: F401  (fixtures, shared)

LOOPBACK = "127.0.0.0/8"


@pytest.fixture(autouse=True, scope="package")
def loopback_webhooks_allowed() -> Iterator[None]:
    # Package scope (not the function-scoped settings fixture): the hypothesis tests here
    # may not use function-scoped fixtures.
    with (
        override_settings(LEADFLOW_WEBHOOK_ALLOWED_NETWORKS=[LOOPBACK]),
        mock.patch.dict(os.environ, {"LEADFLOW_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK}),
    ):
        yield


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered


@dataclass
class WebhookReceiver:
    """What a CRM would run: it keeps every request and answers with the next
    status of ``statuses`` (then 200 once they are used up); a 3xx sends to ``location``."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    location: str = ""

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.statuses.extend(statuses)

    def _next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def receiver_on(host: str = "127.0.0.1") -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver._next_status()
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, status))
            reply = b"ok" if status < 300 else b"try again later"
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://{host}:{server.server_address[1]}/hooks/leadflow"
    with serving(server):
        yield receiver


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with receiver_on() as receiver:
        yield receiver


@pytest.fixture
def other_receiver() -> Iterator[WebhookReceiver]:
    """A second service on loopback (say, something inside the company's network)."""
    with receiver_on() as receiver:
        yield receiver


@dataclass
class DrippingReceiver:
    """A receiver that reads the request, then answers one byte at a time, every
    ``every`` seconds, without ever finishing its headers (for at most ``give_up_after``
    bytes, so a sender without a deadline still ends some day)."""

    url: str = ""
    every: float = 0.25
    give_up_after: int = 240
    requests: list[bytes] = field(default_factory=list)
    called: threading.Event = field(default_factory=threading.Event)
    # Set when the sender hung up on the dribble (and not because the receiver gave up).
    hung_up: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def dripping_receiver() -> Iterator[DrippingReceiver]:
    receiver = DrippingReceiver()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0
            )
            receiver.requests.append(head + self.rfile.read(length))
            receiver.called.set()
            try:
                self.connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(receiver.give_up_after):
                    if receiver.stop.wait(receiver.every):
                        return
                    self.connection.sendall(b"a")
            except OSError:
                receiver.hung_up.set()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/slow"
    with serving(server):
        try:
            yield receiver
        finally:
            receiver.stop.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
