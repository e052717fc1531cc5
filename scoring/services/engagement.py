"""Engagement scoring: interactions recorded once each, then claimed by workers in
batches (``SKIP LOCKED``), scored by the rules in force and written to the ledger;
leads whose fit waits for evaluation (:class:`~scoring.models.PendingFit`) go first. A
row a batch cannot process is set aside (:mod:`scoring.setaside`) and the batch goes
on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import bulk, event_types, selectors, setaside
from scoring import rules as pure
from scoring.models import (
    Interaction,
    InteractionKey,
    Lead,
    PendingFit,
    ScorecardEntry,
    ScoreEntry,
    WaitingInteraction,
)
from scoring.said import Said, said
from scoring.services.accounts import accounts_refresh_pending
from scoring.services.background import enqueue
from scoring.services.event_types import event_types_seen
from scoring.services.leads import leads_fit_queue, leads_rescore_fit
from scoring.services.ledger import LedgerRow, entries_apply, lead_states_lock, leads_hold
from scoring.services.retention import award_rollups
from scoring.timestamps import timestamp_in_range

# What these batches set aside (scoring.setaside): an interaction the workers cannot
# score; a lead whose fit cannot be evaluated.
SET_ASIDE_INTERACTION = "interaction"
SET_ASIDE_FIT = "fit"


@dataclass(frozen=True)
class RecordedInteraction:
    interaction: Interaction
    created: bool


def interaction_record(
    *,
    lead: Lead,
    type: str,
    occurred_at: datetime,
    idempotency_key: str,
    properties: Mapping[str, Any] | None = None,
    source: str = "",
) -> RecordedInteraction:
    """Persist one interaction (once per idempotency key) and have it scored.

    Scoring happens in a Celery worker after the transaction commits.
    """
    problem = event_types.type_name_problem(type)
    if problem:
        raise ValueError(f"type: {problem}")
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at: give a time zone")
    try:
        occurred_at = timestamp_in_range(occurred_at, now=timezone.now())
    except ValueError as exc:
        raise ValueError(f"occurred_at: {exc}") from None
    with transaction.atomic():
        # The key's row says whether it is new (scoring.models.InteractionKey); a concurrent
        # caller with the same key waits on it, then finds it taken.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO scoring_interactionkey (key, occurred_at, lead_id) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING key",
                [idempotency_key, occurred_at, lead.pk],
            )
            created = cursor.fetchone() is not None
        if created:
            if not leads_hold([lead.pk]):
                raise ValueError(f"lead: {lead.pk} was erased")
            interaction = Interaction.objects.create(
                idempotency_key=idempotency_key,
                lead=lead,
                type=type,
                occurred_at=occurred_at,
                properties=dict(properties or {}),
                source=source,
            )
            interactions_wait([interaction])
            event_types_seen(seen=[(type, occurred_at)])
            transaction.on_commit(scoring_enqueue)
        else:
            # Its month, from the key, so PostgreSQL reads one partition.
            first = InteractionKey.objects.get(pk=idempotency_key).occurred_at
            interaction = Interaction.objects.get(idempotency_key=idempotency_key, occurred_at=first)
    return RecordedInteraction(interaction, created)


def scoring_enqueue() -> None:
    """Ask a worker to score what is pending; the periodic sweep covers a broker outage."""
    enqueue("scoring.score_pending", fallback="the periodic sweep will score pending interactions")


def interactions_wait(interactions: Iterable[Interaction]) -> None:
    """Put interactions of known leads in the workers' way (:class:`WaitingInteraction`),
    in the transaction that stores them or gives them their lead."""
    WaitingInteraction.objects.bulk_create(
        [
            WaitingInteraction(
                interaction_id=i.pk, lead_id=i.lead_id, type=i.type, properties=i.properties, occurred_at=i.occurred_at
            )
            for i in interactions
            if i.lead_id is not None
        ],
        ignore_conflicts=True,
    )


# What a worker takes on PostgreSQL: up to %s waiting interactions no other worker holds,
# and of those, the ones whose leads no other transaction holds (both SKIP LOCKED, the
# leads in id order): two workers whose batches share leads score the others side by
# side instead of the second waiting for the first's commit. Those left, still waiting,
# go to a later batch; their order does not matter (see _interactions_score).
# Then up to %s more: the other waiting interactions of the leads it holds (up to 20 a
# lead, those since the earliest of the first part), so that a lead whose events wait in
# a backlog is written once for all of them rather than once a batch. All read from the
# waiting table's indexes: it holds only what waits, a few rows a lead.
_TAKE_SQL = """
    WITH waiting AS MATERIALIZED (
        SELECT interaction_id AS id, lead_id, occurred_at FROM scoring_waitinginteraction
        ORDER BY interaction_id LIMIT %s
        FOR UPDATE SKIP LOCKED
    ), held AS MATERIALIZED (
        SELECT id FROM scoring_lead WHERE id IN (SELECT lead_id FROM waiting)
        ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
    ), later AS MATERIALIZED (
        SELECT later.id FROM held CROSS JOIN LATERAL (
            SELECT interaction_id AS id FROM scoring_waitinginteraction
            WHERE lead_id = held.id AND occurred_at >= (SELECT min(occurred_at) FROM waiting)
            LIMIT 20
            FOR UPDATE SKIP LOCKED
        ) later
        WHERE later.id NOT IN (SELECT id FROM waiting)
        LIMIT %s
    )
    SELECT id, lead_id IN (SELECT id FROM held) FROM waiting
    UNION ALL SELECT id, true FROM later
