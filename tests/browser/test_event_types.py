"""The event types page in a real browser, as a marketer sees it: the company's own
types sent over the API, with their counts, when they were seen and the rules scoring
them; a Segment event name mapped to a type in the admin; and the rule form offering
the types seen."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.test import Client
from playwright.sync_api import expect

from intake.api_keys import api_key_issue
from scoring.models import EventType, SegmentEvent
from tests.factories import ScoringRuleFactory, built_in_event_types
from tests.routing.factories import PASSWORD, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_marketer_sees_every_type_and_maps_a_segment_name(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    base = str(live_server)
    marketer(username="carol")
    built_in_event_types()
    ScoringRuleFactory.create(name="Trials started", points=10, interaction_types=["trial_started"])
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='App').key}")
    events = [
        {"id": f"t-{n}", "type": "trial_started", "lead": {"email": f"u{n}@example.com"}, "occurred_at": when}
        for n, when in enumerate(["2026-11-03T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-09T10:00:00Z"])
    ]
    events.append({"id": "i-1", "type": "invited-teammate", "lead": {"email": "u1@example.com"}})
    response = api.post("/api/v1/events", json.dumps({"events": events}), content_type="application/json")
    assert response.json()["accepted"] == 4

    page = browser.new_context().new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Event types").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/eventtype/$"))

    rows = page.locator("#result_list tbody tr")
    trial = rows.filter(has_text="trial_started")
    assert trial.count() == 1
    cells = trial.inner_text()
    for shown in ["seen", "3", "Nov. 1, 2026", "Nov. 9, 2026", "Trials started"]:
        assert shown in cells, shown
    assert rows.first.inner_text().strip().startswith("trial_started")  # the most seen first
    assert "built in" in rows.filter(has_text="webinar attendance").inner_text()
    assert "invited-teammate" in page.locator("#result_list").inner_text()
    page.screenshot(path=str(tmp_path / "event-types.png"), full_page=True)

    # Name it and map Segment's "Trial Started" to it.
    trial.get_by_role("link", name="trial_started").click()
    page.fill("#id_label", "Trial started")
    page.fill("#id_segment_events-0-name", "Trial Started")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    row = page.locator("#result_list tbody tr").filter(has_text="trial_started").inner_text()
    assert "Trial started" in row
    assert "declared" in row
    assert "Trial Started" in row
    assert SegmentEvent.objects.get().event_type == EventType.objects.get(key="trial_started")

    # A rule picks from the types known, in their words.
    page.goto(f"{base}/admin/scoring/scoringrule/add/")
    offered = page.locator("#id_interaction_types").inner_text()
    assert "Trial started (trial_started)" in offered
    assert "invited-teammate" in offered
    assert "webinar attendance (webinar)" in offered
