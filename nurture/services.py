"""Everything that writes nurture state: enrollments, deliveries, unsubscribes, imports.

Sending is exactly-once per (enrollment, step) in the sense that matters for
email: a step is never sent twice. :func:`deliveries_send_due` works in three
phases per batch:

1. **claim** (one transaction): lock due active enrollments (``FOR NO KEY
   UPDATE SKIP LOCKED`` on PostgreSQL), check their exit goals, insert a
   ``pending`` Delivery per message (unique per enrollment and step) and push
   the enrollments' ``next_run_at`` forward by a lease; commit.
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
import secrets
import smtplib
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, Model, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from nurture import content, goals, sequence_file, timing
from nurture.models import Delivery, EngagementCursor, Enrollment, Sequence, Step
from scoring import bulk, setaside, suppression
from scoring.models import Interaction, Lead, ScoreGroup

logger = logging.getLogger(__name__)

OPEN = [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED]

# What the sender sets aside (scoring.setaside): an enrollment whose step cannot be
# prepared or whose outcome cannot be recorded.
SET_ASIDE_ENROLLMENT = "enrollment"


def claim_lease() -> timedelta:
    """How long a claimed batch is its sender's; pending deliveries older than this are 'unknown'."""
    return timedelta(minutes=settings.LEADFLOW_NURTURE_LEASE_MINUTES)


def lead_time_zone(lead: Lead) -> zoneinfo.ZoneInfo:
    account = lead.account if lead.account_id else None
    return timing.time_zone(lead.time_zone, account.time_zone if account else None, default=settings.TIME_ZONE)


def lead_facts(lead: Lead) -> goals.LeadFacts:
    group = lead.score_group if lead.score_group_id else None
    return goals.LeadFacts(
        unsubscribed=lead.unsubscribed_at is not None,
        group_id=lead.score_group_id,
        group_min_score=group.min_score if group is not None else None,
        lifecycle_stage=lead.lifecycle_stage,
        has_owner=lead.owner_id is not None,
    )


def _suppression_exits(leads: Iterable[Lead]) -> dict[int, goals.ExitReason]:
    """Why each lead whose address is on the suppression list must leave its
    sequences (one query for all). A lead unsubscribed already exits as such."""
    emails = {lead.pk: lead.email for lead in leads if lead.email and lead.unsubscribed_at is None}
    listed = suppression.addresses_suppressed(addresses=emails.values())
    return {
        pk: goals.ExitReason.BOUNCED if reason == suppression.Reason.BOUNCED else goals.ExitReason.UNSUBSCRIBED
        for pk, email in emails.items()
        if (reason := listed.get(suppression.address_normalise(email))) is not None
    }


