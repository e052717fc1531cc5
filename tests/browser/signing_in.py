"""Signing in as a person does, on the admin's login page or the site's (the sales
queue's and the reports'), for the browser tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.routing.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page


def admin_sign_in(page: Page, base: str, username: str, *, then: str = "/admin/") -> None:
    """Sign ``username`` in on the admin's login page and wait for ``then``."""
    page.goto(f"{base}/admin/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}{then}")


def site_sign_in_in_spanish(page: Page, base: str, username: str, *, lands_on: str) -> None:
    """Sign ``username`` in on the site's login page read in Spanish (its labels), and
    wait for the page it lands on."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}{lands_on}")
