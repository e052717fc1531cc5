"""Rescoring leads from their history after the rules changed: the difference per
rule written to the ledger (so twice changes nothing), and rescore jobs that any
number of workers share lane by lane, resumably."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import bulk, selectors, setaside
from scoring import rules as pure
from scoring.models import (
    DecayPolicy,
    Lead,
    RescoreJob,
    RescoreLane,
    ScorecardEntry,
    ScoreEntry,
    ScoreGroup,
)
from scoring.said import Said, said
from scoring.services.background import enqueue
from scoring.services.leads import FitSums, fit_rules_live, fit_sums, leads_rescore_fit_locked
from scoring.services.ledger import LeadState, LedgerRow, entries_apply, leads_fit_locked
from scoring.services.model import leads_regroup_some
from scoring.services.retention import award_rollups, history_horizon

# What a rescore job sets aside (scoring.setaside): a lead that cannot be rescored.
SET_ASIDE_RESCORE = "rescore"


@transaction.atomic
def leads_rescore(*, lead_ids: Iterable[int], at: datetime | None = None) -> int:
    """Score leads again from scratch with the rules in force now: fit from
    their attributes, engagement from every interaction already scored, in the
    order they happened.

    For each (lead, rule, interaction) the ledger gets the difference between
    what the rule gives it now and what it gave it so far (cause: rescore, tied
    to the interaction), so rescoring twice changes nothing, the ledger stays
    the explanation of every score, and caps read the same history after a
    rescore as before one. Decay and manual rows are left as they are, except
    that decay never leaves engagement below the floor: when the rules now give
    less than decay took back to the floor, the decay that would cross it is
    given back (cause: decay). Returns the rows written.

    With retention on, it sees back to the horizon (:func:`history_horizon`): what is
    older is in the opening balance, which it leaves as it is, and its awards still
    count against caps (:func:`award_rollups`).
    """
    at = at or timezone.now()
    horizon = history_horizon(now=at)
    ids = sorted(set(lead_ids))
    leads = leads_fit_locked(ids)
    rules = selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    # The active scorecards' rules too, in the same pass (rule ids are unique across scorecards).
    card_rules, card_of = selectors.scorecard_rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    rules += card_rules
    fit_rules = fit_rules_live()
    fit, so_far = _ledger_sums(ids, fit_cards=set(fit_rules[1].values()), cards=set(card_of.values()), since=horizon)
    # Fit first, under the leads' locks; engagement goes on from the states it leaves.
    written, states = leads_rescore_fit_locked(
        leads=leads, at=at, cause=ScoreEntry.Cause.RESCORE, rules=fit_rules, sums=fit
    )
    facts = _scored_interactions(ids, rules, since=horizon)
    when = {f.id: f.occurred_at for f in facts}
    goal: dict[tuple[int, int, int | None], int] = defaultdict(int)
    # The awards older than the horizon count against caps as they did (retention keeps them).
    for award in pure.score_interactions(rules, facts, award_rollups(lead_ids=ids, rules=rules)):
        goal[(award.lead_id, award.rule_id, award.interaction_id)] += award.points
    entries = [
        LedgerRow(
            lead_id,
            pure.Dimension.ENGAGEMENT,
            delta,
            ScoreEntry.Cause.RESCORE,
            when.get(interaction_id, at) if interaction_id is not None else at,
            rule_id=rule_id,
            interaction_id=interaction_id,
            scorecard_id=card_of.get(rule_id),
        )
        for key in sorted(goal.keys() | so_far.keys(), key=_by_ids)
        if (delta := goal.get(key, 0) - so_far.get(key, 0))
        for lead_id, rule_id, interaction_id in [key]
    ]
    # The floor is the default scorecard's (a scorecard's decay is not given back yet).
    entries += _decay_given_back(states, [e for e in entries if e.scorecard_id is None], at=at)
    entries_apply(states=states, entries=entries)
    return written + len(entries)


# What each rule has given each of a chunk's leads so far, one row per (lead, rule,
# interaction): fit on the default scorecard and the given ones, engagement since a time.
_LEDGER_SUMS_SQL = (
    "SELECT lead_id, dimension, rule_id, interaction_id, NULL::bigint, sum(delta) FROM scoring_scoreentry"
    " WHERE lead_id = ANY(%s::bigint[]) AND rule_id IS NOT NULL AND (dimension = %s OR ({seen}))"
    " GROUP BY lead_id, dimension, rule_id, interaction_id"
    " UNION ALL"
    " SELECT lead_id, dimension, rule_id, interaction_id, scorecard_id, sum(delta) FROM scoring_scorecardentry"
    " WHERE lead_id = ANY(%s::bigint[]) AND rule_id IS NOT NULL"
    " AND (dimension = %s AND scorecard_id = ANY(%s::bigint[]) OR scorecard_id = ANY(%s::bigint[]) AND ({seen}))"
    " GROUP BY lead_id, dimension, rule_id, interaction_id, scorecard_id"
)


def _ledger_sums(
    ids: list[int], *, fit_cards: set[int], cards: set[int], since: datetime | None
) -> tuple[FitSums, dict[tuple[int, int, int | None], int]]:
    """What each rule gave the leads so far: their fit (:func:`fit_sums`), and the engagement
    per (lead, rule, interaction) since ``since`` on the default scorecard and on ``cards``;
    rows without an interaction are rescores of the time when they were written per rule.
    On PostgreSQL both from one statement (the ledger's rows of a chunk read once)."""
    so_far: dict[tuple[int, int, int | None], int] = {}
    if connection.vendor == "postgresql":
        fit = FitSums(defaultdict(dict), {})
        seen = "dimension = %s" if since is None else "dimension = %s AND occurred_at >= %s"
        window: list[object] = [pure.Dimension.ENGAGEMENT] if since is None else [pure.Dimension.ENGAGEMENT, since]
        params = [ids, pure.Dimension.FIT, *window, ids, pure.Dimension.FIT, sorted(fit_cards), sorted(cards), *window]
        for lead_id, dimension, rule_id, interaction_id, card_id, points in bulk.pg_fetch(
            _LEDGER_SUMS_SQL.format(seen=seen), params
        ):
            if dimension == pure.Dimension.FIT:
                fit.by_lead[lead_id][rule_id] = points
                if card_id is not None:
                    fit.card_of[rule_id] = card_id
            else:
                so_far[(lead_id, rule_id, interaction_id)] = points
        return fit, so_far
    recent = Q() if since is None else Q(occurred_at__gte=since)
    ledgers: list[QuerySet[Any, Any]] = [ScoreEntry.objects.filter(recent, lead_id__in=ids)]
    if cards:
        ledgers.append(ScorecardEntry.objects.filter(recent, lead_id__in=ids, scorecard_id__in=cards))
    for ledger in ledgers:
        so_far.update(
            {
                (lead_id, rule_id, interaction_id): points
                for lead_id, rule_id, interaction_id, points in ledger.filter(
                    dimension=pure.Dimension.ENGAGEMENT, rule__isnull=False
                )
                .values("lead_id", "rule_id", "interaction_id")
                .annotate(points=Sum("delta"))
                .order_by()
                .values_list("lead_id", "rule_id", "interaction_id", "points")
            }
        )
    return fit_sums(lead_ids=ids, card_ids=fit_cards), so_far


_SCORED_INTERACTIONS_SQL = (
    "SELECT id, lead_id, type::text, occurred_at, CASE WHEN type = ANY(%s::text[]) THEN properties END"
    " FROM scoring_interaction i WHERE lead_id = ANY(%s::bigint[]) AND NOT set_aside"
    " AND NOT EXISTS (SELECT FROM scoring_waitinginteraction w WHERE w.interaction_id = i.id)"
)


def _scored_interactions(
    ids: list[int], rules: Sequence[pure.Rule], *, since: datetime | None
) -> list[pure.InteractionFacts]:
    """The leads' interactions a worker has scored since ``since`` (the retention horizon;
    None: all). One a worker has not scored yet is left to it (it counts it once).
    Properties are read only for the types a rule's conditions test; on PostgreSQL as
    binary values (no timestamps or JSON parsed from text)."""
    tested = {kind for rule in rules if rule.conditions for kind in rule.interaction_types}
    if connection.vendor == "postgresql":
        if since is None:
            rows = bulk.pg_fetch(_SCORED_INTERACTIONS_SQL, [sorted(tested), ids])
        else:
            rows = bulk.pg_fetch(_SCORED_INTERACTIONS_SQL + " AND occurred_at >= %s", [sorted(tested), ids, since])
    else:
        interactions = selectors.interactions_scored().filter(lead_id__in=ids)
        if since is not None:
            interactions = interactions.filter(occurred_at__gte=since)
        rows = list(interactions.values_list("pk", "lead_id", "type", "occurred_at", "properties"))
    empty: dict[str, object] = {}
    return [
        pure.InteractionFacts(pk, lead_id, kind, occurred_at, (properties or empty) if kind in tested else empty)
        for pk, lead_id, kind, occurred_at, properties in rows
    ]


def _by_ids(key: tuple[int, int, int | None]) -> tuple[int, int, int]:
    lead_id, rule_id, interaction_id = key
    return (lead_id, rule_id, interaction_id or 0)


def _decay_given_back(
    states: Mapping[int, LeadState], entries: Sequence[LedgerRow], *, at: datetime
) -> list[LedgerRow]:
    """Decay rows that keep rescored leads at the floor: decay never takes engagement
    below it, so when a rescore leaves a lead under the floor, the decay that took it
    there is given back — at most what decay took, never more (the rules' own
    negative points may still take a lead below the floor)."""
    floor = DecayPolicy.current().floor
    after: dict[int, int] = {pk: state.engagement for pk, state in states.items()}
    for e in entries:
        after[e.lead_id] += e.delta
    under = [pk for pk, engagement in after.items() if engagement < floor]
    if not under:
        return []
    taken = dict(
        ScoreEntry.objects.filter(lead_id__in=under, dimension=pure.Dimension.ENGAGEMENT, cause=ScoreEntry.Cause.DECAY)
        .values("lead_id")
        .annotate(points=Sum("delta"))
        .order_by()
        .values_list("lead_id", "points")
    )
    return [
        LedgerRow(
            pk,
            pure.Dimension.ENGAGEMENT,
            back,
            ScoreEntry.Cause.DECAY,
            at,
            note="decay given back: a rescore left the lead below the floor",
        )
        for pk in under
        if (back := min(floor - after[pk], -(taken.get(pk) or 0))) > 0
    ]


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
    kind: str = RescoreJob.Kind.RESCORE,
) -> RescoreJob:
    """Create a rescore job (all leads, a group's, or the given ones), its leads split
    by id into lanes; with ``background``, ``LEADFLOW_RESCORE_JOBS`` workers share
    it, else the caller runs :func:`rescore_job_run` (as many at once as it likes).
    ``kind`` regroup: the job regroups the leads instead (see :func:`regroup_job_start`)."""
    job = RescoreJob.objects.create(group=group, lead_ids=lead_ids, kind=kind, created_by_id=user.pk if user else None)
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