def _first_run_at(*, step: Step, after: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return _in_window(step=step, due=timing.step_due(previous=after, wait=step.wait), tz=tz)


def _in_window(*, step: Step, due: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The step's first send time at or after ``due``. A window that cannot open (edited
    into the database past the admin's checks) is ignored rather than stopping the batch."""
    try:
        return timing.next_send_time(due, step.window(), tz)
    except ValueError as exc:
        logger.error("nurture: step %s has an impossible send window (%s); sending without it", step.pk, exc)
        return due


# --- enrolling ---------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollResult:
    enrollment: Enrollment | None
    refusal: str = ""  # why nobody was enrolled, for a person


def enrollment_start(*, lead: Lead, sequence: Sequence, now: datetime | None = None) -> Enrollment | None:
    """Enroll ``lead`` in ``sequence`` if consent, exit goals and the re-enrollment policy allow.

    Returns the new enrollment, or None (see :func:`enrollment_try_start` for why).
    """
    return enrollment_try_start(lead=lead, sequence=sequence, now=now).enrollment


@transaction.atomic
def enrollment_try_start(*, lead: Lead, sequence: Sequence, now: datetime | None = None) -> EnrollResult:
    """:func:`enrollment_start`, saying why not when it does not enroll.

    Two callers enrolling the same lead at once: the partial unique
    constraint (one open enrollment per lead and sequence) lets one win; the
    other gets "already enrolled".
    """
    now = now or timezone.now()
    try:
        fresh = Lead.objects.select_related("account", "score_group").get(pk=lead.pk)
    except Lead.DoesNotExist:
        return EnrollResult(None, "lead no longer exists")
    if _suppression_exits([fresh]):
        # The address is on the suppression list (its owner opted out, perhaps as a
        # lead since erased and now created again): never mail it, and show it.
        suppression.leads_unsubscribe_suppressed(lead_ids=[fresh.pk], at=now)
        return EnrollResult(None, "suppressed")
    sequence = Sequence.objects.select_related("exit_on_group_reached").get(pk=sequence.pk)
    first = sequence.steps.order_by("position").first()
    statuses = set(Enrollment.objects.filter(lead=fresh, sequence=sequence).values_list("status", flat=True))
    history = goals.History(
        has_open=bool(statuses & set(OPEN)),
        has_ended=bool(statuses - set(OPEN)),
        address_bounced=Delivery.objects.filter(enrollment__lead=fresh, status=Delivery.Status.BOUNCED).exists(),
    )
    decision = goals.enrollment_decision(
        policy=goals.ReenrollPolicy(sequence.reenroll),
        history=history,
        lead=lead_facts(fresh),
        goals=sequence.exit_goals(),
        has_email=bool(fresh.email),
        sequence_active=sequence.active,
        has_steps=first is not None,
    )
    if not decision.start:
        return EnrollResult(None, decision.refusal)
    assert first is not None
    if decision.close_open:
        _exit(Enrollment.objects.filter(lead=fresh, sequence=sequence), goals.ExitReason.RESTARTED, now)
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                lead=fresh,
                sequence=sequence,
                enrolled_at=now,
                next_run_at=_first_run_at(step=first, after=now, tz=lead_time_zone(fresh)),
            )
    except IntegrityError:
        return EnrollResult(None, "already enrolled")
    return EnrollResult(enrollment)


@dataclass
class EnrollSummary:
    enrolled: int = 0
    refused: dict[str, list[str]] = field(default_factory=dict)  # reason -> emails
    unknown: list[str] = field(default_factory=list)  # emails of no lead

    def describe(self) -> str:
        parts = [f"{self.enrolled} lead(s) enrolled."]
        for reason, emails in sorted(self.refused.items()):
            parts.append(f"Not enrolled, {reason}: {', '.join(emails[:20])}{' …' if len(emails) > 20 else ''}.")
        if self.unknown:
            parts.append(f"No lead with these emails: {', '.join(self.unknown[:20])}.")
        return " ".join(parts)


def enrollments_start_by_email(
    *, sequence: Sequence, emails: Iterable[str], now: datetime | None = None
) -> EnrollSummary:
    """Enroll the leads with these emails (case-insensitive), each through :func:`enrollment_try_start`."""
    now = now or timezone.now()
    wanted = list(dict.fromkeys(e.strip() for e in emails if e.strip()))
    leads = {
        str(lead.email).lower(): lead
        for lead in Lead.objects.annotate(email_lower=Lower("email")).filter(
            email_lower__in=[e.lower() for e in wanted]
        )
    }
    summary = EnrollSummary()
    for email in wanted:
        lead = leads.get(email.lower())
        if lead is None:
            summary.unknown.append(email)
            continue
        result = enrollment_try_start(lead=lead, sequence=sequence, now=now)
        if result.enrollment is not None:
            summary.enrolled += 1
        else:
            summary.refused.setdefault(result.refusal, []).append(email)
    return summary


def enrollments_start_for_leads(
    *, sequence: Sequence, leads: Iterable[Lead], now: datetime | None = None
) -> EnrollSummary:
    now = now or timezone.now()
    summary = EnrollSummary()
    for lead in leads:
        result = enrollment_try_start(lead=lead, sequence=sequence, now=now)
        if result.enrollment is not None:
            summary.enrolled += 1
        else:
            summary.refused.setdefault(result.refusal, []).append(str(lead))
    return summary


def enrollments_start_many(
    *, sequence: Sequence, lead_ids: Iterable[int], now: datetime | None = None
) -> dict[int, str]:
    """Enroll these leads in ``sequence`` with a constant number of queries (routing's
    bulk path); the same decisions as :func:`enrollment_try_start`. Returns, per
    lead id, "" when enrolled, else why not."""
    now = now or timezone.now()
    ids = list(dict.fromkeys(lead_ids))
    leads = list(
        Lead.objects.filter(pk__in=ids)
        .select_related("account", "score_group")
        .only(
            "email",
            "unsubscribed_at",
            "lifecycle_stage",
            "owner_id",
            "time_zone",
            "score_group__min_score",
            "account__time_zone",
        )
    )
    sequence = Sequence.objects.select_related("exit_on_group_reached").get(pk=sequence.pk)
    first = sequence.steps.order_by("position").first()
    statuses: dict[int, set[str]] = defaultdict(set)
    for lead_id, status in Enrollment.objects.filter(lead_id__in=ids, sequence=sequence).values_list(
        "lead_id", "status"
    ):
        statuses[lead_id].add(status)
    bounced = set(
        Delivery.objects.filter(enrollment__lead_id__in=ids, status=Delivery.Status.BOUNCED).values_list(
            "enrollment__lead_id", flat=True
        )
    )
    results: dict[int, str] = {pk: "lead no longer exists" for pk in ids}
    suppressed = _suppression_exits(leads)
    restart: list[int] = []
    new: list[tuple[int, datetime]] = []  # (lead id, first step due)
    exit_goals = sequence.exit_goals()
    first_run: dict[str, datetime] = {}  # by time zone: most leads share a few
    for lead in leads:
        if lead.pk in suppressed:
            results[lead.pk] = "suppressed"
            continue
        history = goals.History(
            has_open=bool(statuses[lead.pk] & set(OPEN)),
            has_ended=bool(statuses[lead.pk] - set(OPEN)),
            address_bounced=lead.pk in bounced,
        )
        decision = goals.enrollment_decision(
            policy=goals.ReenrollPolicy(sequence.reenroll),
            history=history,
            lead=lead_facts(lead),
            goals=exit_goals,
            has_email=bool(lead.email),
            sequence_active=sequence.active,
            has_steps=first is not None,
        )
        results[lead.pk] = decision.refusal
        if not decision.start:
            continue
        assert first is not None
        if decision.close_open:
            restart.append(lead.pk)
        tz = lead_time_zone(lead)
        if tz.key not in first_run:
            first_run[tz.key] = _first_run_at(step=first, after=now, tz=tz)
        new.append((lead.pk, first_run[tz.key]))
    with transaction.atomic():
        if suppressed:
            suppression.leads_unsubscribe_suppressed(lead_ids=list(suppressed), at=now)
        if restart:
            _exit(Enrollment.objects.filter(lead_id__in=restart, sequence=sequence), goals.ExitReason.RESTARTED, now)
        # Another enrollment of the same lead committed meanwhile: the partial unique
        # constraint refuses ours; those leads are "already enrolled".
        mine = _enrollments_insert(sequence=sequence, rows=new, now=now)
    for lead_id, _ in new:
        if lead_id not in mine:
            results[lead_id] = "already enrolled"
    return results


def _enrollments_insert(*, sequence: Sequence, rows: Seq[tuple[int, datetime]], now: datetime) -> set[int]:
    """Insert active enrollments (lead id, first step due) unless the lead has an open
    one already; returns the lead ids inserted."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        inserted = bulk.pg_execute(
            "INSERT INTO nurture_enrollment (lead_id, sequence_id, position, next_run_at, status, exit_reason,"
            " enrolled_at) SELECT l, %s, 0, d, 'active', '', %s FROM unnest(%s::bigint[], %s::timestamptz[]) AS u(l, d)"
            " ON CONFLICT DO NOTHING RETURNING lead_id",
            [sequence.pk, now, [r[0] for r in rows], [r[1] for r in rows]],
        )
        return {row[0] for row in inserted}
    Enrollment.objects.bulk_create(
        [Enrollment(lead_id=pk, sequence=sequence, enrolled_at=now, next_run_at=due) for pk, due in rows],
        ignore_conflicts=True,
    )
    return set(
        Enrollment.objects.filter(
            lead_id__in=[r[0] for r in rows], sequence=sequence, enrolled_at=now, status__in=OPEN
        ).values_list("lead_id", flat=True)
    )


def _exit(queryset: Any, reason: goals.ExitReason, now: datetime) -> int:
    return int(
        queryset.filter(status__in=OPEN).update(
            status=Enrollment.Status.EXITED, exit_reason=reason.value, ended_at=now, next_run_at=None
        )
    )


def enrollment_exit(
    *,
    lead: Lead,
    sequence: Sequence,
    reason: goals.ExitReason = goals.ExitReason.MANUAL,
    now: datetime | None = None,
) -> bool:
    """Take ``lead`` out of ``sequence`` (its open enrollment). Returns whether it was enrolled."""
    return _exit(Enrollment.objects.filter(lead=lead, sequence=sequence), reason, now or timezone.now()) > 0


def enrollments_exit(
    *, enrollment_ids: Iterable[int], reason: goals.ExitReason = goals.ExitReason.MANUAL, now: datetime | None = None
) -> int:
    """Exit these enrollments (those still open). Returns how many exited."""
    return _exit(Enrollment.objects.filter(pk__in=list(enrollment_ids)), reason, now or timezone.now())


def leads_exit_sequence(
    *,
    lead_ids: Iterable[int],
    sequence: Sequence,
    reason: goals.ExitReason = goals.ExitReason.MANUAL,
    now: datetime | None = None,
) -> int:
    return _exit(
        Enrollment.objects.filter(lead_id__in=list(lead_ids), sequence=sequence), reason, now or timezone.now()
    )


def leads_exit_all(
    *, lead_ids: Iterable[int], reason: goals.ExitReason = goals.ExitReason.MANUAL, now: datetime | None = None
) -> int:
    """Take the leads out of every sequence they are in. Returns how many enrollments exited."""
    return _exit(Enrollment.objects.filter(lead_id__in=list(lead_ids)), reason, now or timezone.now())


@transaction.atomic
def lead_unsubscribe(*, lead_id: int, now: datetime | None = None) -> bool:
    """Record that the lead wants no more marketing email, and exit all its open enrollments.

    Idempotent; returns whether the lead was subscribed until now.
    """
    now = now or timezone.now()
    changed = Lead.objects.filter(pk=lead_id, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    # On the suppression list too: it outlives the lead if the person is later erased.
    suppression.leads_suppress(lead_ids=[lead_id], reason=suppression.Reason.UNSUBSCRIBED, at=now)
    _exit(Enrollment.objects.filter(lead_id=lead_id), goals.ExitReason.UNSUBSCRIBED, now)
    return changed > 0


# --- sending ----------------------------------------------------------------------


@dataclass
class SendSummary:
    claimed: int = 0
    sent: int = 0
    failed_temporary: int = 0
    failed_permanent: int = 0
    bounced: int = 0
    unknown: int = 0
    completed: int = 0
    exited: dict[str, int] = field(default_factory=dict)

    def add(self, other: SendSummary) -> None:
        for name in ("claimed", "sent", "failed_temporary", "failed_permanent", "bounced", "unknown", "completed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.exited.items():
            self.exited[reason] = self.exited.get(reason, 0) + count


@dataclass
class _Outgoing:
    """A message claimed in phase 1, sent in phase 2, recorded in phase 3."""

    enrollment: Enrollment
    step: Step
    next_step: Step | None
    delivery_id: int
    message_id: str
    attempts: int
    status: str = Delivery.Status.PENDING
    error: str = ""
    handed_over: bool = False  # given to the SMTP connection: it may have been accepted


class Outcome:
    SENT = Delivery.Status.SENT
    TEMPORARY = Delivery.Status.FAILED_TEMPORARY
    PERMANENT = Delivery.Status.FAILED_PERMANENT
    BOUNCED = Delivery.Status.BOUNCED


def classify_smtp_error(exc: BaseException) -> str:
    """Whether a send error may pass (temporary) or will not (permanent, bounced).

    Recipient refused with 5xx: the address is bad (bounced). Message refused
    with 5xx after DATA: permanent for this message. Sender refused, HELO and
    authentication errors are the installation's configuration, not the lead's
    address: retried (and logged). Everything else (4xx, disconnects, refused
    connections, timeouts) may pass.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome.BOUNCED if codes and all(500 <= code < 600 for code in codes) else Outcome.TEMPORARY
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPHeloError | smtplib.SMTPAuthenticationError):
        return Outcome.TEMPORARY
    if isinstance(exc, smtplib.SMTPResponseException):
        return Outcome.PERMANENT if 500 <= exc.smtp_code < 600 else Outcome.TEMPORARY
    return Outcome.TEMPORARY


