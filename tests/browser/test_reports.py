"""The closed-loop reports in a real browser: a marketer logs in, goes from the nav to
the list of reports, opens two of them, sees their charts drawn under the
Content-Security-Policy, and the figures on the page are the CSV's."""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

import pytest

from tests.reports.closed_loop_data import closed_loop_history, reader
from tests.routing.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# Whether a canvas has any pixel that is not transparent: Chart.js drew on it.
CANVAS_DRAWN = """
(canvas) => {
  const { width, height } = canvas;
  if (!width || !height) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}
"""

PAGE_ROWS = """
() => [...document.querySelectorAll("#report-table tbody tr")].map(
  (row) => [...row.querySelectorAll("td")].map((cell) => cell.textContent)
)
"""


# A figure as an English page groups it ("1,000.00"); the CSV keeps one plain form ("1000.00").
GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?%?")


def plain(rows: list[list[str]]) -> list[list[str]]:
    """The page's rows as the CSV writes them: figures without the thousands' commas."""
    return [[cell.replace(",", "") if GROUPED.fullmatch(cell) else cell for cell in row] for row in rows]


def chart_drawn(page: Page, *, bars: int) -> None:
    """Wait until the chart has pixels on its canvas, drawn from ``bars`` labels."""
    page.wait_for_function(f"({CANVAS_DRAWN})(document.getElementById('report-chart-canvas'))", timeout=10_000)
    assert page.locator("#report-chart-canvas").get_attribute("data-drawn") == str(bars)


def csv_of(page: Page, base: str) -> list[list[str]]:
    """The report's CSV, as its link on the page gives it, fetched with the page's own login."""
    href = page.get_attribute("#csv-link", "href")
    assert href
    assert href.startswith("/")
    response = page.request.get(f"{base}{href}")
    assert response.ok
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.text())))


def test_a_marketer_reads_two_reports_with_charts_and_their_csv(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    closed_loop_history()
    reader(username="mara")
    page = browser.new_context().new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{base}/accounts/login/?next=/reports/all/")
    page.fill("#id_username", "mara")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/all/")
    assert page.locator("nav.topnav a", has_text="Reports").count() == 1

    # Conversion by score group: a bar per group, and the table's rows are the CSV's.
    page.get_by_role("link", name="Conversion by score group").click()
    page.wait_for_url(f"{base}/reports/conversion-by-group/")
    chart_drawn(page, bars=3)
    rows = page.evaluate(PAGE_ROWS)
    assert rows[0] == ["Hot", "40 or more", "2", "1", "50.0%"]
    header, *exported = csv_of(page, base)
    assert header == page.locator("#report-table thead th").all_text_contents()
    assert exported == plain(rows)

    # The feedback loop, filtered to the North team through the form.
    page.goto(f"{base}/reports/feedback-loop/")
    page.select_option("select[name=team]", "north")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/reports/feedback-loop/\?.*team=north"))
    chart_drawn(page, bars=2)
    rows = page.evaluate(PAGE_ROWS)
    assert [row[:2] for row in rows] == [["2026-11", "3"], ["2026-12", "1"]]
    header, *exported = csv_of(page, base)
    assert exported == plain(rows)

    # A bad date is named on the page; nothing else breaks.
    page.goto(f"{base}/reports/feedback-loop/?start=2026-02-30")
    assert "is not a date" in page.locator("[role=alert]").inner_text()
    assert page.locator("#report-table").count() == 0
    assert violations == []


def test_a_marketer_reads_what_the_campaigns_return_by_last_touch(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    closed_loop_history()
    reader(username="mara")
    page = browser.new_context().new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{base}/accounts/login/?next=/reports/all/")
    page.fill("#id_username", "mara")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/all/")
    page.get_by_role("link", name="Campaigns and what they return").click()
    page.wait_for_url(f"{base}/reports/campaigns/")
    chart_drawn(page, bars=3)  # revenue against cost, per defined campaign

    page.select_option("select[name=attribution]", "last")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/reports/campaigns/\?.*attribution=last"))
    chart_drawn(page, bars=3)
    rows = page.evaluate(PAGE_ROWS)
    spring = next(row for row in rows if row[0] == "spring")
    assert spring[3:] == ["2", "2", "2", "1", "1", "500.00", "1,000.00", "500.00", "-50.0%"]
    assert [row[:2] for row in rows if row[1] == "not defined"] == [["fb-promo", "not defined"]]
    header, *exported = csv_of(page, base)
    assert header == page.locator("#report-table thead th").all_text_contents()
    assert header[5] == "MQLs (last touch)"
    assert exported == plain(rows)
    assert violations == []
