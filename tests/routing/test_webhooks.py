"""Webhooks against a real HTTP server on loopback: signed, retried with backoff,
every attempt logged, and sent once whatever runs twice."""

from __future__ import annotations

import hmac
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing import services, tasks, webhooks
from routing.models import WebhookAttempt, WebhookDelivery
from scoring.models import GroupTransition, Lead, ScoreGroup
from tests.conftest import Workers, at_once, wait_for
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.conftest import DrippingReceiver, WebhookReceiver
from tests.routing.factories import adjust, rule


def verify(*, secret: str, body: bytes, header: str, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does (the README says how): check the signature and that it is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = webhooks.sign(secret=secret, body=body, timestamp=timestamp)
    return hmac.compare_digest(expected, header)


T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
SECRET = "s3cret-shared-with-the-crm"


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)


@pytest.fixture
def retry(settings: Any) -> Any:
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 30
    settings.LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS = 3600
    settings.LEADFLOW_WEBHOOK_MAX_ATTEMPTS = 4
    return settings


def hot_lead_with_webhook(hot: ScoreGroup, url: str, *, at: datetime = T0) -> Lead:
    """A webhook rule on entering ``hot``, a lead that enters it, and routing run once."""
    rule("enters_group", {"kind": "webhook", "url": url, "secret": SECRET}, group=hot, key="crm-sync")
    lead = LeadFactory.create(email="ana@shop.example", company="Shop")
    adjust(lead, 85)
    services.transitions_route(now=at)
    return lead


@pytest.mark.django_db
def test_the_call_is_signed_with_the_secret_and_says_what_happened(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver
) -> None:
    lead = hot_lead_with_webhook(hot, webhook_receiver.url)

    summary = webhooks.webhooks_deliver_due(now=T0)

    assert (summary.delivered, summary.retrying, summary.failed) == (1, 0, 0)
    [request] = webhook_receiver.requests
    assert request.path == "/hooks/leadflow"
    assert request.headers["Content-Type"] == "application/json"
    signature = request.headers[webhooks.SIGNATURE_HEADER]
    assert verify(secret=SECRET, body=request.body, header=signature)
    assert not verify(secret="another secret", body=request.body, header=signature)
    assert not verify(secret=SECRET, body=request.body + b" ", header=signature)
    payload = json.loads(request.body)
    assert payload["rule"] == "crm-sync"
    assert payload["lead"]["email"] == "ana@shop.example"
    assert (payload["lead"]["total_score"], payload["lead"]["score_group"]) == (85, "hot")
    assert (payload["event"]["kind"], payload["event"]["total"], payload["event"]["previous_total"]) == ("score", 85, 0)
    delivery = WebhookDelivery.objects.get()
    assert request.headers[webhooks.DELIVERY_HEADER] == str(delivery.pk)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.run.transition.lead_id == lead.pk
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [200]


def test_an_old_or_malformed_signature_is_refused() -> None:
    body = b'{"a": 1}'
    header = webhooks.sign(secret=SECRET, body=body, timestamp=1_000_000)
    assert verify(secret=SECRET, body=body, header=header, now=1_000_100)
    assert not verify(secret=SECRET, body=body, header=header, now=1_000_000 + 301)  # a replay
    assert not verify(secret=SECRET, body=body, header="v1=abc", now=1_000_000)
    assert not verify(secret=SECRET, body=body, header="garbage", now=1_000_000)


def due_after(delivery: WebhookDelivery, *, now: datetime, wait: timedelta) -> datetime:
    """Run the sender at ``now`` (the call fails); check the retry waits ``wait`` after the
    attempt and not a moment less. Returns when it is due."""
    before = delivery.attempts
    assert webhooks.webhooks_deliver_due(now=now).retrying == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", before + 1)
    attempt = WebhookAttempt.objects.filter(delivery=delivery).latest("id")
    assert now <= attempt.at < now + timedelta(seconds=5)  # the caller's clock, not the wall clock
    assert delivery.next_attempt_at == attempt.at + wait
    calls = WebhookAttempt.objects.filter(delivery=delivery).count()
    assert webhooks.webhooks_deliver_due(now=delivery.next_attempt_at - timedelta(seconds=1)).retrying == 0
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == calls  # not due yet: not called
    return delivery.next_attempt_at