def _message_id(enrollment_id: int, step_id: int) -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "leadflow"
    return f"<nurture.{enrollment_id}.{step_id}.{secrets.token_hex(6)}@{domain}>"


def _update_rows(model: type[Model], field_names: Seq[str], rows: Seq[tuple[Any, ...]], *, status_in: Seq[str]) -> None:
    """UPDATE ``field_names`` of the rows whose pk is each row's first value, only where
    ``status`` is still one of ``status_in``: a row changed meanwhile (a lead unsubscribed
    while its message was being sent) keeps its newer state. One statement."""
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
        with connection.cursor() as cursor:
            cursor.execute(sql, [*(list(column) for column in zip(*rows, strict=True)), list(status_in)])
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


_ENROLLMENT_FIELDS = ("position", "next_run_at", "status", "exit_reason", "ended_at")


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


def _enrollments_set_aside(ids: list[int]) -> None:
    """Out of the sender's way (never due) until retried; still active."""
    Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE).update(next_run_at=None)


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
    outgoing = _deliveries_claim(now=now, batch_size=batch_size, summary=summary)
    if outgoing:
        try:
            _deliveries_send(outgoing, now=now, email_connection=email_connection)
        except BaseException:
            # Stopped mid-batch (a time limit, a shutdown): record what is known.
            # Messages never handed to the server wait for a retry; the one in
            # flight stays pending and becomes unknown when its lease ends.
            for item in outgoing:
                if item.status == Delivery.Status.PENDING and not item.handed_over:
                    item.status, item.error = Outcome.TEMPORARY, "not sent: the sender stopped before it"
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
        _close_quietly(email_connection)


