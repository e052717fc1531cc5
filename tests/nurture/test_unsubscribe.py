"""One-click unsubscribe (RFC 8058): signed links, honoured across every sequence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from nurture import content, services
from nurture.models import Enrollment, Sequence
from scoring.models import Lead
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def two_step_sequence() -> Sequence:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    StepFactory.create(sequence=sequence, position=2, wait_days=1)
    return sequence


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_the_link_in_a_sent_email_unsubscribes_from_every_sequence(smtp: Sink) -> None:
    lead = LeadFactory.create(email="ana@example.com")
    first, second = two_step_sequence(), two_step_sequence()
    services.enrollment_try_start(lead=lead, sequence=first, now=T0)
    services.enrollment_try_start(lead=lead, sequence=second, now=T0 + timedelta(hours=5))
    services.deliveries_send_due(now=T0)
    [message] = smtp.messages
    link = str(message["List-Unsubscribe"]).strip().strip("<>")

    # What a mail provider does for one click: POST, no cookie, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        path_of(link), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.unsubscribed_at is not None
    assert set(Enrollment.objects.values_list("status", "exit_reason")) == {("exited", "unsubscribed")}
    services.deliveries_send_due(now=T0 + timedelta(days=2))
    assert len(smtp.messages) == 1, "nothing sent after unsubscribing"
    again = services.enrollment_try_start(lead=lead, sequence=two_step_sequence(), now=T0 + timedelta(days=3))
    assert again.refusal == "unsubscribed"


def test_get_only_asks_for_confirmation() -> None:
    lead = LeadFactory.create(email="ana@example.com")
    url = content.unsubscribe_url(lead_id=lead.pk)

    response = Client().get(path_of(url))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post"' in page
    assert "<button" in page
    assert "ana@example.com" in page
    lead.refresh_from_db()
    assert lead.unsubscribed_at is None, "link scanners GET; only POST unsubscribes"


def test_unsubscribing_twice_keeps_the_first_time() -> None:
    lead = LeadFactory.create()
    assert services.lead_unsubscribe(lead_id=lead.pk, now=T0) is True
    assert services.lead_unsubscribe(lead_id=lead.pk, now=T0 + timedelta(days=1)) is False
    assert Lead.objects.get(pk=lead.pk).unsubscribed_at == T0


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_or_foreign_token_is_not_found(method: str) -> None:
    lead = LeadFactory.create()
    token = content.unsubscribe_token(lead_id=lead.pk)
    other = LeadFactory.create()
    # The other lead's id in the payload, with the first lead's signature.
    payload = signing.b64_encode(json.dumps({"l": other.pk}, separators=(",", ":")).encode()).decode()
    forged = ":".join([payload, *token.split(":")[1:]])
    client = Client()

    for bad in (token[:-2] + "xx", forged, "not-a-token"):
        assert getattr(client, method)(f"/n/u/{bad}").status_code == 404
    assert not Lead.objects.filter(unsubscribed_at__isnull=False).exists()


def test_the_link_of_an_erased_lead_is_not_found() -> None:
    lead = LeadFactory.create()
    url = content.unsubscribe_url(lead_id=lead.pk)
    lead.delete()
    assert Client().post(path_of(url)).status_code == 404
