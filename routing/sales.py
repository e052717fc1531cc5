"""What sales reps do with queued leads, and SLA escalation.

Every change of an item is one conditional ``UPDATE … WHERE status = …``: two
reps acting on the same item at once, exactly one update matches and the
other is told. Each action is recorded as an :class:`Outcome` (the history
reports read); qualifying and disqualifying or rejecting also write an event
in scoring's outbox, so routing rules (back to nurture, say) act on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from people.names import isolated, person_name
from routing.models import Outcome, QueueItem, Rep, Team
from scoring import outcomes as reported_outcomes
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, LifecycleStage
from scoring.said import Said

Status = QueueItem.Status


class ActionRefused(Exception):
    """The action cannot be done now (someone else claimed it, it is closed…); the message says why."""


class InputRefused(ActionRefused):
    """What the rep typed cannot be kept (missing, too long, not storable text): ``problems``
    holds each field's name (``reason``, ``amount``, ``budget``…) and why, in the rep's
    language; the message names them all. Nothing was changed."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__(" ".join(f"{field}: {message}" for field, message in problems.items()))


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
                problems[name] = _(BANT_MISSING[name])
            elif len(value) > BANT_MAX_LENGTH:
                problems[name] = _too_long(BANT_MAX_LENGTH, len(value))
            elif problem := text_problem(value):
                problems[name] = capfirst(_(problem))
        return problems


BANT_MISSING = {
    "budget": gettext_noop("Say what you learned about the lead's budget."),
    "authority": gettext_noop("Say what you learned about the lead's authority."),
    "need": gettext_noop("Say what you learned about the lead's need."),
    "timeline": gettext_noop("Say what you learned about the lead's timeline."),
}


