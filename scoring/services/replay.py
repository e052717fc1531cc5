"""Replaying a model version over the last N days beside the live model, in the
background: started, run (cancellable, with its progress kept) and cancelled here;
the scoring itself is :mod:`scoring.replay`'s. A replay reads and never writes a
score, a ledger row, a transition or anything routing acts on: its only row is the
run, with its result."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext

from scoring import bulk, model_file, outcomes, sentences
from scoring import replay as pure_replay
from scoring import rules as pure
from scoring.collector import collector_paused
from scoring.models import Interaction, Lead, ModelVersion, ReplayRun
from scoring.models.versions import REPLAY_DAYS_MAX
from scoring.services import versions
from scoring.services.background import enqueue
from scoring.services.retention import history_horizon

# Leads scored (under both models) between two looks at the cancel flag and two saves of the progress.
REPLAY_CHUNK = 5000
# Fewer leads than this per process are replayed in one process (starting more costs more).
REPLAY_PROCESS_MIN = 20_000

# The type each lead column a fit rule may read is sent as (binary results).
_LEAD_COLUMN_TYPES = {
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "title": "text",
    "department": "text",
    "company": "text",
    "industry": "text",
    "company_size": "int8",
    "annual_revenue": "float8",
    "country": "text",
    "city": "text",
    "lifecycle_stage": "text",
    "attributes": "jsonb",
}


def _version_spec(version: ModelVersion) -> dict[str, Any]:
    """The version as model-file data: a draft's from its rows, the live one's, an earlier
    one's as it was frozen."""
    return versions.version_spec(version)


def _live_spec() -> dict[str, Any]:
    return versions.live_spec()


def _scoring_part(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in ("leadflow_model", "score_groups", "rules", "decay", "scorecards") if key in data}


@dataclass(frozen=True)
class ReplayFound:
    """A version's latest finished replay, as the publish page tells it."""

    run: ReplayRun
    leads: int  # leads replayed
    moved: int  # of those, the leads the version would put in another group than the live model
    current: bool  # the version and the live model are still as the replay froze them


def replay_latest(*, version: ModelVersion) -> ReplayFound | None:
    """The latest replay of ``version`` that ran to its end, if any; two queries and the
    models' rows (to tell whether either changed since)."""
    run = (
        ReplayRun.objects.filter(version=version, status=ReplayRun.Status.DONE).order_by("-finished_at", "-pk").first()
    )
    if run is None or not run.result:
        return None
    current = run.draft_spec == _scoring_part(_version_spec(version)) and run.live_spec == _scoring_part(_live_spec())
    return ReplayFound(run, int(run.result.get("leads", 0)), int(run.result.get("moved", 0)), current)


def replay_running(*, version: ModelVersion) -> ReplayRun | None:
    """The newest replay of ``version`` queued or running, if any (the publish page points
    to it rather than saying there is none)."""
    statuses = (ReplayRun.Status.QUEUED, ReplayRun.Status.RUNNING)
    return ReplayRun.objects.filter(version=version, status__in=statuses).order_by("-pk").first()


def replay_check(*, version: ModelVersion, days: object) -> dict[str, str]:
    """What stops a replay of ``version`` over ``days`` days, by field ("days",
    "version"); empty when it can start."""
    errors: dict[str, str] = {}
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= REPLAY_DAYS_MAX:
        errors["days"] = gettext("Give a whole number of days from 1 to {maximum}, not {days}.").format(
            maximum=REPLAY_DAYS_MAX, days=repr(days)
        )
    elif (horizon := history_horizon()) is not None and timezone.now() - timedelta(days=days) < horizon:
        # Older interactions are only counted by month (retention): a replay cannot see them.
        errors["days"] = gettext("Retention keeps the history since {date} only: give at most {days} days.").format(
            date=horizon.date().isoformat(), days=(timezone.now() - horizon).days
        )
    refusals = (
        (gettext("This version cannot be replayed: {errors}"), _version_spec(version)),
        (gettext("The live model cannot be replayed: {errors}"), _live_spec()),
    )
    for refusal, spec in refusals:
        try:
            pure_replay.spec_load(_scoring_part(spec))
        except model_file.ModelFileError as exc:
            errors["version"] = refusal.format(errors="; ".join(sentences.problems(exc.errors)))
            break
    return errors


