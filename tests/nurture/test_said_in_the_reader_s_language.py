"""Why a nurture delivery failed or was not sent reads in the language of whoever reads
it, in the admin and on the lead's timeline; the database keeps the English beside it,
the mail server's answer stays as it came, and rows written before are shown as stored."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from nurture import services
from nurture.models import Delivery, Enrollment, Step
from nurture.services import claiming
from scoring.models import Lead
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink, free_port
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday


def enroll(lead: Lead, *, steps: int = 1) -> Enrollment:
    sequence = SequenceFactory.create()
    for position in range(1, steps + 1):
        StepFactory.create(sequence=sequence, position=position)
    enrollment = services.enrollment_try_start(lead=lead, sequence=sequence, now=T0).enrollment
    assert enrollment is not None
    return enrollment


def text_of(user: User, language: str, url: str) -> str:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def in_spanish(delivery: Delivery) -> str:
    delivery.refresh_from_db()
    with translation.override("es"):
        return delivery.error_shown()


def test_a_delivery_given_up_on_reads_in_spanish_in_the_admin_and_on_the_timeline(
    smtp: Sink, settings: Any, admin_user: User
) -> None:
    settings.LEADFLOW_NURTURE_MAX_ATTEMPTS = 2
    enrollment = enroll(LeadFactory.create(email="busy@example.com"))
    smtp.rcpt_replies["busy@example.com"] = "451 4.3.0 Try again later"

    services.deliveries_send_due(now=T0)
    services.deliveries_send_due(now=T0 + timedelta(minutes=5))

    delivery = Delivery.objects.get()
    assert delivery.error.startswith("gave up after 2 attempts; last error: SMTPRecipientsRefused")  # the English kept
    spanish = "abandonado tras 2 intentos; último error: SMTPRecipientsRefused"
    for url in (
        reverse("admin:nurture_delivery_change", args=[delivery.pk]),
        reverse("admin:nurture_enrollment_change", args=[enrollment.pk]),
        reverse("admin:scoring_lead_change", args=[enrollment.lead_id]),
    ):
        page = text_of(admin_user, "es", url)
        assert spanish in page, url
        assert "4.3.0 Try again later" in page, "the server's own words, as they came"
        assert "gave up after" not in page, url
    assert "gave up after 2 attempts" in text_of(
        admin_user, "en", reverse("admin:nurture_delivery_change", args=[delivery.pk])
    )


def test_a_template_that_fails_at_send_time_is_said_in_spanish(smtp: Sink) -> None:
    sequence = SequenceFactory.create()
    Step.objects.create(sequence=sequence, position=1, subject_template="Hi", text_template="{% if %}")
    services.enrollment_try_start(lead=LeadFactory.create(), sequence=sequence, now=T0)

    services.deliveries_send_due(now=T0)

    assert in_spanish(Delivery.objects.get()).startswith("no se pudo generar el mensaje: ")


def test_an_unreachable_server_is_said_in_spanish(smtp: Sink, settings: Any) -> None:
    settings.EMAIL_PORT = free_port()  # nobody listens there
    enroll(LeadFactory.create())

    services.deliveries_send_due(now=T0)

    delivery = Delivery.objects.get()
    assert delivery.error.startswith("could not connect: ")
    assert in_spanish(delivery).startswith("no se pudo conectar: ConnectionRefusedError")


def test_a_message_that_cannot_be_built_is_said_in_spanish(smtp: Sink) -> None:
    enroll(LeadFactory.create(email="a@b@c"))

    services.deliveries_send_due(now=T0)

    assert in_spanish(Delivery.objects.get()).startswith("no se pudo construir el mensaje: Invalid address")


def test_a_delivery_whose_sender_died_is_said_in_spanish(smtp: Sink) -> None:
    enroll(LeadFactory.create(), steps=2)
    claiming.deliveries_claim(now=T0, batch_size=10, summary=services.SendSummary())  # then the sender dies

    services.deliveries_send_due(now=T0 + services.claim_lease() + timedelta(minutes=1))

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.error) == ("unknown", "sender stopped before recording the result")
    assert in_spanish(delivery) == "el remitente se detuvo antes de registrar el resultado"


def test_a_retried_delivery_sent_at_last_says_nothing_any_more(smtp: Sink) -> None:
    enrollment = enroll(LeadFactory.create(email="busy@example.com"))
    smtp.rcpt_replies["busy@example.com"] = "451 4.3.0 Try again later"
    services.deliveries_send_due(now=T0)
    smtp.rcpt_replies.clear()

    services.deliveries_send_due(now=T0 + timedelta(minutes=5))

    delivery = Delivery.objects.get(enrollment=enrollment)
    assert (delivery.status, delivery.error, delivery.error_said) == ("sent", "", None)


def test_an_error_stored_before_reads_as_stored(admin_user: User) -> None:
    enrollment = enroll(LeadFactory.create())
    delivery = Delivery.objects.create(
        enrollment=enrollment,
        step=enrollment.sequence.steps.get(),
        message_id="<old@example.com>",
        status=Delivery.Status.FAILED_PERMANENT,
        error="could not build the message: the old way",
        created_at=T0,
        updated_at=T0,
    )

    for url in (
        reverse("admin:nurture_delivery_change", args=[delivery.pk]),
        reverse("admin:scoring_lead_change", args=[enrollment.lead_id]),
    ):
        assert "could not build the message: the old way" in text_of(admin_user, "es", url)
