"""The score ledger and what moves with it: ledger rows written and the leads'
cached scores moved by the same amounts in one statement, the group transitions and
other lead events routing consumes (the outbox), and the lead row locks every
writer of scores takes in id order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from django.db import connection
from django.utils import timezone

from scoring import bulk, selectors
from scoring import rules as pure
from scoring.models import (
    GroupTransition,
    Lead,
    LeadScore,
    Scorecard,
    ScorecardEntry,
    ScoreEntry,
    ScoreWatch,
    StageChange,
)
from scoring.services.accounts import accounts_mark_stale


class LedgerRow(NamedTuple):
    """A score ledger row to write (see :class:`ScoreEntry`)."""

    lead_id: int
    dimension: str
    delta: int
    cause: str
    occurred_at: datetime
    rule_id: int | None = None
    interaction_id: int | None = None
    note: str = ""
    created_by_id: int | None = None
    # The scorecard whose score the row moves; None: the default one (the lead's own columns).
    scorecard_id: int | None = None


# The default ledger's columns, in LedgerRow's order (without its scorecard), then the time written.
LEDGER_FIELDS = (*LedgerRow._fields[:-1], "created_at")
SCORECARD_LEDGER_FIELDS = (*LedgerRow._fields, "created_at")


class LeadState(NamedTuple):
    """The cached score columns of a lead, as read under its row lock."""

    fit: int
    engagement: int
    group_id: int | None
    last_activity_at: datetime | None
    engagement_base: int  # engagement after the last change that was not decay
    engagement_base_at: datetime | None  # … and when it happened: decay counts from here
    # Read, never written here: the account whose roll-up a change of score makes stale
    # (known under the lead's lock, so queueing it needs no second read of the lead).
    account_id: int | None


# The score columns of LeadState, in its order: what entries_apply writes.
LEAD_STATE_FIELDS = (
    "fit_score",
    "engagement_score",
    "score_group",
    "last_activity_at",
    "engagement_base",
    "engagement_base_at",
)
# … and what a lock reads: LeadState's fields.
LEAD_STATE_READ = (*LEAD_STATE_FIELDS, "account")


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def entries_apply(
    *,
    states: Mapping[int, LeadState],
    entries: Sequence[LedgerRow],
    activity: Mapping[int, datetime] | None = None,
    now: datetime | None = None,
) -> dict[int, LeadState]:
    """Write ``entries`` and move the cached scores of their leads by the same amounts.

    ``activity`` may move leads' last activity forward too. ``now`` is when the
    rows are written and the transitions happen (a history built day by day gives
    its day; default: now). An engagement
    change other than decay resets the lead's decay base. Returns the new
    state of every lead that changed.

    Precondition: inside a transaction holding the row lock of every lead in
    ``states`` (``FOR NO KEY UPDATE``), so the cached sums stay equal to the
    ledger's under any interleaving of workers.
    """
    now = now or timezone.now()
    on_cards = [entry for entry in entries if entry.scorecard_id is not None]
    # The scorecards' transitions, written with the default scorecard's in one statement.
    card_transitions: list[tuple[Any, ...]] = []
    if on_cards or (activity and _scorecards_live()):
        card_transitions = _scorecard_entries_apply(entries=on_cards, activity=activity or {}, now=now)
        entries = [entry for entry in entries if entry.scorecard_id is None]
    bulk.values_insert(ScoreEntry, LEDGER_FIELDS, [(*entry[:-1], now) for entry in entries])
    moved = pure.scores_moved(
        {pk: pure.Scores(state.fit, state.engagement) for pk, state in states.items()},
        ((e.lead_id, e.dimension, e.delta) for e in entries),
    )
    # Decay counts "days without activity": from the lead's engagement after its
    # last interaction (scored for points or not) or change by hand. A change that
    # comes with nothing later than that (a rescore, a late interaction, a revision)
    # shifts that base by what it changes and keeps its time.
    moment: dict[int, datetime | None] = dict(activity or {})
    shift: dict[int, int] = defaultdict(int)
    for e in entries:
        if e.dimension != pure.Dimension.ENGAGEMENT or e.cause == ScoreEntry.Cause.DECAY:
            continue
        shift[e.lead_id] += e.delta
        if e.cause != ScoreEntry.Cause.RESCORE:
            moment[e.lead_id] = _later(moment.get(e.lead_id), e.occurred_at)
    bands = selectors.group_thresholds() if moved else []
    watched = selectors.score_watches() if moved else []
    causes = {e.lead_id: e.cause for e in entries}
    changed: dict[int, LeadState] = {}
    crossed: list[Crossing] = []
    for lead_id in moved.keys() | (activity or {}).keys():
        state = states[lead_id]
        scores = moved[lead_id] if lead_id in moved else pure.Scores(state.fit, state.engagement)
        group_id = state.group_id
        if lead_id in moved:
            group_id = pure.group_for(scores.total, bands, current=state.group_id)
            before = state.fit + state.engagement
            if group_id != state.group_id or pure.crosses_watch(before, scores.total, watched):
                crossed.append(Crossing(lead_id, state.group_id, group_id, before, scores.total, causes[lead_id]))
        base, base_at = state.engagement_base + shift.get(lead_id, 0), state.engagement_base_at
        since = moment.get(lead_id)
        if since is not None and (base_at is None or since > base_at):
            base, base_at = scores.engagement, since
        new = LeadState(
            scores.fit,
            scores.engagement,
            group_id,
            _later(state.last_activity_at, (activity or {}).get(lead_id)),
            base,
            base_at,
            state.account_id,
        )
        if new != state:
            changed[lead_id] = new
    written = len(LEAD_STATE_FIELDS)
    bulk.values_update(Lead, LEAD_STATE_FIELDS, [(pk, *state[:written]) for pk, state in changed.items()])
    _transitions_write(card_transitions + _transition_rows(crossed, bands, at=now))
    # Their accounts' roll-ups follow (refreshed by the next sweep, outside these leads' locks).
    accounts_mark_stale(account_ids={account for pk in moved if (account := states[pk].account_id) is not None})
    return changed


def _scorecards_live() -> bool:
    return Scorecard.objects.filter(active=True).exists()


class ScorecardState(NamedTuple):
    """A lead's cached score columns on a scorecard (:class:`LeadScore`)."""

    fit: int
    engagement: int
    group_id: int | None
    engagement_base: int
    engagement_base_at: datetime | None


