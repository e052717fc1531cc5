"""A person sent to a page their account may not open reads why and where to go, in
their language, on a page that fits a phone: the administrator the first run makes, who
is no sales rep, opening the sales queue; a rep opening the reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from tests.routing.factories import PASSWORD, RepFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_the_administrator_opening_the_sales_queue_reads_why_not_in_spanish(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page = browser.new_context(locale="es-ES", viewport={"width": 375, "height": 700}).new_page()
    page.goto(f"{base}/accounts/login/?next=/sales/")
    page.get_by_label("Usuario").fill("admin")
    page.get_by_label("Contraseña").fill(PASSWORD)
    response = None
    with page.expect_response(f"{base}/sales/") as answer:
        page.get_by_role("button", name="Iniciar sesión").click()
    response = answer.value
    assert response.status == 403
    shown = page.locator("body").inner_text()
    assert page.get_by_role("heading", name="No tienes acceso a esta página").is_visible()
    assert "No eres vendedor de ningún equipo." in shown
    assert "Forbidden" not in shown
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_role("link", name="Ir a tu página de inicio").click()
    page.wait_for_url(f"{base}/reports/")


def test_a_rep_opening_the_reports_reads_why_not(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    rep = RepFactory.create(user__username="rosa")
    rep.user.set_password(PASSWORD)
    rep.user.save()
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{base}/accounts/login/?next=/reports/")
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_response(f"{base}/reports/") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 403
    assert page.get_by_role("heading", name="You have no access to this page").is_visible()
    page.get_by_role("link", name="Go to your start page").click()
    page.wait_for_url(f"{base}/sales/")
