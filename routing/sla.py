"""SLA escalation: a lead left unclaimed past its team's SLA is escalated, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

from people import languages
from routing import assignment
from routing.deadlines import sla_overdue_since
from routing.models import Notification, Outcome, QueueItem, Rep, Team
from routing.sales import leads_queue_team_sync, outcomes_record
from routing.services.notifications import NOTIFIED, notifications_enqueue, subject_fit, team_addresses
from routing.services.queue import rep_slots
from scoring import bulk, selectors, setaside
from scoring import services as scoring
from scoring.said import Said, said

# What escalation sets aside (scoring.setaside): a queue item it fails on.
SET_ASIDE_SLA = "sla"


def items_escalate_overdue(*, now: datetime | None = None) -> int:
    """Escalate, once, each item left unclaimed past its team's SLA: reassign it to
    the next rep with room (not its current owner), or notify the team. Returns
    how many were escalated. Safe to run twice and in several workers at once. An
    item that cannot be escalated is set aside (:mod:`scoring.setaside`); the
    others, and the other teams, go on."""
    now = now or timezone.now()
    escalated = 0
    for team in Team.objects.filter(sla_hours__isnull=False).select_related("team_lead"):
        escalated += _team_escalate(team, now)
    return escalated


def _overdue(team: Team, now: datetime) -> QuerySet[QueueItem]:
    assert team.sla_hours is not None
    since = sla_overdue_since(now=now, hours=team.sla_hours)
    if since is None:
        return QueueItem.objects.none()
    return (
        QueueItem.objects.select_for_update(skip_locked=True)
        .filter(team=team, status=QueueItem.Status.OPEN, escalated_at__isnull=True, entered_at__lte=since)
        .exclude(pk__in=selectors.set_aside_open(kind=SET_ASIDE_SLA).values("row_id"))
        .order_by("entered_at", "id")
    )


def _team_escalate(team: Team, now: datetime) -> int:
    def run() -> int:
        # Claim the overdue items first: a second run (or a second worker) finds them escalated.
        items = list(_overdue(team, now).select_related("lead"))
        if items:
            _items_escalate(team, items, now)
        return len(items)

    def isolated() -> int:
        claimed = list(_overdue(team, now).values_list("id", "lead_id"))
        return len(claimed) - len(_items_isolate(team, claimed, now))

    return setaside.batch_run(kind=SET_ASIDE_SLA, run=run, isolated=isolated)


def _items_escalate(team: Team, items: list[QueueItem], now: datetime) -> None:
    QueueItem.objects.filter(pk__in=[i.pk for i in items]).update(escalated_at=now)
    _escalate(team, items, now)


def _items_isolate(team: Team, claimed: list[tuple[int, int]], now: datetime) -> list[int]:
    """Escalate these locked items in parts; set aside those that fail alone."""

    def escalate(ids: list[int]) -> None:
        items = QueueItem.objects.filter(pk__in=ids).order_by("entered_at", "id").select_related("lead")
        _items_escalate(team, list(items), now)

    return setaside.rows_isolate(kind=SET_ASIDE_SLA, rows=claimed, process=escalate).set_aside


ESCALATED = said(gettext_noop("escalated"))
NOT_OVERDUE = said(gettext_noop("nothing to do: no longer open, unclaimed and overdue"))


def items_retry(ids: list[int]) -> dict[int, Said]:
    """Retry set-aside queue items: escalated now if still open, unclaimed and overdue."""
    now = timezone.now()
    outcome: dict[int, Said] = {}
    for team in Team.objects.filter(sla_hours__isnull=False, items__pk__in=ids).distinct():
        claimed = list(_overdue(team, now).filter(pk__in=ids).values_list("id", "lead_id"))
        _items_isolate(team, claimed, now)
        outcome.update((pk, ESCALATED) for pk, _ in claimed)
    return {pk: outcome.get(pk, NOT_OVERDUE) for pk in ids}


def _escalate(team: Team, items: list[QueueItem], now: datetime) -> None:
    outcomes: dict[int, Said] = {}
    unassigned = items
    if team.sla_action == Team.SlaAction.REASSIGN:
        unassigned, outcomes = _reassign(team, items)
    if unassigned:
        told = _notify_team(team, unassigned)
        for item in unassigned:
            outcomes[item.pk] = told
    outcomes_record(
        rows=[(item.pk, item.lead_id, outcomes[item.pk]) for item in items],
        kind=Outcome.Kind.ESCALATED,
        user=None,
        now=now,
    )


def _reassign(team: Team, items: Sequence[QueueItem]) -> tuple[list[QueueItem], dict[int, Said]]:
    """Give each item the next rep with room other than its owner, or, for a lead handed
    back to the queue, the rep who released it last (round robin). They are never given
    it back, even when no other rep has room: the team is told instead, as for its owner.
    Returns the items no rep could take, and what was done with the others."""
    slots = rep_slots(team, lock=True)
    team.refresh_from_db(fields=["last_rep"])
    users = dict(Rep.objects.filter(team=team).values_list("pk", "user_id"))
    rep_of_user = {user: rep for rep, user in users.items()}
    released_by = _last_released_by([item.pk for item in items if item.owner_id is None])
    after = team.last_rep_id
    moved: list[tuple[QueueItem, int]] = []
    left: list[QueueItem] = []
    for item in items:
        holder = item.owner_id or released_by.get(item.pk)
        current = rep_of_user.get(holder) if holder else None
        rep_id = assignment.round_robin(slots, after, exclude=current)
        if rep_id is None:
            left.append(item)
            continue
        after = rep_id
        slots = [assignment.RepSlot(s.id, s.available, s.capacity, s.open_leads + (s.id == rep_id)) for s in slots]
        moved.append((item, users[rep_id]))
    bulk.values_update(QueueItem, ["owner"], [(item.pk, user) for item, user in moved])
    scoring.leads_assignment_set(owners={item.lead_id: user for item, user in moved})
    leads_queue_team_sync(lead_ids=[item.lead_id for item, _ in moved])
    if after != team.last_rep_id:
        Team.objects.filter(pk=team.pk).update(last_rep_id=after)
    return left, {item.pk: said(gettext_noop("reassigned to user {user}"), user=user) for item, user in moved}


def _last_released_by(item_ids: Sequence[int]) -> dict[int, int | None]:
    """The rep who held each of these items when it was last handed back to the queue
    (released by them, or from them by an administrator), if anyone did; None when that
    rep's account is gone."""
    released = (
        Outcome.objects.filter(item_id__in=item_ids, kind=Outcome.Kind.RELEASED)
        .order_by("at", "id")
        .values_list("item_id", "holder_id")
    )
    return dict(released)  # in time order: each item's last release is the one kept


