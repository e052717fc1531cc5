"""Routing fixtures: a real HTTP server on loopback that receives webhooks, and
the real SMTP server of the nurture tests for notifications."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.nurture.conftest import smtp, smtp_sink  # noqa: F401  (fixtures, shared)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered


@dataclass
class WebhookReceiver:
    """What a CRM would run: it keeps every request and answers with the next
    status of ``statuses`` (then 200 once they are used up)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.statuses.extend(statuses)

    def _next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver._next_status()
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, status))
            reply = b"ok" if status < 300 else b"try again later"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leadflow"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