@pytest.mark.django_db
def test_a_failed_call_is_retried_with_backoff_and_every_attempt_is_logged(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, retry: Any
) -> None:
    hot_lead_with_webhook(hot, webhook_receiver.url)
    webhook_receiver.answer(500, 503)
    delivery = WebhookDelivery.objects.get()

    second = due_after(delivery, now=T0, wait=timedelta(seconds=30))
    third = due_after(delivery, now=second, wait=timedelta(seconds=60))  # the wait doubles

    assert webhooks.webhooks_deliver_due(now=third).delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [r.status for r in webhook_receiver.requests] == [500, 503, 200]
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert "HTTP 500" in attempts[0].error
    assert attempts[2].error == ""
    # Each retry is the same delivery to the receiver, with the same body, signed afresh.
    assert {r.headers[webhooks.DELIVERY_HEADER] for r in webhook_receiver.requests} == {str(delivery.pk)}
    assert len({r.body for r in webhook_receiver.requests}) == 1
    for request in webhook_receiver.requests:
        assert verify(secret=SECRET, body=request.body, header=request.headers[webhooks.SIGNATURE_HEADER])
    # Delivered: later runs leave it alone.
    assert webhooks.webhooks_deliver_due(now=third + timedelta(days=1)).delivered == 0
    assert len(webhook_receiver.requests) == 3


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt(hot: ScoreGroup, webhook_receiver: WebhookReceiver, retry: Any) -> None:
    hot_lead_with_webhook(hot, webhook_receiver.url)
    webhook_receiver.answer(500, 500, 500, 500, 500)
    at = T0
    results = []
    for _ in range(6):
        summary = webhooks.webhooks_deliver_due(now=at)
        results.append((summary.retrying, summary.failed))
        at += timedelta(hours=2)  # past any backoff
    assert results == [(1, 0), (1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 4)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 4
    assert len(webhook_receiver.requests) == 4


@pytest.mark.django_db
def test_backoff_is_capped(settings: Any) -> None:
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 30
    settings.LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS = 600
    waits = [webhooks.backoff(n).total_seconds() for n in range(1, 8)]
    assert waits == [30, 60, 120, 240, 480, 600, 600]


@pytest.mark.django_db
def test_a_receiver_that_does_not_answer_is_logged_and_retried(hot: ScoreGroup, retry: Any) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    hot_lead_with_webhook(hot, closed)

    assert webhooks.webhooks_deliver_due(now=T0).retrying == 1

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "ConnectError" in attempt.error
    assert WebhookDelivery.objects.get().next_attempt_at == attempt.at + timedelta(seconds=30)
    assert T0 <= attempt.at < T0 + timedelta(seconds=30)


@pytest.mark.django_db
def test_routing_twice_and_the_delivery_task_twice_send_once(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver
) -> None:
    hot_lead_with_webhook(hot, webhook_receiver.url, at=datetime.now(UTC))
    tasks.transitions_route_task()
    # A crash after acting but before the event was marked: routing sees it again.
    GroupTransition.objects.update(processed_at=None)
    tasks.transitions_route_task()

    tasks.webhooks_deliver_task()
    tasks.webhooks_deliver_task()

    assert WebhookDelivery.objects.count() == 1
    assert len(webhook_receiver.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("deadline", [1, 20, 600])
def test_a_sender_that_died_mid_call_is_retried_after_its_lease(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, settings: Any, deadline: int
) -> None:
    settings.LEADFLOW_WEBHOOK_DEADLINE_SECONDS = deadline
    hot_lead_with_webhook(hot, webhook_receiver.url)
    # A sender claims the delivery, then dies before calling out.
    [call] = webhooks._claim(now=T0, limit=10)

    lease = webhooks.lease()
    # The lease outlasts the last call the batch may start, cut at its deadline.
    assert lease > timedelta(seconds=webhooks.call_budget() + deadline)
    assert webhooks.webhooks_deliver_due(now=T0 + lease - timedelta(seconds=1)).delivered == 0
    assert webhook_receiver.requests == []
    assert webhooks.webhooks_deliver_due(now=T0 + lease).delivered == 1
    assert [r.headers[webhooks.DELIVERY_HEADER] for r in webhook_receiver.requests] == [str(call.id)]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_call_each_webhook_once(
    postgres: None, hot: ScoreGroup, webhook_receiver: WebhookReceiver
) -> None:
    rule("enters_group", {"kind": "webhook", "url": webhook_receiver.url, "secret": SECRET}, group=hot)
    for n in range(20):
        adjust(LeadFactory.create(email=f"l{n}@shop.example"), 90)
    services.transitions_route(now=T0)

    summaries = at_once(*[lambda: webhooks.webhooks_deliver_due(now=T0)] * 2)

    assert sum(s.delivered for s in summaries) == 20
    ids = [r.headers[webhooks.DELIVERY_HEADER] for r in webhook_receiver.requests]
    assert len(ids) == len(set(ids)) == 20
    assert WebhookAttempt.objects.count() == 20


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_dripping_receiver_is_cut_at_the_deadline_and_called_once(
    postgres: None, hot: ScoreGroup, dripping_receiver: DrippingReceiver, settings: Any
) -> None:
    """The receiver reads the call, then answers a byte every quarter second and never
    ends its headers. Each byte comes well within the timeout, so only the total
    deadline can end the call; meanwhile a second sender must not call again."""
    settings.LEADFLOW_WEBHOOK_DEADLINE_SECONDS = 2
    settings.LEADFLOW_WEBHOOK_TIMEOUT_SECONDS = 10
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 3600  # the retry is due long after the lease would be
    rule("enters_group", {"kind": "webhook", "url": dripping_receiver.url, "secret": SECRET}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)
    # The latest moment the first sender's batch may still be calling.
    busy_until = T0 + timedelta(seconds=webhooks.call_budget() + webhooks.deadline_seconds())

    def second_sender() -> webhooks.DeliverySummary:
        assert dripping_receiver.called.wait(timeout=30), "the first sender never called"
        return webhooks.webhooks_deliver_due(now=busy_until)

    first, second = at_once(lambda: webhooks.webhooks_deliver_due(now=T0), second_sender)

    assert (first.delivered, first.retrying, first.failed) == (0, 1, 0)
    assert second == webhooks.DeliverySummary()  # nothing was due for it: the call was the first's
    assert len(dripping_receiver.requests) == 1
    assert dripping_receiver.hung_up.wait(timeout=30)  # the sender cut the call, not the receiver
    attempt = WebhookAttempt.objects.get()
    assert attempt.error == (
        "Deadline: no complete answer within 2 s (LEADFLOW_WEBHOOK_DEADLINE_SECONDS); the call was cut"
    )
    assert attempt.status_code is None
    assert attempt.duration_ms >= 2000  # it was the deadline, not an early failure
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == attempt.at + timedelta(seconds=3600)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_delivers_to_a_network_its_environment_allows(
    celery_workers: Workers, hot: ScoreGroup, webhook_receiver: WebhookReceiver
) -> None:
    """The worker is another process: it reads the allowance (127.0.0.0/8 in these tests)
    from its environment, and resolves the host from a forked pool process."""
    celery_workers.start(1, concurrency=1)
    rule("enters_group", {"kind": "webhook", "url": webhook_receiver.url, "secret": SECRET}, group=hot)
    adjust(LeadFactory.create(), 85)

    services.transitions_route()  # queues the delivery and asks a worker to make it

    wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), message=celery_workers.logs())
    assert len(webhook_receiver.requests) == 1
