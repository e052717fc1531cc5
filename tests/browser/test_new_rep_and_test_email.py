"""Two admin screens in a real browser: an administrator adds a sales rep in one form
and the rep sets a password from the invitation; a marketer sends a nurture step to
themselves as a test. Both through a real SMTP server on loopback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from routing.models import Rep, Team
from tests.nurture.conftest import Sink
from tests.nurture.factories import StepFactory
from tests.routing.factories import PASSWORD, group, marketer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

NEW_PASSWORD = "Green-Lantern-Harbour-7"


def save(page: Page) -> None:
    """Press Save and wait for the page the server answers with (errors or the list)."""
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    page.wait_for_load_state()


def admin_log_in(page: Page, base: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(rf".*{re.escape(next_path)}$"))


def test_an_administrator_adds_a_rep_who_sets_a_password_from_the_invitation(
    browser: Browser, live_server: object, smtp: Sink, settings: Any, tmp_path: Path
) -> None:
    base = str(live_server)
    settings.LEADFLOW_PUBLIC_URL = base
    User.objects.create_superuser("root", "root@toys.example", "Root-pass-for-tests-1")
    Team.objects.create(key="north", name="North")
    group("Sales")  # as the migrations make it (an earlier test's flush may have removed it)

    page = browser.new_context().new_page()
    admin_log_in(page, base, "root", "Root-pass-for-tests-1", "/admin/routing/rep/add/")
    for label in ["User name:", "First name:", "Last name:", "Email:", "Team:", "Capacity:"]:
        assert page.get_by_label(label, exact=True).is_visible(), label
    page.fill("#id_username", "rosa")
    page.fill("#id_first_name", "Rosa")
    page.fill("#id_last_name", "Quirós")
    page.fill("#id_email", "rosa@toys.example")
    assert page.get_by_label("Email them an invitation to set their own password").is_checked()
    page.select_option("#id_team", label="North")
    page.fill("#id_capacity", "15")
    page.screenshot(path=str(tmp_path / "new-rep.png"), full_page=True)
    save(page)
    messages = page.locator(".messagelist").inner_text()
    assert "An invitation to set a password went to rosa@toys.example." in messages
    assert "rosa" in page.locator("#result_list").inner_text()
    rep = Rep.objects.select_related("user").get()
    assert (rep.user.get_full_name(), rep.capacity, rep.team.name) == ("Rosa Quirós", 15, "North")

    # Rosa opens the link, sets her password and lands on her (empty) queue.
    [message] = smtp.to("rosa@toys.example")
    link = re.search(r"(http://\S+/accounts/reset/\S+/)", message.get_content())
    assert link is not None
    rosa = browser.new_context().new_page()
    rosa.goto(link.group(1))
    rosa.fill("#id_new_password1", NEW_PASSWORD)
    rosa.fill("#id_new_password2", NEW_PASSWORD)
    rosa.locator("input[type=submit]").click()
    assert "password has been set" in rosa.content()
    rosa.goto(f"{base}/accounts/login/")
    rosa.fill("#id_username", "rosa")
    rosa.fill("#id_password", NEW_PASSWORD)
    rosa.get_by_role("button", name="Log in").click()
    rosa.wait_for_url(f"{base}/sales/")
    assert "Nothing waiting" in rosa.content()


def test_the_new_rep_form_reads_in_the_administrators_language(browser: Browser, live_server: object) -> None:
    """An administrator whose browser reads Spanish finds every field of the form in
    Spanish, the person's names too (they were in English)."""
    base = str(live_server)
    User.objects.create_superuser("root", "root@toys.example", "Root-pass-for-tests-1")
    Team.objects.create(key="north", name="North")

    page = browser.new_context(locale="es-ES").new_page()
    admin_log_in(page, base, "root", "Root-pass-for-tests-1", "/admin/routing/rep/add/")
    form = page.locator("#rep_form")
    for label in ["Nombre de usuario:", "Nombre:", "Apellidos:", "Email:", "Equipo:", "Capacidad:"]:
        assert form.get_by_label(label, exact=True).is_visible(), label
    labels = form.locator("label").all_inner_texts()
    assert not [text for text in labels if re.search(r"\b(name|Team|Capacity|password)\b", text)], labels


def test_a_marketer_sends_a_step_to_themselves(browser: Browser, live_server: object, smtp: Sink) -> None:
    base = str(live_server)
    marketer(username="carol", email="carol@toys.example")
    step = StepFactory.create(sequence__name="Welcome", subject_template="Welcome, {{ lead.first_name }}")

    page = browser.new_context().new_page()
    path = f"/admin/nurture/sequence/{step.sequence_id}/change/"
    admin_log_in(page, base, "carol", PASSWORD, path)
    page.get_by_role("link", name="Preview and send me a test").click()
    page.get_by_role("button", name=f"Send me a test of step {step.position}").click()
    expect(page.locator(".messagelist")).to_contain_text("Test email “[Test] Welcome, Ana” sent to carol@toys.example.")
    assert page.url.endswith(f"#step-{step.pk}")
    [message] = smtp.to("carol@toys.example")
    assert message["Subject"] == "[Test] Welcome, Ana"