def replay_start(
    *, version: ModelVersion, days: int = 90, user: AbstractBaseUser | None = None, background: bool = True
) -> ReplayRun:
    """Queue a replay of ``version`` over the last ``days`` days beside the live model.

    Both models and the window's end are frozen now, so the run gives the same result
    whenever (and however often) it runs. Raises ValueError ("field: reason", see
    :func:`replay_check`). With ``background`` a worker runs it (``scoring.replay_run``),
    else the caller calls :func:`replay_run`."""
    errors = replay_check(version=version, days=days)
    if errors:
        raise ValueError("; ".join(f"{name}: {message}" for name, message in errors.items()))
    run = ReplayRun.objects.create(
        version=version,
        days=days,
        window_end=timezone.now(),
        live_spec=_scoring_part(_live_spec()),
        draft_spec=_scoring_part(_version_spec(version)),
        created_by_id=user.pk if user is not None else None,
    )
    if background:
        transaction.on_commit(
            lambda: enqueue("scoring.replay_run", run.pk, fallback=f"run: manage.py scoring_replay --run {run.pk}")
        )
    return run


def replay_cancel(*, run_id: int) -> ReplayRun:
    """Ask a replay to stop: a queued one is cancelled at once, a running one at its next chunk."""
    ReplayRun.objects.filter(pk=run_id).exclude(status__in=_FINISHED).update(cancel_requested=True)
    ReplayRun.objects.filter(pk=run_id, status=ReplayRun.Status.QUEUED).update(
        status=ReplayRun.Status.CANCELLED, finished_at=timezone.now()
    )
    return ReplayRun.objects.get(pk=run_id)


_FINISHED = (ReplayRun.Status.DONE, ReplayRun.Status.CANCELLED)


class _Cancelled(Exception):
    pass


