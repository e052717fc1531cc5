"""Publishing a model from the command line rescores every lead in its transaction, holding
each lead until it commits; the API goes on accepting events meanwhile, and they are scored
by the model published, as events sent just after it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import Client

from intake.api_keys import api_key_issue
from scoring import services
from scoring.models import AttributeName, EventType, Lead, ScoreEntry
from tests.factories import LeadFactory
from tests.intake.test_public_keys import segment_client, send

TOY_STORE = Path(__file__).resolve().parents[2] / "examples" / "toy_store.yaml"
_T = TypeVar("_T")
# Declared types: the intake counts each event stored under its type's row.
DECLARED = "event_types:\n  - {key: trial_started, label: Trial started}\n  - {key: email_open}\n"


def post(client: Client, event_id: str, kind: str, email: str) -> Any:
    body = {"id": event_id, "type": kind, "lead": {"email": email}}
    return client.post("/api/v1/events", json.dumps(body), content_type="application/json")


def while_publishing(path: Path, monkeypatch: pytest.MonkeyPatch, request: Callable[[], _T]) -> _T:
    """What ``request`` answers while ``scoring_model_import --publish path`` holds its
    transaction open in another thread, every lead rescored and none of it committed; a
    request waiting on the publish fails after 5 s rather than hang."""
    rescored, release = threading.Event(), threading.Event()
    regroup = services.leads_regroup

    def held_open(**kwargs: Any) -> int:
        changed = regroup(**kwargs)
        rescored.set()  # every lead rescored, none of it committed yet
        assert release.wait(timeout=60)
        return changed

    monkeypatch.setattr(services, "leads_regroup", held_open)

    def publish() -> None:
        try:
            call_command("scoring_model_import", "--publish", str(path))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=publish)
    thread.start()
    try:
        assert rescored.wait(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        return request()
    finally:
        release.set()
        thread.join(timeout=60)
        assert not thread.is_alive()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


@pytest.mark.django_db(transaction=True)
def test_the_api_accepts_events_of_declared_types_while_a_publish_rescores_the_leads(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = TOY_STORE.read_text() + DECLARED
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(model)
    # The same event types; San José worth more, an email open too.
    second.write_text(
        model.replace("points: 8", "points: 9").replace(
            "points: 2\n    interaction_types: [email", "points: 3\n    interaction_types: [email"
        )
    )
    call_command("scoring_model_import", "--publish", str(first))
    for n in range(3):
        LeadFactory.create(email=f"p{n}@example.com", city="San José")
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {api_key_issue(name='Website').key}")

    during = while_publishing(
        second,
        monkeypatch,
        lambda: [post(client, f"during-{kind}", kind, "p0@example.com") for kind in ("email_open", "trial_started")],
    )
    assert [answer.status_code for answer in during] == [202, 202], [answer.content for answer in during]
    assert [answer.json()["accepted"] for answer in during] == [1, 1]
    after = [post(client, f"after-{kind}", kind, "p1@example.com") for kind in ("email_open", "trial_started")]
    assert [answer.status_code for answer in after] == [202, 202]
    services.interactions_score_pending()

    scores = {lead.email: (lead.fit_score, lead.engagement_score) for lead in Lead.objects.all()}
    # Scored by the model published, as the same events sent after it.
    assert scores == {"p0@example.com": (9, 3), "p1@example.com": (9, 3), "p2@example.com": (9, 0)}
    for lead in Lead.objects.all():
        sums = dict(
            ScoreEntry.objects.filter(lead=lead)
            .values("dimension")
            .annotate(total=Sum("delta"))
            .values_list("dimension", "total")
        )
        assert (sums.get("fit", 0), sums.get("engagement", 0)) == (lead.fit_score, lead.engagement_score)
    counted = dict(EventType.objects.filter(key__in=["email_open", "trial_started"]).values_list("key", "seen_count"))
    assert counted == {"email_open": 2, "trial_started": 2}
    assert EventType.objects.get(key="trial_started").label == "Trial started"


PLAN_RULE = """  - key: pro-plan
    name: Pro plan
    dimension: fit
    points: 4
    conditions:
      - {field: attributes.plan, operator: equals, value: pro}
"""


@pytest.mark.django_db(transaction=True)
def test_a_trusted_identify_writing_the_attribute_a_new_rule_tests_is_answered_while_a_publish_rescores(
    postgres: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The publish records the names its new rules test once it commits: it held the new
    name's row until every lead was rescored, and a trusted sender writing that name waited."""
    model = TOY_STORE.read_text()
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(model)
    second.write_text(model.replace("rules:\n", "rules:\n" + PLAN_RULE, 1))
    call_command("scoring_model_import", "--publish", str(first))
    server = segment_client(public=False)
    traits = {"email": "new@example.com", "plan": "pro"}

    during = while_publishing(
        second,
        monkeypatch,
        lambda: send(server, "identify", {"type": "identify", "messageId": "i-1", "traits": traits}),
    )

    assert during.status_code == 200, during.content
    assert Lead.objects.get(email="new@example.com").attributes == {"plan": "pro"}
    # Named by a trusted sender first, the name stays theirs; the rule's publish found it known.
    assert AttributeName.objects.get(name="plan").origin == AttributeName.Origin.WRITER
