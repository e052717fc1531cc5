"""Sending due nurture steps: exactly once per (enrollment, step) in the sense that
matters for email, a step is never sent twice. :func:`deliveries_send_due` works in
three phases per batch (the first in :mod:`~nurture.services.claiming`, the second in
:mod:`~nurture.services.messages`):

1. **claim** (one transaction): lock due active enrollments (``FOR NO KEY
   UPDATE SKIP LOCKED`` on PostgreSQL), check their exit goals and the step's
   send window in the lead's time zone as it is now (outside it, the enrollment
   is moved to the window's next opening, unsent: the zone may have changed
   since the step was scheduled), insert a ``pending`` Delivery per message
   (unique per enrollment and step) and push the enrollments' ``next_run_at``
   forward by a lease; commit.
2. **send** (no transaction): render and send every message over one SMTP
   connection.
3. **record** (one transaction): mark deliveries sent / failed, and advance,
   retry or exit the enrollments.

A second run during phase 2 finds nothing due (the lease). If the sender is
killed in phase 2, its deliveries stay ``pending``: when the lease ends
(``LEADFLOW_NURTURE_LEASE_MINUTES``), the next run finds them and, since it
cannot know whether the SMTP server accepted them, marks them ``unknown`` and
moves the enrollment on **without sending again**: at most once, never twice.
The admin lists unknown deliveries (and counts them per step); the run's
summary and a warning in the log report them. A sender stopped by an
exception (a time limit, a shutdown) records what it knows first: only the
message in flight is left pending, those not yet handed over are retried.

An enrollment whose step cannot be prepared (phase 1) or whose outcome cannot
be recorded (phase 3) is set aside with its error (:mod:`scoring.setaside`):
it stops being due, its delivery still says what the message became, and the
rest of the batch goes on. A retry makes it due again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from nurture import goals, timing
from nurture.models import Delivery, Enrollment
from nurture.services.claiming import (
    ENROLLMENT_FIELDS,
    SET_ASIDE_ENROLLMENT,
    Outgoing,
    SendSummary,
    deliveries_claim,
    enrollments_set_aside,
    update_rows,
)
from nurture.services.enrollment import open_enrollments_exit
from nurture.services.facts import first_run_at, in_window, lead_time_zone
from nurture.services.messages import Outcome, close_quietly, deliveries_send
from scoring import setaside, suppression
from scoring.said import Said, said
from scoring.services import enqueue

logger = logging.getLogger(__name__)

STOPPED_BEFORE = said(gettext_noop("not sent: the sender stopped before it"))
# The delivery's error column holds this much English; its sentence holds the same, in parts.
_ERROR_CHARS = 2000


def _error_columns(error: Said | None) -> tuple[str, list[Any] | None]:
    """A delivery's error as its two columns keep it: the English, and the sentence."""
    return ("", None) if error is None else (error.english()[:_ERROR_CHARS], error.stored())