def replay_run(*, run_id: int, chunk_size: int = REPLAY_CHUNK) -> ReplayRun:
    """Run a replay (the task ``scoring.replay_run``): every lead, ``chunk_size`` at a
    time in id order, scored under the run's two models from its window's interactions;
    the progress saved and the cancel flag read after each chunk; the result saved at
    the end. A finished or cancelled run is left as it is; a run that stopped half-way
    (a worker lost) runs again from the start. Nothing else is written."""
    run = ReplayRun.objects.get(pk=run_id)
    if run.status in _FINISHED:
        return run
    ReplayRun.objects.filter(pk=run_id).exclude(status__in=_FINISHED).update(
        status=ReplayRun.Status.RUNNING, started_at=timezone.now(), progress=0, error="", error_said=None
    )
    try:
        result = _replay(run, chunk_size=chunk_size)
    except _Cancelled:
        ReplayRun.objects.filter(pk=run_id).update(status=ReplayRun.Status.CANCELLED, finished_at=timezone.now())
    except model_file.ModelFileError as exc:
        # Kept as a sentence too, so its page says it in the reader's language.
        ReplayRun.objects.filter(pk=run_id).update(
            status=ReplayRun.Status.FAILED,
            error="; ".join(exc.errors)[:2000],
            error_said=sentences.problems_said(exc.errors).stored(),
            finished_at=timezone.now(),
        )
    except Exception as exc:
        ReplayRun.objects.filter(pk=run_id).update(
            status=ReplayRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    else:
        ReplayRun.objects.filter(pk=run_id).exclude(status=ReplayRun.Status.CANCELLED).update(
            status=ReplayRun.Status.DONE, result=result, progress=100, finished_at=timezone.now()
        )
    return ReplayRun.objects.get(pk=run_id)


def _replay(run: ReplayRun, *, chunk_size: int) -> dict[str, Any]:
    assert run.window_end is not None
    live, draft, scorecards = _models(run)
    start = run.window_end - timedelta(days=run.days)
    total = Lead.objects.count()
    ranges = _lead_ranges(_processes(), total)
    if len(ranges) == 1:
        comparison = _replay_range(run.pk, ranges[0], chunk_size=chunk_size, total=total)
    else:
        # Each process reads and scores its own range of leads on its own connection (this
        # one takes the first range); a comparison is made of sums, so theirs merge into the
        # one a single process makes.
        connections.close_all()  # not shared with the children: each opens its own
        with ProcessPoolExecutor(len(ranges) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = [pool.submit(_replay_part, run.pk, bounds, chunk_size, total) for bounds in ranges[1:]]
            comparison = _replay_range(run.pk, ranges[0], chunk_size=chunk_size, total=total)
            for part in parts:
                comparison.merge(part.result())
    result = pure_replay.comparison_result(comparison, live, draft, scorecards)
    result["window"] = {"start": start.isoformat(), "end": run.window_end.isoformat(), "days": run.days}
    return result


def _models(
    run: ReplayRun,
) -> tuple[pure_replay.Model, pure_replay.Model, tuple[pure_replay.ScorecardPair, ...]]:
    """The run's default scorecard under the live model and the replayed one, and its other
    scorecards as pairs (a run queued before scorecards were replayed has none)."""
    assert run.live_spec is not None
    assert run.draft_spec is not None
    live_spec, draft_spec = pure_replay.spec_load(run.live_spec), pure_replay.spec_load(run.draft_spec)
    live, draft = pure_replay.models_build(live_spec, draft_spec)
    return live, draft, pure_replay.scorecards_build(live_spec, draft_spec)


def _processes() -> int:
    """Processes to replay with: ``LEADFLOW_REPLAY_PROCESSES`` on PostgreSQL; one on SQLite
    (an in-memory database is the process's own), and one inside a transaction, whose rows
    other sessions cannot see."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, settings.LEADFLOW_REPLAY_PROCESSES)


def _lead_ranges(processes: int, total: int) -> list[tuple[int, int | None]]:
    """The leads split by id into ``processes`` ranges of about as many leads each:
    (after this id, up to this id; None: to the end)."""
    count = max(1, min(processes, total // REPLAY_PROCESS_MIN))
    if count == 1:
        return [(0, None)]
    edges = [Lead.objects.order_by("pk").values_list("pk", flat=True)[total * k // count - 1] for k in range(1, count)]
    return list(zip([0, *edges], [*edges, None], strict=True))


def _replay_part(run_id: int, bounds: tuple[int, int | None], chunk_size: int, total: int) -> pure_replay.Comparison:
    """:func:`_replay_range` in a process of its own (forked): its own connection, closed after."""
    try:
        return _replay_range(run_id, bounds, chunk_size=chunk_size, total=total)
    finally:
        connections.close_all()


def _replay_range(
    run_id: int, bounds: tuple[int, int | None], *, chunk_size: int, total: int
) -> pure_replay.Comparison:
    """The leads after ``bounds[0]`` up to ``bounds[1]`` scored under the run's two models,
    chunk by chunk; after each chunk the cancel flag is read and the progress moved on by
    this range's share."""
    run = ReplayRun.objects.get(pk=run_id)
    assert run.window_end is not None
    live, draft, scorecards = _models(run)
    models = [live, draft, *pure_replay.pair_models(scorecards)]
    clock = pure_replay.Clock(end=run.window_end, tz=timezone.get_current_timezone())
    start = run.window_end - timedelta(days=run.days)
    columns = ["email", *sorted(pure_replay.fit_fields(models) - {"email"})]
    properties = sorted(pure_replay.types_with_conditions(models))
    closed = outcomes.closed_outcomes()
    comparison = pure_replay.Comparison()
    done = 0
    after, upto = bounds
    for leads in _lead_chunks(columns, chunk_size, after=after, upto=upto):
        with collector_paused():
            facts = _interactions(leads[0].id, leads[-1].id, start, run.window_end, properties=properties)
            comparison.merge(pure_replay.compare(live, draft, leads, facts, closed, clock, scorecards))
        if ReplayRun.objects.filter(pk=run_id, cancel_requested=True).exists():
            raise _Cancelled
        # This range's share of the percentage: the ranges' shares add up to at most the whole's.
        step = 100 * (done + len(leads)) // max(total, 1) - 100 * done // max(total, 1)
        done += len(leads)
        if step:
            ReplayRun.objects.filter(pk=run_id, status=ReplayRun.Status.RUNNING).update(
                progress=Least(F("progress") + step, 99)
            )
    return comparison


# --- reading ---------------------------------------------------------------------------


def _lead_chunks(
    columns: Sequence[str], size: int, *, after: int = 0, upto: int | None = None
) -> Iterator[list[pure_replay.LeadFacts]]:
    """The leads after id ``after`` up to ``upto`` (None: every one), ``size`` at a time
    in id order, with the fields the fit rules read."""
    while True:
        rows = _lead_rows(columns, after, size, upto)
        if not rows:
            return
        yield [_lead_facts(columns, row) for row in rows]
        after = rows[-1][0]


def _lead_facts(columns: Sequence[str], row: Sequence[Any]) -> pure_replay.LeadFacts:
    fields = dict(zip(columns, row[1:], strict=True))
    attributes = fields.pop("attributes", None) or {}
    if fields.get("annual_revenue") is not None:
        fields["annual_revenue"] = float(fields["annual_revenue"])  # as Lead.rule_values reads it
    return pure_replay.LeadFacts(row[0], fields.get("email") or "", pure.lead_values(fields, attributes))


def _lead_rows(columns: Sequence[str], after: int, size: int, upto: int | None) -> list[tuple[Any, ...]]:
    last = upto if upto is not None else _NO_END
    if connection.vendor != "postgresql":
        leads = Lead.objects.filter(pk__gt=after, pk__lte=last)
        return list(leads.order_by("pk").values_list("pk", *columns)[:size])
    select = ", ".join(f"{name}::{_LEAD_COLUMN_TYPES[name]}" for name in columns)
    sql = f"SELECT id, {select} FROM scoring_lead WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"  # noqa: S608 (known columns)
    return bulk.pg_fetch(sql, [after, last, size])


_NO_END = 2**63 - 1  # above every id (bigint)


_INTERACTIONS_SQL = (
    "SELECT id, lead_id, type::text, occurred_at, CASE WHEN type = ANY(%s::text[]) THEN properties END"
    " FROM scoring_interaction"
    " WHERE lead_id >= %s AND lead_id <= %s AND occurred_at >= %s AND occurred_at < %s AND NOT set_aside"
    " ORDER BY lead_id, occurred_at, id"
)


def _interactions(
    first: int, last: int, start: datetime, end: datetime, *, properties: Sequence[str]
) -> list[pure.InteractionFacts]:
    """The interactions of leads ``first`` to ``last`` in [start, end), in time order per
    lead; those set aside are left out, as scoring leaves them. Properties are read only
    for the types in ``properties`` (those a rule's conditions test)."""
    if connection.vendor != "postgresql":
        rows = list(
            Interaction.objects.filter(
                lead_id__gte=first, lead_id__lte=last, occurred_at__gte=start, occurred_at__lt=end, set_aside=False
            )
            .order_by("lead_id", "occurred_at", "pk")
            .values_list("pk", "lead_id", "type", "occurred_at", "properties")
        )
    else:
        rows = bulk.pg_fetch(_INTERACTIONS_SQL, [list(properties), first, last, start, end])
    empty: dict[str, object] = {}
    read = frozenset(properties)
    return [
        pure.InteractionFacts(pk, lead_id, kind, at, (extra or empty) if kind in read else empty)
        for pk, lead_id, kind, at, extra in rows
    ]
