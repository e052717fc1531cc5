"""Webhook calls: signed JSON POSTs to a CRM or chat tool, retried with backoff.

A delivery is created once per (event, action) by routing. Senders claim due
deliveries with ``SKIP LOCKED`` and push their next attempt past a lease
before calling out, so the slow HTTP call happens outside any transaction and
a second sender (or a re-run of the task) never calls the same delivery at
the same time; a sender starts no call its lease could not cover. Every
attempt is logged. Receivers can de-duplicate on the ``X-Leadflow-Delivery``
header, which stays the same across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from routing.models import WebhookAttempt, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leadflow-Signature"
DELIVERY_HEADER = "X-Leadflow-Delivery"


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.

    The timestamp is signed too, so a receiver can refuse old replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(*, secret: str, body: bytes, header: str, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does: check the signature and that it is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp)
    return hmac.compare_digest(expected, header)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: base * 2^(attempts - 1), capped."""
    base = settings.LEADFLOW_WEBHOOK_RETRY_SECONDS
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), settings.LEADFLOW_WEBHOOK_RETRY_MAX_SECONDS))


@dataclass
class DeliverySummary:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Call:
    id: int
    url: str
    body: bytes
    secret: str
    attempts: int


def lease() -> timedelta:
    """How long a claimed batch is its sender's: room for the calls started within
    :func:`call_budget`, each of which may wait the timeout to connect, send and read."""
    return timedelta(seconds=settings.LEADFLOW_WEBHOOK_TIMEOUT_SECONDS * 4 + 60)


def call_budget() -> float:
    """Seconds into a batch after which no new call starts, so every call ends inside the lease."""
    return lease().total_seconds() - settings.LEADFLOW_WEBHOOK_TIMEOUT_SECONDS * 3 - 30


def _claim(*, now: datetime, limit: int) -> list[_Call]:
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .select_related("run__action")
            .order_by("next_attempt_at")[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in due]).update(next_attempt_at=now + lease())
    return [
        _Call(d.pk, d.url, json.dumps(d.payload, sort_keys=True).encode(), d.run.action.secret, d.attempts) for d in due
    ]


def webhooks_deliver_due(
    *, now: datetime | None = None, limit: int = 100, client: httpx.Client | None = None
) -> DeliverySummary:
    """Make the due webhook calls. A 2xx answer delivers; anything else (or no
    answer) is retried with backoff, up to ``LEADFLOW_WEBHOOK_MAX_ATTEMPTS``."""
    now = now or timezone.now()
    summary = DeliverySummary()
    calls = _claim(now=now, limit=limit)
    if not calls:
        return summary
    own = client is None
    client = client or httpx.Client(timeout=settings.LEADFLOW_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False)
    started = time.monotonic()
    try:
        for index, call in enumerate(calls):
            if time.monotonic() - started > call_budget():
                # Out of time: the rest are due again now, for this sender's next run or another's.
                WebhookDelivery.objects.filter(pk__in=[c.id for c in calls[index:]]).update(next_attempt_at=now)
                break
            # The caller's clock, moved on by the time this batch has taken so far.
            _deliver(call, client, summary, at=now + timedelta(seconds=time.monotonic() - started))
    finally:
        if own:
            client.close()
    return summary


def _deliver(call: _Call, client: httpx.Client, summary: DeliverySummary, *, at: datetime) -> None:
    """Make one call that starts ``at``; log it, and deliver, retry or give up."""
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        response = client.post(
            call.url,
            content=call.body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Leadflow-Webhook/1",
                SIGNATURE_HEADER: sign(secret=call.secret, body=call.body, timestamp=int(time.time())),
                DELIVERY_HEADER: str(call.id),
            },
        )
        status_code = response.status_code
        if not response.is_success:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    attempts = call.attempts + 1
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=call.id,
            at=at,
            status_code=status_code,
            error=error[:300],
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        if not error:
            WebhookDelivery.objects.filter(pk=call.id).update(
                status=WebhookDelivery.Status.DELIVERED, attempts=attempts, delivered_at=at
            )
            summary.delivered += 1
        elif attempts >= settings.LEADFLOW_WEBHOOK_MAX_ATTEMPTS:
            WebhookDelivery.objects.filter(pk=call.id).update(status=WebhookDelivery.Status.FAILED, attempts=attempts)
            logger.warning("webhook %s to %s failed for good after %s attempts: %s", call.id, call.url, attempts, error)
            summary.failed += 1
        else:
            WebhookDelivery.objects.filter(pk=call.id).update(attempts=attempts, next_attempt_at=at + backoff(attempts))
            summary.retrying += 1
