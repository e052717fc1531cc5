"""A lead's whole story in a real browser: a marketer opens the lead in the admin and
reads its timeline, every kind of event in it, and pages to older events."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.factories import InteractionFactory
from tests.routing.factories import PASSWORD, marketer
from tests.test_lead_timeline import START, a_story

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_marketer_reads_a_lead_story_on_its_admin_page(browser: Browser, live_server: object, tmp_path: Path) -> None:
    base = str(live_server)
    marketer(username="carol")
    story = a_story()
    for n in range(60):  # enough for a second page
        InteractionFactory.create(lead=story.lead, type="page_view", occurred_at=START - timedelta(days=1, minutes=n))

    page = browser.new_context().new_page()
    page.goto(f"{base}/admin/login/?next=/admin/scoring/lead/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="ada@example.com").click()

    timeline = page.locator("#timeline")
    timeline.wait_for()
    assert page.locator("#id_email").input_value() == "ada@example.com"  # the fields first, editable
    rows = timeline.locator("tbody tr")
    assert rows.count() == 50
    kinds = set(timeline.locator("td.tl-kind").all_inner_texts())
    assert {"Interaction", "Score", "Group", "Stage", "Nurture", "Email", "Routing", "Sales queue", "Sales"} <= kinds
    text = timeline.inner_text()
    for shown in [
        "url: https://shop.example/pricing",
        "campaign: spring-sale",
        "form: demo-request",
        "Asked for a demo",
        "Enrolled in “Welcome”",
        "Rule “Tag VIPs”: add a tag",
        "Entered North's queue",
        "Budget: 20k approved",
        "Won, amount 12,500.00",
    ]:
        assert shown in text, shown
    page.screenshot(path=str(tmp_path / "lead-timeline.png"), full_page=True)

    # Older events on the next page; and back.
    timeline.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r".*[?]older=.*"))
    page.wait_for_load_state("load")
    timeline = page.locator("#timeline")
    older = timeline.locator("tbody tr")
    older.first.wait_for()
    assert 0 < older.count() <= 50
    assert set(timeline.locator("td.tl-kind").all_inner_texts()) == {"Interaction"}
    timeline.get_by_role("link", name="← Newer").click()
    page.wait_for_url(re.compile(r".*[?]newer=.*"))
    page.wait_for_load_state("load")
    assert "Won, amount 12,500.00" in page.locator("#timeline").inner_text()
