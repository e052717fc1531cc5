"""Everything that writes scores. Callers hold no locks; each function takes its own."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, NamedTuple

from celery import Task
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, ProtectedError, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from scoring import bulk, decay, model_file, selectors, setaside
from scoring import rules as pure
from scoring.models import (
    DecayPolicy,
    DecayRun,
    GroupTransition,
    Interaction,
    Lead,
    LifecycleStage,
    RescoreJob,
    RescoreLane,
    RuleCondition,
    ScoreEntry,
    ScoreGroup,
    ScoreWatch,
    ScoringRule,
)
from scoring.timestamps import timestamp_in_range

logger = logging.getLogger(__name__)

# What scoring's batches set aside (scoring.setaside): an interaction the workers
# cannot score; a lead whose fit, rescoring or decay fails.
SET_ASIDE_INTERACTION = "interaction"
SET_ASIDE_FIT = "fit"
SET_ASIDE_RESCORE = "rescore"
SET_ASIDE_DECAY = "decay"


# --- applying ledger rows -----------------------------------------------------


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


LEDGER_FIELDS = (*LedgerRow._fields, "created_at")


class LeadState(NamedTuple):
    """The cached score columns of a lead, as read under its row lock."""

    fit: int
    engagement: int
    group_id: int | None
    last_activity_at: datetime | None
    engagement_base: int  # engagement after the last change that was not decay
    engagement_base_at: datetime | None  # … and when it happened: decay counts from here

    @classmethod
    def of(cls, lead: Lead) -> LeadState:
        return cls(
            lead.fit_score,
            lead.engagement_score,
            lead.score_group_id,
            lead.last_activity_at,
            lead.engagement_base,
            lead.engagement_base_at,
        )


LEAD_STATE_FIELDS = (
    "fit_score",
    "engagement_score",
    "score_group",
    "last_activity_at",
    "engagement_base",
    "engagement_base_at",
)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _entries_apply(
    *,
    states: Mapping[int, LeadState],
    entries: Sequence[LedgerRow],
    activity: Mapping[int, datetime] | None = None,
) -> dict[int, LeadState]:
    """Write ``entries`` and move the cached scores of their leads by the same amounts.

    ``activity`` may move leads' last activity forward too. An engagement
    change other than decay resets the lead's decay base. Returns the new
    state of every lead that changed.

    Precondition: inside a transaction holding the row lock of every lead in
    ``states`` (``FOR NO KEY UPDATE``), so the cached sums stay equal to the
    ledger's under any interleaving of workers.
    """
    now = timezone.now()
    bulk.values_insert(ScoreEntry, LEDGER_FIELDS, [(*entry, now) for entry in entries])
    moved = pure.scores_moved(
        {pk: pure.Scores(state.fit, state.engagement) for pk, state in states.items()},
        ((e.lead_id, e.dimension, e.delta) for e in entries),
    )
    # Decay counts from the engagement after the last activity or manual change.
    # A rescore is neither: it shifts that base by what it changes, keeping its time.
    engaged: dict[int, datetime | None] = {}
    rescored: dict[int, int] = defaultdict(int)
    for e in entries:
        if e.dimension != pure.Dimension.ENGAGEMENT or e.cause == ScoreEntry.Cause.DECAY:
            continue
        if e.cause == ScoreEntry.Cause.RESCORE:
            rescored[e.lead_id] += e.delta
        else:
            engaged[e.lead_id] = _later(engaged.get(e.lead_id), e.occurred_at)
    bands = selectors.group_thresholds() if moved else []
    watched = selectors.score_watches() if moved else []
    causes = {e.lead_id: e.cause for e in entries}
    changed: dict[int, LeadState] = {}
    crossed: list[Crossing] = []
    for lead_id in moved.keys() | (activity or {}).keys():
        state = states[lead_id]
        scores = moved.get(lead_id, pure.Scores(state.fit, state.engagement))
        group_id = state.group_id
        if lead_id in moved:
            group_id = pure.group_for(scores.total, bands, current=state.group_id)
            before = state.fit + state.engagement
            if group_id != state.group_id or pure.crosses_watch(before, scores.total, watched):
                crossed.append(Crossing(lead_id, state.group_id, group_id, before, scores.total, causes[lead_id]))
        base, base_at = state.engagement_base + rescored.get(lead_id, 0), state.engagement_base_at
        if lead_id in engaged:
            base, base_at = scores.engagement, _later(base_at, engaged[lead_id])
        new = LeadState(
            scores.fit,
            scores.engagement,
            group_id,
            _later(state.last_activity_at, (activity or {}).get(lead_id)),
            base,
            base_at,
        )
        if new != state:
            changed[lead_id] = new
    bulk.values_update(Lead, LEAD_STATE_FIELDS, [(pk, *state) for pk, state in changed.items()])
    _transitions_record(crossed, bands, at=now)
    return changed


class Crossing(NamedTuple):
    """A score change routing must hear of: a change of group or a watched score crossed."""

    lead_id: int
    from_group: int | None
    to_group: int | None
    previous_total: int
    total: int
    cause: str


def _transitions_record(crossed: Sequence[Crossing], bands: Sequence[pure.Band], *, at: datetime) -> None:
    """Write the outbox rows for leads whose score crossed a border."""
    minimum = {band.id: band.min_score for band in bands}
    rows = []
    for c in crossed:
        if c.from_group != c.to_group:
            up = c.to_group is not None and (
                c.from_group is None or minimum.get(c.to_group, 0) > minimum.get(c.from_group, 0)
            )
        else:
            up = c.total > c.previous_total
        direction = GroupTransition.Direction.UP if up else GroupTransition.Direction.DOWN
        rows.append((c.lead_id, c.from_group, c.to_group, direction, c.previous_total, c.total, c.cause, at))
    bulk.values_insert(
        GroupTransition,
        ["lead", "from_group", "to_group", "direction", "previous_total", "total_score", "cause", "occurred_at"],
        rows,
    )


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


def leads_stage_set(*, lead_ids: Iterable[int], stage: str, cause: str, at: datetime | None = None) -> int:
    """Move leads to lifecycle ``stage``; each lead whose stage changes gets a
    ``stage`` outbox row (routing's "lifecycle stage changes" trigger). Returns
    how many changed."""
    if stage not in LifecycleStage.values:
        raise ValueError(f"stage: '{stage}' is not a lifecycle stage ({', '.join(LifecycleStage.values)})")
    at = at or timezone.now()
    ids = sorted(set(lead_ids))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One statement: lock in id order, change, and say what each lead was.
            rows = bulk.pg_execute(
                "WITH before AS (SELECT id, lifecycle_stage, total_score FROM scoring_lead"
                " WHERE id = ANY(%s::bigint[]) AND lifecycle_stage <> %s ORDER BY id FOR NO KEY UPDATE)"
                " UPDATE scoring_lead l SET lifecycle_stage = %s FROM before WHERE l.id = before.id"
                " RETURNING l.id, before.lifecycle_stage, before.total_score",
                [ids, stage, stage],
            )
        else:
            rows = list(
                Lead.objects.select_for_update(no_key=True)
                .filter(pk__in=ids)
                .exclude(lifecycle_stage=stage)
                .order_by("pk")
                .values_list("pk", "lifecycle_stage", "total_score")
            )
            Lead.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(lifecycle_stage=stage)
        _stage_changes_record([(pk, before, stage, total) for pk, before, total in rows], cause=cause, at=at)
    return len(rows)


def _stage_changes_record(changes: Sequence[tuple[int, str, str, int]], *, cause: str, at: datetime) -> None:
    """Outbox rows for (lead, from stage, to stage, total)."""
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


def _leads_lock(lead_ids: Iterable[int]) -> dict[int, Lead]:
    """Lock leads in id order: two workers locking overlapping sets never deadlock.

    ``FOR NO KEY UPDATE``: scores are not keys, so requests inserting
    interactions of these leads (which take a key-share lock through the
    foreign key) are not blocked, and cannot deadlock with a worker.
    """
    leads = Lead.objects.select_for_update(no_key=True).filter(pk__in=set(lead_ids)).order_by("pk")
    return {lead.pk: lead for lead in leads}


def leads_lock(*, lead_ids: Iterable[int]) -> None:
    """Take the row locks of :func:`_leads_lock` (in id order) without reading the
    leads: for other apps' batches about to change many leads, so they and the
    scoring workers never deadlock. Call inside a transaction."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    if connection.vendor == "postgresql":
        bulk.pg_execute("SELECT id FROM scoring_lead WHERE id = ANY(%s::bigint[]) ORDER BY id FOR NO KEY UPDATE", [ids])
    else:
        list(Lead.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def _lead_states_lock(lead_ids: Iterable[int]) -> dict[int, LeadState]:
    """:func:`_leads_lock`, reading only the score columns."""
    ids = sorted(set(lead_ids))
    columns = ["id", *(str(Lead._meta.get_field(name).column) for name in LEAD_STATE_FIELDS)]  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        rows = bulk.pg_execute(
            f"SELECT {', '.join(columns)} FROM scoring_lead WHERE id = ANY(%s::bigint[])"  # noqa: S608
            " ORDER BY id FOR NO KEY UPDATE",
            [ids],
        )
    else:
        rows = list(
            Lead.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", *LEAD_STATE_FIELDS)
        )
    return {pk: LeadState(*state) for pk, *state in rows}


# --- fit ------------------------------------------------------------------------


@transaction.atomic
def leads_rescore_fit(
    *, lead_ids: Iterable[int], at: datetime | None = None, cause: str = ScoreEntry.Cause.RULE
) -> int:
    """Bring each lead's fit score in line with the fit rules in force now.

    Writes one ledger row per rule whose contribution changes (rules that no
    longer apply are taken back to 0). Returns the number of rows written.
    """
    at = at or timezone.now()
    leads = _leads_lock(lead_ids)
    if not leads:
        return 0
    fit_rules = selectors.rules_pure(dimension=pure.Dimension.FIT)
    current: dict[int, dict[int, int]] = defaultdict(dict)
    for row in (
        ScoreEntry.objects.filter(lead_id__in=leads, dimension=pure.Dimension.FIT, rule__isnull=False)
        .values("lead_id", "rule_id")
        .annotate(points=Sum("delta"))
        .order_by()
    ):
        current[row["lead_id"]][row["rule_id"]] = row["points"]
    entries: list[LedgerRow] = []
    for lead in leads.values():
        targets = pure.fit_targets(fit_rules, lead.rule_values(), at=at)
        for rule_id, delta in pure.fit_deltas(targets, current[lead.pk]).items():
            entries.append(LedgerRow(lead.pk, pure.Dimension.FIT, delta, cause, at, rule_id=rule_id))
    _entries_apply(states={pk: LeadState.of(lead) for pk, lead in leads.items()}, entries=entries)
    return len(entries)


def leads_rescore_fit_all(*, chunk_size: int = 1000, at: datetime | None = None) -> int:
    """Rescore every lead's fit in chunks of ``chunk_size`` (one transaction each)."""
    written = 0
    last_id = 0
    while True:
        ids = list(Lead.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return written
        written += leads_rescore_fit(lead_ids=ids, at=at)
        last_id = ids[-1]


LEAD_EDITABLE_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "title",
        "department",
        "company",
        "industry",
        "company_size",
        "annual_revenue",
        "country",
        "city",
        "lifecycle_stage",
        "external_id",
        "time_zone",
        "attributes",
    }
)


class LeadConflict(ValueError):
    """A lead field that must be unique already belongs to another lead."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@transaction.atomic
def lead_upsert(*, email: str, fields: Mapping[str, Any] | None = None) -> tuple[Lead, bool]:
    """Create the lead with this email, or update it; re-evaluate fit when it changed.

    ``fields`` may hold any of :data:`LEAD_EDITABLE_FIELDS`; ``attributes`` are
    merged into the custom attributes already known. An ``external_id`` another
    lead has raises :class:`LeadConflict` (a ValueError) naming the field, and
    changes nothing.
    """
    fields = dict(fields or {})
    unknown = set(fields) - LEAD_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"unknown lead fields: {', '.join(sorted(unknown))}")
    email = email.strip()
    external_id = fields.get("external_id")

    def conflict_check(lead: Lead) -> None:
        if external_id is None:
            return
        holders = Lead.objects.filter(external_id=external_id)
        if (holders.exclude(pk=lead.pk) if lead.pk else holders).exists():
            raise LeadConflict("external_id", "another lead already has this external_id")

    # Two tries, for the one race this is meant for: another request creating
    # the same email between the look-up and the insert (the second try updates
    # that lead). Anything else that breaks a unique index is answered, not retried.
    for attempt in (1, 2):
        found = Lead.objects.select_for_update(no_key=True).filter(email__iexact=email).first()
        created = found is None
        lead = found if found is not None else Lead(email=email)
        changed = False
        stage_before = lead.lifecycle_stage
        for name, value in fields.items():
            if name == "attributes":
                merged = {**(lead.attributes or {}), **(value or {})}
                if merged != lead.attributes:
                    lead.attributes, changed = merged, True
            elif getattr(lead, name) != value:
                setattr(lead, name, value)
                changed = True
        if not (created or changed):
            return lead, False
        conflict_check(lead)
        try:
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            if created and attempt == 1 and Lead.objects.filter(email__iexact=email).exists():
                continue
            conflict_check(lead)  # a concurrent request took the external_id meanwhile
            raise
        break
    if created and lead.lifecycle_stage != LifecycleStage.LEAD:
        # Created at a later stage (a CRM syncing an SQL): a change of stage from nothing.
        _stage_changes_record([(lead.pk, "", lead.lifecycle_stage, 0)], cause="create", at=timezone.now())
    elif not created and lead.lifecycle_stage != stage_before:
        _stage_changes_record(
            [(lead.pk, stage_before, lead.lifecycle_stage, lead.total_score)], cause="update", at=timezone.now()
        )
    leads_rescore_fit(lead_ids=[lead.pk])
    lead.refresh_from_db()
    return lead, created


def lead_saved(*, lead: Lead, stage_before: str | None = None, cause: str = "admin") -> None:
    """Call after saving a lead's attributes elsewhere (the admin): re-evaluates
    fit, and records a change of lifecycle stage from ``stage_before``."""
    with transaction.atomic():
        if stage_before is not None and stage_before != lead.lifecycle_stage:
            total = Lead.objects.values_list("total_score", flat=True).get(pk=lead.pk)
            _stage_changes_record(
                [(lead.pk, stage_before, lead.lifecycle_stage, total)], cause=cause, at=timezone.now()
            )
        leads_rescore_fit(lead_ids=[lead.pk])


@transaction.atomic
def lead_adjust_score(
    *,
    lead_id: int,
    dimension: pure.Dimension,
    delta: int,
    note: str,
    user: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> LeadState:
    """A person moves a score by hand; the reason is kept in the ledger. Returns the new scores."""
    if not note.strip():
        raise ValueError("note: say why the score is adjusted")
    if delta == 0:
        raise ValueError("delta: an adjustment of 0 changes nothing")
    at = at or timezone.now()
    states = _lead_states_lock([lead_id])
    if not states:
        raise Lead.DoesNotExist(f"lead {lead_id} does not exist")
    entry = LedgerRow(
        lead_id,
        dimension,
        delta,
        ScoreEntry.Cause.MANUAL,
        at,
        note=note.strip(),
        created_by_id=user.pk if user is not None else None,
    )
    return _entries_apply(states=states, entries=[entry])[lead_id]


# --- engagement -------------------------------------------------------------


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
    if type not in pure.INTERACTION_TYPES:
        raise ValueError(f"type: unknown interaction type {type!r}")
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at: give a time zone")
    try:
        timestamp_in_range(occurred_at, now=timezone.now())
    except ValueError as exc:
        raise ValueError(f"occurred_at: {exc}") from None
    with transaction.atomic():
        interaction, created = Interaction.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "lead": lead,
                "type": type,
                "occurred_at": occurred_at,
                "properties": dict(properties or {}),
                "source": source,
            },
        )
        if created:
            transaction.on_commit(scoring_enqueue)
    return RecordedInteraction(interaction, created)


def enqueue(task: Task[Any, Any], *args: Any, fallback: str) -> bool:
    """Send ``task`` to the workers (with its own options, e.g. expiry); if the
    broker cannot be reached, log what ``fallback`` will do instead (the work
    is in the database) and go on."""
    try:
        task.apply_async(args=args)
    except Exception:
        logger.warning("could not enqueue %s; %s", task.name, fallback, exc_info=True)
        return False
    return True


def scoring_enqueue() -> None:
    """Ask a worker to score what is pending; the periodic sweep covers a broker outage."""
    from scoring.tasks import interactions_score_pending_task

    enqueue(interactions_score_pending_task, fallback="the periodic sweep will score pending interactions")


_CLAIM_SQL = """
    UPDATE scoring_interaction SET scored_at = %s
    WHERE id IN (
        SELECT id FROM scoring_interaction
        WHERE scored_at IS NULL AND lead_id IS NOT NULL AND NOT set_aside
        ORDER BY id LIMIT %s
        FOR NO KEY UPDATE SKIP LOCKED
    )
    RETURNING id, lead_id, type, occurred_at, properties
"""

# The same for given interactions, already locked by the caller (see _interactions_lock).
_CLAIM_IDS_SQL = """
    UPDATE scoring_interaction SET scored_at = %s
    WHERE id = ANY(%s::bigint[]) AND scored_at IS NULL AND lead_id IS NOT NULL AND NOT set_aside
    RETURNING id, lead_id, type, occurred_at, properties
"""


def _interactions_claim(
    *, batch_size: int, now: datetime, ids: Sequence[int] | None = None
) -> list[pure.InteractionFacts]:
    """Take up to ``batch_size`` unscored interactions of known leads (or those of
    ``ids`` that still wait) and mark them scored (rolled back with the
    transaction if scoring fails).

    SKIP LOCKED: concurrent workers take disjoint batches instead of waiting.
    """
    if connection.vendor == "postgresql":
        if ids is None:
            rows = bulk.pg_execute(_CLAIM_SQL, [now, batch_size])
        else:
            rows = bulk.pg_execute(_CLAIM_IDS_SQL, [now, list(ids)])
    else:
        waiting = Interaction.objects.filter(scored_at__isnull=True, lead__isnull=False, set_aside=False)
        if ids is not None:
            waiting = waiting.filter(pk__in=list(ids))
        rows = list(
            waiting.select_for_update(skip_locked=True, no_key=True)
            .order_by("pk")
            .values_list("pk", "lead_id", "type", "occurred_at", "properties")[:batch_size]
        )
        Interaction.objects.filter(pk__in=[row[0] for row in rows]).update(scored_at=now)
    return [
        pure.InteractionFacts(
            pk, lead_id, kind, occurred_at, (json.loads(props) if isinstance(props, str) else props) or {}
        )
        for pk, lead_id, kind, occurred_at, props in rows
    ]


def _interactions_lock(*, batch_size: int, ids: Sequence[int] | None = None) -> list[tuple[int, int | None]]:
    """Lock up to ``batch_size`` interactions waiting to be scored (or those of ``ids``),
    reading only (id, lead id): what the slow path splits, whatever the rows hold."""
    waiting = Interaction.objects.filter(scored_at__isnull=True, lead__isnull=False, set_aside=False)
    if ids is not None:
        waiting = waiting.filter(pk__in=list(ids))
    return list(
        waiting.select_for_update(skip_locked=True, no_key=True)
        .order_by("pk")
        .values_list("pk", "lead_id")[:batch_size]
    )


def _interactions_set_aside(ids: list[int]) -> None:
    """Take interactions out of the workers' way (and out of rescoring's) until retried."""
    Interaction.objects.filter(pk__in=ids).update(set_aside=True)


def _interactions_score_batch(*, batch_size: int, now: datetime) -> int:
    """Claim up to ``batch_size`` unscored interactions and score them in one
    transaction. If that fails, claim and score them again in parts, setting aside
    those that fail alone (:mod:`scoring.setaside`). Returns how many were taken."""

    def run() -> int:
        facts = _interactions_claim(batch_size=batch_size, now=now)
        _interactions_score(facts)
        return len(facts)

    def isolated() -> int:
        rows = _interactions_lock(batch_size=batch_size)
        _interactions_isolate(rows, now=now)
        return len(rows)

    return setaside.batch_run(kind=SET_ASIDE_INTERACTION, run=run, isolated=isolated)


def _interactions_isolate(rows: list[tuple[int, int | None]], *, now: datetime) -> list[int]:
    """Score these locked interactions in parts; set aside those that fail alone."""
    return setaside.rows_isolate(
        kind=SET_ASIDE_INTERACTION,
        rows=rows,
        process=lambda part: _interactions_score(_interactions_claim(batch_size=len(part), now=now, ids=part)),
        leave=_interactions_set_aside,
    ).set_aside


def _interactions_score(facts: Sequence[pure.InteractionFacts]) -> None:
    """Score claimed interactions: ledger rows, cached scores, transitions."""
    if not facts:
        return
    states = _lead_states_lock(f.lead_id for f in facts)
    rules = selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    capped = [r.id for r in rules if r.cap is not None]
    history: dict[tuple[int, int], list[pure.Award]] = defaultdict(list)
    if capped:
        for row in ScoreEntry.objects.filter(
            lead_id__in=states, rule_id__in=capped, interaction__isnull=False
        ).values_list("lead_id", "rule_id", "interaction_id", "occurred_at", "delta"):
            history[(row[0], row[1])].append(pure.Award(*row))
    entries = [
        LedgerRow(
            a.lead_id,
            pure.Dimension.ENGAGEMENT,
            a.points,
            ScoreEntry.Cause.RULE,
            a.occurred_at,
            rule_id=a.rule_id,
            interaction_id=a.interaction_id,
        )
        for a in pure.score_interactions(rules, facts, history)
    ]
    latest: dict[int, datetime] = {}
    for f in facts:
        if f.lead_id not in latest or f.occurred_at > latest[f.lead_id]:
            latest[f.lead_id] = f.occurred_at
    _entries_apply(states=states, entries=entries, activity=latest)


def _interactions_retry(ids: list[int]) -> dict[int, str]:
    """Retry set-aside interactions: back in the workers' way, and scored now."""
    Interaction.objects.filter(pk__in=ids, scored_at__isnull=True).update(set_aside=False)
    rows = _interactions_lock(batch_size=len(ids), ids=ids)
    _interactions_isolate(rows, now=timezone.now())
    waiting = {pk for pk, _ in rows}
    return {
        pk: "scored" if pk in waiting else "not waiting to be scored (scored, busy or without a lead)" for pk in ids
    }


