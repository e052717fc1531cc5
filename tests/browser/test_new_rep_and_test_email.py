"""Two admin screens in a real browser: an administrator adds a sales rep in one form
and the rep sets a password from the invitation; a marketer sends a nurture step to
themselves as a test. Both through a real SMTP server on loopback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from routing.models import Rep, Team
from tests.nurture.conftest import Sink
from tests.nurture.factories import StepFactory
from tests.routing.factories import PASSWORD, RepFactory, group, marketer

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
    assert "Rosa Quirós" in page.locator("#result_list").inner_text()  # people by their full name
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


def test_a_step_written_in_spanish_is_previewed_and_tested_with_its_footer_in_spanish(
    browser: Browser, live_server: object, smtp: Sink, settings: Any
) -> None:
    """Leads get a Spanish step with Leadflow's own lines (why they get it, how to
    unsubscribe) in Spanish; the preview and the test showed those lines in the site's
    English, so the marketer did not see what leads get."""
    base = str(live_server)
    settings.LEADFLOW_PUBLIC_URL = base
    marketer(username="carol", email="carol@toys.example")
    step = StepFactory.create(
        sequence__name="Bienvenida",
        language="es",
        subject_template="Hola, {{ lead.first_name }}",
        text_template="Mira el catálogo: https://toys.example/catalogo",
    )

    page = browser.new_context(locale="es-ES").new_page()
    path = f"/admin/nurture/sequence/{step.sequence_id}/change/"
    admin_log_in(page, base, "carol", PASSWORD, path)
    page.get_by_role("link", name="Previsualizar y enviarme una prueba").click()
    preview = page.locator(f"#step-{step.pk}")
    expect(preview).to_contain_text("Recibes este email porque te registraste con nosotros.")
    expect(preview).not_to_contain_text("You receive this email")
    page.get_by_role("button", name=f"Enviarme una prueba del paso {step.position}").click()
    expect(page.locator(".messagelist")).to_contain_text("carol@toys.example")

    [message] = smtp.to("carol@toys.example")
    for kind in ["plain", "html"]:
        part = message.get_body((kind,))
        assert part is not None, kind
        assert "Recibes este email porque te registraste con nosotros." in part.get_content(), kind

    # Its unsubscribe link, which the marketer tries, says it is a test's and unsubscribes nobody.
    text = message.get_body(("plain",))
    assert text is not None
    link = re.search(r"(http://\S+/n/u/\S+)", text.get_content())
    assert link is not None
    page.goto(link.group(1))
    expect(page.locator("main")).to_contain_text("Este enlace es el de un email de prueba")
    assert page.get_by_role("button").count() == 0


def test_a_new_rep_reading_spanish_sets_a_password_on_the_site_s_pages(browser: Browser, live_server: object) -> None:
    """The invitation's link opens pages in the sales queue's frame and the rep's
    language: they were the admin's, headed "Django administration" with a "Home" link
    into an admin a rep may not enter, and said "log in" there too."""
    base = str(live_server)
    rep = RepFactory.create(user__username="rosa", user__email="rosa@toys.example")
    uid = urlsafe_base64_encode(force_bytes(rep.user.pk))
    token = default_token_generator.make_token(rep.user)

    page = browser.new_context(locale="es-ES", viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    page.goto(f"{base}/accounts/reset/{uid}/{token}/")
    expect(page.get_by_role("heading", name="Elige tu contraseña")).to_be_visible()
    body = page.locator("body").inner_text()
    assert "Django" not in body, body
    assert page.locator("a[href^='/admin/']").count() == 0
    page.get_by_label("Nueva contraseña", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Nueva contraseña otra vez").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Guardar mi contraseña").click()
    expect(page.get_by_role("heading", name="Tu contraseña quedó guardada.")).to_be_visible()

    page.get_by_role("link", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/accounts/login/")
    page.get_by_label("Usuario").fill("rosa")
    page.get_by_label("Contraseña").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/sales/")


def test_a_used_invitation_link_says_so_and_offers_a_new_one(browser: Browser, live_server: object) -> None:
    base = str(live_server)
    RepFactory.create(user__username="rosa")

    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{base}/accounts/reset/Mg/set-password/")
    expect(page.locator("main")).to_contain_text("Este enlace no es válido: ya se usó o es demasiado antiguo.")
    page.get_by_role("link", name="Pide un enlace nuevo").click()
    page.wait_for_url(f"{base}/accounts/password_reset/")
    expect(page.get_by_role("heading", name="¿Olvidaste tu contraseña?")).to_be_visible()
    page.get_by_label("Email").fill("rosa@toys.example")
    page.get_by_role("button", name="Envíame el enlace").click()
    expect(page.get_by_role("heading", name="Mira tu email")).to_be_visible()


def test_a_rep_who_forgot_the_password_finds_the_way_from_the_sign_in_page(
    browser: Browser, live_server: object
) -> None:
    """The sign-in page links to the form that emails a new link: a rep whose invitation
    expired had no way there but typing its address."""
    base = str(live_server)

    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("link", name="¿Olvidaste tu contraseña?").click()
    page.wait_for_url(f"{base}/accounts/password_reset/")
    expect(page.get_by_role("heading", name="¿Olvidaste tu contraseña?")).to_be_visible()