"""

# Given waiting interactions, already locked by the caller (_TAKE_SQL, _interactions_lock):
# taken out of the waiting table, and read from it.
_CLAIM_IDS_SQL = """
    DELETE FROM scoring_waitinginteraction WHERE interaction_id = ANY(%s::bigint[])
    RETURNING interaction_id, lead_id, type, occurred_at, properties
"""


class Claimed(NamedTuple):
    facts: list[pure.InteractionFacts]
    # More may wait: the batch was full, or some of it was left for a later one.
    more: bool


def _interactions_claim(*, batch_size: int, ids: Sequence[int] | None = None) -> Claimed:
    """Take up to ``batch_size`` interactions waiting to be scored (or those of ``ids``
    that still wait) out of the waiting table (put back by the transaction's rollback if
    scoring fails).

    SKIP LOCKED: concurrent workers take disjoint batches instead of waiting.
    """
    locked = None
    if connection.vendor == "postgresql":
        if ids is None:
            waiting = _interactions_take(batch_size)
            locked = len(waiting)
            ids = [pk for pk, free in waiting if free]
            if waiting and not ids:
                # Every lead is another's: wait for them (lead_states_lock) rather than spin.
                ids = [pk for pk, _ in waiting]
        # Binary rows: no timestamps or JSON to parse from text.
        rows = bulk.pg_fetch(_CLAIM_IDS_SQL, [list(ids)]) if ids else []
    else:
        pending = WaitingInteraction.objects.all()
        if ids is not None:
            pending = pending.filter(pk__in=list(ids))
        rows = list(
            pending.select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "lead_id", "type", "occurred_at", "properties")[:batch_size]
        )
        WaitingInteraction.objects.filter(pk__in=[row[0] for row in rows]).delete()
    facts = [
        pure.InteractionFacts(
            pk, lead_id, kind, occurred_at, (json.loads(props) if isinstance(props, str) else props) or {}
        )
        for pk, lead_id, kind, occurred_at, props in rows
    ]
    locked = len(facts) if locked is None else locked
    return Claimed(facts, more=locked >= batch_size or locked > len(facts))


def _interactions_take(batch_size: int) -> list[tuple[int, bool]]:
    """PostgreSQL: lock the first ``batch_size`` waiting interactions no other worker
    holds, their leads no other transaction holds, and up to ``batch_size`` other waiting
    interactions of those leads (:data:`_TAKE_SQL`); (id, whether its lead is held here)
    each. Read from the indexes, never by reading the whole backlog and sorting it
    (:func:`bulk.index_scans_only`)."""
    with bulk.index_scans_only():
        return cast(list[tuple[int, bool]], bulk.pg_execute(_TAKE_SQL, [batch_size, batch_size]))


def _interactions_lock(*, batch_size: int, ids: Sequence[int] | None = None) -> list[tuple[int, int | None]]:
    """Lock up to ``batch_size`` interactions waiting to be scored (or those of ``ids``),
    reading only (id, lead id): what the slow path splits, whatever the rows hold."""
    waiting = WaitingInteraction.objects.all()
    if ids is not None:
        waiting = waiting.filter(pk__in=list(ids))
    return list(waiting.select_for_update(skip_locked=True).order_by("pk").values_list("pk", "lead_id")[:batch_size])


def _interactions_set_aside(ids: list[int]) -> None:
    """Take waiting interactions out of the workers' way (and out of rescoring's) until
    retried, without reading them: what failed may not read."""
    Interaction.objects.filter(pk__in=ids).update(set_aside=True)
    WaitingInteraction.objects.filter(pk__in=ids).delete()


def _interactions_score_batch(*, batch_size: int, now: datetime) -> tuple[int, bool]:
    """Claim up to ``batch_size`` unscored interactions and score them in one
    transaction. If that fails, claim and score them again in parts, setting aside
    those that fail alone (:mod:`scoring.setaside`). Returns how many were taken,
    and whether more may wait."""

    def run() -> tuple[int, bool]:
        claimed = _interactions_claim(batch_size=batch_size)
        _interactions_score(claimed.facts, now=now)
        return len(claimed.facts), claimed.more

    def isolated() -> tuple[int, bool]:
        rows = _interactions_lock(batch_size=batch_size)
        _interactions_isolate(rows, now=now)
        return len(rows), len(rows) >= batch_size

    return setaside.batch_run(kind=SET_ASIDE_INTERACTION, run=run, isolated=isolated)


def _interactions_isolate(rows: list[tuple[int, int | None]], *, now: datetime) -> list[int]:
    """Score these locked interactions in parts; set aside those that fail alone."""
    return setaside.rows_isolate(
        kind=SET_ASIDE_INTERACTION,
        rows=rows,
        process=lambda part: _interactions_score(_interactions_claim(batch_size=len(part), ids=part).facts, now=now),
        leave=_interactions_set_aside,
    ).set_aside


def _interactions_score(facts: Sequence[pure.InteractionFacts], *, now: datetime) -> None:
    """Score claimed interactions: ledger rows, cached scores, transitions.

    Caps and windows are judged in the order the interactions happened: one that
    happened before awards already made revises them (ledger rows of cause
    ``revised``), so the same interactions give the same awards however they
    were batched and whatever order they arrived in.
    """
    if not facts:
        return
    states = lead_states_lock(f.lead_id for f in facts)
    # Every scorecard's rules at once: rule ids are unique across scorecards and a rule's
    # caps are its own, so each award is the same as if each scorecard were scored apart.
    rules = selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    card_rules, card_of = selectors.scorecard_rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    rules += card_rules
    history = _cap_history(lead_ids=states, rules=rules, card_of=card_of)
    later = _interactions_to_judge_again(pure.late_starts(rules, facts, history), rules, facts)
    changes = pure.score_interactions_in_order(rules, facts, history, later)
    entries = [
        LedgerRow(
            c.lead_id,
            pure.Dimension.ENGAGEMENT,
            c.points,
            ScoreEntry.Cause.REVISED if c.revised else ScoreEntry.Cause.RULE,
            c.occurred_at,
            rule_id=c.rule_id,
            interaction_id=c.interaction_id,
            scorecard_id=card_of.get(c.rule_id),
        )
        for c in changes
    ]
    latest: dict[int, datetime] = {}
    for f in facts:
        if f.lead_id not in latest or f.occurred_at > latest[f.lead_id]:
            latest[f.lead_id] = f.occurred_at
    entries_apply(states=states, entries=entries, activity=latest, now=now)


def _cap_history(
    *, lead_ids: Iterable[int], rules: Sequence[pure.Rule], card_of: Mapping[int, int] | None = None
) -> dict[tuple[int, int], list[pure.Award]]:
    """What capped rules gave these leads so far, by (lead, rule): the net points of
    each interaction (its award, revisions and rescores), those not 0. One query per
    ledger holding capped rules (the default one, the scorecards' one: ``card_of`` says
    which rules are on a scorecard), read from its (lead, …, rule, occurred_at) index;
    and what they gave for the interactions whose rows retention compacted."""
    card_of = card_of or {}
    capped = [r.id for r in rules if r.cap is not None]
    lead_ids = list(lead_ids)
    history = award_rollups(lead_ids=lead_ids, rules=rules)
    for ledger, ids in (
        (ScoreEntry, [pk for pk in capped if pk not in card_of]),
        (ScorecardEntry, [pk for pk in capped if pk in card_of]),
    ):
        if not ids:
            continue
        rows = (
            ledger.objects.filter(lead_id__in=lead_ids, rule_id__in=ids, interaction__isnull=False)
            .values("lead_id", "rule_id", "interaction_id", "occurred_at")
            .annotate(points=Sum("delta"))
            .order_by()
            .values_list("lead_id", "rule_id", "interaction_id", "occurred_at", "points")
        )
        for lead_id, rule_id, interaction_id, occurred_at, points in rows:
            if points:
                history[(lead_id, rule_id)].append(pure.Award(lead_id, rule_id, interaction_id, occurred_at, points))
    return history


def _interactions_to_judge_again(
    starts: Mapping[tuple[int, int], tuple[datetime, int]],
    rules: Sequence[pure.Rule],
    facts: Sequence[pure.InteractionFacts],
) -> list[pure.InteractionFacts]:
    """The interactions already scored that late ones make judge again: those of the
    same leads, of the rules' types, from the earliest late interaction on."""
    if not starts:
        return []
    since: dict[int, datetime] = {}
    types: set[str] = set()
    by_id = {r.id: r for r in rules}
    for (lead_id, rule_id), (at, _) in starts.items():
        since[lead_id] = min(at, since.get(lead_id, at))
        types |= by_id[rule_id].interaction_types
    which = Q()
    for lead_id, at in since.items():
        which |= Q(lead_id=lead_id, occurred_at__gte=at)
    rows = (
        selectors.interactions_scored()
        .filter(which, type__in=sorted(types))
        .exclude(pk__in=[f.id for f in facts])
        .values_list("pk", "lead_id", "type", "occurred_at", "properties")
    )
    return [
        pure.InteractionFacts(pk, lead_id, kind, occurred_at, properties or {})
        for pk, lead_id, kind, occurred_at, properties in rows
    ]


