"""A lead's whole story on one page: what it did, how its score and group moved, and
what nurture, routing and sales did with it, newest first, a page at a time.

Each kind of event is a *source* (:class:`Source`) that reads one page of its rows
for a lead in one query. Scoring registers its own (interactions, ledger rows, group
and stage transitions); nurture and routing register theirs when they start, since
scoring imports no other app. A page asks every source for one page and merges them:
a constant number of queries, however many events a lead has.

Events are ordered by (time, source name, row id), so two events of the same moment
always come in the same order; a page is addressed by the key of its last (older
pages) or first (newer pages) event — a cursor that rows written meanwhile never
shift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext

from people.names import person_name
from scoring import event_types, localized, selectors
from scoring.models import GroupTransition, Interaction, LeadPrediction, ScoreEntry

PER_PAGE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"(-?[0-9]{1,18})\.([a-z_]{1,40})\.([0-9]{1,18})")


@dataclass(frozen=True)
class Cursor:
    at: datetime
    source: str
    row_id: int

    @property
    def token(self) -> str:
        """For a URL: microseconds since 1970 (exact), the source, the row id."""
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}.{self.source}.{self.row_id}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """The cursor ``token`` is, or None for anything else (then the page is the newest)."""
        matched = _TOKEN.fullmatch(token or "")
        if matched is None:
            return None
        try:
            at = _EPOCH + timedelta(microseconds=int(matched.group(1)))
        except OverflowError:
            return None
        return cls(at, matched.group(2), int(matched.group(3)))


@dataclass(frozen=True)
class Event:
    at: datetime
    source: str  # the Source's name
    row_id: int
    kind: str  # in words, e.g. "Interaction"
    title: str
    detail: str = ""
    link: str = ""  # the row in the admin, if it has a page there

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.source, self.row_id)

    @property
    def key(self) -> tuple[datetime, str, int]:
        return (self.at, self.source, self.row_id)


@dataclass(frozen=True)
class Window:
    """What a source is asked for: up to ``limit`` events of ``lead_id`` just older
    (``newer`` False) or just newer than ``cursor`` (None: the newest), that ``reader``
    may read (None: every event; a source with rows some people may not read, such as
    another sales team's, leaves those out for them)."""

    lead_id: int
    cursor: Cursor | None
    newer: bool
    limit: int
    reader: AbstractBaseUser | AnonymousUser | None = None


@dataclass(frozen=True)
class Source:
    name: str  # lower case and underscores; orders events of the same moment
    fetch: Callable[[Window], list[Event]]


_SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> None:
    assert re.fullmatch(r"[a-z_]{1,40}", source.name), f"timeline source name {source.name!r}"
    _SOURCES[source.name] = source


def sources() -> list[Source]:
    return [_SOURCES[name] for name in sorted(_SOURCES)]


M = TypeVar("M", bound=Model)


def page_rows(rows: QuerySet[M], *, at: str, source: str, window: Window) -> list[M]:
    """One page of ``rows`` (a lead's rows of one source, timed by the field ``at``) in
    the window's order: the rows just past the cursor in (time, source, id) order."""
    rows = rows.filter(**{f"{at}__isnull": False})
    cursor = window.cursor
    if cursor is not None:
        after = "gt" if window.newer else "lt"
        if source == cursor.source:
            keyset = Q(**{f"{at}__{after}": cursor.at}) | Q(**{at: cursor.at, f"pk__{after}": cursor.row_id})
        elif (source > cursor.source) == window.newer:
            # The same moment sorts this source past the cursor's: it is in the window.
            keyset = Q(**{f"{at}__{after}e": cursor.at})
        else:
            keyset = Q(**{f"{at}__{after}": cursor.at})
        rows = rows.filter(keyset)
    order = [at, "pk"] if window.newer else [f"-{at}", "-pk"]
    return list(rows.order_by(*order)[: window.limit])


@dataclass(frozen=True)
class TimelinePage:
    events: list[Event]
    older: str | None  # the token of the next older page, None on the oldest
    newer: str | None  # of the next newer page, None on the newest


def lead_timeline(
    *,
    lead_id: int,
    before: str | None = None,
    after: str | None = None,
    per_page: int = PER_PAGE,
    reader: AbstractBaseUser | AnonymousUser | None = None,
) -> TimelinePage:
    """A page of the lead's story, newest first: the newest, the one older than the
    cursor ``before`` or the one newer than ``after`` (a token from a page's links; one
    that is not a cursor gives the newest page), as ``reader`` may read it (None: all of
    it). One query per source."""
    newer_than = Cursor.parse(after) if before is None else None
    if newer_than is not None:
        found = _merged(Window(lead_id, newer_than, True, per_page + 1, reader))
        if len(found) <= per_page:
            # Nothing newer past these: the newest page, full.
            return lead_timeline(lead_id=lead_id, per_page=per_page, reader=reader)
        events = list(reversed(found[:per_page]))
        return TimelinePage(events, events[-1].cursor.token, events[0].cursor.token)
    older_than = Cursor.parse(before)
    found = _merged(Window(lead_id, older_than, False, per_page + 1, reader))
    events = found[:per_page]
    older = events[-1].cursor.token if len(found) > per_page else None
    newer = events[0].cursor.token if older_than is not None and events else None
    return TimelinePage(events, older, newer)


def _merged(window: Window) -> list[Event]:
    """Every source's page, merged in the window's order (nearest the cursor first)."""
    events = [event for source in sources() for event in source.fetch(window)]
    events.sort(key=lambda event: event.key, reverse=not window.newer)
    return events[: window.limit]


def admin_link(model: type[Model], pk: int) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])


