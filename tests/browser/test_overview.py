"""The overview in Chromium: a marketer logs in and lands on it, every chart is drawn
(its canvas is no longer blank), and every table shows the numbers of its CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission

from reports.models import MqlTarget
from tests.factories import LeadFactory
from tests.reports.dataset import overview_data
from tests.routing.factories import PASSWORD, group, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

CHARTS = ("groups", "trend", "funnel", "fit", "engagement", "queues", "mqls")
TABLES = (*CHARTS, "transitions")

# A canvas's picture, and the picture of a blank canvas of the same size: equal until drawn on.
BLANK = """canvas => {
  const blank = document.createElement("canvas");
  blank.width = canvas.width;
  blank.height = canvas.height;
  return [canvas.toDataURL(), blank.toDataURL(), canvas.width, canvas.height];
}"""

# The cells of a table as a person reads them (a closed <details> still holds them).
CELLS = """table => Array.from(table.querySelectorAll("tr:not(.empty)")).map(
  row => Array.from(row.querySelectorAll("th, td")).map(cell => cell.textContent.trim()))"""


def a_reports_reader(username: str) -> None:
    """A marketer who reads the reports. A transactional test's flush took the migrations'
    grants: Marketing is given its reports again."""
    reading = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    group("Marketing").permissions.add(reading)
    marketer(username=username)


def test_a_marketer_lands_on_the_overview_and_every_chart_is_drawn(
    browser: Browser, live_server: object, tmp_path: Path
) -> None:
    base = str(live_server)
    a_reports_reader("mia")
    data = overview_data()
    MqlTarget.objects.create(month=data["today"].replace(day=1), target=3)
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/")
    page.wait_for_selector("body[data-charts=drawn]")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    for key in CHARTS:
        drawn, blank, width, height = page.locator(f"canvas#chart-{key}").evaluate(BLANK)
        assert width > 0, key
        assert height > 0, key
        assert drawn != blank, f"the {key} chart is blank"

    for key in TABLES:
        shown = page.locator(f"table[data-section={key}]").evaluate(CELLS)
        response = page.request.get(f"{base}/reports/?format=csv&section={key}")
        assert response.status == 200
        assert list(csv.reader(io.StringIO(response.text()))) == shown, key
        assert len(shown) > 1, f"the {key} table is empty"
    # The link on the page downloads the same file.
    with page.expect_download() as download:
        page.locator("#section-funnel a.download").click()
    assert download.value.suggested_filename.startswith("leadflow-overview-funnel-")
    assert errors == []


def test_a_new_installation_s_overview_shows_first_steps_until_a_lead_comes_in(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    a_reports_reader("noa")
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "noa")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/")

    steps = page.get_by_role("region", name="No leads yet: first steps")
    assert steps.is_visible()
    # It sits above the figures it explains, where a person looks first.
    assert steps.bounding_box()["y"] < page.locator("#section-groups").bounding_box()["y"]  # type: ignore[index]
    assert page.get_by_role("link", name="API documentation").get_attribute("href") == "/api/v1/docs"
    steps.get_by_role("link", name="Import leads from a CSV file").click()
    page.wait_for_url(f"{base}/admin/intake/leadimport/add/")
    assert page.locator("input[type=file][name=csv_file]").is_visible()

    LeadFactory.create()
    page.goto(f"{base}/reports/")
    assert page.get_by_role("heading", name="Leads in each score group now").is_visible()
    assert page.get_by_role("region", name="No leads yet: first steps").count() == 0
    assert page.get_by_text("first steps").count() == 0
