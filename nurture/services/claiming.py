"""Phase 1 of sending (:mod:`nurture.services.sending`): due enrollments claimed, their
exit goals and send windows checked, and a pending delivery recorded per message before
anything is sent, each enrollment's lease taken, in one transaction."""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, F, Model, QuerySet, Value, When
from django.utils.translation import gettext_noop

from nurture import goals
from nurture.models import Delivery, Enrollment, Step
from nurture.services.facts import (
    claim_lease,
    first_run_at,
    in_window,
    lead_facts,
    lead_time_zone,
    suppression_exits,
)
from scoring import bulk, setaside
from scoring.models import Lead
from scoring.said import Said, said

logger = logging.getLogger(__name__)

# Why a delivery left pending past its lease is unknown: it may have gone out.
LAPSED = said(gettext_noop("sender stopped before recording the result"))


# What the sender sets aside (scoring.setaside): an enrollment whose step cannot be
# prepared or whose outcome cannot be recorded.
SET_ASIDE_ENROLLMENT = "enrollment"


@dataclass
class SendSummary:
    claimed: int = 0
    sent: int = 0
    failed_temporary: int = 0
    failed_permanent: int = 0
    bounced: int = 0
    unknown: int = 0
    completed: int = 0
    # Due, but outside the step's send window in the lead's time zone as it is now:
    # moved to the window's next opening, not sent.
    rescheduled: int = 0
    exited: dict[str, int] = field(default_factory=dict)

    def add(self, other: SendSummary) -> None:
        names = ("claimed", "sent", "failed_temporary", "failed_permanent", "bounced", "unknown", "completed")
        for name in (*names, "rescheduled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.exited.items():
            self.exited[reason] = self.exited.get(reason, 0) + count


@dataclass
class Outgoing:
    """A message claimed in phase 1, sent in phase 2, recorded in phase 3."""

    enrollment: Enrollment
    step: Step
    next_step: Step | None
    delivery_id: int
    message_id: str
    attempts: int
    status: str = Delivery.Status.PENDING
    error: Said | None = None
    handed_over: bool = False  # given to the SMTP connection: it may have been accepted


def _message_id(enrollment_id: int, step_id: int) -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "leadflow"
    return f"<nurture.{enrollment_id}.{step_id}.{secrets.token_hex(6)}@{domain}>"


def update_rows(model: type[Model], field_names: Seq[str], rows: Seq[tuple[Any, ...]], *, status_in: Seq[str]) -> None:
    """UPDATE ``field_names`` of the rows whose pk is each row's first value, only where
    ``status`` is still one of ``status_in``: a row changed meanwhile (a lead unsubscribed
    while its message was being sent) keeps its newer state. One statement. JSON fields
    take Python values, as the ORM does."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        fields: list[Any] = [model._meta.pk, *(model._meta.get_field(name) for name in field_names)]
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(f.column) for f in fields)
        types = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
        sql = (
            f"UPDATE {table} SET {assignments} FROM unnest({types}) AS v ({names}) "  # noqa: S608
            f"WHERE {table}.id = v.id AND {table}.status = ANY(%s::text[])"
        )
        columns = [list(column) for column in zip(*rows, strict=True)]
        bulk.json_as_text(fields, columns)
        with connection.cursor() as cursor:
            cursor.execute(sql, [*columns, list(status_in)])
        return
    if connection.vendor == "sqlite" and bulk.SQLITE_UPDATE_FROM:
        marks = ", ".join(["%s"] * len(status_in))
        bulk.sqlite_values_update(model, field_names, rows, where=f"status IN ({marks})", params=list(status_in))
        return
    ids = [row[0] for row in rows]
    updates: dict[str, Any] = {}
    for index, name in enumerate(field_names, start=1):
        output: Any = model._meta.get_field(name)
        updates[name] = Case(
            *(When(pk=row[0], then=Value(row[index], output_field=output)) for row in rows),
            default=F(name),
        )
    model._default_manager.filter(pk__in=ids, status__in=list(status_in)).update(**updates)


ENROLLMENT_FIELDS = ("position", "next_run_at", "status", "exit_reason", "ended_at")


def _due(*, now: datetime, ids: Seq[int] | None = None) -> QuerySet[Enrollment]:
    queryset = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, next_run_at__lte=now, sequence__active=True
    ).order_by("next_run_at", "id")
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    if connection.vendor == "postgresql":
        # SKIP LOCKED: concurrent senders take disjoint batches instead of waiting.
        queryset = queryset.select_for_update(skip_locked=True, no_key=True, of=("self",))
    return queryset


def _claim(*, now: datetime, batch_size: int, ids: Seq[int] | None = None) -> list[Enrollment]:
    queryset = _due(now=now, ids=ids).select_related(
        "lead", "lead__account", "lead__score_group", "sequence", "sequence__exit_on_group_reached"
    )
    return list(queryset[:batch_size])


def enrollments_set_aside(ids: list[int]) -> None:
    """Out of the sender's way (never due) until retried; still active."""
    Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE).update(next_run_at=None)


