"""Segment's analytics-next and RudderStack's analytics-js, the browser bundles from the
npm registry, in Chromium on a company's page (another origin), sending to Leadflow
changed only in the host: their preflights pass, their settings come from Leadflow, and
the lead gets its traits and score. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.sdk.conftest import lead_scored

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.sdk.conftest import Website

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db", "rules")]

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _page(browser: Browser) -> tuple[Page, list[str], list[str]]:
    """A page whose requests anywhere but 127.0.0.1 are stopped (and listed), and
    every request it made, as METHOD URL."""
    page = browser.new_context().new_page()
    elsewhere: list[str] = []
    requests: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        requests.append(f"{route.request.method} {url}")
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", route)
    # Preflights never reach a route handler; the request event sees them.
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    return page, elsewhere, requests


SEGMENT_PAGE = """<!doctype html><html><head><title>Toys</title>
<script src="/node_modules/@segment/analytics-next/dist/umd/index.js"></script>
<script>
window.sent = (async () => {
  const { AnalyticsBrowser } = window.AnalyticsNext;
  const [analytics] = await AnalyticsBrowser.load(%(load)s);
  await analytics.page("Pricing", { url: "https://toys.example/pricing" });
  await analytics.identify("ada@example.com",
    { firstName: "Ada", title: "CTO", address: { city: "San José" }, employees: 12, plan: "family" });
  await analytics.track("Form Submitted", { list: "newsletter" });
  return "sent";
})().catch((error) => "failed: " + error);
</script></head><body>Toys</body></html>"""


@pytest.mark.parametrize("mode", ["settings from Leadflow", "inline settings, batching"])
def test_segment_analytics_next_sends_through_cors_and_the_short_paths(
    browser: Browser, live_server: Any, website: Website, browser_key: str, settings: Any, mode: str
) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = [website.origin]
    leadflow = live_server.url
    if mode == "settings from Leadflow":
        load: dict[str, Any] = {"writeKey": browser_key, "cdnURL": leadflow}
    else:
        host = urlsplit(leadflow).netloc
        load = {
            "writeKey": browser_key,
            "cdnSettings": {
                "integrations": {
                    "Segment.io": {
                        "apiKey": browser_key,
                        "apiHost": f"{host}/v1",
                        "protocol": "http",
                        "deliveryStrategy": {"strategy": "batching", "config": {"size": 3, "timeout": 200}},
                    }
                },
                "metrics": {"sampleRate": 0},
            },
        }
    website.pages["index.html"] = SEGMENT_PAGE % {"load": json.dumps(load)}
    page, elsewhere, requests = _page(browser)

    page.goto(f"{website.origin}/index.html")
    page.wait_for_function("window.sent !== undefined")
    result = page.evaluate("window.sent")

    assert elsewhere == []
    assert result == "sent", requests
    lead = lead_scored("ada@example.com", 2, pause=page.wait_for_timeout)
    assert (lead.first_name, lead.title, lead.city, lead.company_size) == ("Ada", "CTO", "San José", 12)
    assert lead.attributes == {"plan": "family"}
    assert (lead.fit_score, lead.engagement_score) == (8 + 5, 3 + 2)
    paths = {urlsplit(r.split(" ", 1)[1]).path for r in requests if r.startswith(("POST", "OPTIONS"))}
    if mode == "settings from Leadflow":
        assert any(r.startswith(f"GET {leadflow}/v1/projects/{browser_key}/settings") for r in requests)
        assert {"/v1/p", "/v1/i", "/v1/t"} <= paths
    else:
        assert "/v1/b" in paths


RUDDERSTACK_PAGE = """<!doctype html><html><head><title>Toys</title>
<script src="/node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js"></script>
<script>
const analytics = new window.rudderanalytics.RudderAnalytics();
window.loaded = false;
analytics.load(%(key)s, %(leadflow)s, Object.assign(%(options)s, { onLoaded: () => { window.loaded = true; } }));
analytics.page("Pricing", { url: "https://toys.example/pricing" });
analytics.identify("u-42", { email: "ada@example.com", firstName: "Ada", title: "CTO",
  address: { city: "San José" }, employees: 12, plan: "family" });
analytics.track("Form Submitted", { list: "newsletter" });
</script></head><body>Toys</body></html>"""


@pytest.mark.parametrize("transport", ["xhr", "beacon"])
def test_rudderstack_analytics_js_gets_its_config_from_leadflow_and_its_traits_arrive(
    browser: Browser, live_server: Any, website: Website, browser_key: str, settings: Any, transport: str
) -> None:
    settings.LEADFLOW_TRACKING_ORIGINS = [website.origin]
    leadflow = live_server.url
    options: dict[str, Any] = {"configUrl": leadflow, "logLevel": "ERROR", "polyfillIfRequired": False}
    if transport == "beacon":
        options |= {"useBeacon": True, "beaconQueueOptions": {"flushQueueInterval": 200}}
    website.pages["index.html"] = RUDDERSTACK_PAGE % {
        "key": json.dumps(browser_key),
        "leadflow": json.dumps(leadflow),
        "options": json.dumps(options),
    }
    page, elsewhere, requests = _page(browser)

    page.goto(f"{website.origin}/index.html")
    page.wait_for_function("window.loaded === true")
    lead = lead_scored("ada@example.com", 2, pause=page.wait_for_timeout)

    assert elsewhere == []
    assert any(r.startswith(f"GET {leadflow}/sourceConfig/") for r in requests), requests
    assert (lead.first_name, lead.title, lead.city, lead.company_size) == ("Ada", "CTO", "San José", 12)
    # A key in a page names the lead but gives it no external id: anyone could send one.
    assert lead.external_id is None
    assert lead.attributes == {"plan": "family"}
    assert (lead.fit_score, lead.engagement_score) == (8 + 5, 3 + 2)
    sent = [r for r in requests if r.startswith("POST")]
    if transport == "beacon":
        assert sent
        assert all(f"{leadflow}/beacon/v1/batch?writeKey=" in r for r in sent), sent
    else:
        assert {urlsplit(r.split(" ", 1)[1]).path for r in sent} >= {"/v1/page", "/v1/identify", "/v1/track"}
