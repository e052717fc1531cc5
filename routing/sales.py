"""What sales reps do with queued leads, and SLA escalation.

Every change of an item is one conditional ``UPDATE … WHERE status = …``: two
reps acting on the same item at once, exactly one update matches and the
other is told. Each action is recorded as an :class:`Outcome` (the history
reports read); qualifying and disqualifying or rejecting also write an event
in scoring's outbox, so routing rules (back to nurture, say) act on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from routing.models import Outcome, QueueItem, Rep
from scoring import services as scoring
from scoring.models import GroupTransition, Lead

Status = QueueItem.Status


class ActionRefused(Exception):
    """The action cannot be done now (someone else claimed it, it is closed…); the message says why."""


class InputRefused(ActionRefused):
    """What the rep typed cannot be kept (missing, too long, not storable text); the
    message names each field and why. Nothing was changed."""


BANT_FIELDS = ("budget", "authority", "need", "timeline")
# The columns' lengths (QueueItem.reason, QueueItem.budget…): longer text is refused, not cut.
REASON_MAX_LENGTH = 300
BANT_MAX_LENGTH = 200


@dataclass(frozen=True)
class Bant:
    budget: str = ""
    authority: str = ""
    need: str = ""
    timeline: str = ""

    def check(self) -> dict[str, str]:
        problems = {}
        for name in BANT_FIELDS:
            value = getattr(self, name).strip()
            if not value:
                problems[name] = "Say what you learned about the lead's " + name + "."
            elif len(value) > BANT_MAX_LENGTH:
                problems[name] = f"At most {BANT_MAX_LENGTH} characters (this has {len(value)})."
            elif problem := text_problem(value):
                problems[name] = problem[0].upper() + problem[1:]
        return problems


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (PostgreSQL refuses NUL; UTF-8 has no lone
    surrogates), or None."""
    if "\x00" in value:
        return "may not contain the NUL character."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "may not contain unpaired surrogate characters."
    return None


# What each action needs the item to be in, and what it becomes.
_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    Outcome.Kind.ACCEPTED: ((Status.OPEN, Status.CLAIMED), Status.ACCEPTED),
    Outcome.Kind.REJECTED: ((Status.OPEN, Status.CLAIMED, Status.ACCEPTED), Status.REJECTED),
    Outcome.Kind.QUALIFIED: ((Status.CLAIMED, Status.ACCEPTED), Status.QUALIFIED),
    Outcome.Kind.DISQUALIFIED: ((Status.OPEN, Status.CLAIMED, Status.ACCEPTED, Status.QUALIFIED), Status.DISQUALIFIED),
    Outcome.Kind.WON: ((Status.ACCEPTED, Status.QUALIFIED), Status.WON),
    Outcome.Kind.LOST: ((Status.ACCEPTED, Status.QUALIFIED), Status.LOST),
}
_NEEDS_REASON = {Outcome.Kind.REJECTED, Outcome.Kind.DISQUALIFIED, Outcome.Kind.LOST}


def actions_available(*, status: str, owned: bool) -> tuple[str, ...]:
    """What a rep may do with an item now: ``claim`` or the :func:`item_act` kinds.
    ``owned``: the item's owner is this rep (claimed, or assigned to them by routing)."""
    if not owned:
        return ("claim",) if status == Status.OPEN else ()
    return tuple(kind for kind, (before, _) in _MOVES.items() if status in before)


def leads_queue_team_sync(*, lead_ids: Iterable[int]) -> None:
    """Set each lead's ``queue_team_id`` to the team whose queue it waits in
    unclaimed (an open item without owner), else NULL: the sales queue page
    reads a team's waiting leads by score from it. Call in the same transaction
    as any change of an item's status or owner."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    waiting = dict(
        QueueItem.objects.filter(lead_id__in=ids, status=Status.OPEN, owner__isnull=True).values_list(
            "lead_id", "team_id"
        )
    )
    scoring.leads_assignment_set(queue_teams={pk: waiting.get(pk) for pk in ids})


def rep_of(user: AbstractBaseUser) -> Rep:
    try:
        return Rep.objects.select_related("team").get(user_id=user.pk)
    except Rep.DoesNotExist:
        raise ActionRefused("You are not a sales rep in any team.") from None


def outcomes_record(
    *, rows: Sequence[tuple[int, int, str]], kind: str, user: AbstractBaseUser | None, now: datetime
) -> None:
    """One :class:`Outcome` per (item id, lead id, reason), with each lead's score now."""
    totals = dict(Lead.objects.filter(pk__in={lead_id for _, lead_id, _ in rows}).values_list("pk", "total_score"))
    Outcome.objects.bulk_create(
        Outcome(
            item_id=item_id,
            lead_id=lead_id,
            kind=kind,
            reason=reason,
            total_score=totals.get(lead_id, 0),
            user_id=user.pk if user else None,
            at=now,
        )
        for item_id, lead_id, reason in rows
    )