def _too_long(maximum: int, length: int) -> str:
    return _("At most {maximum} characters (this has {length}).").format(maximum=maximum, length=length)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (PostgreSQL refuses NUL; UTF-8 has no lone
    surrogates), or None."""
    if "\x00" in value:
        return gettext_noop("may not contain the NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return gettext_noop("may not contain unpaired surrogate characters.")
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


# What a rep may hand back to the team's queue: a lead they claimed, or one routing assigned
# them that they have not claimed. Past accepting it is theirs to close.
_RELEASABLE = (Status.OPEN, Status.CLAIMED)


def actions_available(*, status: str, owned: bool) -> tuple[str, ...]:
    """What a rep may do with an item now: ``claim``, the :func:`item_act` kinds or
    ``released`` (:func:`item_release`). ``owned``: the item's owner is this rep
    (claimed, or assigned to them by routing)."""
    if not owned:
        return ("claim",) if status == Status.OPEN else ()
    moves = tuple(kind for kind, (before, _) in _MOVES.items() if status in before)
    return (*moves, Outcome.Kind.RELEASED) if status in _RELEASABLE else moves


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
        raise ActionRefused(_("You are not a sales rep in any team.")) from None


def outcomes_record(
    *,
    rows: Sequence[tuple[int, int, str | Said]],
    kind: str,
    user: AbstractBaseUser | None,
    now: datetime,
    amount: Decimal | None = None,
    holders: Mapping[int, int | None] | None = None,
) -> None:
    """One :class:`Outcome` per (item id, lead id, reason), with each lead's score now
    (and, for a deal won, its amount; for a release, the user who held each item). A reason
    routing gives is said (:mod:`scoring.said`), shown in its reader's language; a person's is
    kept as typed."""
    totals = dict(Lead.objects.filter(pk__in={lead_id for _, lead_id, _ in rows}).values_list("pk", "total_score"))
    Outcome.objects.bulk_create(
        Outcome(
            item_id=item_id,
            lead_id=lead_id,
            kind=kind,
            reason=reason.english()[:300] if isinstance(reason, Said) else reason,
            reason_said=reason.stored() if isinstance(reason, Said) else None,
            total_score=totals.get(lead_id, 0),
            user_id=user.pk if user else None,
            at=now,
            amount=amount,
            holder_id=holders.get(item_id) if holders else None,
        )
        for item_id, lead_id, reason in rows
    )


@transaction.atomic
def item_claim(*, item_id: int, user: AbstractBaseUser, now: datetime | None = None) -> QueueItem:
    """The rep takes a waiting lead of their team. Two reps at once: exactly one wins,
    the other gets :class:`ActionRefused`."""
    now = now or timezone.now()
    rep = rep_of(user)
    claimable = QueueItem.objects.filter(
        Q(owner__isnull=True) | Q(owner_id=user.pk), pk=item_id, team_id=rep.team_id, status=Status.OPEN
    )
    claimed = claimable.update(status=Status.CLAIMED, owner_id=user.pk, claimed_at=now)
    item = QueueItem.objects.filter(pk=item_id).select_related("owner").first()
    if not claimed and item is not None and item.status == Status.OPEN and item.owner_id is None:
        # Its holder released it between the update and this read (item_release): it waits
        # for anyone now, so take it rather than tell the rep it is "waiting, not waiting".
        claimed = claimable.update(status=Status.CLAIMED, owner_id=user.pk, claimed_at=now)
        item = QueueItem.objects.filter(pk=item_id).select_related("owner").first()
    if not claimed:
        if item is None or item.team_id != rep.team_id:
            raise ActionRefused(_("This lead is not in your team's queue."))
        if item.owner_id and item.owner_id != user.pk:
            who = isolated(person_name(item.owner)) if item.owner else _("another rep")
            if item.status == Status.OPEN:
                raise ActionRefused(_("Already assigned to {rep}.").format(rep=who))
            raise ActionRefused(_("Already claimed by {rep}.").format(rep=who))
        status = item.get_status_display().lower()
        raise ActionRefused(_("This lead is {status}, not waiting.").format(status=status))
    assert item is not None
    scoring.leads_assignment_set(owners={item.lead_id: user.pk}, queue_teams={item.lead_id: None})
    outcomes_record(rows=[(item.pk, item.lead_id, "")], kind=Outcome.Kind.CLAIMED, user=user, now=now)
    return item


@transaction.atomic
def item_release(*, item_id: int, user: AbstractBaseUser, reason: str = "", now: datetime | None = None) -> QueueItem:
    """The rep hands a lead they hold (claimed, or assigned to them) back to their team's
    queue, unclaimed, with an optional reason; recorded as a *released* outcome.

    The item keeps the time it entered the queue: the SLA and the feedback deadline count
    from the hand-off, so claiming and releasing never makes a lead look fresh, and one
    already escalated is not escalated again. No lead event is written, so nothing routing
    did on the hand-off (notifications, webhooks) runs again. Released twice (two tabs) or
    claimed by someone else meanwhile: one conditional UPDATE, as a claim's, so exactly one
    release matches and the other gets :class:`ActionRefused`."""
    now = now or timezone.now()
    rep = rep_of(user)
    # Whether the lead is the rep's to release comes first: the reason for a teammate's
    # lead is never checked.
    item = QueueItem.objects.filter(pk=item_id).select_related("owner", "team").first()
    _release_refusal_check(item, rep, user, status=False)
    reason = reason_check(reason)
    released = QueueItem.objects.filter(
        pk=item_id, team_id=rep.team_id, owner_id=user.pk, status__in=_RELEASABLE
    ).update(status=Status.OPEN, owner=None, claimed_at=None)
    item = QueueItem.objects.filter(pk=item_id).select_related("owner", "team").first()
    if not released:
        _release_refusal_check(item, rep, user)
        raise ActionRefused(_("This lead is not in your team's queue."))  # gone since: no longer to be had
    assert item is not None
    _released(rows=[(item.pk, item.lead_id, item.team_id, user.pk)], user=user, reason=reason, now=now)
    return item


def _teams_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    """The teams ``user`` leads and the one they are a rep in, as a query to read or to
    filter by (none for someone not signed in: no team's lead is "nobody")."""
    if user.pk is None:
        return Team.objects.none()
    rep_in = Rep.objects.filter(user_id=user.pk).values("team_id")
    return Team.objects.filter(Q(team_lead_id=user.pk) | Q(pk__in=rep_in)).order_by()


def teams_released_by(user: AbstractBaseUser | AnonymousUser) -> set[int] | None:
    """The teams whose leads ``user`` may release for a rep who is away: every team for a
    superuser (None), else the team they are a rep in and the teams they lead (none for
    someone not signed in)."""
    if getattr(user, "is_superuser", False):
        return None
    return set(_teams_of(user).values_list("pk", flat=True))


def teams_seen_by(user: AbstractBaseUser | AnonymousUser) -> set[int] | None:
    """The teams whose queue items and outcomes ``user`` reads in the admin (the lists, an
    item's or outcome's page, a lead's timeline): every team (None) for a superuser and for
    whoever may change teams (marketing designs them all, team leads included, and reads
    the whole queue's history); for anyone else the teams of :func:`teams_released_by`,
    the one they are a rep in and those they lead. A user tied to no team reads no team's:
    a permission to view queue items or outcomes alone shows nothing, so staff given it
    for one team never read every team's."""
    teams = teams_seen_query(user)
    return None if teams is None else set(teams.values_list("pk", flat=True))


def teams_seen_query(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team] | None:
    """:func:`teams_seen_by` as a query, for filtering rows by team inside their own query
    (``team__in=``): a page reading several kinds of rows by team does not read the
    reader's teams once for each."""
    if getattr(user, "is_superuser", False) or user.has_perm("routing.change_team"):  # type: ignore[union-attr]
        return None
    return _teams_of(user)


def reason_check(reason: str) -> str:
    """The reason for a release as it will be kept, or :class:`InputRefused` naming ``reason``."""
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise InputRefused({"reason": _too_long(REASON_MAX_LENGTH, len(reason)).lower()})
    if problem := text_problem(reason):
        raise InputRefused({"reason": _(problem)})
    return reason


def _not_releasable(*, team_id: int, owner_id: int | None, status: str, teams: set[int] | None) -> str | None:
    """Why an item is not one to release for a rep who is away (``outside``: another team's;
    ``not_held``: waiting for anyone, accepted or closed), or None."""
    if teams is not None and team_id not in teams:
        return "outside"
    if status not in _RELEASABLE or (status == Status.OPEN and owner_id is None):
        return "not_held"
    return None


@dataclass(frozen=True)
class ReleaseChoice:
    """The selected items as a release would find them now: ``held`` (to release, with who
    holds each), and how many are another team's or held by nobody."""

    held: list[QueueItem]
    outside: int
    not_held: int


def items_release_preview(*, item_ids: Iterable[int], user: AbstractBaseUser) -> ReleaseChoice:
    """What :func:`items_release` would do with these items now, for a person to confirm."""
    teams = teams_released_by(user)
    held, why = [], []
    items = QueueItem.objects.filter(pk__in=set(item_ids)).select_related("lead", "team", "owner").order_by("pk")
    for item in items:
        refusal = _not_releasable(team_id=item.team_id, owner_id=item.owner_id, status=item.status, teams=teams)
        if refusal is None:
            held.append(item)
        why.append(refusal)
    return ReleaseChoice(held=held, outside=why.count("outside"), not_held=why.count("not_held"))


@dataclass(frozen=True)
class ItemsReleased:
    """What :func:`items_release` did: the items ``released``; those left because they are
    another team's (``outside``) or nobody holds them (``not_held``); and those whose holder
    is no longer the one the person saw (``holder_changed``), left too."""

    released: list[int]
    outside: list[int]
    not_held: list[int]
    holder_changed: list[int]


@transaction.atomic
def items_release(
    *,
    held_by: Mapping[int, int | None],
    user: AbstractBaseUser,
    reason: str = "",
    now: datetime | None = None,
) -> ItemsReleased:
    """Hand back to their teams' queues the leads reps hold and have not accepted, for a rep
    who is away: what a team lead or an administrator does from the admin's *Queue items*,
    with an optional reason. ``held_by`` maps each item to the user the person saw holding
    it (None: a rep whose account was deleted, the lead still claimed); an item is released
    only if that user still holds it, so a list looked at before another rep claimed a
    lead never releases the fresh claim. As :func:`item_release` for each, in the teams of
    :func:`teams_released_by` only; the others (another team's, waiting for anyone,
    accepted, closed, held by someone else now) are left as they are. Bad reason:
    :class:`InputRefused`, nothing changed."""
    now = now or timezone.now()
    reason = reason_check(reason)
    teams = teams_released_by(user)
    # Locked in id order, then compared: a rep's claim or release of one of them waits for
    # this, then finds it released; a row changed meanwhile is read as it is now.
    rows = list(
        QueueItem.objects.select_for_update()
        .filter(pk__in=sorted(set(held_by)))
        .order_by("pk")
        .values_list("pk", "lead_id", "team_id", "owner_id", "status")
    )
    held: list[tuple[int, int, int, int | None]] = []
    outside, not_held, changed = [], [], []
    for pk, lead_id, team_id, owner_id, status in rows:
        if teams is not None and team_id not in teams:
            outside.append(pk)
        elif owner_id != held_by[pk]:
            changed.append(pk)
        elif _not_releasable(team_id=team_id, owner_id=owner_id, status=status, teams=teams):
            not_held.append(pk)
        else:
            held.append((pk, lead_id, team_id, owner_id))
    QueueItem.objects.filter(pk__in=[pk for pk, *_ in held]).update(status=Status.OPEN, owner=None, claimed_at=None)
    _released(rows=held, user=user, reason=reason, now=now)
    return ItemsReleased(released=[pk for pk, *_ in held], outside=outside, not_held=not_held, holder_changed=changed)


def _released(
    *, rows: Sequence[tuple[int, int, int, int | None]], user: AbstractBaseUser, reason: str, now: datetime
) -> None:
    """What follows a release of items (id, lead id, team id, the user who held it) now back
    in their team's queue: the leads wait for the team with no owner, and the release is
    recorded, by ``user``, from the holder."""
    if not rows:
        return
    scoring.leads_assignment_set(
        owners={lead_id: None for _, lead_id, _, _ in rows},
        queue_teams={lead_id: team for _, lead_id, team, _ in rows},
    )
    outcomes_record(
        rows=[(pk, lead_id, reason) for pk, lead_id, _, _ in rows],
        kind=Outcome.Kind.RELEASED,
        user=user,
        now=now,
        holders={pk: holder for pk, _, _, holder in rows},
    )


@transaction.atomic
def item_act(
    *,
    item_id: int,
    user: AbstractBaseUser,
    kind: str,
    reason: str = "",
    bant: Bant | None = None,
    amount: Decimal | None = None,
    now: datetime | None = None,
) -> QueueItem:
    """Accept, reject (reason), qualify (BANT), disqualify (reason), win (the deal's
    amount, if known) or lose (reason) the rep's own lead, in the rep's team."""
    now = now or timezone.now()
    if kind not in _MOVES:
        raise ActionRefused(f"Unknown action '{kind}'.")
    rep = rep_of(user)
    # Whether the lead is the rep's to act on comes first: what was typed about a lead a
    # teammate holds is never checked (its refusals would read as if it were theirs).
    _act_refusal_check(QueueItem.objects.filter(pk=item_id).first(), rep, user, kind, status=False)
    if amount is not None:
        if kind != Outcome.Kind.WON:
            raise InputRefused({"amount": _("only a deal won has an amount.")})
        if problem := amount_problem(amount, translate=_):
            raise InputRefused({"amount": problem})
    reason = reason.strip()
    if kind in _NEEDS_REASON and not reason:
        raise InputRefused({"reason": _("say why.")})
    if len(reason) > REASON_MAX_LENGTH:
        raise InputRefused({"reason": _too_long(REASON_MAX_LENGTH, len(reason)).lower()})
    if problem := text_problem(reason):
        raise InputRefused({"reason": _(problem)})
    changes: dict[str, Any] = {"status": _MOVES[kind][1]}
    if kind == Outcome.Kind.QUALIFIED:
        bant = bant or Bant()
        if missing := bant.check():
            raise InputRefused(missing)
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
        _act_refusal_check(item, rep, user, kind)
        raise ActionRefused(_("This lead is not in your team's queue."))  # gone since: no longer to be had
    assert item is not None
    leads_queue_team_sync(lead_ids=[item.lead_id])
    outcomes_record(rows=[(item.pk, item.lead_id, reason)], kind=kind, user=user, now=now, amount=amount)
    _lead_follows(lead_id=item.lead_id, kind=kind, reason=reason, cause="sales", now=now)
    return item


def item_act_check(*, item_id: int, user: AbstractBaseUser, kind: str) -> None:
    """:class:`ActionRefused` saying why ``user`` cannot move the item as ``kind`` now, as
    :func:`item_act` would refuse it; nothing if they can. For a page that reads what the
    rep typed before calling item_act, so a teammate's lead is refused as such first."""
    _act_refusal_check(QueueItem.objects.filter(pk=item_id).first(), rep_of(user), user, kind, status=False)


def _act_refusal_check(
    item: QueueItem | None, rep: Rep, user: AbstractBaseUser, kind: str, *, status: bool = True
) -> None:
    """:class:`ActionRefused` saying why ``user`` cannot move ``item`` as ``kind`` now (not
    in their team's queue, not theirs, or, with ``status``, not in a status it moves from);
    nothing if they can. Without ``status``, before what the rep typed is checked: their
    own lead in another status is told the problems of what they typed first."""
    if item is None or item.team_id != rep.team_id:
        raise ActionRefused(_("This lead is not in your team's queue."))
    if item.owner_id != user.pk:
        raise ActionRefused(_("This lead is not yours: claim it first."))
    if status and item.status not in _MOVES[kind][0]:
        now_status, to = item.get_status_display().lower(), Status(_MOVES[kind][1]).label.lower()
        raise ActionRefused(_("This lead is {status}: it cannot be {kind} now.").format(status=now_status, kind=to))


def _release_refusal_check(item: QueueItem | None, rep: Rep, user: AbstractBaseUser, *, status: bool = True) -> None:
    """:class:`ActionRefused` saying why ``user`` cannot release ``item`` now (as
    :func:`_act_refusal_check`); nothing if they can."""
    if item is None or item.team_id != rep.team_id:
        raise ActionRefused(_("This lead is not in your team's queue."))
    if status and item.owner is None and item.status == Status.OPEN:
        raise ActionRefused(_("This lead is already back in {team}'s queue.").format(team=isolated(item.team.name)))
    if item.owner is not None and item.owner_id != user.pk:
        raise ActionRefused(
            _("This lead is not yours: {rep} has it now.").format(rep=isolated(person_name(item.owner)))
        )
    if status and item.status not in _RELEASABLE:
        now_status = item.get_status_display().lower()
        raise ActionRefused(_("This lead is {status}: it cannot go back to the queue now.").format(status=now_status))


def _lead_follows(*, lead_id: int, kind: str, reason: str, cause: str, now: datetime) -> None:
    """What an outcome changes of the lead, whoever recorded it (the sales page, a CRM):
    its stage, and the events routing rules act on."""
    if kind == Outcome.Kind.QUALIFIED:
        scoring.lead_events_record(lead_ids=[lead_id], kind=GroupTransition.Kind.QUALIFIED, cause=cause, at=now)
    elif kind in (Outcome.Kind.REJECTED, Outcome.Kind.DISQUALIFIED):
        scoring.lead_events_record(
            lead_ids=[lead_id], kind=GroupTransition.Kind.DISQUALIFIED, cause=kind, detail=reason, at=now
        )
    elif kind == Outcome.Kind.WON:
        scoring.leads_stage_set(lead_ids=[lead_id], stage=LifecycleStage.CUSTOMER, cause=cause, at=now)
    elif kind == Outcome.Kind.OPPORTUNITY:
        # A customer's new deal (an upsell) leaves them a customer.
        stage = Lead.objects.filter(pk=lead_id).values_list("lifecycle_stage", flat=True).first()
        if stage != LifecycleStage.CUSTOMER:
            scoring.leads_stage_set(lead_ids=[lead_id], stage=LifecycleStage.OPPORTUNITY, cause=cause, at=now)


# An outcome reported from outside closes the lead's open queue item as this, if it has one.
_CLOSES: dict[str, str] = {Outcome.Kind.WON: Status.WON, Outcome.Kind.LOST: Status.LOST}
assert set(reported_outcomes.KINDS) <= set(Outcome.Kind.values)
assert Outcome._meta.get_field("amount").max_digits == reported_outcomes.AMOUNT_MAX_DIGITS


def amount_problem(amount: Decimal, *, translate: Callable[[str], str] = str) -> str | None:
    """What is wrong with a deal's amount (the sales page's, in the rep's language with
    ``translate=gettext``, or a CRM's), or None."""
    if not amount.is_finite() or amount < 0:
        return translate(gettext_noop("must be a number, zero or more."))
    if amount.is_signed():  # -0, which a JSON number -0.0 is: kept, it read -0.00
        return translate(gettext_noop("must be zero or more, written without a sign."))
    if amount > reported_outcomes.AMOUNT_MAX:
        return translate(gettext_noop("at most {maximum}.")).format(maximum=reported_outcomes.AMOUNT_MAX)
    if amount != amount.quantize(Decimal("0.01")):
        places = reported_outcomes.AMOUNT_DECIMAL_PLACES
        return translate(gettext_noop("at most {places} decimal places.")).format(places=places)
    return None


def _reported_check(reported: reported_outcomes.ReportedOutcome) -> tuple[str, str | None]:
    """The reason and client id as they will be kept, or OutcomeRefused naming the field."""
    refused = reported_outcomes.OutcomeRefused
    if reported.kind not in reported_outcomes.KINDS:
        kinds = ", ".join(reported_outcomes.KINDS)
        raise refused("kind", f"'{reported.kind}' is not an outcome to report; give one of {kinds}.")
    reason = reported.reason.strip()
    if reported.kind in reported_outcomes.NEEDS_REASON and not reason:
        raise refused("reason", f"say why it was {reported.kind}.", code="required")
    if len(reason) > REASON_MAX_LENGTH:
        raise refused("reason", f"at most {REASON_MAX_LENGTH} characters (this has {len(reason)}).")
    if problem := text_problem(reason):
        raise refused("reason", problem)
    if reported.amount is not None and (problem := amount_problem(reported.amount)):
        raise refused("amount", problem)
    client_id = (reported.client_id or "").strip() or None
    if client_id is not None:
        if len(client_id) > reported_outcomes.CLIENT_ID_MAX_LENGTH:
            limit = reported_outcomes.CLIENT_ID_MAX_LENGTH
            raise refused("client_id", f"at most {limit} characters (this has {len(client_id)}).")
        if problem := text_problem(client_id):
            raise refused("client_id", problem)
    return reason, client_id


def _recorded(outcome: Outcome, *, created: bool) -> reported_outcomes.RecordedOutcome:
    stage = Lead.objects.filter(pk=outcome.lead_id).values_list("lifecycle_stage", flat=True).first()
    return reported_outcomes.RecordedOutcome(
        id=outcome.pk,
        lead_id=outcome.lead_id,
        kind=outcome.kind,
        amount=outcome.amount,
        reason=outcome.reason,
        client_id=outcome.client_id,
        at=outcome.at,
        created=created,
        lifecycle_stage=stage or "",
    )


def _same(outcome: Outcome, kind: str, amount: Decimal | None, reason: str) -> bool:
    return (outcome.kind, outcome.amount, outcome.reason) == (kind, amount, reason)


def outcome_report(reported: reported_outcomes.ReportedOutcome) -> reported_outcomes.RecordedOutcome:
    """Record an outcome another system (a CRM) reports: an opportunity was created, the
    deal was won (with its amount) or lost (with the reason). The lead changes as when a
    rep records it on the sales page (won: a customer; and routing's triggers), and an
    open queue item of the lead is closed won or lost; a lead in no queue gets the
    outcome all the same. With a ``client_id`` it is recorded once: the same id again
    answers with the outcome recorded first (``created`` False), or is refused naming
    ``client_id`` if it now says something else. Bad input: :class:`OutcomeRefused`,
    nothing changed."""
    reason, client_id = _reported_check(reported)
    now = reported.at or timezone.now()
    kind = reported.kind
    with transaction.atomic():
        # The lead's row lock serialises its outcomes: the one open item and the client id.
        scoring.leads_lock(lead_ids=[reported.lead_id])
        if not Lead.objects.filter(pk=reported.lead_id).exists():
            raise reported_outcomes.OutcomeRefused("lead", f"there is no lead {reported.lead_id}.")
        if client_id is not None:
            earlier = Outcome.objects.filter(lead_id=reported.lead_id, client_id=client_id).first()
            if earlier is not None:
                if not _same(earlier, kind, reported.amount, reason):
                    raise reported_outcomes.OutcomeRefused(
                        "client_id",
                        f"'{client_id}' was recorded as a different outcome ({earlier.get_kind_display().lower()}"
                        f" on {earlier.at:%Y-%m-%d %H:%M}); send a new id for a new outcome.",
                    )
                return _recorded(earlier, created=False)
        item = (
            QueueItem.objects.filter(lead_id=reported.lead_id, status__in=QueueItem.OPEN_STATUSES)
            .values_list("pk", flat=True)
            .first()
        )
        if item is not None and kind in _CLOSES:
            QueueItem.objects.filter(pk=item).update(status=_CLOSES[kind], closed_at=now, reason=reason)
            leads_queue_team_sync(lead_ids=[reported.lead_id])
        total = Lead.objects.filter(pk=reported.lead_id).values_list("total_score", flat=True).first() or 0
        outcome = Outcome.objects.create(
            item_id=item,
            lead_id=reported.lead_id,
            kind=kind,
            reason=reason,
            amount=reported.amount,
            total_score=total,
            source=reported.source[:100],
            client_id=client_id,
            at=now,
        )
        _lead_follows(lead_id=reported.lead_id, kind=kind, reason=reason, cause="api", now=now)
        return _recorded(outcome, created=True)


def outcomes_report(
    reported: Sequence[reported_outcomes.ReportedOutcome],
) -> list[reported_outcomes.RecordedOutcome | reported_outcomes.OutcomeRefused]:
    """:func:`outcome_report` for many outcomes at once (a file of past deals): the same
    checks, the same changes of leads and queue items, in one transaction of a few
    statements whatever their number. The answer for each, in order: what was recorded
    (``created`` False: its client id was recorded before), or why it was refused. A
    lead's second outcome in ``reported`` is recorded after the first, one by one."""
    answers: dict[int, reported_outcomes.RecordedOutcome | reported_outcomes.OutcomeRefused] = {}
    checked: dict[int, tuple[str, str | None]] = {}
    firsts: dict[int, int] = {}
    for n, one in enumerate(reported):
        try:
            checked[n] = _reported_check(one)
        except reported_outcomes.OutcomeRefused as exc:
            answers[n] = exc
            continue
        firsts.setdefault(one.lead_id, n)
    batch = [n for n in checked if firsts[reported[n].lead_id] == n]
    now = timezone.now()
    with transaction.atomic():
        ids = sorted({reported[n].lead_id for n in batch})
        scoring.leads_lock(lead_ids=ids)
        totals = dict(Lead.objects.filter(pk__in=ids).values_list("pk", "total_score"))
        earlier = {
            (o.lead_id, o.client_id): o
            for o in Outcome.objects.filter(
                lead_id__in=ids, client_id__in={checked[n][1] for n in batch if checked[n][1] is not None}
            )
        }
        items = dict(
            QueueItem.objects.filter(lead_id__in=ids, status__in=QueueItem.OPEN_STATUSES)
            .order_by("lead_id", "pk")
            .values_list("lead_id", "pk")
        )
        new: list[tuple[int, Outcome]] = []
        for n in batch:
            one, (reason, client_id) = reported[n], checked[n]
            if one.lead_id not in totals:
                answers[n] = reported_outcomes.OutcomeRefused("lead", f"there is no lead {one.lead_id}.")
                continue
            before = earlier.get((one.lead_id, client_id)) if client_id is not None else None
            if before is not None:
                if _same(before, one.kind, one.amount, reason):
                    answers[n] = _recorded(before, created=False)
                else:
                    answers[n] = reported_outcomes.OutcomeRefused(
                        "client_id", f"'{client_id}' was recorded as a different outcome; send a new id."
                    )
                continue
            item = items.get(one.lead_id)
            new.append(
                (
                    n,
                    Outcome(
                        item_id=item,
                        lead_id=one.lead_id,
                        kind=one.kind,
                        reason=reason,
                        amount=one.amount,
                        total_score=totals[one.lead_id] or 0,
                        source=one.source[:100],
                        client_id=client_id,
                        at=one.at or now,
                    ),
                )
            )
        for kind, status in _CLOSES.items():
            closing = [(o.item_id, o.at, o.reason) for _, o in new if o.kind == kind and o.item_id is not None]
            for item_id, at, reason in closing:
                QueueItem.objects.filter(pk=item_id).update(status=status, closed_at=at, reason=reason)
        closed = [o.lead_id for _, o in new if o.kind in _CLOSES and o.item_id is not None]
        if closed:
            leads_queue_team_sync(lead_ids=closed)
        Outcome.objects.bulk_create([o for _, o in new])
        won = [o.lead_id for _, o in new if o.kind == Outcome.Kind.WON]
        if won:
            scoring.leads_stage_set(lead_ids=won, stage=LifecycleStage.CUSTOMER, cause="api", at=now)
        for _, o in new:
            if o.kind == Outcome.Kind.OPPORTUNITY:
                _lead_follows(lead_id=o.lead_id, kind=o.kind, reason=o.reason, cause="api", now=now)
        stages = dict(Lead.objects.filter(pk__in=ids).values_list("pk", "lifecycle_stage"))
        for n, o in new:
            answers[n] = reported_outcomes.RecordedOutcome(
                id=o.pk,
                lead_id=o.lead_id,
                kind=o.kind,
                amount=o.amount,
                reason=o.reason,
                client_id=o.client_id,
                at=o.at,
                created=True,
                lifecycle_stage=stages.get(o.lead_id, ""),
            )
    for n in checked:
        if n not in answers:  # a lead's later outcome: after its first, one by one
            try:
                answers[n] = outcome_report(reported[n])
            except reported_outcomes.OutcomeRefused as exc:
                answers[n] = exc
    return [answers[n] for n in range(len(reported))]