# A lead's state on a scorecard it has no score row on yet.
_NOTHING_SCORED = ScorecardState(0, 0, None, 0, None)

SCORECARD_STATE_FIELDS = ("fit_score", "engagement_score", "score_group", "engagement_base", "engagement_base_at")


def scorecard_states(
    *, lead_ids: Iterable[int], scorecard_id: int | None = None
) -> dict[tuple[int, int], ScorecardState]:
    """The leads' scores on every scorecard they have one on (or on ``scorecard_id`` only),
    by (lead, scorecard); one query. Read under the leads' row locks: only their holders
    write these rows."""
    ids = sorted(set(lead_ids))
    if connection.vendor == "postgresql":
        # Raw rows: the ORM's per-row conversion cost more than the query with a few scorecards.
        sql = (
            "SELECT lead_id, scorecard_id, fit_score, engagement_score, score_group_id, engagement_base,"
            " engagement_base_at FROM scoring_leadscore WHERE lead_id = ANY(%s::bigint[])"
        )
        params: list[Any] = [ids]
        if scorecard_id is not None:
            sql += " AND scorecard_id = %s"
            params.append(scorecard_id)
        # Binary values: the text timestamps' parsing was most of the read's time in Python;
        # through the (lead, scorecard) key, as the leads' rows are (_leads_select_locked).
        with bulk.by_key(len(ids)):
            rows: Iterable[Sequence[Any]] = bulk.pg_fetch(sql, params)
    else:
        scores = LeadScore.objects.filter(lead_id__in=ids)
        if scorecard_id is not None:
            scores = scores.filter(scorecard_id=scorecard_id)
        rows = scores.values_list("lead_id", "scorecard_id", *SCORECARD_STATE_FIELDS)
    return {(lead_id, card_id): ScorecardState(*state) for lead_id, card_id, *state in rows}