def _next_step(steps: list[Step], position: int) -> Step | None:
    return next((s for s in steps if s.position > position), None)


def _deliveries_claim(*, now: datetime, batch_size: int, summary: SendSummary) -> list[_Outgoing]:
    """Phase 1: claim due enrollments and prepare their messages, in one transaction.
    If that fails, the batch is claimed again and prepared in parts; an enrollment
    that fails alone is set aside (no longer due) and the others go on."""

    def run() -> tuple[list[_Outgoing], SendSummary]:
        enrollments = _claim(now=now, batch_size=batch_size)
        part = SendSummary(claimed=len(enrollments))
        return _deliveries_prepare(enrollments, now=now, summary=part), part

    def isolated() -> tuple[list[_Outgoing], SendSummary]:
        claimed = list(_due(now=now).values_list("id", "lead_id")[:batch_size])
        done = setaside.rows_isolate(
            kind=SET_ASIDE_ENROLLMENT, rows=claimed, process=prepare, leave=_enrollments_set_aside
        )
        outgoing: list[_Outgoing] = []
        total = SendSummary(claimed=len(claimed))
        for items, part in done.results:
            outgoing += items
            total.add(part)
        return outgoing, total

    def prepare(ids: list[int]) -> tuple[list[_Outgoing], SendSummary]:
        part = SendSummary()
        return _deliveries_prepare(_claim(now=now, batch_size=len(ids), ids=ids), now=now, summary=part), part

    outgoing, part = setaside.batch_run(kind=SET_ASIDE_ENROLLMENT, run=run, isolated=isolated)
    summary.add(part)
    return outgoing


