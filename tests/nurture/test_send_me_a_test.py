"""'Send me a test' on a nurture step: the step's email, rendered for the sample lead,
goes to the signed-in marketer through the configured mail backend (here a real SMTP
server on loopback), and nothing is recorded about any lead."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from nurture.models import Delivery, Step
from scoring.models import Interaction
from tests.nurture.conftest import Sink
from tests.nurture.factories import StepFactory
from tests.routing.factories import marketer

pytestmark = pytest.mark.django_db


def send_url(step: Step) -> str:
    return reverse("admin:nurture_sequence_step_test", args=[step.sequence_id, step.pk])


@pytest.fixture
def carol() -> Client:
    client = Client()
    client.force_login(marketer(username="carol", email="carol@toys.example"))
    return client


def test_the_step_goes_to_the_marketer_rendered_for_the_sample_lead(carol: Client, smtp: Sink) -> None:
    step = StepFactory.create(sequence__name="Welcome", campaign="spring")
    StepFactory.create(sequence=step.sequence, subject_template="The other step")

    response = carol.post(send_url(step), follow=True)
    assert response.redirect_chain[-1][0].endswith(
        f"/admin/nurture/sequence/{step.sequence_id}/preview/#step-{step.pk}"
    )
    assert "Test email “[Test] Hello Ana” sent to carol@toys.example." in response.content.decode()

    [message] = smtp.messages
    assert message["To"] == "carol@toys.example"
    assert message["From"] == "Toy Store <hello@toys.example>"
    assert message["Subject"] == "[Test] Hello Ana"
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    text = plain.get_content()
    assert "Hi Ana, read https://toys.example/blog" in text
    html = rich.get_content()
    # Links as written, no open pixel: there is no lead to track.
    assert 'href="https://toys.example/blog?a=1&amp;b=2"' in html
    assert "/t/c/" not in html
    assert "/t/o/" not in html
    assert not Delivery.objects.exists()
    assert not Interaction.objects.exists()


def test_a_step_written_in_spanish_is_previewed_and_tested_with_its_footer_in_spanish(
    carol: Client, smtp: Sink
) -> None:
    """A lead gets a Spanish step with Leadflow's own words (the unsubscribe line) in
    Spanish: the preview and the test email show it so, whatever the site's language."""
    step = StepFactory.create(language="es", subject_template="Hola {{ lead.first_name }}", text_template="Hola.")

    preview = carol.get(reverse("admin:nurture_sequence_preview", args=[step.sequence_id])).content.decode()
    carol.post(send_url(step))

    assert "Recibes este email porque te registraste con nosotros." in preview
    [message] = smtp.messages
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "Recibes este email porque te registraste con nosotros." in plain.get_content()
    assert "You receive this email" not in plain.get_content()


def test_without_an_address_nothing_is_sent_and_the_marketer_is_told(smtp: Sink) -> None:
    client = Client()
    client.force_login(marketer(username="noaddress", email=""))
    step = StepFactory.create()
    response = client.post(send_url(step), follow=True)
    assert "Your account has no email address to send the test to" in response.content.decode()
    assert smtp.messages == []


def test_a_refusing_mail_server_is_reported_not_a_server_error(carol: Client, smtp: Sink) -> None:
    smtp.rcpt_replies["carol@toys.example"] = "550 no such mailbox here"
    step = StepFactory.create()
    response = carol.post(send_url(step), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The test email was not sent: the mail server could not take it" in page
    assert "no such mailbox here" in page
    assert smtp.messages == []


def test_a_step_that_fails_to_render_is_reported(carol: Client, smtp: Sink) -> None:
    # Saved before the admin checked templates (or written by hand): the test says what is wrong.
    step = StepFactory.create(subject_template="{% if %}")
    page = carol.post(send_url(step), follow=True).content.decode()
    assert f"Step {step.position} cannot be rendered" in page
    assert smtp.messages == []


def test_only_a_post_sends_and_only_the_steps_own_sequence(carol: Client, smtp: Sink) -> None:
    step = StepFactory.create()
    other = StepFactory.create()
    assert carol.get(send_url(step)).status_code == 405
    wrong = reverse("admin:nurture_sequence_step_test", args=[other.sequence_id, step.pk])
    assert carol.post(wrong).status_code == 404
    assert smtp.messages == []


def test_the_preview_offers_the_button_for_each_step_and_the_step_links_to_it(carol: Client) -> None:
    step = StepFactory.create()
    second = StepFactory.create(sequence=step.sequence)
    preview = carol.get(reverse("admin:nurture_sequence_preview", args=[step.sequence_id])).content.decode()
    for each in (step, second):
        assert f'action="{send_url(each)}"' in preview
    assert preview.count('value="Send me a test"') == 2
    assert "to carol@toys.example" in preview
    change = carol.get(reverse("admin:nurture_sequence_change", args=[step.sequence_id])).content.decode()
    assert f"/preview/#step-{step.pk}" in change
    assert "Preview and send me a test" in change