@transaction.atomic
def item_claim(*, item_id: int, user: AbstractBaseUser, now: datetime | None = None) -> QueueItem:
    """The rep takes a waiting lead of their team. Two reps at once: exactly one wins,
    the other gets :class:`ActionRefused`."""
    now = now or timezone.now()
    rep = rep_of(user)
    claimed = QueueItem.objects.filter(
        Q(owner__isnull=True) | Q(owner_id=user.pk), pk=item_id, team_id=rep.team_id, status=Status.OPEN
    ).update(status=Status.CLAIMED, owner_id=user.pk, claimed_at=now)
    item = QueueItem.objects.filter(pk=item_id).select_related("owner").first()
    if not claimed:
        if item is None or item.team_id != rep.team_id:
            raise ActionRefused("This lead is not in your team's queue.")
        if item.owner_id and item.owner_id != user.pk:
            who = item.owner.get_username() if item.owner else "another rep"
            if item.status == Status.OPEN:
                raise ActionRefused(f"Already assigned to {who}.")
            raise ActionRefused(f"Already claimed by {who}.")
        raise ActionRefused(f"This lead is {item.get_status_display().lower()}, not waiting.")
    assert item is not None
    scoring.leads_assignment_set(owners={item.lead_id: user.pk}, queue_teams={item.lead_id: None})
    outcomes_record(rows=[(item.pk, item.lead_id, "")], kind=Outcome.Kind.CLAIMED, user=user, now=now)
    return item


@transaction.atomic
def item_act(
    *,
    item_id: int,
    user: AbstractBaseUser,
    kind: str,
    reason: str = "",
    bant: Bant | None = None,
    now: datetime | None = None,
) -> QueueItem:
    """Accept, reject (reason), qualify (BANT), disqualify (reason), win or lose
    (reason) the rep's own lead, in the rep's team."""
    now = now or timezone.now()
    if kind not in _MOVES:
        raise ActionRefused(f"Unknown action '{kind}'.")
    reason = reason.strip()
    if kind in _NEEDS_REASON and not reason:
        raise InputRefused("reason: say why.")
    if len(reason) > REASON_MAX_LENGTH:
        raise InputRefused(f"reason: at most {REASON_MAX_LENGTH} characters (this has {len(reason)}).")
    if problem := text_problem(reason):
        raise InputRefused(f"reason: {problem}")
    rep = rep_of(user)
    changes: dict[str, Any] = {"status": _MOVES[kind][1]}
    if kind == Outcome.Kind.QUALIFIED:
        bant = bant or Bant()
        missing = bant.check()
        if missing:
            raise InputRefused(" ".join(f"{name}: {message}" for name, message in missing.items()))
        changes.update(budget=bant.budget, authority=bant.authority, need=bant.need, timeline=bant.timeline)
    if kind == Outcome.Kind.ACCEPTED:
        changes["claimed_at"] = Coalesce(F("claimed_at"), Value(now))
    if _MOVES[kind][1] in QueueItem.CLOSED_STATUSES:
        changes.update(closed_at=now, reason=reason)
    moved = QueueItem.objects.filter(
        pk=item_id, team_id=rep.team_id, owner_id=user.pk, status__in=_MOVES[kind][0]
    ).update(**changes)
    item = QueueItem.objects.filter(pk=item_id).first()
    if not moved:
        if item is None or item.team_id != rep.team_id:
            raise ActionRefused("This lead is not in your team's queue.")
        if item.owner_id != user.pk:
            raise ActionRefused("This lead is not yours: claim it first.")
        raise ActionRefused(f"This lead is {item.get_status_display().lower()}: it cannot be {kind} now.")
    assert item is not None
    leads_queue_team_sync(lead_ids=[item.lead_id])
    outcomes_record(rows=[(item.pk, item.lead_id, reason)], kind=kind, user=user, now=now)
    if kind == Outcome.Kind.QUALIFIED:
        scoring.lead_events_record(lead_ids=[item.lead_id], kind=GroupTransition.Kind.QUALIFIED, cause="sales", at=now)
    elif kind in (Outcome.Kind.REJECTED, Outcome.Kind.DISQUALIFIED):
        scoring.lead_events_record(
            lead_ids=[item.lead_id], kind=GroupTransition.Kind.DISQUALIFIED, cause=kind, detail=reason, at=now
        )
    if kind == Outcome.Kind.WON:
        scoring.leads_stage_set(lead_ids=[item.lead_id], stage="customer", cause="sales", at=now)
    return item