def _next_step(steps: list[Step], position: int) -> Step | None:
    return next((s for s in steps if s.position > position), None)


def deliveries_claim(*, now: datetime, batch_size: int, summary: SendSummary) -> list[Outgoing]:
    """Phase 1: claim due enrollments and prepare their messages, in one transaction.
    If that fails, the batch is claimed again and prepared in parts; an enrollment
    that fails alone is set aside (no longer due) and the others go on."""

    def run() -> tuple[list[Outgoing], SendSummary]:
        enrollments = _claim(now=now, batch_size=batch_size)
        part = SendSummary(claimed=len(enrollments))
        return _deliveries_prepare(enrollments, now=now, summary=part), part

    def isolated() -> tuple[list[Outgoing], SendSummary]:
        claimed = list(_due(now=now).values_list("id", "lead_id")[:batch_size])
        done = setaside.rows_isolate(
            kind=SET_ASIDE_ENROLLMENT, rows=claimed, process=prepare, leave=enrollments_set_aside
        )
        outgoing: list[Outgoing] = []
        total = SendSummary(claimed=len(claimed))
        for items, part in done.results:
            outgoing += items
            total.add(part)
        return outgoing, total

    def prepare(ids: list[int]) -> tuple[list[Outgoing], SendSummary]:
        part = SendSummary()
        return _deliveries_prepare(_claim(now=now, batch_size=len(ids), ids=ids), now=now, summary=part), part

    outgoing, part = setaside.batch_run(kind=SET_ASIDE_ENROLLMENT, run=run, isolated=isolated)
    summary.add(part)
    return outgoing


