"""What routing rules do: each action runs once for all the leads that claimed it in a
batch, as bulk statements, and says per run what it did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from nurture import goals
from nurture import services as nurture
from nurture.goals import ExitReason
from people import languages
from routing.models import Notification, QueueItem, RoutingAction, WebhookDelivery
from routing.sales import leads_queue_team_sync
from routing.services.notifications import NOTIFIED, notifications_enqueue, subject_fit, team_addresses
from routing.services.queue import leads_assign, leads_queue
from scoring import services as scoring
from scoring.models import Account, Lead, LifecycleStage
from scoring.said import Said, said


@dataclass(frozen=True)
class Claimed:
    """One (event, action) pair this run owns."""

    run_id: int
    event_id: int
    lead_id: int
    event: Mapping[str, Any]


def _by_lead(claims: Sequence[Claimed]) -> dict[int, list[int]]:
    runs: dict[int, list[int]] = defaultdict(list)
    for c in claims:
        runs[c.lead_id].append(c.run_id)
    return runs


@dataclass(frozen=True)
class Ran:
    """What a run did, as said, and the team it acted for (none for no team's)."""

    outcome: Said
    team_id: int | None = None


def _each(
    claims: Sequence[Claimed], outcome: Mapping[int, Said] | Said, teams: Mapping[int, int | None] | None = None
) -> dict[int, Ran]:
    """Each run's outcome and team, by its lead (``teams``: none if not given)."""
    each: dict[int, Ran] = {}
    for c in claims:
        said_ = outcome if isinstance(outcome, Said) else outcome.get(c.lead_id)
        if said_ is not None:
            each[c.run_id] = Ran(said_, (teams or {}).get(c.lead_id))
    return each


def _refusal(why: str) -> Said:
    """nurture's reason for not enrolling a lead (English, one of nurture.goals'), as said."""
    goal_reason = goals.MEETS_EXIT_GOAL.split("{", 1)[0]
    if why.startswith(goal_reason):
        return said(goals.MEETS_EXIT_GOAL, goal=said(why.removeprefix(goal_reason)))
    return said(why)


def _enroll(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    assert action.sequence is not None
    results = nurture.enrollments_start_many(sequence=action.sequence, lead_ids=_by_lead(claims), now=now)
    enrolled = said(gettext_noop("enrolled"))
    refused = gettext_noop("not enrolled: {why}")
    return _each(claims, {pk: said(refused, why=_refusal(why)) if why else enrolled for pk, why in results.items()})


def _exit_sequence(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    assert action.sequence is not None
    exited = nurture.leads_exit_sequence(
        lead_ids=_by_lead(claims), sequence=action.sequence, reason=ExitReason.MANUAL, now=now
    )
    return _each(claims, said(gettext_noop("exited ({count} in this batch)"), count=exited))


def _exit_all(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    exited = nurture.leads_exit_all(lead_ids=_by_lead(claims), reason=ExitReason.MANUAL, now=now)
    return _each(claims, said(gettext_noop("exited every sequence ({count} enrollments in this batch)"), count=exited))


def _set_stage(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    scoring.leads_stage_set(lead_ids=_by_lead(claims), stage=action.stage, cause="routing", at=now)
    # The stage's name, English being its message id: shown in the reader's language.
    with translation.override("en"):
        stage = str(LifecycleStage(action.stage).label) if action.stage in LifecycleStage.values else action.stage
    return _each(claims, said(gettext_noop("stage {stage}"), stage=said(stage)))


def _add_tag(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    scoring.leads_tag(lead_ids=_by_lead(claims), tag=action.tag, at=now)
    return _each(claims, said(gettext_noop("tagged {tag}"), tag=action.tag))


def _route_to_queue(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    assert action.team is not None
    events = {c.lead_id: c.event_id for c in claims}
    placed = leads_queue(team=action.team, lead_ids=list(events), now=now, events=events)
    # The team of the item the lead is in: this action's, or the one it was already in.
    items = QueueItem.objects.filter(lead_id__in=list(events), status__in=QueueItem.OPEN_STATUSES)
    return _each(claims, placed, dict(items.values_list("lead_id", "team_id")))


def _assign_owner(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    lead_ids = list(_by_lead(claims))
    if action.user_id is not None:
        scoring.leads_assignment_set(owners=dict.fromkeys(lead_ids, action.user_id))
        QueueItem.objects.filter(lead_id__in=lead_ids, status=QueueItem.Status.OPEN).update(owner_id=action.user_id)
        leads_queue_team_sync(lead_ids=lead_ids)
        return _each(claims, said(OWNER, user=action.user_id))  # a user named: no team's run
    assert action.team is not None
    chosen = leads_assign(team=action.team, lead_ids=lead_ids)
    return _each(
        claims,
        {
            pk: said(OWNER, user=u) if u else said(gettext_noop("no rep with room: left unassigned"))
            for pk, u in chosen.items()
        },
        dict.fromkeys(chosen, action.team.pk),
    )


OWNER = gettext_noop("owner user {user}")


def _notify(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    lead_ids = list(_by_lead(claims))
    leads = Lead.objects.filter(pk__in=lead_ids).select_related("owner", "score_group")
    # An account event (its account crossed an account group) tells the account's owner.
    accounts = Account.objects.select_related("owner", "group").in_bulk(
        {c.event["account_id"] for c in claims if c.event.get("account_id") is not None}
    )
    account_of = {c.lead_id: accounts[c.event["account_id"]] for c in claims if c.event.get("account_id") in accounts}
    team_to = team_addresses(action.team) if action.team is not None else []
    rows = []
    outcome: dict[int, Said] = {}
    told: dict[int, int | None] = {}  # the team told, per lead; none for an owner
    for lead in leads:
        account = account_of.get(lead.pk)
        owner = account.owner if account is not None else lead.owner
        to = team_to or ([owner.email] if owner is not None and owner.email else [])
        if not to:
            outcome[lead.pk] = said(
                gettext_noop("nobody to notify (no account owner email, no team)")
                if account is not None
                else gettext_noop("nobody to notify (no owner email, no team)")
            )
            continue
        # A team's notification in the site's language; the owner's in their own.
        language = languages.site_language() if team_to else languages.language_of(owner)
        with translation.override(language):
            if account is not None:
                subject = gettext("Account {account}, lead {lead}: {rule}").format(
                    account=account, lead=lead, rule=action.rule.name
                )
            else:
                subject = gettext("Lead {lead}: {rule}").format(lead=lead, rule=action.rule.name)
            rows.append(
                Notification(
                    to=to,
                    lead=lead,
                    team=action.team if team_to else None,  # an owner told: no team's
                    subject=subject_fit(subject),
                    body=render_to_string(
                        "routing/email/notify.txt",
                        {
                            "lead": lead,
                            "account": account,
                            "rule": action.rule,
                            "message": action.message,
                            "base": settings.LEADFLOW_PUBLIC_URL,
                        },
                    ),
                )
            )
        outcome[lead.pk] = said(NOTIFIED, to=", ".join(to))
        told[lead.pk] = rows[-1].team_id
    Notification.objects.bulk_create(rows)
    if rows:
        transaction.on_commit(notifications_enqueue)
    return _each(claims, outcome, told)


def _webhook(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, Ran]:
    leads = {
        lead["id"]: lead
        for lead in Lead.objects.filter(pk__in=list(_by_lead(claims))).values(
            "id",
            "email",
            "external_id",
            "first_name",
            "last_name",
            "company",
            "lifecycle_stage",
            "fit_score",
            "engagement_score",
            "total_score",
            "score_group__key",
        )
    }
    deliveries = []
    for c in claims:
        lead = leads.get(c.lead_id)
        if lead is None:
            continue
        deliveries.append(
            WebhookDelivery(
                run_id=c.run_id,
                url=action.url,
                payload=webhook_payload(action=action, lead=lead, event=c.event),
                next_attempt_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if deliveries:
        transaction.on_commit(webhooks_enqueue)
    return _each(claims, said(gettext_noop("webhook queued")))


# The actions that write the lead's own row (the others write enrollments, queue items, outboxes).
LEAD_WRITING = {
    RoutingAction.Kind.SET_STAGE,
    RoutingAction.Kind.ADD_TAG,
    RoutingAction.Kind.ROUTE_TO_QUEUE,
    RoutingAction.Kind.ASSIGN_OWNER,
}


ACTIONS: dict[str, Callable[[RoutingAction, Sequence[Claimed], datetime], dict[int, Ran]]] = {
    RoutingAction.Kind.ENROLL: _enroll,
    RoutingAction.Kind.EXIT_SEQUENCE: _exit_sequence,
    RoutingAction.Kind.EXIT_ALL: _exit_all,
    RoutingAction.Kind.SET_STAGE: _set_stage,
    RoutingAction.Kind.ADD_TAG: _add_tag,
    RoutingAction.Kind.ROUTE_TO_QUEUE: _route_to_queue,
    RoutingAction.Kind.ASSIGN_OWNER: _assign_owner,
    RoutingAction.Kind.NOTIFY: _notify,
    RoutingAction.Kind.WEBHOOK: _webhook,
}


def webhook_payload(*, action: RoutingAction, lead: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """What a webhook receives: the rule, the event and the lead (JSON-ready)."""
    return {
        "rule": action.rule.key,
        "event": {
            "id": event["id"],
            "kind": event["kind"],
            "cause": event["cause"],
            "previous_total": event["previous_total"],
            "total": event["total_score"],
            "from_stage": event["from_stage"],
            "to_stage": event["to_stage"],
            "detail": event["detail"],
            "occurred_at": event["occurred_at"].isoformat(),
        },
        "lead": {
            "id": lead["id"],
            "email": lead["email"],
            "external_id": lead["external_id"],
            "name": f"{lead['first_name']} {lead['last_name']}".strip(),
            "company": lead["company"],
            "lifecycle_stage": lead["lifecycle_stage"],
            "fit_score": lead["fit_score"],
            "engagement_score": lead["engagement_score"],
            "total_score": lead["total_score"],
            "score_group": lead["score_group__key"],
        },
    }


def webhooks_enqueue() -> None:
    scoring.enqueue("routing.deliver_webhooks", fallback="the minute webhook task delivers it")