def _notify_team(team: Team, items: Sequence[QueueItem]) -> Said:
    """One notification per item to the team's address (else its team lead's); what was done."""
    to = team_addresses(team)
    if not to:
        return said(gettext_noop("nobody to notify (the team has no email and no team lead with one)"))
    # In the site's language, as a team's other notifications are.
    with translation.override(languages.site_language()):
        Notification.objects.bulk_create(
            [
                Notification(
                    to=to,
                    lead=item.lead,
                    team=team,
                    subject=subject_fit(
                        gettext("SLA missed: {lead} waits in {team}'s queue").format(lead=item.lead, team=team.name)
                    ),
                    body=ngettext(
                        # A lead claimed then released waits since its hand-off too: no "never claimed".
                        "{lead} has waited since {since} UTC, longer than {hours} hour, and no rep has it now.",
                        "{lead} has waited since {since} UTC, longer than {hours} hours, and no rep has it now.",
                        team.sla_hours or 0,
                    ).format(lead=item.lead, since=f"{item.entered_at:%Y-%m-%d %H:%M}", hours=team.sla_hours)
                    + "\n",
                )
                for item in items
            ]
        )
    transaction.on_commit(notifications_enqueue)
    return said(NOTIFIED, to=", ".join(to))


def register() -> None:
    """Make escalation's set-aside rows known (their label and Retry), from RoutingConfig.ready()."""
    setaside.register_kind(setaside.Kind(SET_ASIDE_SLA, gettext_noop("Sales queue item (SLA escalation)"), items_retry))
