"""SLA escalation: a lead left unclaimed past its team's SLA is escalated, once."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from routing import assignment
from routing.models import Notification, Outcome, QueueItem, Rep, Team
from routing.sales import record_outcome
from routing.services import notifications_enqueue, rep_slots
from scoring.models import Lead


def items_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate, once, each item left unclaimed past its team's SLA: reassign it to
    the next rep with room, or notify the team lead. Returns how many were escalated."""
    now = now or timezone.now()
    escalated = 0
    for team in Team.objects.filter(sla_hours__isnull=False).select_related("team_lead"):
        assert team.sla_hours is not None
        deadline = now - timedelta(hours=team.sla_hours)
        with transaction.atomic():
            # Claim the overdue items first: a second run (or a second worker) finds them escalated.
            items = list(
                QueueItem.objects.select_for_update(skip_locked=True)
                .filter(team=team, status=QueueItem.Status.OPEN, escalated_at__isnull=True, entered_at__lte=deadline)
                .order_by("entered_at")
                .select_related("lead")
            )
            if not items:
                continue
            QueueItem.objects.filter(pk__in=[i.pk for i in items]).update(escalated_at=now)
            _escalate(team, items, now)
        escalated += len(items)
    return escalated


def _escalate(team: Team, items: list[QueueItem], now: datetime) -> None:
    if team.sla_action == Team.SlaAction.REASSIGN:
        slots = rep_slots(team, lock=True)
        reps = dict(Rep.objects.filter(team=team).values_list("pk", "user_id"))
        by_user = {user: rep for rep, user in reps.items()}
        after = team.last_rep_id
        for item in items:
            current = by_user.get(item.owner_id) if item.owner_id else None
            rep_id = assignment.round_robin(slots, after, exclude=current)
            if rep_id is None:
                _notify_lead(team, [item], now)
                continue
            after = rep_id
            slots = [assignment.RepSlot(s.id, s.available, s.capacity, s.open_leads + (s.id == rep_id)) for s in slots]
            QueueItem.objects.filter(pk=item.pk).update(owner_id=reps[rep_id])
            Lead.objects.filter(pk=item.lead_id).update(owner_id=reps[rep_id])
            record_outcome(
                item.pk, item.lead_id, Outcome.Kind.ESCALATED, None, now, f"reassigned to user {reps[rep_id]}"
            )
        Team.objects.filter(pk=team.pk).update(last_rep_id=after)
    else:
        _notify_lead(team, items, now)
        for item in items:
            record_outcome(item.pk, item.lead_id, Outcome.Kind.ESCALATED, None, now, "team lead notified")


def _notify_lead(team: Team, items: list[QueueItem], now: datetime) -> None:
    to = [team.email] if team.email else ([team.team_lead.email] if team.team_lead and team.team_lead.email else [])
    if not to:
        return
    Notification.objects.bulk_create(
        [
            Notification(
                to=to,
                lead=item.lead,
                subject=f"SLA missed: {item.lead} waits in {team.name}'s queue",
                body=(
                    f"{item.lead} has waited since {item.entered_at:%Y-%m-%d %H:%M} UTC, longer than "
                    f"{team.sla_hours} hours, without being claimed.\n"
                ),
            )
            for item in items
        ]
    )
    transaction.on_commit(notifications_enqueue)