def _deliveries_prepare(enrollments: list[Enrollment], *, now: datetime, summary: SendSummary) -> list[_Outgoing]:
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
    outgoing: list[_Outgoing] = []
    new_deliveries: list[Delivery] = []
    retried: list[tuple[Any, ...]] = []
    unknown: list[tuple[Any, ...]] = []
    enrollment_rows: list[tuple[Any, ...]] = []

    def end(e: Enrollment, status: str, reason: str = "") -> None:
        enrollment_rows.append((e.pk, e.position, None, status, reason, now))
        if status == Enrollment.Status.EXITED:
            summary.exited[reason] = summary.exited.get(reason, 0) + 1
        else:
            summary.completed += 1

    suppressed = _suppression_exits(e.lead for e in enrollments)  # one query for the batch
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
            outgoing.append(_Outgoing(e, step, following, 0, delivery.message_id, 1))
        elif previous.status == Delivery.Status.FAILED_TEMPORARY:
            attempts = previous.attempts + 1
            retried.append((previous.pk, Delivery.Status.PENDING, attempts, "", now))
            outgoing.append(_Outgoing(e, step, following, previous.pk, previous.message_id, attempts))
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
                unknown.append(
                    (previous.pk, Delivery.Status.UNKNOWN, "sender stopped before recording the result", now)
                )
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
                run_at = _first_run_at(step=following, after=now, tz=lead_time_zone(lead))
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
    _update_rows(
        Delivery, ("status", "attempts", "error", "updated_at"), retried, status_in=[Delivery.Status.FAILED_TEMPORARY]
    )
    _update_rows(Delivery, ("status", "error", "updated_at"), unknown, status_in=[Delivery.Status.PENDING])
    _update_rows(Enrollment, _ENROLLMENT_FIELDS, enrollment_rows, status_in=[Enrollment.Status.ACTIVE])
    return outgoing


