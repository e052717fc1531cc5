"""A lead written again with the values it holds changes nothing, so it takes no lock:
the leads API and an identify answer it at once while something holds the lead (a
command-line publish rescoring every lead until it commits), as they did before. A write
that changes the lead still takes its row, and waits (or is answered busy) as before."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def publish_held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Inside, a ``scoring_model_import --publish`` (San José worth 9 points, not 8) has
    rescored every lead and holds them, uncommitted; a request waiting for a lead is
    answered busy (503) after a lock timeout rather than hang."""
    second = tmp_path / "second.yaml"
    second.write_text(TOY_STORE.read_text().replace("points: 8", "points: 9"))
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
            cursor.execute("SET lock_timeout = '2s'")
        yield
    finally:
        release.set()
        thread.join(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_the_leads_api_answers_an_unchanged_lead_at_once_while_a_publish_holds_it(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    client = Client(
        HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='CRM', scopes=['leads:write']).key}"
    )
    with_account = {**ANA, "account_id": "crm-1"}
    assert upsert(client, with_account).status_code == 201
    before = upsert(client, with_account)
    assert before.status_code == 200
    ledger = ScoreEntry.objects.count()

    with publish_held(monkeypatch, tmp_path):
        same = upsert(client, with_account)
        same_lead_only = upsert(client, {"email": "ANA@acme.example", "city": "San José"})
        changing = upsert(client, {**with_account, "city": "Lima"})
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


def segment_client(*, public: bool) -> Client:
    key = api_key_issue(name="Website" if public else "Backend", public=public).key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}")


def identify(client: Client, n: int, traits: dict[str, Any], **more: Any) -> Any:
    body = {"messageId": f"i-{n}", "userId": "ana@acme.example", "anonymousId": "v-1", "traits": traits, **more}
    return client.post("/v1/identify", json.dumps(body), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_an_identify_of_an_unchanged_lead_is_answered_at_once_while_a_publish_holds_it(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    server, page = segment_client(public=False), segment_client(public=True)
    traits = {"city": "San José", "industry": "Toys", "plan": "pro", "company": {"name": "Acme"}}
    assert identify(server, 1, traits, context={"groupId": "crm-1"}).status_code == 200
    before = {
        "server": identify(server, 2, traits, context={"groupId": "crm-1"}),
        "page": identify(page, 3, {"city": "San José", "plan": "pro"}),
    }
    assert [answer.status_code for answer in before.values()] == [200, 200]
    ledger = ScoreEntry.objects.count()

    with publish_held(monkeypatch, tmp_path):
        server_same = identify(server, 4, traits, context={"groupId": "crm-1"})
        page_same = identify(page, 5, {"city": "San José", "plan": "pro"})
        changing = identify(server, 6, {**traits, "city": "Lima"})
    assert (server_same.status_code, server_same.json()) == (200, before["server"].json())
    assert (page_same.status_code, page_same.json()) == (200, before["page"].json())
    assert changing.status_code == 503, changing.content

    lead = Lead.objects.get()
    assert (lead.city, lead.attributes, lead.fit_score) == ("San José", {"plan": "pro"}, 9)
    assert ScoreEntry.objects.count() == ledger + 1  # the publish's rescore, and nothing of the identifies
    assert identify(server, 7, {**traits, "city": "Lima"}).status_code == 200
    assert Lead.objects.get().city == "Lima"
