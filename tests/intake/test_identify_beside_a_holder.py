"""An identify takes its lead's row before its account's, as a publish, a scoring batch and
an upsert do: in the other order, one holding the lead and then wanting its account
deadlocked with it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from scoring.models import Account, Lead
from tests.conftest import someone_waits_on_a_lock, wait_for
from tests.intake.test_public_keys import segment_client, send


@pytest.mark.django_db(transaction=True)
def test_an_identify_describing_its_company_waits_for_whoever_holds_its_lead_and_then_its_account(
    postgres: None,
) -> None:
    traits = {"email": "ana@acme.example", "industry": "Toys", "company": "Acme"}
    first = send(segment_client(public=True), "identify", {"type": "identify", "messageId": "p-1", "traits": traits})
    assert first.status_code == 200, first.content
    lead = Lead.objects.get()
    holding = threading.Event()
    outcome: dict[str, Any] = {}

    def holder() -> None:  # a publish, a scoring batch or a changing upsert: the lead, then its account
        try:
            with transaction.atomic():
                list(Lead.objects.select_for_update(no_key=True).filter(pk=lead.pk))
                holding.set()
                wait_for(someone_waits_on_a_lock, timeout=10, message="the identify to wait")
                list(Account.objects.select_for_update(no_key=True).filter(leads=lead))
            outcome["holder"] = "committed"
        except Exception as exc:  # noqa: BLE001 (what went wrong is the test's answer)
            outcome["holder"] = repr(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    company = {"name": "Acme", "industry": "Food"}
    answer = send(
        segment_client(public=False),
        "identify",
        {
            "type": "identify",
            "messageId": "s-1",
            "userId": "ana@acme.example",
            "traits": {**traits, "company": company},
        },
    )
    thread.join(30)

    assert (answer.status_code, outcome.get("holder")) == (200, "committed"), answer.content
