"""Outcomes recorded many at once (a CSV import of past deals) change leads and queue
items as one by one does: a won lead becomes a customer, its open queue item is closed,
a client id seen before answers with the first outcome, bad ones are refused apart."""

from __future__ import annotations

import pytest

from routing import sales
from routing.models import Outcome, QueueItem
from scoring import outcomes
from scoring.models import Lead, LifecycleStage
from tests.factories import LeadFactory
from tests.routing.factories import QueueItemFactory

pytestmark = pytest.mark.django_db


def test_many_outcomes_at_once_do_what_one_by_one_does() -> None:
    queued = QueueItemFactory.create(status=QueueItem.Status.OPEN)
    free, loser = LeadFactory.create(), LeadFactory.create()
    earlier = sales.outcome_report(
        outcomes.ReportedOutcome(lead_id=loser.pk, kind="lost", reason="No budget", client_id="c-1")
    )
    reported = [
        outcomes.ReportedOutcome(lead_id=queued.lead_id, kind="won", client_id="c-2", source="csv-import"),
        outcomes.ReportedOutcome(lead_id=free.pk, kind="lost", reason="Went elsewhere", client_id="c-3"),
        outcomes.ReportedOutcome(lead_id=loser.pk, kind="lost", reason="No budget", client_id="c-1"),
        outcomes.ReportedOutcome(lead_id=free.pk, kind="lost", reason="", client_id="c-4"),  # lost needs a reason
        outcomes.ReportedOutcome(lead_id=10**9, kind="won"),
        outcomes.ReportedOutcome(lead_id=free.pk, kind="won", client_id="c-5"),  # the lead's second: after its first
    ]

    answers = outcomes.batch_recorder()(reported)

    won, lost, again, no_reason, nobody, later = answers
    assert isinstance(won, outcomes.RecordedOutcome)
    assert won.created
    assert won.lifecycle_stage == LifecycleStage.CUSTOMER
    assert isinstance(lost, outcomes.RecordedOutcome)
    assert lost.created
    assert isinstance(again, outcomes.RecordedOutcome)
    assert not again.created
    assert again.id == earlier.id
    assert isinstance(no_reason, outcomes.OutcomeRefused)
    assert no_reason.field == "reason"
    assert isinstance(nobody, outcomes.OutcomeRefused)
    assert nobody.field == "lead"
    assert isinstance(later, outcomes.RecordedOutcome)
    assert later.created
    queued.refresh_from_db()
    assert queued.status == QueueItem.Status.WON
    assert Lead.objects.get(pk=queued.lead_id).queue_team_id is None
    assert Outcome.objects.get(client_id="c-2").item_id == queued.pk
    assert Outcome.objects.get(client_id="c-2").source == "csv-import"
    assert Lead.objects.get(pk=free.pk).lifecycle_stage == LifecycleStage.CUSTOMER
    assert Outcome.objects.count() == 4