def _scorecard_entries_apply(
    *, entries: Sequence[LedgerRow], activity: Mapping[int, datetime], now: datetime
) -> list[tuple[Any, ...]]:
    """:func:`entries_apply` for the rows of scorecards other than the default one: the
    scorecard ledger's rows, the leads' :class:`LeadScore` moved by the same amounts (made
    when missing) with their groups and decay base. A statement per table whatever the
    number of leads and scorecards. Returns their transitions' rows, for the caller to
    write with the default scorecard's (:func:`_transitions_write`). Same precondition: the
    leads' row locks."""
    bulk.values_insert(ScorecardEntry, SCORECARD_LEDGER_FIELDS, [(*entry, now) for entry in entries])
    states = scorecard_states(lead_ids={e.lead_id for e in entries} | set(activity))
    # Sums by (lead, scorecard) first, then one Scores each: a few rows per lead and scorecard.
    fit_delta: dict[tuple[int, int], int] = defaultdict(int)
    engagement_delta: dict[tuple[int, int], int] = defaultdict(int)
    shift: dict[tuple[int, int], int] = defaultdict(int)
    moment: dict[tuple[int, int], datetime | None] = {}
    causes: dict[tuple[int, int], str] = {}
    # Constants in locals: this loop runs for every row of every scorecard.
    fit, decay, rescore = pure.Dimension.FIT, ScoreEntry.Cause.DECAY, ScoreEntry.Cause.RESCORE
    for lead_id, dimension, delta, cause, occurred_at, _rule, _interaction, _note, _by, card_id in entries:
        assert card_id is not None
        pair = (lead_id, card_id)
        causes[pair] = cause
        if dimension == fit:
            fit_delta[pair] += delta
            continue
        engagement_delta[pair] += delta
        # The decay base, as on the lead (see entries_apply).
        if cause != decay:
            shift[pair] += delta
            if cause != rescore:
                moment[pair] = _later(moment.get(pair), occurred_at)
    moved: dict[tuple[int, int], pure.Scores] = {}
    for pair in causes:
        state = states.get(pair)
        moved[pair] = pure.Scores(
            (state.fit if state else 0) + fit_delta.get(pair, 0),
            (state.engagement if state else 0) + engagement_delta.get(pair, 0),
        )
    bands = selectors.group_thresholds_by_scorecard() if moved else {}
    changed: dict[tuple[int, int], ScorecardState] = {}
    crossed: list[Crossing] = []
    # A lead's activity moves the decay base of every scorecard it has a score on.
    pairs = moved.keys() | {pair for pair in states if pair[0] in activity}
    for pair in pairs:
        lead_id, card_id = pair
        state = states.get(pair, _NOTHING_SCORED)
        scores = moved[pair] if pair in moved else pure.Scores(state.fit, state.engagement)
        group_id = state.group_id
        if pair in moved:
            card_bands = bands.get(card_id, [])
            group_id = pure.group_for(scores.total, card_bands, current=state.group_id)
            before = state.fit + state.engagement
            if group_id != state.group_id:
                crossed.append(Crossing(lead_id, state.group_id, group_id, before, scores.total, causes[pair], card_id))
        base, base_at = state.engagement_base + shift.get(pair, 0), state.engagement_base_at
        since = _later(moment.get(pair), activity.get(lead_id))
        if since is not None and (base_at is None or since > base_at):
            base, base_at = scores.engagement, since
        new = ScorecardState(scores.fit, scores.engagement, group_id, base, base_at)
        if new != state or pair not in states:
            changed[pair] = new
    # One INSERT … ON CONFLICT of arrays: building a model instance per row (bulk_create)
    # cost more than the statement itself with a few scorecards.
    bulk.values_upsert(
        LeadScore,
        ["lead", "scorecard", *SCORECARD_STATE_FIELDS],
        [
            (lead_id, card_id, new.fit, new.engagement, new.group_id, new.engagement_base, new.engagement_base_at)
            for (lead_id, card_id), new in sorted(changed.items())
        ],
        unique=["lead", "scorecard"],
    )
    rows: list[tuple[Any, ...]] = []
    for card in sorted({c.scorecard_id for c in crossed if c.scorecard_id is not None}):
        rows += _transition_rows([c for c in crossed if c.scorecard_id == card], bands.get(card, []), at=now)
    return rows


class Crossing(NamedTuple):
    """A score change routing must hear of: a change of group or a watched score crossed."""

    lead_id: int
    from_group: int | None
    to_group: int | None
    previous_total: int
    total: int
    cause: str
    # The scorecard whose group changed; None: the default one.
    scorecard_id: int | None = None


