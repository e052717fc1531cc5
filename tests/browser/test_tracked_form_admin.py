"""A tracked form's page in a real browser: the lead fields typed as their help writes
them, separated by commas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from intake.models import TrackedForm
from tests.browser.signing_in import admin_sign_in
from tests.routing.factories import marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_marketer_types_the_lead_fields_as_the_help_says(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    marketer(username="carol")
    page = browser.new_context(locale="es-ES").new_page()
    admin_sign_in(page, base, "carol", then="/admin/intake/trackedform/add/")
    page.fill("#id_name", "Contacto")
    page.fill("#id_key", "contacto")
    help_text = page.locator("#id_lead_fields_helptext").inner_text()
    example = help_text.split("p. ej. ")[1].split(")")[0]
    assert example == "first_name, company, attributes.goal"
    page.fill("#id_lead_fields", f"{example}, lifecycle_stage")
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    expect(page.locator(".field-lead_fields .errorlist")).to_contain_text("'lifecycle_stage' no lo puede escribir")

    page.fill("#id_lead_fields", example)
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    form = TrackedForm.objects.get()
    assert form.lead_fields == ["first_name", "company", "attributes.goal"]
    page.goto(f"{base}/admin/intake/trackedform/{form.pk}/change/")
    expect(page.locator("#id_lead_fields")).to_have_value(example)
