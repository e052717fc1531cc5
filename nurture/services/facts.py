"""What nurture's decisions read about a lead and a step: the lead's facts for exit
goals, its time zone, whether its address is on the suppression list, and when a
step may be sent."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings

from nurture import goals, timing
from nurture.models import Enrollment, Step
from scoring import suppression
from scoring.models import Lead

logger = logging.getLogger(__name__)


OPEN = [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED]


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


def suppression_exits(leads: Iterable[Lead]) -> dict[int, goals.ExitReason]:
    """Why each lead whose address is on the suppression list must leave its
    sequences (one query for all). A lead unsubscribed already exits as such."""
    emails = {lead.pk: lead.email for lead in leads if lead.email and lead.unsubscribed_at is None}
    listed = suppression.addresses_suppressed(addresses=emails.values())
    return {
        pk: goals.ExitReason.BOUNCED if reason == suppression.Reason.BOUNCED else goals.ExitReason.UNSUBSCRIBED
        for pk, email in emails.items()
        if (reason := listed.get(suppression.address_normalise(email))) is not None
    }


def first_run_at(*, step: Step, after: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return in_window(step=step, due=timing.step_due(previous=after, wait=step.wait), tz=tz)


def in_window(*, step: Step, due: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The step's first send time at or after ``due``. A window that cannot open (edited
    into the database past the admin's checks) is ignored rather than stopping the batch."""
    try:
        return timing.next_send_time(due, step.window(), tz)
    except ValueError as exc:
        logger.error("nurture: step %s has an impossible send window (%s); sending without it", step.pk, exc)
        return due
