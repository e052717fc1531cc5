"""Routing's part of a lead's timeline (:mod:`scoring.timeline`): the actions routing
rules ran, the lead's sales queue items, and what sales recorded (with the BANT
answers of a qualification)."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext

from people.names import person_name
from routing import sales
from routing.models import ActionRun, Outcome, QueueItem
from scoring import localized, timeline
from scoring.timeline import Event, Source, Window

M = TypeVar("M", bound=Model)


def _action_runs(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        _seen(
            ActionRun.objects.filter(transition__lead_id=window.lead_id).select_related("action__rule"),
            team_field="team_id",
            window=window,
        ),
        at="done_at",
        source="action_run",
        window=window,
    )
    return [
        Event(
            row.done_at,
            "action_run",
            row.pk,
            gettext("Routing"),
            gettext("Rule “{rule}”: {action}").format(
                rule=row.action.rule.name, action=row.action.get_kind_display().lower()
            ),
            row.outcome_shown(),
            timeline.admin_link(ActionRun, row.pk),
        )
        for row in rows
    ]


def _seen(rows: QuerySet[M], *, team_field: str, window: Window) -> QuerySet[M]:
    """The rows of the teams the window's reader reads (as the admin's lists of action runs,
    queue items and outcomes show them: :func:`routing.sales.teams_seen_by`)."""
    if window.reader is None:
        return rows
    # The reader's teams as a subquery of the source's own query: reading them first cost
    # each source two more queries.
    teams = sales.teams_seen_query(window.reader)
    return rows if teams is None else rows.filter(**{f"{team_field}__in": teams})


def _queue_items(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        _seen(
            QueueItem.objects.filter(lead_id=window.lead_id).select_related("team", "owner"),
            team_field="team_id",
            window=window,
        ),
        at="entered_at",
        source="queue_item",
        window=window,
    )
    events = []
    for row in rows:
        detail = gettext("now {status}").format(status=row.get_status_display().lower())
        if row.owner is not None:
            detail += ", " + gettext("owner {user}").format(user=person_name(row.owner))
        events.append(
            Event(
                row.entered_at,
                "queue_item",
                row.pk,
                gettext("Sales queue"),
                gettext("Entered {team}'s queue").format(team=row.team.name),
                detail,
                timeline.admin_link(QueueItem, row.pk),
            )
        )
    return events


def _outcomes(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        _seen(
            Outcome.objects.filter(lead_id=window.lead_id).select_related("user", "item", "holder"),
            team_field="item__team_id",
            window=window,
        ),
        at="at",
        source="outcome",
        window=window,
    )
    events = []
    for row in rows:
        title = str(row.get_kind_display())
        if row.amount is not None:
            title += ", " + gettext("amount {amount}").format(amount=localized.number(row.amount))
        parts = []
        if row.kind == Outcome.Kind.QUALIFIED and row.item is not None:
            item = row.item
            parts.append(
                gettext("Budget: {budget} · Authority: {authority} · Need: {need} · Timeline: {timeline}").format(
                    budget=item.budget, authority=item.authority, need=item.need, timeline=item.timeline
                )
            )
        if row.reason:
            parts.append(row.reason_shown())
        if row.user is not None and row.holder is not None and row.holder_id != row.user_id:
            # Released by an administrator or team lead for a rep who is away.
            parts.append(
                gettext("by {user} from {holder}").format(user=person_name(row.user), holder=person_name(row.holder))
            )
        elif row.user is not None:
            parts.append(gettext("by {user}").format(user=person_name(row.user)))
        elif row.source:
            parts.append(gettext("reported by {source}").format(source=row.source))
        events.append(Event(row.at, "outcome", row.pk, gettext("Sales"), title, " · ".join(parts)))
    return events


def register() -> None:
    timeline.register_source(Source("action_run", _action_runs))
    timeline.register_source(Source("queue_item", _queue_items))
    timeline.register_source(Source("outcome", _outcomes))
