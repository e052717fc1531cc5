"""Column headings and choices of the admin that read in English on a Spanish page: the
event types' label and origin, a trained model's algorithm, a routing condition's
operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from nurture.models import Step
from scoring.models import EventType, TrainedModel
from tests.browser.signing_in import admin_sign_in
from tests.routing.factories import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

HEADINGS = "table => Array.from(table.querySelectorAll('thead th')).map(th => th.innerText.trim()).filter(Boolean)"


def test_a_spanish_reader_reads_the_admin_s_headings_and_operators_in_spanish(
    browser: Browser, live_server: object
) -> None:
    base = str(live_server)
    get_user_model().objects.create_superuser("ana", "ana@example.com", PASSWORD)
    EventType.objects.create(key="meeting_held", label="Reunión", declared=True)
    TrainedModel.objects.create(number=1, algorithm="logistic_regression", fitted=b"")

    page = browser.new_context(locale="es-ES").new_page()
    admin_sign_in(page, base, "ana")

    page.goto(f"{base}/admin/scoring/eventtype/?q=meeting_held")
    headings = page.locator("#result_list").evaluate(HEADINGS)
    assert "ETIQUETA" in headings, headings
    assert "ORIGEN" in headings, headings
    assert "LABEL" not in headings, headings
    assert "KIND" not in headings, headings
    assert page.locator("#result_list td.field-origin").inner_text() == "declarado"

    page.goto(f"{base}/admin/scoring/trainedmodel/")
    headings = page.locator("#result_list").evaluate(HEADINGS)
    assert "ALGORITMO" in headings, headings

    page.goto(f"{base}/admin/routing/routingrule/add/")
    operators = page.locator("select[name='conditions-0-operator'] option").all_text_contents()
    assert "es una de" in operators, operators
    for english in ["is one of", "is more than", "is empty", "matches"]:
        assert english not in operators, english


def test_a_spanish_reader_picks_a_step_s_days_in_spanish(browser: Browser, live_server: object) -> None:
    """The days a nurture step may be sent on were "Mon", "Tue"… on the Spanish admin."""
    base = str(live_server)
    get_user_model().objects.create_superuser("ana", "ana@example.com", PASSWORD)

    page = browser.new_context(locale="es-ES").new_page()
    admin_sign_in(page, base, "ana", then="/admin/nurture/sequence/add/")
    page.locator("#steps-group .add-row a").click()

    days = page.locator("#steps-group .inline-related:not(.empty-form) [name$=send_weekdays]")
    labels = [label.strip() for label in days.evaluate_all("boxes => boxes.map(box => box.labels[0].innerText)")]
    assert labels == ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"], labels
    page.get_by_label("lun").first.uncheck()
    assert not days.first.is_checked()

    # The step's English version: its fields are named in Spanish too.
    page.locator("#steps-group .inline-related:not(.empty-form) details summary", has_text="En English").click()
    version = page.locator("#steps-group .inline-related:not(.empty-form) [name$=version_en_subject]")
    assert version.evaluate("box => box.labels[0].innerText").strip() == "English: asunto:"


def test_a_step_added_in_the_admin_is_sent_on_every_day_unless_told_otherwise(
    browser: Browser, live_server: object
) -> None:
    """A new step's days start all ticked, as a step from a sequence file does: they
    started blank, and saving a sequence said only "This field is required." there."""
    base = str(live_server)
    get_user_model().objects.create_superuser("ana", "ana@example.com", PASSWORD)

    page = browser.new_context().new_page()
    admin_sign_in(page, base, "ana", then="/admin/nurture/sequence/add/")
    page.get_by_label("Name:", exact=True).fill("Welcome")
    page.get_by_label("Key:").fill("welcome")
    page.locator("#steps-group .add-row a").click()
    page.fill("#id_steps-0-position", "1")
    page.fill("#id_steps-0-subject_template", "Hello {{ lead.first_name }}")
    page.fill("#id_steps-0-text_template", "Our catalogue: https://toys.example/catalogue")
    assert page.locator("[name=steps-0-send_weekdays]:checked").count() == 7
    page.locator("input[name=_save]").click()
    page.wait_for_url(f"{base}/admin/nurture/sequence/")

    assert Step.objects.get().send_weekdays == [0, 1, 2, 3, 4, 5, 6]