def deliveries_send_due(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    email_connection: BaseEmailBackend | None = None,
) -> SendSummary:
    """Send one batch of due steps (up to ``batch_size`` enrollments); see the module docstring.

    The number of queries does not depend on ``batch_size``. Returns what happened;
    ``claimed < batch_size`` means nothing more is due.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.LEADFLOW_NURTURE_BATCH_SIZE
    summary = SendSummary()
    outgoing = deliveries_claim(now=now, batch_size=batch_size, summary=summary)
    if outgoing:
        try:
            deliveries_send(outgoing, now=now, email_connection=email_connection)
        except BaseException:
            # Stopped mid-batch (a time limit, a shutdown): record what is known.
            # Messages never handed to the server wait for a retry; the one in
            # flight stays pending and becomes unknown when its lease ends.
            for item in outgoing:
                if item.status == Delivery.Status.PENDING and not item.handed_over:
                    item.status, item.error = Outcome.TEMPORARY, STOPPED_BEFORE
            _deliveries_record(outgoing, now=now, summary=summary)
            raise
        _deliveries_record(outgoing, now=now, summary=summary)
    return summary


def deliveries_send_all_due(
    *, now: datetime | None = None, batch_size: int | None = None, budget_seconds: float = 50
) -> SendSummary:
    """Send batches until nothing is due or ``budget_seconds`` passed (the periodic task)."""
    batch_size = batch_size or settings.LEADFLOW_NURTURE_BATCH_SIZE
    total = SendSummary()
    started = time.monotonic()
    email_connection = get_connection()
    try:
        while True:
            summary = deliveries_send_due(now=now, batch_size=batch_size, email_connection=email_connection)
            total.add(summary)
            if summary.claimed < batch_size or time.monotonic() - started > budget_seconds:
                return total
    finally:
        close_quietly(email_connection)


# What recording a message's fate writes of its delivery.
DELIVERY_FIELDS = ("status", "sent_at", "error", "error_said", "updated_at")


def _deliveries_record(outgoing: list[Outgoing], *, now: datetime, summary: SendSummary) -> None:
    """Phase 3: write what happened to each message, in one transaction. If that
    fails, the messages are recorded again in parts; an enrollment whose outcome
    cannot be recorded is set aside (no longer due), its message's fate still
    recorded where it can be, so a retry never sends it twice."""
    by_enrollment = {item.enrollment.pk: item for item in outgoing}

    def record(items: list[Outgoing]) -> SendSummary:
        part = SendSummary()
        _deliveries_record_rows(items, now=now, summary=part)
        return part

    def isolated() -> SendSummary:
        done = setaside.rows_isolate(
            kind=SET_ASIDE_ENROLLMENT,
            rows=[(pk, item.enrollment.lead_id) for pk, item in by_enrollment.items()],
            process=lambda ids: record([by_enrollment[pk] for pk in ids]),
            leave=lambda ids: _record_set_aside([by_enrollment[pk] for pk in ids], now=now),
        )
        total = SendSummary()
        for part in done.results:
            total.add(part)
        total.sent += sum(1 for pk in done.set_aside if by_enrollment[pk].status == Outcome.SENT)
        return total

    summary.add(setaside.batch_run(kind=SET_ASIDE_ENROLLMENT, run=lambda: record(outgoing), isolated=isolated))


def _record_set_aside(items: list[Outgoing], *, now: datetime) -> None:
    """Enrollments whose outcome could not be recorded leave the sender's way; their
    deliveries still say what the message became, each if it can: a retry then moves
    on from a sent message instead of sending it again. One that cannot stays
    pending, which a retry reads as unknown: not sent again either."""
    enrollments_set_aside([item.enrollment.pk for item in items])
    for item in items:
        if item.status == Delivery.Status.PENDING:
            continue
        try:
            with transaction.atomic():
                sent_at = now if item.status == Outcome.SENT else None
                row = (item.delivery_id, item.status, sent_at, *_error_columns(item.error), now)
                update_rows(Delivery, DELIVERY_FIELDS, [row], status_in=[Delivery.Status.PENDING])
        except Exception as exc:
            if setaside.is_transient(exc):
                raise
            logger.warning(
                "nurture: delivery %s left pending: its outcome cannot be written (%s)",
                item.delivery_id,
                type(exc).__name__,
            )


def _deliveries_record_rows(outgoing: list[Outgoing], *, now: datetime, summary: SendSummary) -> None:
    """:func:`_deliveries_record`'s statements; call in a transaction."""
    max_attempts = settings.LEADFLOW_NURTURE_MAX_ATTEMPTS
    base = timedelta(minutes=settings.LEADFLOW_NURTURE_RETRY_MINUTES)
    cap = timedelta(minutes=settings.LEADFLOW_NURTURE_RETRY_MAX_MINUTES)
    delivery_rows: list[tuple[Any, ...]] = []
    enrollment_rows: list[tuple[Any, ...]] = []
    bounced_leads: set[int] = set()
    for item in outgoing:
        e = item.enrollment
        status = item.status
        if status == Delivery.Status.PENDING:
            continue  # in flight when the sender stopped: left to the lease (see the module docstring)
        if status == Outcome.TEMPORARY and item.attempts >= max_attempts:
            status = Outcome.PERMANENT
            item.error = said(
                gettext_noop("gave up after {attempts} attempts; last error: {error}"),
                attempts=item.attempts,
                error=item.error or "",
            )
        sent_at = now if status == Outcome.SENT else None
        delivery_rows.append((item.delivery_id, status, sent_at, *_error_columns(item.error), now))
        if status == Outcome.SENT:
            summary.sent += 1
            if item.next_step is None:
                enrollment_rows.append((e.pk, item.step.position, None, Enrollment.Status.COMPLETED, "", now))
                summary.completed += 1
            else:
                run_at = first_run_at(step=item.next_step, after=now, tz=lead_time_zone(e.lead))
                enrollment_rows.append((e.pk, item.step.position, run_at, Enrollment.Status.ACTIVE, "", None))
        elif status == Outcome.TEMPORARY:
            summary.failed_temporary += 1
            retry = timing.retry_at(now=now, attempts=item.attempts, base=base, cap=cap)
            retry = in_window(step=item.step, due=retry, tz=lead_time_zone(e.lead))
            enrollment_rows.append((e.pk, e.position, retry, Enrollment.Status.ACTIVE, "", None))
        else:
            reason = goals.ExitReason.BOUNCED if status == Outcome.BOUNCED else goals.ExitReason.PERMANENT_FAILURE
            if status == Outcome.BOUNCED:
                summary.bounced += 1
                bounced_leads.add(e.lead_id)
            else:
                summary.failed_permanent += 1
            summary.exited[reason.value] = summary.exited.get(reason.value, 0) + 1
            enrollment_rows.append((e.pk, e.position, None, Enrollment.Status.EXITED, reason.value, now))
    update_rows(Delivery, DELIVERY_FIELDS, delivery_rows, status_in=[Delivery.Status.PENDING])
    update_rows(Enrollment, ENROLLMENT_FIELDS, enrollment_rows, status_in=[Enrollment.Status.ACTIVE])
    if bounced_leads:
        # The address is bad for every sequence, not only this one; on the suppression list
        # it stays bad after the lead is erased and for a lead created again with it.
        open_enrollments_exit(Enrollment.objects.filter(lead_id__in=bounced_leads), goals.ExitReason.BOUNCED, now)
        suppression.leads_suppress(lead_ids=bounced_leads, reason=suppression.Reason.BOUNCED, at=now)


DUE_AGAIN = said(gettext_noop("due again: the next send run takes it"))
NOT_ACTIVE = said(gettext_noop("no longer active: nothing to send"))


def _enrollments_retry(ids: list[int]) -> dict[int, str | Said]:
    """Retry set-aside enrollments: due now again; the next send run takes them."""
    now = timezone.now()
    due = set(
        Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE, next_run_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    Enrollment.objects.filter(pk__in=due).update(next_run_at=now)
    if due:
        transaction.on_commit(_send_enqueue)
    return {pk: DUE_AGAIN if pk in due else NOT_ACTIVE for pk in ids}


def _send_enqueue() -> None:
    enqueue("nurture.send_due", fallback="the minute nurture task sends it")


setaside.register_kind(
    setaside.Kind(
        SET_ASIDE_ENROLLMENT,
        gettext_noop("Enrollment (nurture)"),
        _enrollments_retry,
        "admin:nurture_enrollment_change",
    )
)