def leads_rescore_fit_pending(*, batch_size: int = 500) -> int:
    """Evaluate the fit of leads created or changed in bulk (``fit_pending``). A lead
    whose fit cannot be evaluated is set aside (no longer pending) and the others go on."""
    total = 0
    while True:
        taken = _fit_pending_batch(batch_size)
        total += taken
        if taken < batch_size:
            return total


def _fit_pending_lock(batch_size: int, ids: Sequence[int] | None = None) -> list[int]:
    pending = Lead.objects.filter(fit_pending=True)
    if ids is not None:
        pending = pending.filter(pk__in=list(ids))
    return list(
        pending.select_for_update(skip_locked=True, no_key=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )


def _fit_pending_evaluate(ids: list[int]) -> None:
    if ids:
        leads_rescore_fit(lead_ids=ids)
        Lead.objects.filter(pk__in=ids).update(fit_pending=False)


def _fit_pending_set_aside(ids: list[int]) -> None:
    Lead.objects.filter(pk__in=ids).update(fit_pending=False)


def _fit_pending_batch(batch_size: int) -> int:
    """One batch of :func:`leads_rescore_fit_pending`; returns how many leads it took."""

    def run() -> int:
        ids = _fit_pending_lock(batch_size)
        _fit_pending_evaluate(ids)
        return len(ids)

    def isolated() -> int:
        ids = _fit_pending_lock(batch_size)
        _fit_pending_isolate(ids)
        return len(ids)

    return setaside.batch_run(kind=SET_ASIDE_FIT, run=run, isolated=isolated)


def _fit_pending_isolate(ids: list[int]) -> list[int]:
    return setaside.rows_isolate(
        kind=SET_ASIDE_FIT,
        rows=[(pk, pk) for pk in ids],
        process=_fit_pending_evaluate,
        leave=_fit_pending_set_aside,
    ).set_aside


def _fit_retry(ids: list[int]) -> dict[int, str]:
    """Retry leads whose fit could not be evaluated: pending again, and evaluated now."""
    Lead.objects.filter(pk__in=ids).update(fit_pending=True)
    locked = _fit_pending_lock(len(ids), ids=ids)
    _fit_pending_isolate(locked)
    return {pk: "fit evaluated" if pk in locked else "left to the next scoring batch (lead busy or gone)" for pk in ids}


def interactions_score_pending(*, batch_size: int | None = None, now: datetime | None = None) -> int:
    """Score every unscored interaction, batch by batch. Safe to run in many workers at once.

    Leads waiting for a fit evaluation are evaluated first.
    """
    batch_size = batch_size or settings.LEADFLOW_SCORING_BATCH_SIZE
    leads_rescore_fit_pending(batch_size=batch_size)
    total = 0
    while True:
        scored = _interactions_score_batch(batch_size=batch_size, now=now or timezone.now())
        total += scored
        if scored < batch_size:
            return total


# --- rescoring from history -------------------------------------------------------


@transaction.atomic
def leads_rescore(*, lead_ids: Iterable[int], at: datetime | None = None) -> int:
    """Score leads again from scratch with the rules in force now: fit from
    their attributes, engagement from every interaction already scored.

    For each (lead, rule) the ledger gets the difference between what the rule
    gives now and what it gave so far (cause: rescore), so rescoring twice
    changes nothing and the ledger stays the explanation of every score.
    Decay and manual rows are left as they are. Returns the rows written.
    """
    at = at or timezone.now()
    ids = sorted(set(lead_ids))
    written = leads_rescore_fit(lead_ids=ids, at=at, cause=ScoreEntry.Cause.RESCORE)
    states = _lead_states_lock(ids)
    rules = selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    # Interactions a worker has not scored yet are left to it (it counts them once).
    facts = [
        pure.InteractionFacts(pk, lead_id, kind, occurred_at, properties or {})
        for pk, lead_id, kind, occurred_at, properties in Interaction.objects.filter(
            lead_id__in=ids, scored_at__isnull=False
        ).values_list("pk", "lead_id", "type", "occurred_at", "properties")
    ]
    goal: dict[tuple[int, int], int] = defaultdict(int)
    for award in pure.score_interactions(rules, facts, {}):
        goal[(award.lead_id, award.rule_id)] += award.points
    so_far: dict[tuple[int, int], int] = {
        (lead_id, rule_id): points
        for lead_id, rule_id, points in ScoreEntry.objects.filter(
            lead_id__in=ids, dimension=pure.Dimension.ENGAGEMENT, rule__isnull=False
        )
        .values("lead_id", "rule_id")
        .annotate(points=Sum("delta"))
        .values_list("lead_id", "rule_id", "points")
    }
    entries = [
        LedgerRow(lead_id, pure.Dimension.ENGAGEMENT, delta, ScoreEntry.Cause.RESCORE, at, rule_id=rule_id)
        for (lead_id, rule_id) in sorted(goal.keys() | so_far.keys())
        if (delta := goal.get((lead_id, rule_id), 0) - so_far.get((lead_id, rule_id), 0))
    ]
    _entries_apply(states=states, entries=entries)
    return written + len(entries)


# A job's leads are split into at most this many lanes: as many workers can share it.
RESCORE_LANES = 16
# ...of at least this many leads each (a small job is one lane).
RESCORE_LANE_MIN = 10_000


def rescore_job_start(
    *,
    group: ScoreGroup | None = None,
    lead_ids: list[int] | None = None,
    user: AbstractBaseUser | None = None,
    background: bool = True,
) -> RescoreJob:
    """Create a rescore job (all leads, a group's, or the given ones), its leads split
    by id into lanes; with ``background``, ``LEADFLOW_RESCORE_JOBS`` workers share
    it, else the caller runs :func:`rescore_job_run` (as many at once as it likes)."""
    job = RescoreJob.objects.create(group=group, lead_ids=lead_ids, created_by_id=user.pk if user else None)
    scope = _rescore_scope(job).aggregate(total=Count("id"), low=Min("id"), high=Max("id"))
    job.total = scope["total"]
    job.save(update_fields=["total"])
    if scope["total"]:
        low, high = scope["low"], scope["high"] + 1
        count = max(1, min(RESCORE_LANES, scope["total"] // RESCORE_LANE_MIN))
        edges = [low + (high - low) * k // count for k in range(count)] + [high]
        RescoreLane.objects.bulk_create(
            RescoreLane(job=job, position=k, low=edges[k], high=edges[k + 1]) for k in range(count)
        )
    if background:
        transaction.on_commit(lambda: _rescore_enqueue(job.pk))
    return job


def _rescore_enqueue(job_id: int) -> None:
    from scoring.tasks import rescore_job_task

    for _ in range(max(1, settings.LEADFLOW_RESCORE_JOBS)):
        enqueue(rescore_job_task, job_id, fallback=f"run: manage.py scoring_rescore --resume {job_id}")


def _rescore_scope(job: RescoreJob) -> QuerySet[Lead]:
    leads = Lead.objects.all()
    if job.lead_ids is not None:
        leads = leads.filter(pk__in=job.lead_ids)
    elif job.group_id is not None:
        leads = leads.filter(score_group_id=job.group_id)
    return leads


def rescore_job_run(
    *, job_id: int, chunk_size: int = 1000, progress: Callable[[RescoreJob], None] | None = None
) -> RescoreJob:
    """Work on a rescore job until no lane is left to take: take a lane no other
    worker holds (``SKIP LOCKED``), rescore its next chunk, move its cursor and
    the job's counts in the same transaction, again. Any number of workers may
    run one job at once, and a stopped one resumes exactly; the last worker out
    marks the job done. ``progress`` sees the job after each chunk."""
    job = RescoreJob.objects.get(pk=job_id)
    if job.status == RescoreJob.Status.DONE:
        return job
    RescoreJob.objects.filter(pk=job_id).exclude(status=RescoreJob.Status.DONE).update(
        status=RescoreJob.Status.RUNNING, started_at=Coalesce(F("started_at"), Value(timezone.now())), error=""
    )
    try:
        while True:
            step = setaside.batch_run(
                kind=SET_ASIDE_RESCORE,
                run=lambda: _rescore_step(job, chunk_size=chunk_size, isolate=False),
                # A lead that cannot be rescored: the chunk again, in parts, setting aside what fails.
                isolated=lambda: _rescore_step(job, chunk_size=chunk_size, isolate=True),
            )
            if step is _RescoreStep.STOP:
                break
            if step is _RescoreStep.CHUNK and progress is not None:
                progress(RescoreJob.objects.get(pk=job_id))
    except Exception as exc:
        RescoreJob.objects.filter(pk=job_id).update(status=RescoreJob.Status.FAILED, error=str(exc)[:2000])
        raise
    RescoreJob.objects.filter(pk=job_id, status=RescoreJob.Status.RUNNING).exclude(
        Exists(RescoreLane.objects.filter(job_id=OuterRef("pk"), finished=False))
    ).update(status=RescoreJob.Status.DONE, finished_at=timezone.now())
    return RescoreJob.objects.get(pk=job_id)


class _RescoreStep(Enum):
    STOP = "nothing left that nobody holds, or another worker failed"
    LANE = "a lane finished"
    CHUNK = "a chunk rescored"


def _rescore_step(job: RescoreJob, *, chunk_size: int, isolate: bool) -> _RescoreStep:
    """Rescore the next chunk of a lane no other worker holds; call in a transaction.
    With ``isolate``, a lead that cannot be rescored is set aside and the chunk goes on."""
    lane = (
        RescoreLane.objects.select_for_update(skip_locked=True)
        .filter(job_id=job.pk, finished=False)
        .order_by("position")
        .first()
    )
    if lane is None or RescoreJob.objects.filter(pk=job.pk, status=RescoreJob.Status.FAILED).exists():
        return _RescoreStep.STOP
    ids = list(
        _rescore_scope(job)
        .filter(pk__gt=lane.last_lead_id, pk__gte=lane.low, pk__lt=lane.high)
        .order_by("pk")
        .values_list("pk", flat=True)[:chunk_size]
    )
    if not ids:
        lane.finished = True
        lane.save(update_fields=["finished"])
        return _RescoreStep.LANE
    if isolate:
        done = setaside.rows_isolate(
            kind=SET_ASIDE_RESCORE, rows=[(pk, pk) for pk in ids], process=lambda part: leads_rescore(lead_ids=part)
        )
        written = sum(done.results)
    else:
        written = leads_rescore(lead_ids=ids)
    lane.last_lead_id = ids[-1]
    lane.save(update_fields=["last_lead_id"])
    RescoreJob.objects.filter(pk=job.pk).update(done=F("done") + len(ids), entries=F("entries") + written)
    return _RescoreStep.CHUNK


def _rescore_retry(ids: list[int]) -> dict[int, str]:
    """Retry leads a rescore job set aside: rescored now, each on its own."""
    written: dict[int, str] = {}
    for pk in ids:
        done = setaside.rows_isolate(
            kind=SET_ASIDE_RESCORE, rows=[(pk, pk)], process=lambda part: leads_rescore(lead_ids=part)
        )
        if done.results:
            written[pk] = f"rescored ({done.results[0]} ledger rows written)"
    return written


def leads_engagement_reset(
    *, reason: str, lead_ids: Iterable[int] | None = None, user: AbstractBaseUser | None = None, chunk_size: int = 1000
) -> int:
    """Fresh start: take the engagement of the given leads (or all) to 0, with
    the reason in the ledger (cause: manual). Returns the leads changed."""
    if not reason.strip():
        raise ValueError("reason: say why engagement is reset")
    note = f"Fresh start: {reason.strip()}"
    leads = Lead.objects.exclude(engagement_score=0)
    if lead_ids is not None:
        leads = leads.filter(pk__in=list(lead_ids))
    changed = last_id = 0
    while True:
        ids = list(leads.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return changed
        with transaction.atomic():
            states = _lead_states_lock(ids)
            at = timezone.now()
            entries = [
                LedgerRow(
                    pk,
                    pure.Dimension.ENGAGEMENT,
                    -state.engagement,
                    ScoreEntry.Cause.MANUAL,
                    at,
                    note=note,
                    created_by_id=user.pk if user else None,
                )
                for pk, state in states.items()
                if state.engagement
            ]
            _entries_apply(states=states, entries=entries)
        changed += len(entries)
        last_id = ids[-1]


# --- decay ---------------------------------------------------------------------


@dataclass(frozen=True)
class DecaySummary:
    day: date
    leads: int
    points: int


# Whole days from the lead's decay base to today, on the site's calendar, as the
# Python path's decay.quiet_days_since counts them. The base is clamped to a day
# after the first instant PostgreSQL stores (4714-11-24 BC), whose local time west
# of UTC does not exist; -infinity counts from there too.
_DECAY_DAYS_SQL = (
    "(%(today)s::date - (GREATEST(l.engagement_base_at, '4714-11-25 00:00:00+00 BC'::timestamptz)"
    " AT TIME ZONE %(tz)s)::date)::bigint"
)

# The goals of scoring.decay.target, in bigint and float8 so that no base, floor,
# points per day or date can overflow (a goal lies between the floor and the base,
# so it fits the column again) and the half-life's power never underflows: past
# decay.HALF_LIVES_MAX half-lives it is 0 to the nearest point anyway.
_DECAY_GOAL_SQL = {
    decay.Kind.LINEAR: (
        "GREATEST(%(floor)s::bigint, l.engagement_base::bigint"
        " - %(per_day)s::bigint * GREATEST(0, {days} - %(after)s::bigint))"
    ),
    decay.Kind.HALF_LIFE: (
        "GREATEST(%(floor)s::bigint, %(floor)s::bigint + floor((l.engagement_base::bigint - %(floor)s::bigint)"
        " * power(0.5, LEAST(GREATEST(0, {days} - %(after)s::bigint)::float8, %(half_life_cap)s::float8)"
        " / %(half_life)s::float8) + 0.5)::bigint)"
    ),
    decay.Kind.WINDOW: (
        "GREATEST(%(floor)s::bigint, COALESCE((SELECT sum(e.delta) FROM scoring_scoreentry e WHERE e.lead_id = l.id"
        " AND e.dimension = 'engagement' AND e.cause <> 'decay' AND e.occurred_at >= %(window_start)s::timestamptz),"
        " 0))"
    ),
}


def _decay_goal_sql(kind: decay.Kind) -> str:
    """The goal of a lead ``l`` (engagement_base, engagement_base_at, engagement_score,
    id), raised where needed so that one ledger row can hold the change (decay.DELTA_MIN)."""
    goal = _DECAY_GOAL_SQL[kind].format(days=_DECAY_DAYS_SQL)
    return f"GREATEST({goal}, l.engagement_score::bigint + {decay.DELTA_MIN})"


# One statement per chunk: lower the quiet leads' engagement to the policy's
# goal (and regroup them), write one ledger row per lead moved and a
# transition per change of group. No separate locking pass: the UPDATE
# locks what it changes and skips rows changed since they were read.
_DECAY_SQL = """
WITH goal AS (
    SELECT l.ctid AS tid, l.id, l.engagement_score AS current, l.fit_score, l.score_group_id AS old_group,
           l.engagement_base AS base, l.engagement_base_at AS base_at, {goal} AS goal
    FROM scoring_lead l
    WHERE l.id >= %(low)s AND l.id < %(high)s
      AND l.engagement_score > %(floor)s AND l.engagement_base_at < %(quiet_since)s::timestamptz
      AND l.id <> ALL(%(skip)s::bigint[])
), grouped AS (
    -- scoring.rules.group_for, for scores going down: stay while at or above
    -- the current group's leave_below, else the highest group reached.
    SELECT g.tid, g.id, g.current, g.goal, g.old_group, g.fit_score, g.base, g.base_at, g.fit_score + g.goal AS total,
        CASE WHEN now.id IS NOT NULL AND g.fit_score + g.goal >= COALESCE(now.leave_below, now.min_score)
            THEN now.id
            ELSE (SELECT s.id FROM scoring_scoregroup s WHERE s.min_score <= g.fit_score + g.goal
                  ORDER BY s.min_score DESC LIMIT 1)
        END AS new_group
    FROM goal g LEFT JOIN scoring_scoregroup now ON now.id = g.old_group
    WHERE g.goal < g.current AND g.goal >= %(floor)s
), moved AS (
    UPDATE scoring_lead l SET engagement_score = g.goal, score_group_id = g.new_group
    FROM grouped g
    -- By the row's address: the chunk is read once (a join on id would read it again).
    -- A row changed meanwhile is followed to its new version and re-checked below.
    WHERE l.ctid = g.tid AND l.id = g.id
      -- Optimistic: a lead whose scores moved since they were read (a worker
      -- scored it meanwhile) is re-checked by PostgreSQL against its new row
      -- and skipped; the next run decays it from its new base.
      AND l.engagement_score = g.current AND l.fit_score = g.fit_score
      AND l.engagement_base = g.base AND l.engagement_base_at = g.base_at
      AND l.score_group_id IS NOT DISTINCT FROM g.old_group
    RETURNING l.id, g.goal - g.current AS delta, g.old_group, g.new_group, g.total, g.fit_score + g.current AS before
), crossed AS (
    INSERT INTO scoring_grouptransition (lead_id, kind, from_group_id, to_group_id, direction, previous_total,
                                         total_score, cause, from_stage, to_stage, detail, occurred_at)
    SELECT id, 'score', old_group, new_group, 'down', before, total, 'decay', '', '', '', %(at)s FROM moved
    WHERE old_group IS DISTINCT FROM new_group
       OR EXISTS (SELECT 1 FROM scoring_scorewatch w WHERE w.value > moved.total AND w.value <= moved.before)
)
INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, occurred_at, created_at, note)
SELECT id, 'engagement', delta, 'decay', %(at)s, %(at)s, %(note)s FROM moved
RETURNING delta
"""


def decay_policy_set(*, policy: decay.Policy) -> DecayPolicy:
    """Make ``policy`` the model's decay policy (there is one)."""
    errors = decay.check_policy(policy)
    if errors:
        raise ValueError("; ".join(f"{name}: {message}" for name, message in errors.items()))
    DecayPolicy.objects.all().delete()
    return DecayPolicy.objects.create(
        kind=policy.kind,
        points_per_day=policy.points_per_day,
        after_days=policy.after_days,
        half_life_days=policy.half_life_days,
        window_days=policy.window_days,
        floor=policy.floor,
    )


@dataclass(frozen=True)
class _DecayPass:
    """What every chunk of one decay run needs."""

    policy: decay.Policy
    today: date
    midnight: datetime
    quiet_since: datetime | None  # None: no lead can have been quiet that long
    window_start: datetime | None  # window: the first instant that counts (None: all of them)
    note: str
    skip: tuple[int, ...] = ()  # leads set aside by an earlier run: out of decay's way until retried


def _decay_pass(policy: decay.Policy, today: date, *, skip: Iterable[int] = ()) -> _DecayPass:
    midnight = datetime.combine(today, time.min, tzinfo=timezone.get_current_timezone())
    # Linear and half-life: only leads quiet for more than after_days can
    # move. Window: old points expire even for active leads, so all can.
    window_start = None
    if policy.kind is decay.Kind.WINDOW:
        quiet_since: datetime | None = midnight + timedelta(days=1)
        window_start = decay.days_before(midnight, policy.window_days - 1)
    else:
        quiet_since = decay.days_before(midnight, policy.after_days)
    note = f"{policy.kind.value.replace('_', ' ')} decay to {today.isoformat()}"
    return _DecayPass(policy, today, midnight, quiet_since, window_start, note, tuple(skip))


def _decay_policy() -> decay.Policy:
    """The policy in force, refused whole (nothing decays) when it cannot be used: a
    policy edited past the admin's checks is not a lead's fault to set aside."""
    policy = DecayPolicy.current()
    errors = decay.check_policy(policy)
    if errors:
        raise ValueError("decay policy: " + "; ".join(f"{name}: {message}" for name, message in errors.items()))
    return policy


def leads_decay(*, today: date | None = None, chunk_size: int = 50_000, jobs: int | None = None) -> DecaySummary:
    """Apply the decay policy for ``today`` to every quiet lead, in chunks of ids.

    Idempotent: the goal of each lead is computed from its decay base, so a
    second run the same day moves nothing, and a run after missed nights
    applies exactly the missing days. Set-based SQL on PostgreSQL, where
    ``jobs`` database sessions (``LEADFLOW_DECAY_JOBS``) work on disjoint id
    ranges at once when the caller holds no transaction; on SQLite (the embedded default, one writer) the same
    goals are computed in Python, one chunk at a time. A lead that cannot be
    decayed is set aside (:mod:`scoring.setaside`) and the run goes on.
    """
    today = today or timezone.localdate()
    policy = _decay_policy()
    run = DecayRun.objects.create(day=today)
    deltas: list[int] = []
    bounds = Lead.objects.aggregate(low=Min("id"), high=Max("id"))
    if policy.kind is not decay.Kind.NONE and bounds["high"] is not None:
        work = _decay_pass(policy, today, skip=selectors.set_aside_open_ids(kind=SET_ASIDE_DECAY))
        chunks = [(low, low + chunk_size) for low in range(bounds["low"], bounds["high"] + 1, chunk_size)]
        jobs = max(1, jobs or settings.LEADFLOW_DECAY_JOBS)
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            # One writer on SQLite; and other sessions could not see what a caller's
            # open transaction holds.
            jobs = 1
        if jobs == 1:
            for low, high in chunks:
                deltas += _leads_decay_chunk(work, low, high)
        else:
            # Each session takes every jobs-th chunk: neighbours share no rows, and
            # the sessions' work stays even however the quiet leads are spread.
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for part in pool.map(lambda k: _leads_decay_chunks(work, chunks[k::jobs]), range(jobs)):
                    deltas += part
    run.finished_at, run.leads, run.points = timezone.now(), len(deltas), sum(deltas)
    run.save(update_fields=["finished_at", "leads", "points"])
    return DecaySummary(today, len(deltas), sum(deltas))


def _leads_decay_chunks(work: _DecayPass, chunks: Sequence[tuple[int, int]]) -> list[int]:
    """:func:`_leads_decay_chunk` for each chunk, in a thread's own database session."""
    try:
        return [delta for low, high in chunks for delta in _leads_decay_chunk(work, low, high)]
    finally:
        connection.close()


def _leads_decay_chunk(work: _DecayPass, low: int, high: int) -> list[int]:
    """Decay the leads with ids in [low, high) in one transaction; returns the deltas.
    If that fails, the chunk is decayed again in parts down to the lead, and the
    leads that fail alone are set aside."""

    def isolated() -> list[int]:
        if work.quiet_since is None:
            return []
        ids = list(
            Lead.objects.filter(
                pk__gte=low,
                pk__lt=high,
                engagement_score__gt=work.policy.floor,
                engagement_base_at__lt=work.quiet_since,
            )
            .exclude(pk__in=work.skip)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # Each part is the id range of consecutive candidates: the same statement as a chunk.
        done = setaside.rows_isolate(
            kind=SET_ASIDE_DECAY,
            rows=[(pk, pk) for pk in ids],
            process=lambda part: _leads_decay_range(work, part[0], part[-1] + 1),
        )
        return [delta for deltas in done.results for delta in deltas]

    return setaside.batch_run(kind=SET_ASIDE_DECAY, run=lambda: _leads_decay_range(work, low, high), isolated=isolated)


def _decay_set_based() -> bool:
    """Whether decay runs as one SQL statement per chunk (PostgreSQL) or in Python."""
    return connection.vendor == "postgresql"


def _decay_params(work: _DecayPass, low: int, high: int) -> dict[str, Any]:
    policy = work.policy
    return {
        "low": low,
        "high": high,
        "floor": policy.floor,
        "per_day": policy.points_per_day,
        "after": policy.after_days,
        "half_life": policy.half_life_days or 1.0,
        "half_life_cap": decay.HALF_LIVES_MAX * (policy.half_life_days or 1.0),
        # Days before the year 1: PostgreSQL's -infinity (Python has no such date).
        "window_start": work.window_start or "-infinity",
        "quiet_since": work.quiet_since or "-infinity",
        "skip": list(work.skip),
        "today": work.today,
        "tz": str(timezone.get_current_timezone()),
        "at": timezone.now(),
        "note": work.note,
    }


def _leads_decay_range(work: _DecayPass, low: int, high: int) -> list[int]:
    """Decay the leads with ids in [low, high); call in a transaction. Returns the deltas."""
    if not _decay_set_based():
        return _leads_decay_portable(work, low, high)
    # Each chunk is all or nothing, and decay can be redone (idempotent, and a
    # later run applies what is missing): a chunk need not wait for its WAL to
    # reach the disk. The run's last write is a normal commit, which does
    # wait, for every chunk before it too.
    bulk.pg_execute("SET LOCAL synchronous_commit TO OFF", [])
    sql = _DECAY_SQL.format(goal=_decay_goal_sql(work.policy.kind))
    return [row[0] for row in bulk.pg_execute_named(sql, _decay_params(work, low, high))]


def _leads_decay_portable(work: _DecayPass, low: int, high: int) -> list[int]:
    """:func:`leads_decay` for one chunk, without PostgreSQL: the same goals, in Python."""
    policy = work.policy
    if work.quiet_since is None:
        return []
    ids = (
        Lead.objects.filter(
            pk__gte=low, pk__lt=high, engagement_score__gt=policy.floor, engagement_base_at__lt=work.quiet_since
        )
        .exclude(pk__in=work.skip)
        .values_list("pk", flat=True)
    )
    states = _lead_states_lock(ids)
    recent: dict[int, int] = {}
    if policy.kind is decay.Kind.WINDOW:
        counted = ScoreEntry.objects.filter(lead_id__in=states, dimension=pure.Dimension.ENGAGEMENT)
        if work.window_start is not None:
            counted = counted.filter(occurred_at__gte=work.window_start)
        recent = dict(
            counted.exclude(cause=ScoreEntry.Cause.DECAY)
            .values("lead_id")
            .annotate(points=Sum("delta"))
            .values_list("lead_id", "points")
        )
    entries = []
    at = timezone.now()
    tz = timezone.get_current_timezone()
    for pk, state in states.items():
        if policy.kind is decay.Kind.WINDOW:
            goal = decay.window_target(policy, recent=recent.get(pk, 0))
        else:
            assert state.engagement_base_at is not None
            days = decay.quiet_days_since(state.engagement_base_at, work.today, tz)
            goal = decay.target(policy, base=state.engagement_base, days=days)
        delta = decay.decay_delta(policy, current=state.engagement, goal=goal)
        if delta:
            entries.append(LedgerRow(pk, pure.Dimension.ENGAGEMENT, delta, ScoreEntry.Cause.DECAY, at, note=work.note))
    _entries_apply(states=states, entries=entries)
    return [e.delta for e in entries]


def _decay_retry(ids: list[int]) -> dict[int, str]:
    """Retry leads decay set aside: decayed now, each on its own, to today's goal."""
    policy = _decay_policy()
    if policy.kind is decay.Kind.NONE:
        return {pk: "no decay policy: nothing to do" for pk in ids}
    work = _decay_pass(policy, timezone.localdate())
    outcome: dict[int, str] = {}
    for pk in ids:
        done = setaside.rows_isolate(
            kind=SET_ASIDE_DECAY, rows=[(pk, pk)], process=lambda part: _leads_decay_range(work, part[0], part[-1] + 1)
        )
        if done.results:
            points = sum(done.results[0])
            outcome[pk] = f"decayed by {-points} points" if points else "nothing to decay today"
    return outcome


# --- the model file -----------------------------------------------------------


@dataclass(frozen=True)
class ModelImportSummary:
    groups_created: int
    groups_updated: int
    groups_deleted: int
    rules_created: int
    rules_updated: int
    rules_deactivated: list[str]
    sections: tuple[str, ...] = ()  # what other apps' sections of the file did


@transaction.atomic
def scoring_model_import(*, spec: model_file.ModelSpec, dry_run: bool = False) -> ModelImportSummary:
    """Make the database's model that of ``spec``, all or nothing.

    Groups and rules are matched by key. Groups missing from the file are
    deleted; rules missing from it are deactivated, since the ledger keeps
    their history. Leads' fit scores and groups are brought up to date
    afterwards by :func:`leads_rescore_fit_all` and :func:`leads_regroup`.
    A file without the scoring part (``spec.scoring`` false) leaves it alone.

    Then the other apps' sections in the file (:func:`model_file.register_section`)
    are imported in the same transaction; the problems of every section are
    collected and raised together as :class:`model_file.ModelFileError`, and
    nothing changes. ``dry_run`` does everything, then rolls it back: a check
    of the file against the database.
    """
    summary = _scoring_part_import(spec) if spec.scoring else ModelImportSummary(0, 0, 0, 0, 0, [])
    errors: list[str] = []
    lines: list[str] = []
    for section in model_file.sections():
        if section.name not in spec.sections:
            continue
        try:
            # A savepoint: a section that fails part-way leaves the transaction usable for the next one's checks.
            with transaction.atomic():
                lines.extend(section.import_(spec.sections[section.name]))
        except model_file.ModelFileError as exc:
            errors.extend(exc.errors)
    if errors:
        raise model_file.ModelFileError(errors)
    if dry_run:
        transaction.set_rollback(True)
    return dataclasses.replace(summary, sections=tuple(lines))


def _scoring_part_import(spec: model_file.ModelSpec) -> ModelImportSummary:
    existing_groups = {g.key: g for g in ScoreGroup.objects.select_for_update()}
    wanted_groups = {g.key for g in spec.groups}
    deleted = [g.pk for key, g in existing_groups.items() if key not in wanted_groups]
    try:
        ScoreGroup.objects.filter(pk__in=deleted).delete()
    except ProtectedError as exc:
        # Other apps' rows (a routing rule watching the group…) keep it: say which, by place.
        missing = ", ".join(sorted(key for key in existing_groups if key not in wanted_groups))
        raise model_file.ModelFileError(
            [
                f"score_groups: {missing} not in the file, but {obj._meta.verbose_name} '{obj}' uses it: "
                "keep the group or change that first"
                for obj in exc.protected_objects
            ]
        ) from None
    # Thresholds are unique: park the kept ones out of the way before moving them.
    ScoreGroup.objects.filter(key__in=wanted_groups).update(min_score=-F("id") - 10**9, leave_below=None)
    groups_created = groups_updated = 0
    for group in spec.groups:
        _, created = ScoreGroup.objects.update_or_create(
            key=group.key,
            defaults={
                "name": group.name,
                "min_score": group.min_score,
                "leave_below": group.leave_below,
                "description": group.description,
            },
        )
        groups_created += created
        groups_updated += not created

    existing_rules = {r.key: r for r in ScoringRule.objects.select_for_update()}
    rules_created = rules_updated = 0
    for rule in spec.rules:
        obj, created = ScoringRule.objects.update_or_create(
            key=rule.key,
            defaults={
                "name": rule.name,
                "description": rule.description,
                "dimension": rule.dimension,
                "points": rule.points,
                "match": rule.match,
                "interaction_types": list(rule.interaction_types),
                "cap_count": rule.cap_count,
                "cap_points": rule.cap_points,
                "cap_window_days": rule.cap_window_days,
                "active": rule.active,
                "valid_from": rule.valid_from,
                "valid_until": rule.valid_until,
            },
        )
        rules_created += created
        rules_updated += not created
        obj.conditions.all().delete()
        RuleCondition.objects.bulk_create(
            RuleCondition(rule=obj, position=i, field=c.field, operator=c.operator, value=c.value)
            for i, c in enumerate(rule.conditions)
        )
    decay_policy_set(policy=spec.decay)
    wanted_rules = {r.key for r in spec.rules}
    to_deactivate = sorted(k for k, r in existing_rules.items() if k not in wanted_rules and r.active)
    ScoringRule.objects.filter(key__in=to_deactivate).update(active=False)
    return ModelImportSummary(groups_created, groups_updated, len(deleted), rules_created, rules_updated, to_deactivate)


def scoring_model_export() -> model_file.ModelSpec:
    groups = tuple(
        model_file.GroupSpec(g.key, g.name, g.min_score, g.description, leave_below=g.leave_below)
        for g in ScoreGroup.objects.order_by("min_score")
    )
    rules = []
    for rule in ScoringRule.objects.prefetch_related("conditions").order_by("dimension", "key"):
        rules.append(
            model_file.RuleSpec(
                key=rule.key,
                name=rule.name,
                dimension=rule.dimension,
                points=rule.points,
                description=rule.description,
                match=rule.match,
                conditions=tuple(model_file.ConditionSpec(c.field, c.operator, c.value) for c in rule.conditions.all()),
                interaction_types=tuple(rule.interaction_types or ()),
                cap_count=rule.cap_count,
                cap_points=rule.cap_points,
                cap_window_days=rule.cap_window_days,
                active=rule.active,
                valid_from=rule.valid_from,
                valid_until=rule.valid_until,
            )
        )
    return model_file.ModelSpec(
        groups=groups,
        rules=tuple(rules),
        decay=DecayPolicy.current(),
        sections={section.name: section.export() for section in model_file.sections()},
    )


def leads_regroup(*, chunk_size: int = 5000) -> int:
    """Recompute every lead's score group (after groups changed), keeping
    hysteresis; each change is recorded as a transition. Returns the number
    of leads that changed group."""
    bands = selectors.group_thresholds()
    changed = last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Lead.objects.select_for_update(no_key=True)
                .filter(pk__gt=last_id)
                .order_by("pk")
                .values_list("pk", "total_score", "score_group_id")[:chunk_size]
            )
            if not rows:
                return changed
            crossed = []
            for pk, total, group_id in rows:
                new = pure.group_for(total, bands, current=group_id)
                if new != group_id:
                    crossed.append(Crossing(pk, group_id, new, total, total, "regroup"))
            bulk.values_update(Lead, ["score_group"], [(c.lead_id, c.to_group) for c in crossed])
            _transitions_record(crossed, bands, at=timezone.now())
        changed += len(crossed)
        last_id = rows[-1][0]


_LEAD_ADMIN = "admin:scoring_lead_change"
for _kind in (
    setaside.Kind(
        SET_ASIDE_INTERACTION, "Interaction (scoring)", _interactions_retry, "admin:scoring_interaction_change"
    ),
    setaside.Kind(SET_ASIDE_FIT, "Lead (fit evaluation)", _fit_retry, _LEAD_ADMIN),
    setaside.Kind(SET_ASIDE_RESCORE, "Lead (rescore job)", _rescore_retry, _LEAD_ADMIN),
    setaside.Kind(SET_ASIDE_DECAY, "Lead (decay)", _decay_retry, _LEAD_ADMIN),
):
    setaside.register_kind(_kind)
