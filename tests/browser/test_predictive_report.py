"""The predictive report in Chromium: a marketer opens it, every chart is drawn by the
locally served charting library (the CSP allows no inline script and no CDN), and the
model's quality reads as words and numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission

from scoring.services import predictive
from tests.routing.factories import PASSWORD, group, marketer
from tests.scoring.test_predictive_service import history

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

BLANK = """canvas => {
  const blank = document.createElement("canvas");
  blank.width = canvas.width;
  blank.height = canvas.height;
  return [canvas.toDataURL(), blank.toDataURL(), canvas.width, canvas.height];
}"""


def test_a_marketer_reads_the_predictive_report_with_its_charts_drawn(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    reading = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    group("Marketing").permissions.add(reading)
    marketer(username="mia")
    history()
    version = predictive.model_train(excluded=["after_call"])

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
    page.goto(f"{base}/accounts/login/?next=/reports/predictive/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/reports/predictive/")
    page.wait_for_selector("body[data-charts=drawn]")

    assert page.get_by_role("heading", name="Predictive scoring").is_visible()
    assert page.get_by_text(f"Version {version.number}").is_visible()
    assert page.locator("[data-metric=cv_auc]").inner_text() == f"{version.metrics['cv_auc']:.3f}"
    for key in ("importance", "calibration", "distribution"):
        drawn, blank, width, height = page.locator(f"canvas#chart-{key}").evaluate(BLANK)
        assert width > 0, key
        assert height > 0, key
        assert drawn != blank, f"the {key} chart is blank"
    assert errors == []
