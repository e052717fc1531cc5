"""A chart's axis writes its figures as the page's tables do: in Spanish a thousand and
more reads 1.200 in both, though the browser's own Spanish groups only from 10.000."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission

from scoring.models import Lead
from tests.browser.signing_in import site_sign_in_in_spanish
from tests.routing.factories import group, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# The labels a person reads along a chart's value axis, bottom to top.
AXIS = "(canvas, axis) => Chart.getChart(canvas).scales[axis].ticks.map(tick => tick.label)"


def test_a_spanish_marketer_reads_the_same_thousands_on_a_chart_and_in_its_table(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    reading = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    group("Marketing").permissions.add(reading)
    marketer(username="lucia")
    Lead.objects.bulk_create(Lead(email=f"lead{n}@example.com") for n in range(1200))

    page = browser.new_context(locale="es-ES").new_page()
    site_sign_in_in_spanish(page, base, "lucia", lands_on="/reports/")
    page.wait_for_selector("body[data-charts=drawn]")

    assert "1.200" in page.locator("#section-groups table").inner_text()
    ticks = page.locator("canvas#chart-groups").evaluate(AXIS, "y")
    assert ticks[-1] == "1.200", ticks
    assert "1000" not in ticks, ticks
    assert "1.000" in ticks, ticks
    # The funnel lies on its side: its figures run along the bottom.
    ticks = page.locator("canvas#chart-funnel").evaluate(AXIS, "x")
    assert "1.200" in ticks, ticks