# --- scoring's own sources ------------------------------------------------------

# Interaction properties shown, in this order, where present.
INTERACTION_DETAILS = ("url", "campaign", "form", "subject", "title", "sequence", "step")


def _properties_text(properties: Any) -> str:
    if not isinstance(properties, dict):
        return ""
    shown = []
    for key in INTERACTION_DETAILS:
        value = properties.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            shown.append(f"{key}: {str(value)[:200]}")
    return " · ".join(shown)


def _interactions(window: Window) -> list[Event]:
    rows = page_rows(
        Interaction.objects.filter(lead_id=window.lead_id).only("id", "type", "properties", "occurred_at", "source"),
        at="occurred_at",
        source="interaction",
        window=window,
    )
    custom = {row.type for row in rows if row.type not in event_types.BUILT_IN}
    labels = selectors.event_type_labels(keys=custom) if custom else {}
    events = []
    for row in rows:
        label = gettext(event_types.label(row.type, labels))
        detail = _properties_text(row.properties)
        if row.source:
            source = gettext("from {source}").format(source=row.source)
            detail = f"{detail} · {source}" if detail else source
        events.append(
            Event(
                row.occurred_at,
                "interaction",
                row.pk,
                gettext("Interaction"),
                label[:1].upper() + label[1:],
                detail,
                admin_link(Interaction, row.pk),
            )
        )
    return events


_CAUSES = dict(ScoreEntry.Cause.choices)


def _ledger(window: Window) -> list[Event]:
    rows = page_rows(
        ScoreEntry.objects.filter(lead_id=window.lead_id).select_related("rule", "interaction", "created_by"),
        at="created_at",
        source="ledger",
        window=window,
    )
    events = []
    for row in rows:
        title = f"{localized.signed(row.delta)} {row.get_dimension_display().lower()}"
        if row.cause == ScoreEntry.Cause.RULE and row.rule is not None:
            title += " " + gettext("from rule “{rule}”").format(rule=row.rule.name)
        else:
            title += f": {_CAUSES.get(row.cause, row.cause)}"
            if row.rule is not None:
                title += ", " + gettext("rule “{rule}”").format(rule=row.rule.name)
        parts = []
        if row.interaction is not None:
            parts.append(
                gettext("for interaction {id} ({type})").format(id=row.interaction_id, type=row.interaction.type)
            )
        if row.note:
            parts.append(row.note)
        if row.created_by is not None:
            parts.append(gettext("by {user}").format(user=person_name(row.created_by)))
        events.append(Event(row.created_at, "ledger", row.pk, gettext("Score"), title, " · ".join(parts)))
    return events


