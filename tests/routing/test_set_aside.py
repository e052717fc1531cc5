"""One bad row never stops routing: a lead event, a notification or a queue item that
cannot be processed is set aside with its error, the others are processed as if it
were not there, and a retry after fixing it processes it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing import services, sla, webhooks
from routing.models import ActionRun, Notification, Outcome, QueueItem, Team, WebhookDelivery
from scoring import setaside
from scoring.models import GroupTransition, Lead, SetAside
from tests.conftest import unreadable_time
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.conftest import Sink
from tests.routing.conftest import WebhookReceiver
from tests.routing.factories import QueueItemFactory, TeamFactory, adjust, rule

pytestmark = pytest.mark.django_db


def plant(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def plant_payload(delivery_id: int, text: str) -> None:
    """A webhook delivery's payload written as JSON text, past Django's JSON writer."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    plant(f"UPDATE routing_webhookdelivery SET payload = %s{cast} WHERE id = %s", [text, delivery_id])  # noqa: S608


def tags(lead: Lead) -> list[str]:
    attributes = Lead.objects.values_list("attributes", flat=True).get(pk=lead.pk)
    return list(attributes.get("tags", []))


def test_an_event_of_an_unknown_kind_is_set_aside_and_the_others_are_routed() -> None:
    vip = ScoreGroupFactory.create(key="vip", min_score=50)
    tagging = rule("enters_group", {"kind": "add_tag", "tag": "vip"}, group=vip)
    leads = [LeadFactory.create() for _ in range(5)]
    for lead in leads[:2]:
        adjust(lead, 60)
    plant(
        "INSERT INTO scoring_grouptransition (lead_id, kind, direction, total_score, cause, from_stage, to_stage,"
        " detail, occurred_at) VALUES (%s, 'merged', '', 0, 'import', '', '', '', %s)",
        [leads[2].pk, connection.ops.adapt_datetimefield_value(timezone.now())],
    )
    for lead in leads[3:]:
        adjust(lead, 60)
    bad = GroupTransition.objects.get(lead=leads[2])

    assert services.transitions_route() == 5

    assert [tags(lead) for lead in leads] == [["vip"], ["vip"], [], ["vip"], ["vip"]]
    assert ActionRun.objects.filter(action__rule=tagging).count() == 4
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.lead_id, row.error_type) == ("transition", bad.pk, leads[2].pk, "ValueError")
    assert "'merged' is not a valid EventKind" in row.error
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()
    # Again: nothing to do, nothing twice.
    assert services.transitions_route() == 0
    assert ActionRun.objects.count() == 4

    # The event fixed (it was a crossing into vip), then retried: routed once.
    GroupTransition.objects.filter(pk=bad.pk).update(kind="score", to_group=vip)
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert (retried.ok, retried.result) == (True, "routed")
    assert tags(leads[2]) == ["vip"]
    assert ActionRun.objects.filter(transition=bad).count() == 1
    assert services.transitions_route() == 0
    assert ActionRun.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_routing_that_goes_through_runs_as_before_without_a_savepoint_or_a_look_at_set_aside_rows() -> None:
    vip = ScoreGroupFactory.create(key="vip", min_score=50)
    rule("enters_group", {"kind": "add_tag", "tag": "vip"}, group=vip)
    leads = [LeadFactory.create() for _ in range(3)]
    for lead in leads:
        adjust(lead, 60)

    with CaptureQueriesContext(connection) as queries:
        assert services.transitions_route() == 3

    statements = " ".join(query["sql"] for query in queries)
    assert "SAVEPOINT" not in statements
    assert "scoring_setaside" not in statements
    assert [tags(lead) for lead in leads] == [["vip"]] * 3


def test_a_notification_that_cannot_be_built_is_set_aside_and_nothing_is_sent_twice(smtp: Sink) -> None:
    notes = [
        Notification.objects.create(to=[f"rep{n}@toys.example"], subject=f"Lead {n}", body="Waiting.") for n in range(3)
    ]
    plant("UPDATE routing_notification SET \"to\" = '42' WHERE id = %s", [notes[1].pk])

    assert services.notifications_send() == 2

    assert sorted(m["To"] for m in smtp.messages) == ["rep0@toys.example", "rep2@toys.example"]
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.error_type) == ("notification", notes[1].pk, "TypeError")
    # The next run sends nothing again, and leaves the bad one alone.
    assert services.notifications_send() == 0
    assert len(smtp.messages) == 2

    Notification.objects.filter(pk=notes[1].pk).update(to=["rep1@toys.example"])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok
    assert services.notifications_send() == 1
    assert sorted(m["To"] for m in smtp.messages) == [f"rep{n}@toys.example" for n in range(3)]
    assert services.notifications_send() == 0


