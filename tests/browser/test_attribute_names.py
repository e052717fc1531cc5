"""The custom attributes' names Leadflow knows, in a real browser read in Spanish: a
marketer whose page's `plan` was left out finds why, and frees the place a misspelt
name took so the page's `plan` is written."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from scoring.models import Lead
from tests.browser.signing_in import admin_sign_in
from tests.intake.test_page_attribute_names import identify
from tests.intake.test_public_keys import segment_client, send
from tests.routing.factories import marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_marketer_sees_why_a_name_is_left_out_and_frees_a_place(
    browser: Browser, live_server: object, settings: Any
) -> None:
    settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES = 1
    base = str(live_server)
    marketer(username="carol")
    page_key, server_key = segment_client(public=True), segment_client(public=False)
    send(server_key, "identify", identify(1, "crm@example.com", {"tier": "gold"}))
    send(page_key, "identify", identify(2, "one@example.com", {"plann": "typo"}))
    assert send(page_key, "identify", identify(3, "two@example.com", {"plan": "pro"})).json()["attributes_dropped"] == 1

    page = browser.new_context(locale="es-ES").new_page()
    admin_sign_in(page, base, "carol")
    page.get_by_role("link", name="Nombres de atributos propios").click()
    page.wait_for_url(re.compile(r".*/admin/scoring/attributename/$"))

    help_text = page.locator("#attribute-names-help").inner_text()
    assert "Nombres traídos por claves usadas en páginas web: 1 de 1. No queda ninguno" in help_text
    assert "regla de perfil" in help_text
    rows = page.locator("#result_list tbody tr")
    origin = {row.locator("th").inner_text(): row.locator("td.field-origin").inner_text() for row in rows.all()}
    assert origin == {
        "plann": "Traído por una clave usada en páginas web",
        "tier": "Escrito por un remitente de confianza",
    }
    assert "De dónde vino" in (page.locator("#result_list thead").text_content() or "")

    page.fill("#searchbar", "plan")
    page.locator("#changelist-search input[type=submit]").click()
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="plann").click()
    page.get_by_role("link", name="Eliminar").click()
    expect(page.locator("#deleting-means")).to_contain_text("libera su lugar")
    expect(page.locator("#deleting-means")).to_contain_text("no cambia ningún lead")
    with page.expect_navigation():
        page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("plann")
    expect(page.locator("#attribute-names-taken")).to_contain_text("0 de 1")

    send(page_key, "identify", identify(4, "three@example.com", {"plan": "pro"}))
    assert Lead.objects.get(email="three@example.com").attributes == {"plan": "pro"}
    assert Lead.objects.get(email="one@example.com").attributes == {"plann": "typo"}