def _transitions(window: Window) -> list[Event]:
    rows = page_rows(
        GroupTransition.objects.filter(lead_id=window.lead_id).select_related(
            "from_group",
            "to_group",
            "account_transition__account",
            "account_transition__from_group",
            "account_transition__to_group",
        ),
        at="occurred_at",
        source="transition",
        window=window,
    )
    events = []
    for row in rows:
        if row.kind == GroupTransition.Kind.STAGE:
            kind = gettext("Stage")
            title = gettext("Stage {before} → {after}").format(
                before=row.from_stage or gettext("(none)"), after=row.to_stage
            )
        elif row.kind == GroupTransition.Kind.SCORE and row.from_group_id == row.to_group_id:
            # No move between groups: the score crossed a routing rule's threshold (a watched score).
            kind = gettext("Score")
            scores = {
                name: localized.number(total) if total is not None else "?"
                for name, total in (("before", row.previous_total), ("after", row.total_score))
            }
            if row.to_group is not None:
                title = gettext("Score {before} → {after} crossed a routing rule's threshold, still in {group}").format(
                    group=row.to_group.name, **scores
                )
            else:
                title = gettext("Score {before} → {after} crossed a routing rule's threshold, in no group").format(
                    **scores
                )
        elif row.kind == GroupTransition.Kind.SCORE:
            before = row.from_group.name if row.from_group else gettext("no group")
            after = row.to_group.name if row.to_group else gettext("no group")
            kind, title = gettext("Group"), f"{before} → {after}"
            if row.previous_total is not None:
                title += " " + gettext("(score {before} → {after})").format(
                    before=localized.number(row.previous_total), after=localized.number(row.total_score)
                )
        elif row.kind == GroupTransition.Kind.PROBABILITY:
            if row.direction == GroupTransition.Direction.UP:
                title = gettext("Chance to convert rose to {percent}%").format(percent=row.watch_percent)
            else:
                title = gettext("Chance to convert fell below {percent}%").format(percent=row.watch_percent)
            kind = gettext("Prediction")
        elif row.kind == GroupTransition.Kind.ACCOUNT and row.account_transition is not None:
            move = row.account_transition
            kind = gettext("Account")
            title = gettext("{account}: {before} → {after} (score {before_score} → {after_score})").format(
                account=move.account,
                before=move.from_group.name if move.from_group else gettext("no group"),
                after=move.to_group.name if move.to_group else gettext("no group"),
                before_score=localized.number(move.previous_total),
                after_score=localized.number(move.total_score),
            )
        else:
            kind, title = gettext("Sales"), str(row.get_kind_display())
        detail = gettext("cause: {cause}").format(cause=row.cause_label) + (f" · {row.detail}" if row.detail else "")
        events.append(Event(row.occurred_at, "transition", row.pk, kind, title, detail))
    return events


def _prediction(window: Window) -> list[Event]:
    """The lead's latest predicted chance to convert, with its reasons (one row a lead)."""
    rows = page_rows(
        LeadPrediction.objects.filter(lead_id=window.lead_id).select_related("model"),
        at="computed_at",
        source="prediction",
        window=window,
    )
    events = []
    for row in rows:
        reasons = [str(r.get("text")) for r in row.reasons or () if isinstance(r, dict) and r.get("text")]
        title = gettext("Chance to convert: {percent} (predictive model version {version})").format(
            percent=localized.percent(100 * row.probability, 0), version=row.model.number
        )
        events.append(
            Event(row.computed_at, "prediction", row.lead_id, gettext("Prediction"), title, " · ".join(reasons))
        )
    return events


register_source(Source("interaction", _interactions))
register_source(Source("ledger", _ledger))
register_source(Source("transition", _transitions))
register_source(Source("prediction", _prediction))
