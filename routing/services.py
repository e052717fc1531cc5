"""Acting on group transitions: the outbox that scoring writes, consumed here.

Each transition is claimed once (``SKIP LOCKED``), its rules' actions run in
order, each recorded in :class:`ActionRun` under a unique (transition,
action) constraint, so a re-run after a crash repeats nothing that was done.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from nurture import services as nurture
from nurture.goals import ExitReason
from routing import triggers
from routing.models import ActionRun, RoutingAction, RoutingRule
from scoring.models import GroupTransition, Lead

logger = logging.getLogger(__name__)


def _act(action: RoutingAction, lead: Lead, now: datetime) -> str:
    """Do one action for one lead; returns what happened, for the record."""
    kind = RoutingAction.Kind
    if action.kind == kind.ENROLL and action.sequence is not None:
        result = nurture.enrollment_try_start(lead=lead, sequence=action.sequence, now=now)
        return "enrolled" if result.enrollment else f"not enrolled: {result.refusal}"
    if action.kind == kind.EXIT_SEQUENCE and action.sequence is not None:
        return "exited" if nurture.enrollment_exit(lead=lead, sequence=action.sequence, now=now) else "not enrolled"
    if action.kind == kind.EXIT_ALL:
        exited = nurture.leads_exit_all(lead_ids=[lead.pk], reason=ExitReason.MANUAL, now=now)
        return f"exited {exited}"
    if action.kind == kind.SET_STAGE and action.stage:
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=action.stage)
        return f"stage {action.stage}"
    return "nothing to do (incomplete action)"


def transitions_route(*, batch_size: int = 200, now: datetime | None = None) -> int:
    """Run the routing rules for unprocessed transitions, oldest first. Returns how many were processed."""
    now = now or timezone.now()
    rules = list(RoutingRule.objects.filter(active=True).prefetch_related("actions__sequence"))
    done = 0
    while True:
        with transaction.atomic():
            claimed = list(
                GroupTransition.objects.select_for_update(skip_locked=True)
                .filter(processed_at__isnull=True)
                .select_related("lead")
                .order_by("id")[:batch_size]
            )
            for crossing in claimed:
                moved = triggers.Transition(crossing.from_group_id, crossing.to_group_id)
                for rule in rules:
                    if not triggers.fires(triggers.RuleTrigger(triggers.Trigger(rule.trigger), rule.group_id), moved):
                        continue
                    for action in rule.actions.all():
                        _run_once(crossing, action, now)
            GroupTransition.objects.filter(pk__in=[c.pk for c in claimed]).update(processed_at=now)
        done += len(claimed)
        if len(claimed) < batch_size:
            return done


def _run_once(crossing: GroupTransition, action: RoutingAction, now: datetime) -> None:
    try:
        with transaction.atomic():
            run = ActionRun.objects.create(transition=crossing, action=action)
            run.outcome = _act(action, crossing.lead, now)[:300]
            run.save(update_fields=["outcome"])
    except IntegrityError:
        logger.info("action %s already ran for transition %s", action.pk, crossing.pk)
