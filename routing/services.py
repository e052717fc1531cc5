"""Acting on lead events: the outbox that scoring (and sales) write, consumed here.

Workers claim a batch of unprocessed events (``SKIP LOCKED``), find the rules
each fires (pure: :mod:`routing.triggers`), claim every (event, action) pair
with one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` into
:class:`ActionRun`, and then run each action once for all the leads it
claimed, as bulk statements. A re-run after a crash finds the pairs already
claimed and repeats nothing.

Per lead, actions run in rule order then action order. A batch holding two
events of the same lead runs them in waves (each lead's first event, then its
second…), so that order holds across events too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone

from nurture import services as nurture
from nurture.goals import ExitReason
from routing import assignment, triggers
from routing.models import (
    ActionRun,
    Notification,
    QueueItem,
    Rep,
    RoutingAction,
    RoutingRule,
    Team,
    WebhookDelivery,
)
from routing.sales import leads_queue_team_sync
from scoring import bulk, selectors, setaside
from scoring import services as scoring
from scoring.models import GroupTransition, Lead

logger = logging.getLogger(__name__)

# What routing's batches set aside (scoring.setaside): a lead event its rules cannot
# be run for, a notification that cannot be sent, a queue item SLA escalation fails on,
# a webhook delivery that cannot be prepared.
SET_ASIDE_EVENT = "transition"
SET_ASIDE_NOTIFICATION = "notification"
SET_ASIDE_SLA = "sla"
SET_ASIDE_WEBHOOK = "webhook"

EVENT_FIELDS = (
    "id",
    "lead_id",
    "kind",
    "from_group_id",
    "to_group_id",
    "previous_total",
    "total_score",
    "from_stage",
    "to_stage",
    "cause",
    "detail",
    "occurred_at",
)


@dataclass(frozen=True)
class Claimed:
    """One (event, action) pair this run owns."""

    run_id: int
    event_id: int
    lead_id: int
    event: Mapping[str, Any]


# --- the rules, as plain data --------------------------------------------------


@dataclass(frozen=True)
class LoadedRule:
    rule: RoutingRule
    trigger: triggers.RuleTrigger
    actions: tuple[RoutingAction, ...]


def rules_load() -> list[LoadedRule]:
    """Active rules with their actions, in order (two queries)."""
    rules = RoutingRule.objects.filter(active=True).prefetch_related("actions__sequence", "actions__team")
    return [
        LoadedRule(
            rule,
            triggers.RuleTrigger(
                triggers.Trigger(rule.trigger),
                group=rule.group_id,
                threshold=rule.threshold,
                stage=rule.stage,
                conditions=rule.conditions_pure(),
            ),
            tuple(rule.actions.all()),
        )
        for rule in rules
    ]


def score_watches_sync() -> None:
    """Tell scoring which totals the active rules watch (call after rules change)."""
    scoring.score_watches_set(values=triggers.watched_scores([r.trigger for r in rules_load()]))


def _event_of(row: Mapping[str, Any]) -> triggers.Event:
    return triggers.Event(
        kind=triggers.EventKind(row["kind"]),
        from_group=row["from_group_id"],
        to_group=row["to_group_id"],
        previous_total=row["previous_total"],
        total=row["total_score"],
        from_stage=row["from_stage"],
        to_stage=row["to_stage"],
    )


# --- the loop ---------------------------------------------------------------------


def transitions_route(*, batch_size: int = 1000, now: datetime | None = None) -> int:
    """Run the routing rules for unprocessed lead events, oldest first, until none
    is left. Returns how many events were processed. Safe to run twice, and in
    several workers at once. An event the rules cannot be run for is set aside
    (:mod:`scoring.setaside`) and the others go on."""
    rules = rules_load()
    done = 0
    while True:
        taken = _transitions_route_batch(rules, batch_size=batch_size, now=now)
        done += taken
        # Actions may record new events (a change of stage): drain those too.
        if not taken:
            return done


def _transitions_route_batch(rules: list[LoadedRule], *, batch_size: int, now: datetime | None) -> int:
    """One batch: claimed, acted on and marked processed in one transaction; if that
    fails, again in parts, setting aside the events that fail alone. Returns how many
    events it took."""

    def run() -> int:
        # The events stay locked until this batch commits: no other worker acts on them.
        rows = list(
            GroupTransition.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True)
            .order_by("id")
            .values(*EVENT_FIELDS)[:batch_size]
        )
        if rows:
            _route_batch(rows, rules, now or timezone.now())
            _events_processed([r["id"] for r in rows], now or timezone.now())
        return len(rows)

    def isolated() -> int:
        claimed = list(
            GroupTransition.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True)
            .order_by("id")
            .values_list("id", "lead_id")[:batch_size]
        )
        _events_isolate(claimed, rules, now)
        return len(claimed)

    return setaside.batch_run(kind=SET_ASIDE_EVENT, run=run, isolated=isolated)


def _events_isolate(claimed: Sequence[tuple[int, int]], rules: list[LoadedRule], now: datetime | None) -> list[int]:
    """Route these locked events in parts (in id order, so each lead's order holds);
    set aside those that fail alone. Returns the ids set aside."""

    def route(ids: list[int]) -> None:
        rows = list(GroupTransition.objects.filter(pk__in=ids).order_by("id").values(*EVENT_FIELDS))
        _route_batch(rows, rules, now or timezone.now())
        _events_processed(ids, now or timezone.now())

    def leave(ids: list[int]) -> None:
        # Out of the outbox (processed, though nothing was done: Set-aside rows says why) until retried.
        _events_processed(ids, now or timezone.now())

    return setaside.rows_isolate(kind=SET_ASIDE_EVENT, rows=claimed, process=route, leave=leave).set_aside


def _events_retry(ids: list[int]) -> dict[int, str]:
    """Retry set-aside lead events: back in the outbox, and routed now."""
    GroupTransition.objects.filter(pk__in=ids).update(processed_at=None)
    claimed = list(
        GroupTransition.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, processed_at__isnull=True)
        .order_by("id")
        .values_list("id", "lead_id")
    )
    _events_isolate(claimed, rules_load(), None)
    taken = {pk for pk, _ in claimed}
    return {pk: "routed" if pk in taken else "left to the next routing run (busy)" for pk in ids}


def _events_processed(ids: list[int], at: datetime) -> None:
    if connection.vendor == "postgresql":
        bulk.pg_execute("UPDATE scoring_grouptransition SET processed_at = %s WHERE id = ANY(%s::bigint[])", [at, ids])
    else:
        GroupTransition.objects.filter(pk__in=ids).update(processed_at=at)


def _route_batch(rows: list[dict[str, Any]], rules: list[LoadedRule], now: datetime) -> None:
    if not rules:
        return
    lead_ids = {r["lead_id"] for r in rows}
    values = _lead_values(lead_ids) if any(r.trigger.conditions for r in rules) else {}
    waves: list[list[dict[str, Any]]] = []
    seen: dict[int, int] = defaultdict(int)
    for row in rows:
        wave = seen[row["lead_id"]]
        seen[row["lead_id"]] += 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(row)
    plans = []
    for wave_rows in waves:
        pairs: list[tuple[dict[str, Any], RoutingAction]] = []
        for row in wave_rows:
            event = _event_of(row)
            for loaded in rules:
                if triggers.applies(loaded.trigger, event, values.get(row["lead_id"], {})):
                    pairs.extend((row, action) for action in loaded.actions)
        plans.append(pairs)
    # Lock the leads the actions will change, in id order as scoring's workers do,
    # so that a scoring batch and a routing batch never wait on each other in a circle.
    # Only those: a row lock is written to the table like a change.
    scoring.leads_lock(
        lead_ids={row["lead_id"] for pairs in plans for row, action in pairs if action.kind in LEAD_WRITING}
    )
    for pairs in plans:
        claimed = _claim(pairs)
        by_action: dict[int, list[Claimed]] = defaultdict(list)
        for claim, action in claimed:
            by_action[action.pk].append(claim)
        actions = {action.pk: action for _, action in claimed}
        ordered = sorted(actions.values(), key=lambda a: (a.rule.position, a.rule_id, a.position, a.pk))
        outcomes: dict[int, str] = {}
        for action in ordered:
            done = ACTIONS[action.kind](action, by_action[action.pk], now)
            outcomes.update((run_id, text[:300]) for run_id, text in done.items())
        _runs_record(claimed, outcomes)


def _lead_values(lead_ids: Iterable[int]) -> dict[int, dict[str, object]]:
    leads = Lead.objects.filter(pk__in=list(lead_ids)).only(*Lead.FIT_FIELDS, "attributes")
    return {lead.pk: lead.rule_values() for lead in leads}


def _claim(pairs: Sequence[tuple[dict[str, Any], RoutingAction]]) -> list[tuple[Claimed, RoutingAction]]:
    """The (event, action) pairs not done yet, each with the id its ActionRun gets.

    The batch holds its events' row locks, so nobody else runs these pairs now;
    pairs done by an earlier run (an event made unprocessed again) are left out.
    On PostgreSQL the ids come from the table's sequence and the runs are
    inserted with their outcomes once the actions are done (one write per run;
    rows that refer to a run, such as a webhook delivery, may come first since
    Django's foreign keys are checked at commit). On SQLite the runs are
    inserted first and their outcomes written after.
    """
    if not pairs:
        return []
    actions = {a.pk: a for _, a in pairs}
    rows = {(row["id"], action.pk): row for row, action in pairs}
    keys = list(rows)
    if connection.vendor == "postgresql":
        done = set(
            bulk.pg_execute(
                # LATERAL: one index probe per event. "transition_id = ANY(…)" lets the planner
                # choose to scan the whole table, which it does once the table is large.
                "SELECT r.transition_id, r.action_id FROM unnest(%s::bigint[]) AS u(t)"
                " CROSS JOIN LATERAL (SELECT transition_id, action_id FROM routing_actionrun"
                " WHERE transition_id = u.t) AS r",
                [list({k[0] for k in keys})],
            )
        )
        todo = [k for k in keys if k not in done]
        run_ids = bulk.pg_execute(
            "SELECT nextval(pg_get_serial_sequence('routing_actionrun', 'id')) FROM generate_series(1, %s)",
            [len(todo)],
        )
        allotted = [(run_id, t, a) for (run_id,), (t, a) in zip(run_ids, todo, strict=True)]
    else:
        ActionRun.objects.bulk_create([ActionRun(transition_id=t, action_id=a) for t, a in keys], ignore_conflicts=True)
        # SQLite cannot say which rows ignore_conflicts skipped: the ones with no outcome yet are ours
        # (one writer at a time there, so nobody else holds them).
        allotted = list(
            ActionRun.objects.filter(transition_id__in={k[0] for k in keys}, outcome="").values_list(
                "id", "transition_id", "action_id"
            )
        )
    result = []
    for run_id, event_id, action_id in allotted:
        row = rows.get((event_id, action_id))
        if row is not None:
            result.append((Claimed(run_id, event_id, row["lead_id"], row), actions[action_id]))
    return result


def _runs_record(claimed: Sequence[tuple[Claimed, RoutingAction]], outcomes: Mapping[int, str]) -> None:
    """Record the runs :func:`_claim` allotted, with what each did."""
    if connection.vendor != "postgresql":
        bulk.values_update(ActionRun, ["outcome"], list(outcomes.items()))
        return
    bulk.pg_execute(
        "INSERT INTO routing_actionrun (id, transition_id, action_id, done_at, outcome)"
        " SELECT i, t, a, now(), o FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) AS u(i, t, a, o)",
        [
            [c.run_id for c, _ in claimed],
            [c.event_id for c, _ in claimed],
            [a.pk for _, a in claimed],
            [outcomes.get(c.run_id, "") for c, _ in claimed],
        ],
    )


# --- the actions: each runs for all the leads that claimed it, returns {run id: outcome} ---


def _by_lead(claims: Sequence[Claimed]) -> dict[int, list[int]]:
    runs: dict[int, list[int]] = defaultdict(list)
    for c in claims:
        runs[c.lead_id].append(c.run_id)
    return runs


def _each(claims: Sequence[Claimed], outcome: Mapping[int, str] | str) -> dict[int, str]:
    if isinstance(outcome, str):
        return {c.run_id: outcome for c in claims}
    return {c.run_id: outcome.get(c.lead_id, "") for c in claims}


def _enroll(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    assert action.sequence is not None
    results = nurture.enrollments_start_many(sequence=action.sequence, lead_ids=_by_lead(claims), now=now)
    return _each(claims, {pk: "enrolled" if not why else f"not enrolled: {why}" for pk, why in results.items()})


def _exit_sequence(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    assert action.sequence is not None
    exited = nurture.leads_exit_sequence(
        lead_ids=_by_lead(claims), sequence=action.sequence, reason=ExitReason.MANUAL, now=now
    )
    return _each(claims, f"exited ({exited} in this batch)")


def _exit_all(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    exited = nurture.leads_exit_all(lead_ids=_by_lead(claims), reason=ExitReason.MANUAL, now=now)
    return _each(claims, f"exited every sequence ({exited} enrollments in this batch)")


def _set_stage(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    scoring.leads_stage_set(lead_ids=_by_lead(claims), stage=action.stage, cause="routing", at=now)
    return _each(claims, f"stage {action.stage}")


def _add_tag(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    leads_tag(lead_ids=_by_lead(claims), tag=action.tag)
    return _each(claims, f"tagged {action.tag}")


def _route_to_queue(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    assert action.team is not None
    events = {c.lead_id: c.event_id for c in claims}
    placed = leads_queue(team=action.team, lead_ids=list(events), now=now, events=events)
    return _each(claims, placed)


def _assign_owner(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    lead_ids = list(_by_lead(claims))
    if action.user_id is not None:
        Lead.objects.filter(pk__in=lead_ids).update(owner_id=action.user_id)
        QueueItem.objects.filter(lead_id__in=lead_ids, status=QueueItem.Status.OPEN).update(owner_id=action.user_id)
        leads_queue_team_sync(lead_ids=lead_ids)
        return _each(claims, f"owner user {action.user_id}")
    assert action.team is not None
    chosen = leads_assign(team=action.team, lead_ids=lead_ids)
    return _each(
        claims, {pk: f"owner user {u}" if u else "no rep with room: left unassigned" for pk, u in chosen.items()}
    )


def _notify(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
    lead_ids = list(_by_lead(claims))
    leads = Lead.objects.filter(pk__in=lead_ids).select_related("owner", "score_group")
    team_to = team_addresses(action.team) if action.team is not None else []
    rows = []
    outcome: dict[int, str] = {}
    for lead in leads:
        to = team_to or ([lead.owner.email] if lead.owner is not None and lead.owner.email else [])
        if not to:
            outcome[lead.pk] = "nobody to notify (no owner email, no team)"
            continue
        rows.append(
            Notification(
                to=to,
                lead=lead,
                subject=f"Lead {lead}: {action.rule.name}",
                body=render_to_string(
                    "routing/email/notify.txt",
                    {
                        "lead": lead,
                        "rule": action.rule,
                        "message": action.message,
                        "base": settings.LEADFLOW_PUBLIC_URL,
                    },
                ),
            )
        )
        outcome[lead.pk] = f"notified {', '.join(to)}"
    Notification.objects.bulk_create(rows)
    if rows:
        transaction.on_commit(notifications_enqueue)
    return _each(claims, outcome)


def _webhook(action: RoutingAction, claims: Sequence[Claimed], now: datetime) -> dict[int, str]:
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
    return _each(claims, "webhook queued")


# The actions that write the lead's own row (the others write enrollments, queue items, outboxes).
LEAD_WRITING = {
    RoutingAction.Kind.SET_STAGE,
    RoutingAction.Kind.ADD_TAG,
    RoutingAction.Kind.ROUTE_TO_QUEUE,
    RoutingAction.Kind.ASSIGN_OWNER,
}

ACTIONS: dict[str, Callable[[RoutingAction, Sequence[Claimed], datetime], dict[int, str]]] = {
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


def notifications_enqueue() -> None:
    from routing import tasks

    scoring.enqueue(tasks.notifications_send_task, fallback="the minute routing task sends it")


def webhooks_enqueue() -> None:
    from routing import tasks

    scoring.enqueue(tasks.webhooks_deliver_task, fallback="the minute webhook task delivers it")


def team_addresses(team: Team) -> list[str]:
    """Where a team's emails go: its own address, else its team lead's (none if neither)."""
    if team.email:
        return [team.email]
    if team.team_lead is not None and team.team_lead.email:
        return [team.team_lead.email]
    return []


# --- tags ---------------------------------------------------------------------------


def leads_tag(*, lead_ids: Iterable[int], tag: str) -> int:
    """Add ``tag`` to the leads' ``attributes.tags`` (a list; rules can test it with
    'contains'). Leads that have it already are left alone. Returns how many changed."""
    ids = list(lead_ids)
    if connection.vendor == "postgresql":
        return len(
            bulk.pg_execute(
                "UPDATE scoring_lead SET attributes = attributes"
                " || jsonb_build_object('tags', COALESCE(attributes->'tags', '[]'::jsonb) || to_jsonb(%s::text))"
                " WHERE id = ANY(%s::bigint[])"
                " AND NOT COALESCE(attributes->'tags', '[]'::jsonb) @> jsonb_build_array(%s::text) RETURNING id",
                [tag, ids, tag],
            )
        )
    changed = 0
    for lead in Lead.objects.filter(pk__in=ids).only("attributes"):
        tags = list((lead.attributes or {}).get("tags") or [])
        if tag not in tags:
            lead.attributes = {**(lead.attributes or {}), "tags": [*tags, tag]}
            lead.save(update_fields=["attributes"])
            changed += 1
    return changed


# --- the sales queue and assignment -------------------------------------------------


def rep_slots(team: Team, *, lock: bool) -> list[assignment.RepSlot]:
    """The team's reps with how many open items each holds (two queries, after the team's lock)."""
    if lock:
        # Serialise assignments per team: the cursor and the capacities are read then written.
        Team.objects.select_for_update().filter(pk=team.pk).first()
    reps = list(Rep.objects.filter(team=team).values_list("id", "user_id", "available", "capacity"))
    # One count per owner through queue_owner_open_idx, not a join of every item.
    held = dict(
        QueueItem.objects.filter(owner_id__in=[user for _, user, _, _ in reps], status__in=QueueItem.OPEN_STATUSES)
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
        .order_by()
    )
    return [assignment.RepSlot(pk, available, capacity, held.get(user, 0)) for pk, user, available, capacity in reps]


def _choose(team: Team, lead_ids: Sequence[int]) -> dict[int, int | None]:
    """Rep (Rep id) per lead by the team's method; advances the round-robin cursor."""
    slots = rep_slots(team, lock=True)
    territories: list[assignment.Territory] = []
    values: list[Mapping[str, object]] = [{} for _ in lead_ids]
    if team.assignment == Team.Assignment.TERRITORY:
        territories = [assignment.Territory(t.field, tuple(t.values), t.rep_id) for t in team.territories.all()]
        known = _lead_values(lead_ids)
        values = [known.get(pk, {}) for pk in lead_ids]
    team.refresh_from_db(fields=["last_rep"])
    chosen, after = assignment.assign_many(
        slots, values, method=team.assignment, after=team.last_rep_id, territories=territories
    )
    if after != team.last_rep_id:
        Team.objects.filter(pk=team.pk).update(last_rep_id=after)
    return dict(zip(lead_ids, chosen, strict=True))


