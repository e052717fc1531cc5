"""The sales queue and assignment: leads put in a team's queue once, and reps chosen
by the team's method (:mod:`routing.assignment` decides)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Count
from django.utils.translation import gettext_noop

from routing import assignment
from routing.models import QueueItem, Rep, Team
from routing.sales import leads_queue_team_sync
from scoring import bulk, selectors
from scoring import services as scoring
from scoring.said import Said, said


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
        known = selectors.leads_rule_values(lead_ids=lead_ids)
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
) -> dict[int, Said]:
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
    scoring.leads_assignment_set(
        owners={pk: owners[pk] for pk in inserted if owners[pk]},
        queue_teams={pk: None if owners[pk] else team.pk for pk in inserted},
    )
    outcome = {pk: said(gettext_noop("already in {team}'s queue"), team=name) for pk, name in already.items()}
    for pk in new:
        if pk not in inserted:
            outcome[pk] = said(gettext_noop("already in a queue (routed meanwhile)"))
        elif owners[pk]:
            assigned = gettext_noop("in {team}'s queue, assigned to user {user}")
            outcome[pk] = said(assigned, team=team.name, user=owners[pk])
        else:
            outcome[pk] = said(gettext_noop("in {team}'s queue"), team=team.name)
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
        scoring.leads_assignment_set(owners=dict(assigned))
        owner = dict(assigned)
        items = QueueItem.objects.filter(lead_id__in=owner, status=QueueItem.Status.OPEN, owner__isnull=True)
        bulk.values_update(QueueItem, ["owner"], [(pk, owner[lead]) for pk, lead in items.values_list("pk", "lead_id")])
        leads_queue_team_sync(lead_ids=owner)
    return result