# The copy of interactions into the waiting table: afresh for one that has a waiting row
# already (a retry after a row was queued by hand, README "Rows a batch cannot process").
_WAITING_COPY = (
    "INSERT INTO scoring_waitinginteraction (interaction_id, lead_id, type, properties, occurred_at)"
    " SELECT id, {lead}, type, properties, occurred_at FROM {rows} WHERE {lead} IS NOT NULL"
    " ON CONFLICT (interaction_id) DO UPDATE SET lead_id = EXCLUDED.lead_id, type = EXCLUDED.type,"
    " properties = EXCLUDED.properties, occurred_at = EXCLUDED.occurred_at"
)


def interactions_wait_moved(*, changes: str, where: str, params: Sequence[Any], lead: str = "lead_id") -> int:
    """``UPDATE scoring_interaction SET {changes} {where}``, and put the rows it changes
    that have a lead (``lead``: the lead they have once changed, as SQL over the row) in
    the workers' way: copied in the database, never read into Python (a row a batch set
    aside may not read). On PostgreSQL one statement (the ``UPDATE … RETURNING`` feeds the
    copy); on SQLite the copy, then the update (its one writer's lock holds the rows
    between the two). Returns how many changed. Only placeholders may be formatted into
    ``where``; the values are ``params``."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            returning = "RETURNING id, lead_id, type, properties, occurred_at"
            moved = f"UPDATE scoring_interaction SET {changes} {where} {returning}"  # noqa: S608
            cursor.execute(
                f"WITH moved AS ({moved}), waiting AS ({_WAITING_COPY.format(lead='lead_id', rows='moved')})"  # noqa: S608
                " SELECT count(*) FROM moved",
                params,
            )
            return int(cursor.fetchone()[0])
        rows = f"(SELECT * FROM scoring_interaction {where}) AS scoring_interaction"  # noqa: S608
        cursor.execute(_WAITING_COPY.format(lead=lead, rows=rows), params)
        cursor.execute(f"UPDATE scoring_interaction SET {changes} {where}", params)  # noqa: S608
        return int(cursor.rowcount)


def _interactions_set_aside_undo(ids: list[int]) -> int:
    """Set-aside interactions of ``ids`` back in the workers' way."""
    if not ids:
        return 0
    marks = ", ".join(["%s"] * len(ids))
    return interactions_wait_moved(
        changes="set_aside = false", where=f"WHERE id IN ({marks}) AND set_aside AND lead_id IS NOT NULL", params=ids
    )