def leads_queue(
    *, team: Team, lead_ids: Sequence[int], now: datetime, events: Mapping[int, int] | None = None
) -> dict[int, str]:
    """Put leads in ``team``'s queue (those not already in an open item) and assign
    them by the team's method. Returns an outcome per lead."""
    already = dict(
        QueueItem.objects.filter(lead_id__in=lead_ids, status__in=QueueItem.OPEN_STATUSES).values_list(
            "lead_id", "team__name"
        )
    )
    new = [pk for pk in dict.fromkeys(lead_ids) if pk not in already]
    chosen = _choose(team, new) if new else {}
    users = dict(Rep.objects.filter(pk__in={r for r in chosen.values() if r}).values_list("pk", "user_id"))
    owners = {pk: users.get(chosen.get(pk) or 0) for pk in new}
    inserted = _items_insert(team=team, owners=owners, now=now, events=events or {})
    # What leads_queue_team_sync would derive, written directly: the new items are known.
    bulk.values_update(Lead, ["owner", "queue_team_id"], [(pk, owners[pk], None) for pk in inserted if owners[pk]])
    bulk.values_update(Lead, ["queue_team_id"], [(pk, team.pk) for pk in inserted if not owners[pk]])
    outcome = {pk: f"already in {name}'s queue" for pk, name in already.items()}
    for pk in new:
        if pk not in inserted:
            outcome[pk] = "already in a queue (routed meanwhile)"
        elif owners[pk]:
            outcome[pk] = f"in {team.name}'s queue, assigned to user {owners[pk]}"
        else:
            outcome[pk] = f"in {team.name}'s queue"
    return outcome