def _deliveries_prepare(enrollments: list[Enrollment], *, now: datetime, summary: SendSummary) -> list[Outgoing]:
    """Phase 1 for claimed enrollments: exits, completions, and a pending delivery per
    message to send, each enrollment's lease taken. Call in the claim's transaction."""
    if not enrollments:
        return []
    steps: dict[int, list[Step]] = defaultdict(list)
    sequences = {e.sequence_id: e.sequence for e in enrollments}
    for step in Step.objects.filter(sequence_id__in=sequences).order_by("position"):
        step.sequence = sequences[step.sequence_id]  # the campaign key reads it: no query per step
        steps[step.sequence_id].append(step)
    existing = {
        (d.enrollment_id, d.step_id): d
        for d in Delivery.objects.filter(enrollment_id__in=[e.pk for e in enrollments]).only(
            "id", "enrollment_id", "step_id", "status", "attempts", "updated_at", "message_id"
        )
    }
    lease = claim_lease()
    outgoing: list[Outgoing] = []
    new_deliveries: list[Delivery] = []
    retried: list[tuple[Any, ...]] = []
    unknown: list[tuple[Any, ...]] = []
    enrollment_rows: list[tuple[Any, ...]] = []
    window_opens: dict[tuple[int, str], datetime] = {}  # (step, zone): a batch shares a few of each

    def window_opening(step: Step, lead: Lead) -> datetime:
        """When ``step``'s send window next opens for ``lead`` (``now`` if it is open),
        in the lead's time zone as it is now: the zone may have been set or changed
        since the step was scheduled (a CRM filling it in after enrollment)."""
        tz = lead_time_zone(lead)
        key = (step.pk, tz.key)
        if key not in window_opens:
            window_opens[key] = in_window(step=step, due=now, tz=tz)
        return window_opens[key]

    def end(e: Enrollment, status: str, reason: str = "") -> None:
        enrollment_rows.append((e.pk, e.position, None, status, reason, now))
        if status == Enrollment.Status.EXITED:
            summary.exited[reason] = summary.exited.get(reason, 0) + 1
        else:
            summary.completed += 1

    suppressed = suppression_exits(e.lead for e in enrollments)  # one query for the batch
    for e in enrollments:
        lead = e.lead
        reason = suppressed.get(lead.pk) or goals.exit_reason(e.sequence.exit_goals(), lead_facts(lead))
        if reason is None and not lead.email:
            reason = goals.ExitReason.PERMANENT_FAILURE
        if reason is not None:
            end(e, Enrollment.Status.EXITED, reason.value)
            continue
        sequence_steps = steps[e.sequence_id]
        step_or_none = _next_step(sequence_steps, e.position)
        if step_or_none is None:
            end(e, Enrollment.Status.COMPLETED)
            continue
        step = step_or_none
        following = _next_step(sequence_steps, step.position)
        previous = existing.get((e.pk, step.pk))
        if previous is None or previous.status == Delivery.Status.FAILED_TEMPORARY:
            opens = window_opening(step, lead)
            if opens > now:
                # Checked again now, not only when the step was scheduled: outside the
                # window it waits, unsent, for the next opening (a re-run finds it not due).
                enrollment_rows.append((e.pk, e.position, opens, e.status, "", None))
                summary.rescheduled += 1
                continue
        if previous is None:
            delivery = Delivery(
                enrollment_id=e.pk,
                step_id=step.pk,
                message_id=_message_id(e.pk, step.pk),
                status=Delivery.Status.PENDING,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
            new_deliveries.append(delivery)
            outgoing.append(Outgoing(e, step, following, 0, delivery.message_id, 1))
        elif previous.status == Delivery.Status.FAILED_TEMPORARY:
            attempts = previous.attempts + 1
            retried.append((previous.pk, Delivery.Status.PENDING, attempts, "", None, now))
            outgoing.append(Outgoing(e, step, following, previous.pk, previous.message_id, attempts))
        elif previous.status == Delivery.Status.PENDING and previous.updated_at > now - lease:
            # Another sender holds it (its lease was cut short by an edit): wait for the lease.
            enrollment_rows.append((e.pk, e.position, previous.updated_at + lease, e.status, "", None))
            continue
        elif previous.status in (Delivery.Status.FAILED_PERMANENT, Delivery.Status.BOUNCED):
            reason = (
                goals.ExitReason.BOUNCED
                if previous.status == Delivery.Status.BOUNCED
                else goals.ExitReason.PERMANENT_FAILURE
            )
            end(e, Enrollment.Status.EXITED, reason.value)
            continue
        else:
            # Sent, unknown, or pending past its lease: the sender that held it
            # died between committing the claim and recording the result. The
            # SMTP server may have accepted it; sending again could duplicate,
            # so it is recorded as unknown and the enrollment moves on.
            if previous.status == Delivery.Status.PENDING:
                unknown.append((previous.pk, Delivery.Status.UNKNOWN, LAPSED.english(), LAPSED.stored(), now))
                summary.unknown += 1
                logger.warning(
                    "nurture: delivery %s (%s) was claimed at %s but never recorded; marked unknown, not re-sent",
                    previous.pk,
                    previous.message_id,
                    previous.updated_at,
                )
            e.position = step.position
            if following is None:
                end(e, Enrollment.Status.COMPLETED)
            else:
                run_at = first_run_at(step=following, after=now, tz=lead_time_zone(lead))
                enrollment_rows.append((e.pk, e.position, run_at, e.status, "", None))
            continue
        # Claimed for sending: nobody else takes it until the lease ends.
        enrollment_rows.append((e.pk, e.position, now + lease, e.status, "", None))

    if new_deliveries:
        created = Delivery.objects.bulk_create(new_deliveries)
        by_message = {d.message_id: d.pk for d in created}
        for item in outgoing:
            if not item.delivery_id:
                item.delivery_id = by_message[item.message_id]
    update_rows(
        Delivery,
        ("status", "attempts", "error", "error_said", "updated_at"),
        retried,
        status_in=[Delivery.Status.FAILED_TEMPORARY],
    )
    update_rows(Delivery, ("status", "error", "error_said", "updated_at"), unknown, status_in=[Delivery.Status.PENDING])
    update_rows(Enrollment, ENROLLMENT_FIELDS, enrollment_rows, status_in=[Enrollment.Status.ACTIVE])
    return outgoing
