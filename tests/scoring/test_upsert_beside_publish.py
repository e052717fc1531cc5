"""A lead written again with the values it holds changes nothing, so it takes no lock:
the leads API answers it at once while something holds the lead (a command-line publish
rescoring every lead until it commits), as it did before. A write that changes the lead
still takes its row, and waits (or is answered busy) as before."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import Account, Lead, ScoreEntry

TOY_STORE = Path(__file__).resolve().parents[2] / "examples" / "toy_store.yaml"
ANA = {"email": "ana@acme.example", "city": "San José", "industry": "Toys", "attributes": {"plan": "pro"}}


def upsert(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/leads", json.dumps(body), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_the_leads_api_answers_an_unchanged_lead_at_once_while_a_publish_holds_it(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = TOY_STORE.read_text()
    second = tmp_path / "second.yaml"
    second.write_text(model.replace("points: 8", "points: 9"))  # San José worth more
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    client = Client(
        HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='CRM', scopes=['leads:write']).key}"
    )
    with_account = {**ANA, "account_id": "crm-1"}
    assert upsert(client, with_account).status_code == 201
    before = upsert(client, with_account)
    assert before.status_code == 200
    ledger = ScoreEntry.objects.count()

    rescored, release = threading.Event(), threading.Event()
    regroup = services.leads_regroup

    def held_open(**kwargs: Any) -> int:
        changed = regroup(**kwargs)
        rescored.set()  # every lead rescored and held, none of it committed yet
        assert release.wait(timeout=60)
        return changed

    monkeypatch.setattr(services, "leads_regroup", held_open)

    def publish() -> None:
        try:
            call_command("scoring_model_import", "--publish", str(second))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert rescored.wait(timeout=60)
        with connection.cursor() as cursor:
            # Waiting for the publish would answer the request busy rather than hang.
            cursor.execute("SET lock_timeout = '2s'")
        same = upsert(client, with_account)
        same_lead_only = upsert(client, {"email": "ANA@acme.example", "city": "San José"})
        changing = upsert(client, {**with_account, "city": "Lima"})
    finally:
        release.set()
        thread.join(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not thread.is_alive()
    assert (same.status_code, same.json()) == (200, before.json())
    assert (same_lead_only.status_code, same_lead_only.json()) == (200, before.json())
    # A change still takes the lead's row: it waited for the publish, as before.
    assert changing.status_code == 503, changing.content
    assert changing["Retry-After"]

    lead = Lead.objects.get()
    assert (lead.city, lead.attributes, lead.fit_score) == ("San José", {"plan": "pro"}, 9)
    assert lead.account == Account.objects.get(external_id="crm-1")
    assert ScoreEntry.objects.count() == ledger + 1  # the publish's rescore, and nothing of the requests
    after = upsert(client, {**with_account, "city": "Lima"})
    assert (after.status_code, after.json()["city"], after.json()["fit_score"]) == (200, "Lima", 0)