def transitions_record(crossed: Sequence[Crossing], bands: Sequence[pure.Band], *, at: datetime) -> None:
    """Write the outbox rows for leads whose score crossed a border: one per group
    crossed (:func:`scoring.rules.groups_crossed`). ``bands`` are the groups of the
    crossings' scorecard (all of ``crossed`` are on one)."""
    _transitions_write(_transition_rows(crossed, bands, at=at))


def _transition_rows(crossed: Sequence[Crossing], bands: Sequence[pure.Band], *, at: datetime) -> list[tuple[Any, ...]]:
    """:func:`transitions_record`'s rows, in :data:`_TRANSITION_FIELDS`' order, unwritten."""
    rows: list[tuple[Any, ...]] = []
    for c in crossed:
        # One row per group crossed, in order: routing fires "enters MQL" on the way
        # to SQL-ready whether the points came in one batch or in many.
        for step, up in pure.group_moves(c.from_group, c.to_group, c.previous_total, c.total, bands):
            direction = GroupTransition.Direction.UP if up else GroupTransition.Direction.DOWN
            rows.append(
                (
                    c.lead_id,
                    step.from_group,
                    step.to_group,
                    direction,
                    step.previous_total,
                    step.total,
                    c.cause,
                    at,
                    c.scorecard_id,
                )
            )
    return rows


_TRANSITION_FIELDS = (
    "lead",
    "from_group",
    "to_group",
    "direction",
    "previous_total",
    "total_score",
    "cause",
    "occurred_at",
    "scorecard",
)


