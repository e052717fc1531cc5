"""Everything routing writes when it acts on lead events.

Split by topic: :mod:`~routing.services.events` (the outbox scoring and sales write,
consumed in batches), :mod:`~routing.services.actions` (what rules do),
:mod:`~routing.services.queue` (the sales queue and assignment),
:mod:`~routing.services.reps` (reps made in one step, their invitations) and
:mod:`~routing.services.notifications`. SLA escalation (:mod:`routing.sla`) and
webhooks (:mod:`routing.webhooks`) build on them. The names other modules use are
kept here.
"""

from routing.services.actions import ACTIONS, LEAD_WRITING, Claimed, webhook_payload, webhooks_enqueue
from routing.services.events import (
    EVENT_FIELDS,
    SET_ASIDE_EVENT,
    LoadedRule,
    rules_load,
    score_watches_sync,
    transitions_route,
)
from routing.services.notifications import (
    SET_ASIDE_NOTIFICATION,
    notification_lease,
    notifications_enqueue,
    notifications_mark_sent,
    notifications_send,
    notifications_send_again,
    team_addresses,
)
from routing.services.queue import leads_assign, leads_queue, rep_slots
from routing.services.reps import SALES_GROUP, rep_create, rep_invite_link, rep_invite_send

__all__ = [
    "ACTIONS",
    "EVENT_FIELDS",
    "LEAD_WRITING",
    "SALES_GROUP",
    "SET_ASIDE_EVENT",
    "SET_ASIDE_NOTIFICATION",
    "Claimed",
    "LoadedRule",
    "leads_assign",
    "leads_queue",
    "notification_lease",
    "notifications_enqueue",
    "notifications_mark_sent",
    "notifications_send",
    "notifications_send_again",
    "rep_create",
    "rep_invite_link",
    "rep_invite_send",
    "rep_slots",
    "rules_load",
    "score_watches_sync",
    "team_addresses",
    "transitions_route",
    "webhook_payload",
    "webhooks_enqueue",
]