def regroup_job_start(*, user: AbstractBaseUser | None = None) -> RescoreJob:
    """Regroup every lead in the background, after the score groups changed: a job
    with the progress, lanes and workers of a rescore job. Saving a group in the admin
    starts one instead of regrouping every lead inside the request."""
    return rescore_job_start(user=user, kind=RescoreJob.Kind.REGROUP)


@transaction.atomic
def score_groups_delete(*, group_ids: Iterable[int], user: AbstractBaseUser | None = None) -> RescoreJob:
    """Delete score groups (one, or the admin's selection alike) and regroup every lead
    in the background. A group a routing rule or sequence still names is protected:
    :class:`django.db.models.ProtectedError`, and nothing is deleted."""
    ScoreGroup.every_scorecard.filter(pk__in=list(group_ids)).delete()
    return regroup_job_start(user=user)


def _rescore_enqueue(job_id: int) -> None:
    for _ in range(max(1, settings.LEADFLOW_RESCORE_JOBS)):
        enqueue("scoring.rescore_job", job_id, fallback=f"run: manage.py scoring_rescore --resume {job_id}")


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


# What a job does to each chunk of its leads; returns what it counts in ``entries``.
_JOB_PROCESS: dict[RescoreJob.Kind, Callable[[list[int]], int]] = {
    RescoreJob.Kind.RESCORE: lambda ids: leads_rescore(lead_ids=ids),
    RescoreJob.Kind.REGROUP: lambda ids: leads_regroup_some(lead_ids=ids),
}


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
    if connection.vendor == "postgresql":
        # A chunk's rows and its lane's cursor commit together, and a job resumes from its
        # cursors: a chunk lost in a crash is done again, so it need not wait for its WAL to
        # reach the disk. The job's last write (marking it done) is a normal commit, which
        # waits for every chunk before it too.
        bulk.pg_execute("SET LOCAL synchronous_commit TO OFF", [])
    process = _JOB_PROCESS[RescoreJob.Kind(job.kind)]
    if isolate:
        done = setaside.rows_isolate(kind=SET_ASIDE_RESCORE, rows=[(pk, pk) for pk in ids], process=process)
        written = sum(done.results)
    else:
        written = process(ids)
    lane.last_lead_id = ids[-1]
    lane.save(update_fields=["last_lead_id"])
    RescoreJob.objects.filter(pk=job.pk).update(done=F("done") + len(ids), entries=F("entries") + written)
    return _RescoreStep.CHUNK


def _rescore_retry(ids: list[int]) -> dict[int, Said]:
    """Retry leads a rescore job set aside: rescored now, each on its own."""
    written: dict[int, Said] = {}
    for pk in ids:
        done = setaside.rows_isolate(
            kind=SET_ASIDE_RESCORE, rows=[(pk, pk)], process=lambda part: leads_rescore(lead_ids=part)
        )
        if done.results:
            written[pk] = said(gettext_noop("rescored ({rows} ledger rows written)"), rows=done.results[0])
    return written


setaside.register_kind(
    setaside.Kind(SET_ASIDE_RESCORE, gettext_noop("Lead (rescore job)"), _rescore_retry, "admin:scoring_lead_change")
)