def test_a_queue_item_whose_lead_cannot_be_read_is_set_aside_and_the_others_are_escalated() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.NOTIFY, email="sales@toys.example")
    now = timezone.now()
    items = [QueueItemFactory.create(team=team, entered_at=now - timedelta(hours=5 + n)) for n in range(3)]
    bad = items[1]
    # A lead row as an old bug left it: its decay base cannot be read back.
    time, error = unreadable_time()
    plant("UPDATE scoring_lead SET engagement_base_at = %s WHERE id = %s", [time, bad.lead_id])

    assert sla.items_escalate_overdue(now=now) == 2

    escalated = set(Outcome.objects.filter(kind=Outcome.Kind.ESCALATED).values_list("item_id", flat=True))
    assert escalated == {items[0].pk, items[2].pk}
    assert Notification.objects.count() == 2
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.lead_id) == ("sla", bad.pk, bad.lead_id)
    assert error in row.error
    assert QueueItem.objects.get(pk=bad.pk).escalated_at is None
    assert sla.items_escalate_overdue(now=now) == 0
    assert Outcome.objects.filter(kind=Outcome.Kind.ESCALATED).count() == 2

    plant("UPDATE scoring_lead SET engagement_base_at = NULL WHERE id = %s", [bad.lead_id])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert (retried.ok, retried.result) == (True, "escalated")
    assert Outcome.objects.filter(kind=Outcome.Kind.ESCALATED, item=bad).count() == 1
    assert Notification.objects.count() == 3
    assert sla.items_escalate_overdue() == 0


def test_a_webhook_delivery_that_cannot_be_prepared_is_set_aside_and_the_others_are_called(
    webhook_receiver: WebhookReceiver,
) -> None:
    hot = ScoreGroupFactory.create(key="hot", min_score=80)
    rule("enters_group", {"kind": "webhook", "url": webhook_receiver.url, "secret": "shared"}, group=hot)
    leads = [LeadFactory.create() for _ in range(4)]
    for lead in leads:
        adjust(lead, 85)
    services.transitions_route()
    deliveries = list(WebhookDelivery.objects.order_by("id").values_list("id", "run__transition__lead_id"))
    ids = [pk for pk, _ in deliveries]
    # As a bug or a hand edit could leave them, the database taking both: a payload nested deeper
    # than Python's JSON reader goes (SQLite's own JSON check takes up to 1,000 levels), and a
    # number of more digits than Python reads.
    plant_payload(ids[1], "[" * 990 + "]" * 990)
    plant_payload(ids[2], '{"lead": {"total_score": 1' + "0" * 5000 + "}}")

    summary = webhooks.webhooks_deliver_due()

    assert (summary.delivered, summary.retrying, summary.failed) == (2, 0, 0)
    assert sorted(int(r.headers[webhooks.DELIVERY_HEADER]) for r in webhook_receiver.requests) == [ids[0], ids[3]]
    rows = {row.row_id: row for row in SetAside.objects.all()}
    assert sorted(rows) == [ids[1], ids[2]]
    assert {row.kind for row in rows.values()} == {webhooks.SET_ASIDE_WEBHOOK}
    assert [rows[ids[n]].lead_id for n in (1, 2)] == [deliveries[1][1], deliveries[2][1]]
    assert [rows[ids[n]].error_type for n in (1, 2)] == ["RecursionError", "ValueError"]
    assert "integer string conversion" in rows[ids[2]].error
    # Left pending, and out of every later run's way: nothing is called twice, nothing fails every minute.
    assert set(WebhookDelivery.objects.filter(pk__in=ids[1:3]).values_list("status", flat=True)) == {"pending"}
    later = timezone.now() + timedelta(hours=1)
    assert webhooks.webhooks_deliver_due(now=later).delivered == 0
    assert len(webhook_receiver.requests) == 2

    # Fixed, then retried: each is called once.
    WebhookDelivery.objects.filter(pk__in=ids[1:3]).update(payload={"fixed": True})
    retried = setaside.rows_retry(ids=[row.pk for row in rows.values()])
    assert [(r.ok, r.result) for r in retried] == [(True, "due again: the next webhook run calls it")] * 2
    assert webhooks.webhooks_deliver_due(now=later).delivered == 2
    assert sorted(int(r.headers[webhooks.DELIVERY_HEADER]) for r in webhook_receiver.requests) == sorted(ids)
    assert webhooks.webhooks_deliver_due(now=later + timedelta(hours=1)).delivered == 0


def test_a_retried_webhook_delivery_that_still_cannot_be_prepared_stays_set_aside(
    webhook_receiver: WebhookReceiver,
) -> None:
    hot = ScoreGroupFactory.create(key="hot", min_score=80)
    rule("enters_group", {"kind": "webhook", "url": webhook_receiver.url, "secret": "shared"}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route()
    delivery = WebhookDelivery.objects.get()
    plant_payload(delivery.pk, '{"n": 1' + "0" * 5000 + "}")
    assert webhooks.webhooks_deliver_due().delivered == 0
    row = SetAside.objects.get()

    (retried,) = setaside.rows_retry(ids=[row.pk])

    assert not retried.ok
    assert retried.result.startswith("failed again: ValueError")
    row.refresh_from_db()
    assert (row.failures, row.resolved_at) == (2, None)
    assert webhooks.webhooks_deliver_due(now=timezone.now() + timedelta(hours=1)).delivered == 0
    assert webhook_receiver.requests == []