def _deliveries_send(outgoing: list[_Outgoing], *, now: datetime, email_connection: BaseEmailBackend | None) -> None:
    """Phase 2: render and send over one connection. Sets each item's status and error."""
    compiled: dict[int, content.CompiledStep] = {}
    backend = email_connection or get_connection()
    started = time.monotonic()
    budget = claim_lease().total_seconds() / 2
    opened = False
    try:
        for index, item in enumerate(outgoing):
            if time.monotonic() - started > budget:
                # Past half the lease: stop, so no other sender could take these while we still send.
                for rest in outgoing[index:]:
                    rest.status, rest.error = Outcome.TEMPORARY, "not sent: the batch ran out of time"
                return
            try:
                message = _build_message(item, compiled=compiled, backend=backend)
            except Exception as exc:  # noqa: BLE001 - any template error is reported on the delivery
                item.status, item.error = Outcome.TEMPORARY, f"could not render the message: {exc}"
                logger.warning("nurture: delivery %s not rendered: %s", item.delivery_id, exc)
                continue
            if not opened:
                try:
                    backend.open()
                except (smtplib.SMTPException, OSError) as exc:
                    # No server to talk to: every message left waits for a retry.
                    logger.warning("nurture: cannot connect to the mail server: %s", exc)
                    for rest in outgoing[index:]:
                        rest.status, rest.error = Outcome.TEMPORARY, f"could not connect: {type(exc).__name__}: {exc}"
                    return
                opened = True
            item.handed_over = True
            try:
                backend.send_messages([message])
            except (smtplib.SMTPException, OSError) as exc:
                item.status, item.error = classify_smtp_error(exc), f"{type(exc).__name__}: {exc}"[:2000]
                if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    # The connection is gone: the next message reconnects.
                    _close_quietly(backend)
                    opened = False
                continue
            except ValueError as exc:
                # The message cannot be built (an invalid address, an encoding the
                # server does not take): it fails alone, for good.
                item.status, item.error = Outcome.PERMANENT, f"could not build the message: {exc}"[:2000]
                logger.warning("nurture: delivery %s cannot be built: %s", item.delivery_id, exc)
                continue
            item.status = Outcome.SENT
    finally:
        if opened and email_connection is None:
            _close_quietly(backend)


def _close_quietly(backend: BaseEmailBackend) -> None:
    try:
        backend.close()
    except (smtplib.SMTPException, OSError):
        logger.debug("nurture: closing the SMTP connection failed", exc_info=True)
        if hasattr(backend, "connection"):
            backend.connection = None


class NurtureEmail(EmailMultiAlternatives):
    """A nurture message. Sets its MIME boundary itself (random, so it cannot occur in
    the body): the email package would otherwise compile a new regular expression per
    message to search the whole body for a safe one, a fifth of the sending CPU."""

    def message(self) -> Any:
        mime = super().message()
        if mime.is_multipart():
            mime.set_boundary(f"=_leadflow_{secrets.token_hex(16)}")
        return mime


def _build_message(
    item: _Outgoing, *, compiled: dict[int, content.CompiledStep], backend: BaseEmailBackend
) -> EmailMultiAlternatives:
    step, sequence, lead = item.step, item.enrollment.sequence, item.enrollment.lead
    if step.pk not in compiled:
        compiled[step.pk] = content.compile_step(
            subject=step.subject_template, text=step.text_template, html_body=step.html_template
        )
    campaign = step.campaign_key()
    unsubscribe = content.unsubscribe_url(lead_id=lead.pk, delivery_id=item.delivery_id)
    rendered = content.render(
        compiled[step.pk],
        lead=content.lead_context(lead),
        step={"position": step.position, "campaign": campaign},
        sequence={"key": sequence.key, "name": sequence.name},
        unsubscribe=unsubscribe,
        tracking=content.Tracking(
            lead_id=lead.pk,
            campaign=campaign,
            properties={
                "sequence": sequence.key,
                "step": step.position,
                "campaign": campaign,
                "delivery": item.delivery_id,
            },
        ),
    )
    message = NurtureEmail(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[str(lead.email)],
        headers={**rendered.headers, "Message-ID": item.message_id},
        connection=backend,
    )
    if rendered.html is not None:
        message.attach_alternative(rendered.html, "text/html")
    return message


