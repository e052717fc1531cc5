"""Webhook calls: signed JSON POSTs to a CRM or chat tool, retried with backoff.

A delivery is created once per (event, action) by routing. Senders claim due
deliveries with ``SKIP LOCKED`` and push their next attempt past a lease
before calling out, so the slow HTTP call happens outside any transaction and
a second sender (or a re-run of the task) never calls the same delivery at
the same time: each call has a total deadline, a sender starts no call after
its batch's budget, and the lease outlasts both. Calls go only to addresses
:mod:`routing.egress` allows, checked again on connecting. A delivery that
cannot be read or prepared is set aside (:mod:`scoring.setaside`) and the
others are called. Every attempt is logged. Receivers can de-duplicate on the
``X-Leadflow-Delivery`` header, which stays the same across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from routing import egress
from routing.models import WebhookAttempt, WebhookDelivery
from routing.services.actions import webhooks_enqueue
from scoring import selectors, setaside
from scoring.said import AS_IT_CAME, Said, said

logger = logging.getLogger(__name__)

# What the sender sets aside (scoring.setaside): a webhook delivery that cannot be prepared.
SET_ASIDE_WEBHOOK = "webhook"

SIGNATURE_HEADER = "X-Leadflow-Signature"
DELIVERY_HEADER = "X-Leadflow-Delivery"


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.

    The timestamp is signed too, so a receiver can refuse old replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


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


# A batch starts no call after this many seconds, so the calls it started end inside its lease.
BATCH_SECONDS = 60
# Room after the last call's deadline: recording its attempt, and the clocks of other machines.
LEASE_MARGIN_SECONDS = 30
# Why a call was not made: the address it would reach (egress says why, in English).
REFUSED = gettext_noop("Refused: {problem}")

# Of a receiver's error answer, the attempt log keeps the start.
ERROR_BODY_BYTES = 1024


def deadline_seconds() -> float:
    """Every call ends within this (connect, send, wait, read), however slowly the receiver answers."""
    return float(settings.LEADFLOW_WEBHOOK_DEADLINE_SECONDS)


def call_budget() -> float:
    """Seconds into a batch after which no new call starts."""
    return float(BATCH_SECONDS)


def lease() -> timedelta:
    """How long a claimed batch is its sender's: longer than the last call it may start
    (at :func:`call_budget`) can last (its deadline), so no second sender calls the same
    delivery while the first may still be calling it."""
    return timedelta(seconds=call_budget() + deadline_seconds() + LEASE_MARGIN_SECONDS)


def webhook_client(*, ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """The client webhook calls go through: checked addresses only (:mod:`routing.egress`),
    no redirects followed, no proxy from the environment, the timeout on each wait."""
    return httpx.Client(
        transport=egress.GuardedTransport(ssl_context=ssl_context),
        timeout=settings.LEADFLOW_WEBHOOK_TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=False,
    )


def _due(now: datetime) -> QuerySet[WebhookDelivery]:
    """Deliveries due now that no other sender holds, in the order they fell due; those set
    aside stay out until retried."""
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .exclude(pk__in=selectors.set_aside_open(kind=SET_ASIDE_WEBHOOK).values("row_id"))
        .order_by("next_attempt_at", "id")
    )


def _prepare(delivery: WebhookDelivery) -> _Call:
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    return _Call(delivery.pk, delivery.url, body, delivery.run.action.secret, delivery.attempts)


def _calls_prepare(ids: list[int]) -> list[_Call]:
    """These locked deliveries, read and made ready to call (in due order). Call in a transaction."""
    due = WebhookDelivery.objects.filter(pk__in=ids).select_related("run__action").order_by("next_attempt_at", "id")
    return [_prepare(d) for d in due]


def _claim(*, now: datetime, limit: int) -> list[_Call]:
    """Claim up to ``limit`` due deliveries for one lease and make them ready to call. A
    delivery that cannot be read or prepared (its payload, its action) is set aside with
    its error (:mod:`scoring.setaside`) and the others are claimed as if it were not there."""

    def lease_out(ids: list[int]) -> None:
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + lease())

    def run() -> list[_Call]:
        calls = [_prepare(d) for d in _due(now).select_related("run__action")[:limit]]
        lease_out([c.id for c in calls])
        return calls

    def isolated() -> list[_Call]:
        claimed = list(_due(now).values_list("id", "run__transition__lead_id")[:limit])

        def prepare(ids: list[int]) -> list[_Call]:
            calls = _calls_prepare(ids)
            lease_out(ids)
            return calls

        done = setaside.rows_isolate(kind=SET_ASIDE_WEBHOOK, rows=claimed, process=prepare)
        return [call for part in done.results for call in part]

    return setaside.batch_run(kind=SET_ASIDE_WEBHOOK, run=run, isolated=isolated)


DUE_AGAIN = said(gettext_noop("due again: the next webhook run calls it"))
NO_LONGER_PENDING = said(gettext_noop("nothing to do: no longer pending"))


def deliveries_retry(ids: list[int]) -> dict[int, Said]:
    """Retry set-aside deliveries: prepared again now (one that still fails is set aside
    again) and, if still pending, due at once; the next webhook run calls them."""
    claimed = list(
        WebhookDelivery.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, status=WebhookDelivery.Status.PENDING)
        .order_by("next_attempt_at", "id")
        .values_list("id", "run__transition__lead_id")
    )

    def prepare(part: list[int]) -> list[int]:
        _calls_prepare(part)
        WebhookDelivery.objects.filter(pk__in=part).update(next_attempt_at=timezone.now())
        return part

    done = setaside.rows_isolate(kind=SET_ASIDE_WEBHOOK, rows=claimed, process=prepare)
    due = {pk for part in done.results for pk in part}
    if due:
        transaction.on_commit(webhooks_enqueue)
    return {pk: DUE_AGAIN if pk in due else NO_LONGER_PENDING for pk in ids if pk not in done.set_aside}


def webhooks_deliver_due(*, now: datetime | None = None, limit: int = 100) -> DeliverySummary:
    """Make the due webhook calls. A 2xx answer delivers; anything else (or no
    answer in time) is retried with backoff, up to ``LEADFLOW_WEBHOOK_MAX_ATTEMPTS``;
    a call to an address webhooks may not reach fails for good at once."""
    now = now or timezone.now()
    summary = DeliverySummary()
    calls = _claim(now=now, limit=limit)
    if not calls:
        return summary
    started = time.monotonic()
    with webhook_client() as client:
        for index, call in enumerate(calls):
            if time.monotonic() - started > call_budget():
                # Out of time: the rest are due again now, for this sender's next run or another's.
                WebhookDelivery.objects.filter(pk__in=[c.id for c in calls[index:]]).update(next_attempt_at=now)
                break
            # The caller's clock, moved on by the time this batch has taken so far.
            _deliver(call, client, summary, at=now + timedelta(seconds=time.monotonic() - started))
    return summary


def _post(call: _Call, client: httpx.Client) -> tuple[int, Said | None]:
    """POST the call; its status and, unless it is a 2xx, what went wrong."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Leadflow-Webhook/1",
        # Only the start of an error answer is read: a compressed one could unpack to any size.
        "Accept-Encoding": "identity",
        SIGNATURE_HEADER: sign(secret=call.secret, body=call.body, timestamp=int(time.time())),
        DELIVERY_HEADER: str(call.id),
    }
    with client.stream("POST", call.url, content=call.body, headers=headers) as response:
        status = response.status_code
        if response.is_success:
            return status, None  # the body is not needed, so a slow one cannot hold the call
        if response.is_redirect:
            return status, said(
                gettext_noop("HTTP {status}: redirect to {location} not followed"),
                status=status,
                location=response.headers.get("Location", "?")[:150],
            )
        start = b""
        for chunk in response.iter_raw():
            start += chunk
            if len(start) >= ERROR_BODY_BYTES:
                break
        # The receiver's status and answer, as they came.
        return status, said(
            "HTTP {status}: {answer}", status=status, answer=start[:ERROR_BODY_BYTES].decode(errors="replace")[:200]
        )


