"""The analytics SDKs companies already run, installed from the npm registry (pinned in
package.json and package-lock.json here; CI runs ``npm ci``) and from PyPI (the dev
extras), sending to Leadflow. Everything stays on 127.0.0.1: the browser bundles are
served by a local static server standing for the company's website, and the SDKs get
their settings from Leadflow, never from their vendors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import Interaction, Lead
from tests.browser.conftest import browser as browser  # Chromium, for the browser SDKs' tests here
from tests.conftest import IN_CI
from tests.factories import ScoringRuleFactory, fit_rule

SDK_DIR = Path(__file__).resolve().parent
NODE_MODULES = SDK_DIR / "node_modules"


def need_node_modules() -> Path:
    """The installed packages; the test is skipped without them, except in CI, where it fails."""
    if not (NODE_MODULES / ".package-lock.json").exists():
        reason = f"the SDKs are not installed: run `npm ci` in {SDK_DIR}"
        if IN_CI:
            pytest.fail(f"CI must run this test, but {reason}")
        pytest.skip(reason)
    return NODE_MODULES


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Website:
    """A company's website on 127.0.0.1 (an origin other than Leadflow's): it serves
    ``pages`` by name and the SDKs' files under ``/node_modules/``."""

    origin: str
    pages: dict[str, str]


@pytest.fixture
def website(tmp_path: Path) -> Iterator[Website]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "node_modules").symlink_to(need_node_modules())
    pages: dict[str, str] = {}

    class Handler(_Quiet):
        def do_GET(self) -> None:
            name = self.path.lstrip("/").partition("?")[0]
            if name in pages:
                body = pages[name].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Website(f"http://127.0.0.1:{server.server_address[1]}", pages)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def rules() -> None:
    """Fit from a trait, engagement from a page, a form and a company's own event."""
    fit_rule(8, "city", "equals", "San José", name="Lives in San José")
    fit_rule(5, "title", "equals", "CTO", name="Decides")
    ScoringRuleFactory.create(name="Forms", points=2, interaction_types=["form_submit"])
    pricing = ScoringRuleFactory.create(name="Pricing page", points=3, interaction_types=["page_view"])
    pricing.conditions.create(position=0, field="url", operator="matches", value="*/pricing*")


@pytest.fixture
def browser_key(db: None) -> str:
    """A write-only key used in web pages, as a browser must get (rate-limited)."""
    return api_key_issue(name="Website", public=True).key


@pytest.fixture
def server_key(db: None) -> str:
    """A write-only key kept on a server (not used in web pages): a server's SDK names
    leads by ``userId`` as their external id."""
    return api_key_issue(name="Backend").key


def lead_scored(email: str, interactions: int, *, pause: Callable[[float], object] | None = None) -> Lead:
    """The lead ``email`` once its identify and ``interactions`` interactions have
    arrived (the SDKs send in the background), scored. A browser test passes its page's
    ``wait_for_timeout`` as ``pause`` (milliseconds): Playwright serves the page's routes
    only while it waits, not while this thread sleeps."""

    def arrived() -> bool:
        try:
            return (
                Interaction.objects.count() >= interactions
                and Lead.objects.filter(email=email).exclude(first_name="").exists()
            )
        except OperationalError:
            # SQLite's in-memory test database locks a whole table while the live server
            # writes to it (a read then fails at once, it does not wait): not yet.
            if connection.vendor != "sqlite":
                raise
            return False

    deadline = time.monotonic() + 60
    while not arrived():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after 60s waiting for the identify and {interactions} interactions")
        if pause is not None:
            pause(200)
        else:
            time.sleep(0.2)
    services.interactions_score_pending()
    return Lead.objects.get(email=email)
