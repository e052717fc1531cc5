"""Enrolling leads in sequences (consent, exit goals and the re-enrollment policy
permitting) and taking them out; unsubscribing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from nurture import goals
from nurture.models import Delivery, Enrollment, Sequence
from nurture.services.facts import OPEN, first_run_at, lead_facts, lead_time_zone, suppression_exits
from scoring import bulk, localized, suppression
from scoring import services as scoring
from scoring.models import Lead


@dataclass(frozen=True)
class EnrollResult:
    enrollment: Enrollment | None
    refusal: str = ""  # why nobody was enrolled, for a person


def enrollment_try_start(*, lead: Lead, sequence: Sequence, now: datetime | None = None) -> EnrollResult:
    """Enroll ``lead`` in ``sequence`` if consent, exit goals and the re-enrollment policy
    allow; the new enrollment, or why not. The bulk path (:func:`enrollments_start_many`)
    for one lead, so one lead and many are decided alike.

    Two callers enrolling the same lead at once: the partial unique
    constraint (one open enrollment per lead and sequence) lets one win; the
    other gets "already enrolled".
    """
    started = _enrollments_start(sequence=sequence, lead_ids=[lead.pk], now=now or timezone.now())
    if lead.pk not in started.enrollments:
        return EnrollResult(None, started.refusals[lead.pk])
    return EnrollResult(Enrollment.objects.get(pk=started.enrollments[lead.pk]))


@dataclass
class EnrollSummary:
    enrolled: int = 0
    refused: dict[str, list[str]] = field(default_factory=dict)  # reason -> emails
    unknown: list[str] = field(default_factory=list)  # emails of no lead

    def describe(self) -> str:
        """The summary for a person, in their language: "2 leads enrolled. Not enrolled,
        unsubscribed: ana@example.com." (at most 20 names per reason)."""
        parts = [
            ngettext("{count} lead enrolled.", "{count} leads enrolled.", self.enrolled).format(
                count=localized.number(self.enrolled)
            )
        ]
        for reason, emails in sorted(self.refused.items()):
            parts.append(
                gettext("Not enrolled, {reason}: {names}.").format(reason=refusal_shown(reason), names=_names(emails))
            )
        if self.unknown:
            parts.append(
                ngettext(
                    "No lead with this email: {emails}.", "No lead with these emails: {emails}.", len(self.unknown)
                ).format(emails=_names(self.unknown))
            )
        return " ".join(parts)


def _names(names: list[str]) -> str:
    return ", ".join(names[:20]) + (" …" if len(names) > 20 else "")


def refusal_shown(refusal: str) -> str:
    """Why a lead was not enrolled, in the reader's language (``refusal`` is the English
    the API answers with, one of nurture.goals' reasons)."""
    goal_reason = goals.MEETS_EXIT_GOAL.split("{", 1)[0]
    if refusal.startswith(goal_reason):
        return gettext(goals.MEETS_EXIT_GOAL).format(goal=gettext(refusal.removeprefix(goal_reason)))
    return gettext(refusal)


def enrollments_start_by_email(
    *, sequence: Sequence, emails: Iterable[str], now: datetime | None = None
) -> EnrollSummary:
    """Enroll the leads with these emails (case-insensitive) with :func:`enrollments_start_many`."""
    wanted = list(dict.fromkeys(e.strip() for e in emails if e.strip()))
    leads = scoring.leads_by_email(e.lower() for e in wanted)
    summary = EnrollSummary()
    known = [(email, leads[email.lower()]) for email in wanted if email.lower() in leads]
    summary.unknown = [email for email in wanted if email.lower() not in leads]
    _summarise(summary, known, enrollments_start_many(sequence=sequence, lead_ids=[pk for _, pk in known], now=now))
    return summary


def enrollments_start_for_leads(
    *, sequence: Sequence, leads: Iterable[Lead], now: datetime | None = None
) -> EnrollSummary:
    """Enroll these leads with :func:`enrollments_start_many`; the summary names them."""
    named = [(str(lead), lead.pk) for lead in leads]
    summary = EnrollSummary()
    _summarise(summary, named, enrollments_start_many(sequence=sequence, lead_ids=[pk for _, pk in named], now=now))
    return summary


def _summarise(summary: EnrollSummary, named: Seq[tuple[str, int]], refusals: dict[int, str]) -> None:
    """Count each (name, lead id) as enrolled or refused. A lead named twice (two spellings
    of its email) is enrolled once: the second name is "already enrolled"."""
    seen: set[int] = set()
    for name, pk in named:
        refusal = refusals[pk] or (goals.ALREADY_ENROLLED if pk in seen else "")
        seen.add(pk)
        if refusal:
            summary.refused.setdefault(refusal, []).append(name)
        else:
            summary.enrolled += 1


def enrollments_start_many(
    *, sequence: Sequence, lead_ids: Iterable[int], now: datetime | None = None
) -> dict[int, str]:
    """Enroll these leads in ``sequence`` if consent, exit goals and the re-enrollment
    policy allow, with a constant number of queries: the one way leads are enrolled
    (routing, the admin, the API, the command). Returns, per lead id, "" when
    enrolled, else why not."""
    return _enrollments_start(sequence=sequence, lead_ids=lead_ids, now=now or timezone.now()).refusals