def _items_insert(
    *, team: Team, owners: Mapping[int, int | None], now: datetime, events: Mapping[int, int]
) -> set[int]:
    """Open items in ``team``'s queue for these leads (lead id -> owner user id or None),
    except leads that have an open item already (one_open_item). Returns the lead ids inserted."""
    if not owners:
        return set()
    leads = list(owners)
    if connection.vendor == "postgresql":
        rows = bulk.pg_execute(
            "INSERT INTO routing_queueitem (lead_id, team_id, owner_id, status, entered_at, reason, budget,"
            " authority, need, timeline, transition_id)"
            " SELECT l, %s, o, 'open', %s, '', '', '', '', '', t"
            " FROM unnest(%s::bigint[], %s::integer[], %s::bigint[]) AS u(l, o, t)"
            " ON CONFLICT DO NOTHING RETURNING lead_id",
            [team.pk, now, leads, [owners[pk] for pk in leads], [events.get(pk) for pk in leads]],
        )
        return {row[0] for row in rows}
    QueueItem.objects.bulk_create(
        [
            QueueItem(lead_id=pk, team=team, owner_id=owners[pk], entered_at=now, transition_id=events.get(pk))
            for pk in leads
        ]
    )
    return set(leads)


def leads_assign(*, team: Team, lead_ids: Sequence[int]) -> dict[int, int | None]:
    """Give the leads an owner by ``team``'s assignment; their open queue items too. Returns user ids."""
    chosen = _choose(team, list(lead_ids))
    users = dict(Rep.objects.filter(pk__in={r for r in chosen.values() if r}).values_list("pk", "user_id"))
    result = {pk: users.get(rep) if rep else None for pk, rep in chosen.items()}
    assigned = [(pk, user) for pk, user in result.items() if user]
    if assigned:
        bulk.values_update(Lead, ["owner"], assigned)
        owner = dict(assigned)
        items = QueueItem.objects.filter(lead_id__in=owner, status=QueueItem.Status.OPEN, owner__isnull=True)
        bulk.values_update(QueueItem, ["owner"], [(pk, owner[lead]) for pk, lead in items.values_list("pk", "lead_id")])
        leads_queue_team_sync(lead_ids=owner)
    return result


