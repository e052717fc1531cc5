"""Pages with wide tables on a phone (375 px wide): the replay's comparison and the
fit-by-engagement grid scroll sideways inside their own boxes, the page itself fits
the screen, and the tables and the ROC chart are still there to read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scoring import model_file
from scoring.services import replay, versions
from tests.reports.closed_loop_data import closed_loop_history, reader
from tests.routing.factories import PASSWORD
from tests.scoring.test_replay import DRAFT, history
from tests.scoring.test_replay_admin import marketing_user

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

WIDTH = 375
# The page's own width against the screen's (no sideways scrolling of the page).
PAGE_WIDTHS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def on_a_phone(browser: Browser, base: str, login: str, username: str, then: str) -> Page:
    context = browser.new_context(viewport={"width": WIDTH, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(f"{base}{login}?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{then}")
    return page


def fits(page: Page) -> None:
    scroll_width, client_width = page.evaluate(PAGE_WIDTHS)
    assert scroll_width <= client_width, f"the page is {scroll_width} px wide on a {client_width} px screen"


def test_a_replay_fits_a_phone(browser: Browser, live_server: object) -> None:
    history()
    draft = versions.draft_import(spec=model_file.load_data(DRAFT), user=None, name="forms matter more")
    run = replay.replay_start(version=draft, background=False)
    replay.replay_run(run_id=run.pk)
    user = marketing_user()

    page = on_a_phone(
        browser, str(live_server), "/admin/login/", user.username, f"/admin/scoring/replayrun/{run.pk}/change/"
    )

    page.locator("#replay-groups").wait_for()
    fits(page)
    for table in ["#replay-groups", "#replay-moves", "#replay-conversion", "#replay-rules", "#replay-sample"]:
        assert page.locator(table).is_visible(), table
    chart = page.locator("#replay-roc-box").bounding_box()
    assert chart is not None
    assert 200 <= chart["width"] <= WIDTH, chart
    # The widest table scrolls in its own box: what is past the edge is reached by scrolling it.
    conversion = page.locator("#replay-conversion")
    assert conversion.evaluate("(t) => t.scrollWidth > t.clientWidth && getComputedStyle(t).overflowX === 'auto'")


def test_fit_by_engagement_fits_a_phone(browser: Browser, live_server: object) -> None:
    closed_loop_history()
    reader(username="mara")

    page = on_a_phone(browser, str(live_server), "/accounts/login/", "mara", "/reports/fit-engagement/")

    grid = page.locator("table.heat-grid")
    assert grid.is_visible()
    fits(page)
    box = page.locator(".table-wrap:has(table.heat-grid)")
    assert box.evaluate("(b) => b.scrollWidth > b.clientWidth && getComputedStyle(b).overflowX === 'auto'")
