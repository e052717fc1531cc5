"""The overview of a scorecard in Chromium: a marketer chooses a scorecard in the page's
filter form and sees that scorecard's groups, drawn and counted, with CSVs of the same."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.test_overview import BLANK, CELLS, a_reports_reader
from tests.reports.test_overview_scorecards import scored_leads
from tests.routing.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_marketer_chooses_a_scorecard_and_sees_its_groups(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    base = str(live_server)
    a_reports_reader("mia")
    scored_leads()
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/")
    page.wait_for_selector("body[data-charts=drawn]")
    groups = page.locator("table[data-section=groups]")
    assert [row[0] for row in groups.evaluate(CELLS)] == ["Score group", "Warm", "No group"]

    page.get_by_label("Scorecard").select_option(label="Toys")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{base}/reports/?scorecard=toys")
    page.wait_for_selector("body[data-charts=drawn]")
    page.screenshot(path=str(tmp_path / "overview-toys.png"), full_page=True)

    shown = groups.evaluate(CELLS)
    assert shown[1:] == [
        ["Warm for toys", "10", "1", "25.0%"],
        ["Hot for toys", "30", "1", "25.0%"],
        ["No group", "", "2", "50.0%"],
    ]
    assert page.get_by_label("Scorecard").input_value() == "toys"
    drawn, blank, _, _ = page.locator("canvas#chart-groups").evaluate(BLANK)
    assert drawn != blank, "the groups chart is blank"
    moves = page.locator("table[data-section=transitions]").evaluate(CELLS)
    assert {row[3] for row in moves[1:]} == {"Warm for toys", "Hot for toys"}
    # The page's CSV link keeps the scorecard: the file is the table shown.
    with page.expect_download() as download:
        page.locator("#section-groups a.download").click()
    assert download.value.suggested_filename.startswith("leadflow-overview-groups-toys-")
    path = download.value.path()
    assert list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8")))) == shown
    assert errors == []
