"""Under the Content-Security-Policy, in Chromium: the sales login and queue, the admin
(login, lists, forms with their widgets, an email preview), the API docs and the
tracking snippet, pixel and click work, and the browser reports no violation."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from nurture import links
from nurture.models import Step
from scoring.models import Interaction
from tests.conftest import wait_for
from tests.factories import LeadFactory
from tests.nurture.factories import StepFactory
from tests.routing.factories import PASSWORD, QueueItemFactory, RepFactory, TeamFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# Chromium reports every blocked script, style, image, frame or form target on the
# console; the page's own securitypolicyviolation event is reported there too.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content-Security-Policy violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def watched(browser: Browser) -> tuple[Page, list[str]]:
    """A page in a context of its own, and the CSP violations it reports."""
    page = browser.new_context().new_page()
    page.add_init_script(REPORT_VIOLATIONS)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content-Security-Policy" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )
    return page, violations


def test_sales_login_and_queue_work_under_the_policy(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    team = TeamFactory.create(name="North")
    RepFactory.create(user__username="alice", team=team)
    item = QueueItemFactory.create(lead=LeadFactory.create(first_name="Ada", last_name="Lovelace"), team=team)
    page, violations = watched(browser)

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/sales/")
    assert "sales.css" in page.content()
    assert page.locator("header.topbar").evaluate("e => getComputedStyle(e).display") != "inline"  # styled
    page.locator(f"#item-{item.pk}").get_by_role("button", name="Claim").click()
    expect(page.locator(".messages")).to_contain_text("Claimed Ada Lovelace")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/accounts/login/$"))
    assert violations == []


def test_the_admin_works_under_the_policy(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    LeadFactory.create(email="ana@example.com")
    step: Step = StepFactory.create(
        html_template='<p style="color:#333">Hi {{ lead.first_name }}</p><img src="https://toys.example/logo.png">'
    )
    page, violations = watched(browser)

    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/admin/scoring/lead/")
    page.locator("#action-toggle").check()  # the actions script runs
    assert page.locator(".action-counter").inner_text().startswith("1 of 1")

    page.goto(f"{base}/admin/scoring/lead/add/")
    assert page.locator("#id_email").is_visible()
    page.goto(f"{base}/admin/routing/routingrule/add/")
    page.locator(".add-row a").first.click()  # the inlines script adds a row
    page.goto(f"{base}/admin/nurture/sequence/{step.sequence_id}/change/")
    page.goto(f"{base}/admin/nurture/sequence/{step.sequence_id}/preview/")
    assert page.locator("iframe.preview-html").count() == 1
    page.goto(f"{base}/admin/django_celery_beat/periodictask/")
    assert violations == []


def test_the_api_docs_work_under_the_policy(browser: Browser, live_server: object) -> None:
    page, violations = watched(browser)
    page.goto(f"{live_server}/api/v1/docs")
    # Swagger UI is a script: its title is only there if the scripts ran and read the schema.
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Leadflow API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 0
    assert violations == []


class Shop:
    """Another site, on its own origin (127.0.0.1 and a port of its own; Leadflow's live
    server is at localhost), whose pages embed Leadflow's snippet and images."""

    def __init__(self, body: bytes) -> None:
        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_tracking_serves_other_sites_under_the_policy(browser: Browser, live_server: object) -> None:
    """A shop's page embeds the snippet and an email's open pixel; a click in an email
    goes through Leadflow to the shop."""
    base = str(live_server)
    lead = LeadFactory.create(email="ana@example.com")
    pixel = links.open_url(lead_id=lead.pk, campaign="spring")
    shop = Shop(
        f'<html><head><title>Toy shop</title><script async src="{base}/t/lf.js"></script></head>'
        f'<body><h1>Toys</h1><img id="pixel" src="{base}{pixel}"></body></html>'.encode()
    )
    try:
        click = links.click_url(lead_id=lead.pk, url=f"{shop.url}/offer", campaign="spring")
        page, violations = watched(browser)
        page.goto(f"{shop.url}/toys")
        page.wait_for_function("window.leadflow && document.getElementById('pixel').complete")
        assert page.evaluate("document.getElementById('pixel').naturalWidth") == 1  # the GIF, not an error
        page.goto(f"{base}{click}")  # leaving the shop's page sends its page view
        assert page.url == f"{shop.url}/offer"
    finally:
        shop.close()

    for kind in ("email_open", "email_click", "page_view"):
        wait_for(
            lambda kind=kind: Interaction.objects.filter(type=kind).exists(),  # type: ignore[misc]
            message=f"a {kind} interaction",
        )
    assert Interaction.objects.get(type="page_view").properties["url"] == f"{shop.url}/toys"
    assert violations == []