def _deliveries_record(outgoing: list[_Outgoing], *, now: datetime, summary: SendSummary) -> None:
    """Phase 3: write what happened to each message, in one transaction. If that
    fails, the messages are recorded again in parts; an enrollment whose outcome
    cannot be recorded is set aside (no longer due), its message's fate still
    recorded where it can be, so a retry never sends it twice."""
    by_enrollment = {item.enrollment.pk: item for item in outgoing}

    def record(items: list[_Outgoing]) -> SendSummary:
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


def _record_set_aside(items: list[_Outgoing], *, now: datetime) -> None:
    """Enrollments whose outcome could not be recorded leave the sender's way; their
    deliveries still say what the message became, each if it can: a retry then moves
    on from a sent message instead of sending it again. One that cannot stays
    pending, which a retry reads as unknown: not sent again either."""
    _enrollments_set_aside([item.enrollment.pk for item in items])
    for item in items:
        if item.status == Delivery.Status.PENDING:
            continue
        try:
            with transaction.atomic():
                sent_at = now if item.status == Outcome.SENT else None
                row = (item.delivery_id, item.status, sent_at, item.error[:2000], now)
                _update_rows(
                    Delivery, ("status", "sent_at", "error", "updated_at"), [row], status_in=[Delivery.Status.PENDING]
                )
        except Exception as exc:
            if setaside.is_transient(exc):
                raise
            logger.warning(
                "nurture: delivery %s left pending: its outcome cannot be written (%s)",
                item.delivery_id,
                type(exc).__name__,
            )


def _deliveries_record_rows(outgoing: list[_Outgoing], *, now: datetime, summary: SendSummary) -> None:
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
            item.error = f"gave up after {item.attempts} attempts; last error: {item.error}"
        sent_at = now if status == Outcome.SENT else None
        delivery_rows.append((item.delivery_id, status, sent_at, item.error, now))
        if status == Outcome.SENT:
            summary.sent += 1
            if item.next_step is None:
                enrollment_rows.append((e.pk, item.step.position, None, Enrollment.Status.COMPLETED, "", now))
                summary.completed += 1
            else:
                run_at = _first_run_at(step=item.next_step, after=now, tz=lead_time_zone(e.lead))
                enrollment_rows.append((e.pk, item.step.position, run_at, Enrollment.Status.ACTIVE, "", None))
        elif status == Outcome.TEMPORARY:
            summary.failed_temporary += 1
            retry = timing.retry_at(now=now, attempts=item.attempts, base=base, cap=cap)
            retry = _in_window(step=item.step, due=retry, tz=lead_time_zone(e.lead))
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
    _update_rows(
        Delivery, ("status", "sent_at", "error", "updated_at"), delivery_rows, status_in=[Delivery.Status.PENDING]
    )
    _update_rows(Enrollment, _ENROLLMENT_FIELDS, enrollment_rows, status_in=[Enrollment.Status.ACTIVE])
    if bounced_leads:
        # The address is bad for every sequence, not only this one; on the suppression list
        # it stays bad after the lead is erased and for a lead created again with it.
        _exit(Enrollment.objects.filter(lead_id__in=bounced_leads), goals.ExitReason.BOUNCED, now)
        suppression.leads_suppress(lead_ids=bounced_leads, reason=suppression.Reason.BOUNCED, at=now)


# --- opens and clicks -------------------------------------------------------------