# --- notifications --------------------------------------------------------------------


def notifications_send(*, limit: int = 200) -> int:
    """Send unsent notification emails over one connection. Each is claimed with
    ``SKIP LOCKED`` and marked sent in the same transaction, so two senders never
    both send one. A notification that cannot even be built (no valid address, a
    header it cannot carry) is set aside; the others go on. Returns how many were sent."""
    from django.core import mail

    sent = 0
    with transaction.atomic():
        batch = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .exclude(pk__in=selectors.set_aside_open(kind=SET_ASIDE_NOTIFICATION).values("row_id"))[:limit]
        )
        if not batch:
            return 0
        failures: list[setaside.Failure] = []
        with mail.get_connection() as email:
            for note in batch:
                try:
                    message = mail.EmailMessage(note.subject, note.body, to=list(note.to), connection=email)
                    message.send()
                except OSError as exc:  # SMTP errors are OSErrors: keep it for the next run
                    Notification.objects.filter(pk=note.pk).update(error=str(exc)[:300])
                    continue
                except Exception as exc:
                    # Not the server's answer but this row's content: it would fail every run.
                    if setaside.is_transient(exc):
                        raise
                    failures.append(setaside.Failure.of(note.pk, note.lead_id, exc))
                    continue
                sent += 1
                Notification.objects.filter(pk=note.pk).update(sent_at=timezone.now(), error="")
        setaside.rows_set_aside(kind=SET_ASIDE_NOTIFICATION, failures=failures)
    return sent


def _notifications_retry(ids: list[int]) -> dict[int, str]:
    """Retry set-aside notifications: back in the outbox; the minute task sends them."""
    transaction.on_commit(notifications_enqueue)
    return {pk: "back in the outbox: the next run sends it" for pk in ids}


setaside.register_kind(
    setaside.Kind(SET_ASIDE_EVENT, "Lead event (routing)", _events_retry, "admin:scoring_grouptransition_change")
)
setaside.register_kind(setaside.Kind(SET_ASIDE_NOTIFICATION, "Notification (routing)", _notifications_retry))


def _sla_retry(ids: list[int]) -> dict[int, str]:
    from routing import sla  # it builds on this module

    return sla.items_retry(ids)


setaside.register_kind(setaside.Kind(SET_ASIDE_SLA, "Sales queue item (SLA escalation)", _sla_retry))


def _webhooks_retry(ids: list[int]) -> dict[int, str]:
    from routing import webhooks  # it builds on this module

    return webhooks.deliveries_retry(ids)


setaside.register_kind(
    setaside.Kind(SET_ASIDE_WEBHOOK, "Webhook delivery", _webhooks_retry, "admin:routing_webhookdelivery_change")
)
