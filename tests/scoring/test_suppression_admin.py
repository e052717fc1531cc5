"""The suppression list in the admin: added by address, found by address, never shown."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from nurture import services as nurture
from scoring import suppression
from scoring.models import SuppressedAddress
from tests.factories import LeadFactory
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def test_an_address_added_by_hand_is_kept_as_a_hash_and_blocks_nurture(admin: Client) -> None:
    response = admin.post(
        reverse("admin:scoring_suppressedaddress_add"), {"address": " Ana@Example.com ", "reason": "complained"}
    )
    assert response.status_code == 302
    entry = SuppressedAddress.objects.get()
    assert (entry.address_hash, entry.reason) == (suppression.address_hash("ana@example.com"), "complained")
    assert "ana@example.com" not in str(list(LogEntry.objects.values_list("object_repr", "change_message")))

    lead = LeadFactory.create(email="ana@example.com")
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    assert nurture.enrollment_try_start(lead=lead, sequence=sequence).refusal == "suppressed"


def test_adding_an_address_twice_is_refused_on_the_field(admin: Client) -> None:
    suppression.addresses_suppress(addresses=["bea@example.com"], reason=suppression.Reason.BOUNCED)
    response = admin.post(
        reverse("admin:scoring_suppressedaddress_add"), {"address": "BEA@example.com", "reason": "manual"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"address": ["This address is on the list already (Bounced)."]}
    assert SuppressedAddress.objects.get().reason == "bounced"


def test_the_list_is_searched_by_address_and_never_shows_one(admin: Client) -> None:
    suppression.addresses_suppress(addresses=["cy@example.com", "dee@example.com"], reason=suppression.Reason.MANUAL)
    url = reverse("admin:scoring_suppressedaddress_changelist")

    found = admin.get(url, {"q": "CY@example.com "})

    assert found.status_code == 200
    assert [e.address_hash for e in found.context["cl"].result_list] == [suppression.address_hash("cy@example.com")]
    page = html.unescape(found.content.decode())
    assert suppression.address_hash("cy@example.com")[:16] in page
    assert suppression.address_hash("dee@example.com")[:16] not in page
    entry = SuppressedAddress.objects.get(address_hash=suppression.address_hash("dee@example.com"))
    detail = admin.get(reverse("admin:scoring_suppressedaddress_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert "dee@example.com" not in detail.content.decode()