def deliveries_tally_engagement(*, now: datetime | None = None, settle_seconds: int = 120, limit: int = 20_000) -> int:
    """Count new email opens and clicks (interactions recorded by the tracking
    endpoints, carrying the delivery's id) onto their deliveries. Returns how
    many opens and clicks were counted.

    A cursor (the last interaction id looked at) advances in the same
    transaction as the counts, so each interaction counts once. It stops at the
    first interaction received less than ``settle_seconds`` ago: ids are handed
    out at insert, so a row whose transaction commits late could otherwise
    appear below the cursor after it moved on.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settle_seconds)
    with transaction.atomic():
        EngagementCursor.objects.get_or_create(pk=1)
        cursor = EngagementCursor.objects.select_for_update().get(pk=1)
        rows = Interaction.objects.filter(pk__gt=cursor.last_id).order_by("pk")
        last_id = cursor.last_id
        counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        counted = 0
        for pk, kind, properties, received_at in rows.values_list("pk", "type", "properties", "received_at")[:limit]:
            if received_at > cutoff:
                break
            last_id = pk
            if kind not in ("email_open", "email_click") or not isinstance(properties, dict):
                continue
            delivery = properties.get("delivery")
            if isinstance(delivery, int) or (isinstance(delivery, str) and delivery.isdigit()):
                counts[int(delivery)][0 if kind == "email_open" else 1] += 1
                counted += 1
        if counts:
            updates: dict[str, Any] = {}
            for index, name in enumerate(("opens", "clicks")):
                cases = [When(pk=pk, then=F(name) + Value(n[index])) for pk, n in counts.items() if n[index]]
                if cases:
                    updates[name] = Case(*cases, default=F(name), output_field=models.PositiveIntegerField())
            Delivery.objects.filter(pk__in=list(counts)).update(**updates)
        if last_id != cursor.last_id:
            cursor.last_id = last_id
            cursor.save(update_fields=["last_id", "updated_at"])
        return counted


# --- sequence files ---------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    created: list[str]
    updated: list[str]
    untouched: list[str]  # in the database, not in the file: left as they are


class SequenceImportError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@transaction.atomic
def sequences_import(*, spec: sequence_file.FileSpec) -> ImportSummary:
    """Create or update the file's sequences (matched by key), all or nothing.

    Steps are matched by position. A step no longer in the file is deleted,
    unless it was delivered (its figures are history): then nothing is
    imported and the error says which step. Sequences not in the file are
    left as they are.
    """
    errors: list[str] = []
    groups = dict(ScoreGroup.objects.values_list("key", "pk"))
    for s_index, seq in enumerate(spec.sequences):
        for name, key in (("reaches_group", seq.exit_reaches_group), ("leaves_group", seq.exit_leaves_group)):
            if key and key not in groups:
                known = ", ".join(sorted(groups)) or "none yet: import the scoring model first"
                errors.append(f"sequences[{s_index}].exit.{name}: no score group {key!r} (known: {known})")
    existing = {s.key: s for s in Sequence.objects.select_for_update().filter(key__in=[s.key for s in spec.sequences])}
    for s_index, seq in enumerate(spec.sequences):
        current = existing.get(seq.key)
        if current is None:
            continue
        kept = {step.position for step in seq.steps}
        delivered = sorted(
            set(
                Delivery.objects.filter(step__sequence=current)
                .exclude(step__position__in=kept)
                .values_list("step__position", flat=True)
            )
        )
        if delivered:
            errors.append(
                f"sequences[{s_index}].steps: step(s) {', '.join(map(str, delivered))} of {seq.key!r} were "
                "delivered and cannot be removed; keep them in the file (or change their content)"
            )
    if errors:
        raise SequenceImportError(errors)
    created: list[str] = []
    updated: list[str] = []
    for seq in spec.sequences:
        sequence, was_created = Sequence.objects.update_or_create(
            key=seq.key,
            defaults={
                "name": seq.name,
                "description": seq.description,
                "active": seq.active,
                "reenroll": seq.reenroll,
                "exit_on_group_reached_id": groups.get(seq.exit_reaches_group or ""),
                "exit_on_group_left_id": groups.get(seq.exit_leaves_group or ""),
                "exit_on_conversion": seq.exit_converted,
                "exit_on_sales": seq.exit_routed_to_sales,
            },
        )
        (created if was_created else updated).append(seq.key)
        sequence.steps.exclude(position__in=[s.position for s in seq.steps]).delete()
        for step in seq.steps:
            Step.objects.update_or_create(
                sequence=sequence,
                position=step.position,
                defaults={
                    "wait_days": step.wait_days,
                    "wait_hours": step.wait_hours,
                    "send_hour_start": step.send_hour_start,
                    "send_hour_end": step.send_hour_end,
                    "send_weekdays": sorted(step.weekdays),
                    "subject_template": step.subject,
                    "text_template": step.text,
                    "html_template": step.html,
                    "campaign": step.campaign,
                },
            )
    untouched = list(Sequence.objects.exclude(key__in=[s.key for s in spec.sequences]).values_list("key", flat=True))
    return ImportSummary(created, updated, untouched)


def _enrollments_retry(ids: list[int]) -> dict[int, str]:
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
    return {
        pk: "due again: the next send run takes it" if pk in due else "no longer active: nothing to send" for pk in ids
    }


def _send_enqueue() -> None:
    from nurture.tasks import deliveries_send_due_task
    from scoring.services import enqueue

    enqueue(deliveries_send_due_task, fallback="the minute nurture task sends it")


setaside.register_kind(
    setaside.Kind(SET_ASIDE_ENROLLMENT, "Enrollment (nurture)", _enrollments_retry, "admin:nurture_enrollment_change")
)