SCORED = said(gettext_noop("scored"))
NOT_WAITING = said(gettext_noop("not waiting to be scored (scored, busy or without a lead)"))
FIT_EVALUATED = said(gettext_noop("fit evaluated"))
FIT_LEFT = said(gettext_noop("left to the next scoring batch (lead busy or gone)"))


def _interactions_retry(ids: list[int]) -> dict[int, Said]:
    """Retry set-aside interactions: back in the workers' way, and scored now."""
    _interactions_set_aside_undo(ids)
    rows = _interactions_lock(batch_size=len(ids), ids=ids)
    _interactions_isolate(rows, now=timezone.now())
    waiting = {pk for pk, _ in rows}
    return {pk: SCORED if pk in waiting else NOT_WAITING for pk in ids}


def leads_rescore_fit_pending(*, batch_size: int = 500, at: datetime | None = None) -> int:
    """Evaluate the fit of the leads queued for it (created or changed in bulk,
    :class:`~scoring.models.PendingFit`), as of ``at`` (default: now). A lead whose fit
    cannot be evaluated is set aside (no longer queued) and the others go on."""
    total, after = 0, 0
    while True:
        taken, after = _fit_pending_batch(batch_size, at=at, after=after)
        total += taken
        if taken < batch_size:
            return total


def _fit_pending_lock(batch_size: int, ids: Sequence[int] | None = None, *, after: int = 0) -> list[int]:
    """Queued leads after lead ``after``, their rows locked: a lead another transaction
    holds (writing its fields, which queues it again) is left to a later run. Each batch
    of a run starts after the last lead the one before took: the queue rows it deleted
    stay in the index until a vacuum, and a claim from the start stepped over them all."""
    # The bound on both sides: with the queue's statistics out of date the planner may join
    # the two in id order, reading the lead table's key from its start.
    pending = Lead.objects.filter(pk__gt=after, pk__in=PendingFit.objects.filter(lead_id__gt=after).values("lead_id"))
    if ids is not None:
        pending = pending.filter(pk__in=list(ids))
    return list(
        pending.select_for_update(skip_locked=True, no_key=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )


def _fit_pending_evaluate(ids: list[int], *, at: datetime | None = None) -> None:
    if ids:
        leads_rescore_fit(lead_ids=ids, at=at)
        _fit_pending_dequeue(ids)


def _fit_pending_dequeue(ids: list[int]) -> None:
    """Evaluated, or set aside: no longer queued."""
    PendingFit.objects.filter(bulk.ids_in("lead_id", ids)).delete()


def _fit_pending_batch(batch_size: int, *, at: datetime | None = None, after: int = 0) -> tuple[int, int]:
    """One batch of :func:`leads_rescore_fit_pending`, from lead ``after`` on; returns how
    many leads it took and the last one."""

    def run() -> list[int]:
        ids = _fit_pending_lock(batch_size, after=after)
        _fit_pending_evaluate(ids, at=at)
        return ids

    def isolated() -> list[int]:
        ids = _fit_pending_lock(batch_size, after=after)
        _fit_pending_isolate(ids, at=at)
        return ids

    taken = setaside.batch_run(kind=SET_ASIDE_FIT, run=run, isolated=isolated)
    return len(taken), max(taken, default=after)


def _fit_pending_isolate(ids: list[int], *, at: datetime | None = None) -> list[int]:
    return setaside.rows_isolate(
        kind=SET_ASIDE_FIT,
        rows=[(pk, pk) for pk in ids],
        process=lambda part: _fit_pending_evaluate(part, at=at),
        leave=_fit_pending_dequeue,
    ).set_aside


def _fit_retry(ids: list[int]) -> dict[int, Said]:
    """Retry leads whose fit could not be evaluated: queued again, and evaluated now."""
    leads_fit_queue(Lead.objects.filter(pk__in=ids).values_list("pk", flat=True))
    locked = _fit_pending_lock(len(ids), ids=ids)
    _fit_pending_isolate(locked)
    return {pk: FIT_EVALUATED if pk in locked else FIT_LEFT for pk in ids}


def interactions_score_pending(*, batch_size: int | None = None, now: datetime | None = None) -> int:
    """Score every unscored interaction, batch by batch. Safe to run in many workers at once.

    Leads waiting for a fit evaluation are evaluated first. ``now`` (default: now) is
    when this happens: the time of the fit rows, the transitions and the scoring.
    """
    batch_size = batch_size or settings.LEADFLOW_SCORING_BATCH_SIZE
    leads_rescore_fit_pending(batch_size=batch_size, at=now)
    total = 0
    while True:
        scored, more = _interactions_score_batch(batch_size=batch_size, now=now or timezone.now())
        total += scored
        if not more:
            break
    # The accounts of the leads whose scores moved (here, or by decay, rescore or a person
    # since the last sweep): after the batches, in transactions of their own.
    accounts_refresh_pending(at=now)
    return total


setaside.register_kind(
    setaside.Kind(
        SET_ASIDE_INTERACTION,
        gettext_noop("Interaction (scoring)"),
        _interactions_retry,
        "admin:scoring_interaction_change",
    )
)
setaside.register_kind(
    setaside.Kind(SET_ASIDE_FIT, gettext_noop("Lead (fit evaluation)"), _fit_retry, "admin:scoring_lead_change")
)