def _deliver(call: _Call, client: httpx.Client, summary: DeliverySummary, *, at: datetime) -> None:
    """Make one call that starts ``at``; log it, and deliver, retry or give up."""
    started = time.monotonic()
    status_code: int | None = None
    error: Said | None = None
    for_good = False  # retrying cannot help
    refused = egress.url_problem(call.url)  # a URL planted past the checks at save
    if refused:
        error, for_good = said(REFUSED, problem=refused), True
    elif not call.secret:
        error, for_good = (
            said(
                gettext_noop(
                    "No secret: the action's secret is empty or was encrypted with a key that is neither "
                    "SECRET_KEY nor in SECRET_KEY_FALLBACKS; set it again in the admin"
                )
            ),
            True,
        )
    else:
        try:
            with egress.deadline(deadline_seconds()):
                status_code, error = _post(call, client)
        except egress.EgressRefused as exc:
            error, for_good = said(REFUSED, problem=exc.said), True
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, egress.DeadlineExceeded):
                error = said(
                    gettext_noop(
                        "Deadline: no complete answer within {seconds} s "
                        "(LEADFLOW_WEBHOOK_DEADLINE_SECONDS); the call was cut"
                    ),
                    seconds=f"{deadline_seconds():g}",
                )
            else:
                error = said(AS_IT_CAME, error=f"{type(exc).__name__}: {exc}"[:300])
    attempts = call.attempts + 1
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=call.id,
            at=at,
            status_code=status_code,
            error="" if error is None else error.english()[:300],
            error_said=None if error is None else error.stored(),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        if error is None:
            WebhookDelivery.objects.filter(pk=call.id).update(
                status=WebhookDelivery.Status.DELIVERED, attempts=attempts, delivered_at=at
            )
            summary.delivered += 1
        elif for_good or attempts >= settings.LEADFLOW_WEBHOOK_MAX_ATTEMPTS:
            WebhookDelivery.objects.filter(pk=call.id).update(status=WebhookDelivery.Status.FAILED, attempts=attempts)
            logger.warning(
                "webhook %s to %s failed for good after %s attempts: %s", call.id, call.url, attempts, error.english()
            )
            summary.failed += 1
        else:
            WebhookDelivery.objects.filter(pk=call.id).update(attempts=attempts, next_attempt_at=at + backoff(attempts))
            summary.retrying += 1


def register() -> None:
    """Make the sender's set-aside rows known (their label and Retry), from RoutingConfig.ready()."""
    setaside.register_kind(
        setaside.Kind(
            SET_ASIDE_WEBHOOK,
            gettext_noop("Webhook delivery"),
            deliveries_retry,
            "admin:routing_webhookdelivery_change",
        )
    )