@dataclass(frozen=True)
class _Started:
    refusals: dict[int, str]  # lead id -> "" when enrolled, else why not
    enrollments: dict[int, int]  # lead id -> the enrollment made


def _enrollments_start(*, sequence: Sequence, lead_ids: Iterable[int], now: datetime) -> _Started:
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
    results: dict[int, str] = {pk: goals.NO_LEAD for pk in ids}
    suppressed = suppression_exits(leads)
    restart: list[int] = []
    new: list[tuple[int, datetime]] = []  # (lead id, first step due)
    exit_goals = sequence.exit_goals()
    first_run: dict[str, datetime] = {}  # by time zone: most leads share a few
    for lead in leads:
        if lead.pk in suppressed:
            results[lead.pk] = goals.SUPPRESSED
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
            first_run[tz.key] = first_run_at(step=first, after=now, tz=tz)
        new.append((lead.pk, first_run[tz.key]))
    with transaction.atomic():
        if suppressed:
            suppression.leads_unsubscribe_suppressed(lead_ids=list(suppressed), at=now)
        if restart:
            open_enrollments_exit(
                Enrollment.objects.filter(lead_id__in=restart, sequence=sequence), goals.ExitReason.RESTARTED, now
            )
        # Another enrollment of the same lead committed meanwhile: the partial unique
        # constraint refuses ours; those leads are "already enrolled".
        mine = _enrollments_insert(sequence=sequence, rows=new, now=now)
    for lead_id, _ in new:
        if lead_id not in mine:
            results[lead_id] = "already enrolled"
    return _Started(results, mine)


def _enrollments_insert(*, sequence: Sequence, rows: Seq[tuple[int, datetime]], now: datetime) -> dict[int, int]:
    """Insert active enrollments (lead id, first step due) unless the lead has an open
    one already; returns the enrollments inserted, by lead id."""
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        inserted = bulk.pg_execute(
            "INSERT INTO nurture_enrollment (lead_id, sequence_id, position, next_run_at, status, exit_reason,"
            " enrolled_at) SELECT l, %s, 0, d, 'active', '', %s FROM unnest(%s::bigint[], %s::timestamptz[]) AS u(l, d)"
            " ON CONFLICT DO NOTHING RETURNING lead_id, id",
            [sequence.pk, now, [r[0] for r in rows], [r[1] for r in rows]],
        )
        return {lead_id: pk for lead_id, pk in inserted}
    Enrollment.objects.bulk_create(
        [Enrollment(lead_id=pk, sequence=sequence, enrolled_at=now, next_run_at=due) for pk, due in rows],
        ignore_conflicts=True,
    )
    return dict(
        Enrollment.objects.filter(
            lead_id__in=[r[0] for r in rows], sequence=sequence, enrolled_at=now, status__in=OPEN
        ).values_list("lead_id", "pk")
    )


def open_enrollments_exit(queryset: Any, reason: goals.ExitReason, now: datetime) -> int:
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
    return (
        open_enrollments_exit(Enrollment.objects.filter(lead=lead, sequence=sequence), reason, now or timezone.now())
        > 0
    )


def enrollments_exit(
    *, enrollment_ids: Iterable[int], reason: goals.ExitReason = goals.ExitReason.MANUAL, now: datetime | None = None
) -> int:
    """Exit these enrollments (those still open). Returns how many exited."""
    return open_enrollments_exit(Enrollment.objects.filter(pk__in=list(enrollment_ids)), reason, now or timezone.now())


def leads_exit_sequence(
    *,
    lead_ids: Iterable[int],
    sequence: Sequence,
    reason: goals.ExitReason = goals.ExitReason.MANUAL,
    now: datetime | None = None,
) -> int:
    return open_enrollments_exit(
        Enrollment.objects.filter(lead_id__in=list(lead_ids), sequence=sequence), reason, now or timezone.now()
    )


def leads_exit_all(
    *, lead_ids: Iterable[int], reason: goals.ExitReason = goals.ExitReason.MANUAL, now: datetime | None = None
) -> int:
    """Take the leads out of every sequence they are in. Returns how many enrollments exited."""
    return open_enrollments_exit(Enrollment.objects.filter(lead_id__in=list(lead_ids)), reason, now or timezone.now())


@transaction.atomic
def lead_unsubscribe(*, lead_id: int, now: datetime | None = None) -> bool:
    """Record that the lead wants no more marketing email, and exit all its open enrollments.

    Idempotent; returns whether the lead was subscribed until now.
    """
    now = now or timezone.now()
    changed = scoring.lead_unsubscribe(lead_id=lead_id, at=now)
    # On the suppression list too: it outlives the lead if the person is later erased.
    suppression.leads_suppress(lead_ids=[lead_id], reason=suppression.Reason.UNSUBSCRIBED, at=now)
    open_enrollments_exit(Enrollment.objects.filter(lead_id=lead_id), goals.ExitReason.UNSUBSCRIBED, now)
    return changed
