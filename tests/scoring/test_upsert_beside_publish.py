"""A lead written again with the values it holds changes nothing, so it takes no lock:
the leads API answers it at once while something holds the lead (a command-line publish
rescoring every lead until it commits), as it did before. A write that changes the lead
still takes its row, and waits (or is answered busy) as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from intake.api_keys import api_key_issue
from scoring.models import Account, Lead, ScoreEntry
from tests.scoring.test_publish_beside_intake import while_publishing

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

    same, same_lead_only, changing = while_publishing(
        second,
        monkeypatch,
        lambda: (
            upsert(client, with_account),
            upsert(client, {"email": "ANA@acme.example", "city": "San José"}),
            upsert(client, {**with_account, "city": "Lima"}),
        ),
    )
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