def _transitions_write(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert outbox rows of :func:`_transition_rows`, of any scorecards: one statement."""
    bulk.values_insert(GroupTransition, _TRANSITION_FIELDS, rows)


def lead_events_record(
    *, lead_ids: Iterable[int], kind: str, cause: str, detail: str = "", at: datetime | None = None
) -> None:
    """Record that something routing acts on happened to these leads (qualified,
    disqualified by sales…): an outbox row each, in the caller's transaction."""
    at = at or timezone.now()
    totals = dict(Lead.objects.filter(pk__in=set(lead_ids)).values_list("pk", "total_score"))
    bulk.values_insert(
        GroupTransition,
        ["lead", "kind", "total_score", "previous_total", "cause", "detail", "occurred_at"],
        [(pk, kind, total, total, cause, detail[:300], at) for pk, total in totals.items()],
    )


def lead_events_processed(*, ids: Sequence[int], at: datetime | None) -> None:
    """Mark outbox rows as acted on at ``at`` (routing, once it has run their actions),
    or back in the outbox with ``at=None`` (a retry). Call in the transaction that acted."""
    if not ids:
        return
    if connection.vendor == "postgresql":
        bulk.pg_execute(
            "UPDATE scoring_grouptransition SET processed_at = %s WHERE id = ANY(%s::bigint[])", [at, list(ids)]
        )
    else:
        GroupTransition.objects.filter(pk__in=list(ids)).update(processed_at=at)


def stage_changes_record(changes: Sequence[tuple[int, str, str, int]], *, cause: str, at: datetime) -> None:
    """Record changes of lifecycle stage, (lead, from stage, to stage, total) each: the
    stage history (:class:`StageChange`, which reports read) and the outbox rows routing
    acts on. Every writer of ``lifecycle_stage`` calls this in its transaction."""
    bulk.values_insert(
        StageChange,
        ["lead", "from_stage", "to_stage", "at", "cause"],
        [(pk, a, b, at, cause) for pk, a, b, _ in changes],
    )
    bulk.values_insert(
        GroupTransition,
        ["lead", "kind", "from_stage", "to_stage", "previous_total", "total_score", "cause", "occurred_at"],
        [(pk, GroupTransition.Kind.STAGE, a, b, total, total, cause, at) for pk, a, b, total in changes],
    )


def score_watches_set(*, values: Iterable[int]) -> None:
    """Make ``values`` the watched scores (see :class:`ScoreWatch`)."""
    wanted = set(values)
    ScoreWatch.objects.exclude(value__in=wanted).delete()
    ScoreWatch.objects.bulk_create([ScoreWatch(value=v) for v in sorted(wanted)], ignore_conflicts=True)


class FitLead(NamedTuple):
    """What fit rules read of a lead (:meth:`Lead.rule_values`) and its score columns,
    as read under its row lock."""

    values: dict[str, object]
    state: LeadState


def leads_fit_locked(lead_ids: Iterable[int]) -> dict[int, FitLead]:
    """Lock leads in id order (two workers locking overlapping sets never deadlock) and
    read what fit rules read and their score columns; no model instances (a rescore
    reads a thousand leads a chunk, and building each one cost more than the query).

    ``FOR NO KEY UPDATE``: scores are not keys, so requests inserting
    interactions of these leads (which take a key-share lock through the
    foreign key) are not blocked, and cannot deadlock with a worker.
    """
    ids = sorted(set(lead_ids))
    fields = (*Lead.FIT_FIELDS, "attributes", *LEAD_STATE_READ)
    if connection.vendor == "postgresql":
        columns = ", ".join(str(Lead._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr]
        rows: Iterable[Sequence[Any]] = _leads_select_locked(f"id, {columns}", ids, "NO KEY UPDATE")
    else:
        rows = Lead.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk", *fields)
    width = len(Lead.FIT_FIELDS)
    return {
        pk: FitLead(
            Lead.values_of(dict(zip(Lead.FIT_FIELDS, row[1 : width + 1], strict=True)), row[width + 1]),
            LeadState(*row[width + 2 :]),
        )
        for row in rows
        for pk in [row[0]]
    }


def leads_lock(*, lead_ids: Iterable[int]) -> None:
    """Take the row locks of :func:`leads_fit_locked` (in id order) without reading the
    leads: for other apps' batches about to change many leads, so they and the
    scoring workers never deadlock. Call inside a transaction."""
    _leads_rows_locked(lead_ids, "NO KEY UPDATE")


def leads_hold(lead_ids: Iterable[int]) -> set[int]:
    """Keep these leads from being erased until this transaction ends; returns those that
    are still there. For writers of rows that name a lead where the database checks no key
    (the interactions): erasure locks the lead's row (``FOR UPDATE``) before it collects
    what it deletes, so it waits for them, or they find the lead gone. ``FOR KEY SHARE``,
    in id order: no wait for the scoring workers or anyone else changing the leads' other
    columns. Call inside a transaction."""
    return _leads_rows_locked(lead_ids, "KEY SHARE")


def _leads_rows_locked(lead_ids: Iterable[int], strength: Literal["NO KEY UPDATE", "KEY SHARE"]) -> set[int]:
    """Lock the rows of these leads ``FOR <strength>`` in id order, in one statement; the
    ids of those that exist. SQLite has no row locks: one writer at a time, whoever writes
    next sees the lead or its absence."""
    ids = sorted(set(lead_ids))
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        rows = _leads_select_locked("id", ids, strength)
    else:
        rows = list(Lead.objects.filter(pk__in=ids).order_by("pk").values_list("pk"))
    return {pk for (pk,) in rows}


def _leads_select_locked(
    columns: str, ids: list[int], strength: Literal["NO KEY UPDATE", "KEY SHARE"]
) -> list[tuple[Any, ...]]:
    """PostgreSQL: ``columns`` of the leads of ``ids`` (sorted), their rows locked ``FOR
    <strength>`` in id order, in one statement; binary values (no timestamps parsed from
    text). Read through the primary key whatever the statistics say
    (:func:`bulk.by_key`): planned from those of a lead table that grew since its
    last analyze (a new installation's first hour, a large import), a batch's thousand ids
    were looked for by reading every lead, once per request and per scoring batch."""
    sql = f"SELECT {columns} FROM scoring_lead WHERE id = ANY(%s::bigint[]) ORDER BY id FOR {strength}"  # noqa: S608
    with bulk.by_key(len(ids)):
        return bulk.pg_fetch(sql, [ids])


def lead_states_lock(lead_ids: Iterable[int]) -> dict[int, LeadState]:
    """:func:`leads_fit_locked`, reading only the score columns and the account."""
    ids = sorted(set(lead_ids))
    columns = ["id", *(str(Lead._meta.get_field(name).column) for name in LEAD_STATE_READ)]  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        rows = _leads_select_locked(", ".join(columns), ids, "NO KEY UPDATE")
    else:
        rows = list(
            Lead.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", *LEAD_STATE_READ)
        )
    return {pk: LeadState(*state) for pk, *state in rows}
