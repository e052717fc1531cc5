"""The nightly decay of quiet leads' engagement, by the model's policy
(:mod:`scoring.decay` decides the goals): set-based SQL in chunks of leads on
PostgreSQL, the same goals in Python elsewhere; idempotent per day."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import bulk, decay, selectors, setaside
from scoring import rules as pure
from scoring.models import DecayPolicy, DecayRun, Lead, LeadScore, Scorecard, ScorecardEntry, ScoreEntry
from scoring.said import Said, said
from scoring.services.accounts import accounts_refresh_pending
from scoring.services.ledger import LedgerRow, entries_apply, lead_states_lock, scorecard_states

T = TypeVar("T")

# What decay sets aside (scoring.setaside): a lead that cannot be decayed.
SET_ASIDE_DECAY = "decay"


@dataclass(frozen=True)
class DecaySummary:
    day: date
    # The leads whose score went down, on any scorecard, and the points they lost on all.
    leads: int
    points: int
    # Account ledger rows written bringing the moved leads' accounts in line.
    accounts: int = 0
    # The scores lowered: a lead's score on each scorecard counts once (``leads`` with one scorecard).
    scores: int = 0


# What a decay step lowered: (lead id, delta) for each score, on whichever scorecard.
Lowered = list[tuple[int, int]]


@dataclass
class _Tally:
    """What a run lowered so far, kept small: the leads (a lead counts once whichever of its
    scores went down), the points and the scores, not a row per score."""

    leads: set[int] = field(default_factory=set)
    points: int = 0
    scores: int = 0

    def add(self, lowered: Lowered) -> None:
        self.leads.update(lead for lead, _ in lowered)
        self.points += sum(delta for _, delta in lowered)
        self.scores += len(lowered)

    def merge(self, other: _Tally) -> None:
        self.leads |= other.leads
        self.points += other.points
        self.scores += other.scores


# Whole days from the lead's decay base to today, on the site's calendar, as the
# Python path's decay.quiet_days_since counts them. The base is clamped to a day
# after the first instant PostgreSQL stores (4714-11-24 BC), whose local time west
# of UTC does not exist; -infinity counts from there too.
_DECAY_DAYS_SQL = (
    "(%(today)s::date - (GREATEST({score}.engagement_base_at, '4714-11-25 00:00:00+00 BC'::timestamptz)"
    " AT TIME ZONE %(tz)s)::date)::bigint"
)

# The goals of scoring.decay.target, in bigint and float8 so that no base, floor,
# points per day or date can overflow (a goal lies between the floor and the base,
# so it fits the column again) and the half-life's power never underflows: past
# decay.HALF_LIVES_MAX half-lives it is 0 to the nearest point anyway. ``{score}`` is
# the row of the score (a lead's, or a lead's on a scorecard), the policy's numbers are
# parameters (the default score) or columns (one policy per scorecard), and
# ``{window_points}`` is what the score gained within the window, decay excluded.
_DECAY_GOAL_SQL = {
    decay.Kind.LINEAR: (
        "GREATEST({floor}::bigint, {score}.engagement_base::bigint"
        " - {per_day}::bigint * GREATEST(0, {days} - {after}::bigint))"
    ),
    decay.Kind.HALF_LIFE: (
        "GREATEST({floor}::bigint, {floor}::bigint + floor(({score}.engagement_base::bigint - {floor}::bigint)"
        " * power(0.5, LEAST(GREATEST(0, {days} - {after}::bigint)::float8, {half_life_cap}::float8)"
        " / {half_life}::float8) + 0.5)::bigint)"
    ),
    decay.Kind.WINDOW: "GREATEST({floor}::bigint, COALESCE(({window_points}), 0))",
}

# The default score's policy: parameters of the statement.
_DEFAULT_POLICY_SQL = {
    "score": "l",
    "floor": "%(floor)s",
    "per_day": "%(per_day)s",
    "after": "%(after)s",
    "half_life": "%(half_life)s",
    "half_life_cap": "%(half_life_cap)s",
    "window_points": (
        "SELECT sum(e.delta) FROM scoring_scoreentry e WHERE e.lead_id = l.id AND e.dimension = 'engagement'"
        " AND e.cause <> 'decay' AND e.occurred_at >= %(window_start)s::timestamptz"
    ),
}

# Each scorecard's policy: the columns of its row ``p`` (see _SCORECARDS_DECAY_SQL).
_SCORECARD_POLICY_SQL = {
    "score": "s",
    "floor": "p.floor_points",
    "per_day": "p.per_day",
    "after": "p.after_days",
    "half_life": "p.half_life",
    "half_life_cap": "p.half_life_cap",
    "window_points": (
        "SELECT sum(e.delta) FROM scoring_scorecardentry e WHERE e.lead_id = s.lead_id"
        " AND e.scorecard_id = s.scorecard_id AND e.dimension = 'engagement' AND e.cause <> 'decay'"
        " AND e.occurred_at >= p.window_start"
    ),
}


def _decay_goal_sql(kind: decay.Kind) -> str:
    """The goal of a lead ``l`` (engagement_base, engagement_base_at, engagement_score,
    id), raised where needed so that one ledger row can hold the change (decay.DELTA_MIN)."""
    days = _DECAY_DAYS_SQL.format(score="l")
    goal = _DECAY_GOAL_SQL[kind].format(days=days, **_DEFAULT_POLICY_SQL)
    return f"GREATEST({goal}, l.engagement_score::bigint + {decay.DELTA_MIN})"


def _scorecard_decay_goal_sql() -> str:
    """The goal of a lead's score ``s`` on a scorecard by its policy ``p`` (whichever kind it
    is), raised as :func:`_decay_goal_sql` raises it."""
    days = _DECAY_DAYS_SQL.format(score="s")
    goals = " ".join(
        f"WHEN '{kind.value}' THEN {_DECAY_GOAL_SQL[kind].format(days=days, **_SCORECARD_POLICY_SQL)}"
        for kind in (decay.Kind.LINEAR, decay.Kind.HALF_LIFE, decay.Kind.WINDOW)
    )
    return f"GREATEST(CASE p.kind {goals} END, s.engagement_score::bigint + {decay.DELTA_MIN})"


# One statement per chunk: lower the quiet leads' engagement to the policy's
# goal (and regroup them), write one ledger row per lead moved and a
# transition per group crossed. No separate locking pass: the UPDATE
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
                  AND s.version_id IS NULL AND s.scorecard_id IS NULL
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
    RETURNING l.id, g.goal - g.current AS delta, g.old_group, g.new_group, g.total, g.fit_score + g.current AS before,
              l.account_id
), stale AS (
    -- Their accounts' roll-ups follow, as after any other change of score (the next sweep).
    INSERT INTO scoring_staleaccount (account_id)
    SELECT DISTINCT account_id FROM moved WHERE account_id IS NOT NULL
), passed AS (
    -- scoring.rules.groups_crossed, going down: the old group, each group whose minimum
    -- lies between the old and the new group's (highest first), then the new group.
    -- A step ends just below where the group it leaves is left, never below the new total.
    SELECT m.id, m.before, m.total, 0::bigint AS k, m.old_group AS grp, COALESCE(o.leave_below, o.min_score) - 1 AS edge
    FROM moved m JOIN scoring_scoregroup o ON o.id = m.old_group
    WHERE m.old_group IS DISTINCT FROM m.new_group
    UNION ALL
    SELECT m.id, m.before, m.total, row_number() OVER (PARTITION BY m.id ORDER BY s.min_score DESC, s.id DESC),
           s.id, COALESCE(s.leave_below, s.min_score) - 1
    FROM moved m JOIN scoring_scoregroup o ON o.id = m.old_group
    JOIN scoring_scoregroup s ON s.min_score < o.min_score AND s.id <> o.id
         AND s.version_id IS NULL AND s.scorecard_id IS NULL
    LEFT JOIN scoring_scoregroup n ON n.id = m.new_group
    WHERE m.old_group IS DISTINCT FROM m.new_group AND s.id IS DISTINCT FROM m.new_group
      AND (n.id IS NULL OR s.min_score > n.min_score)
    UNION ALL
    SELECT m.id, m.before, m.total, 2147483647, m.new_group, NULL FROM moved m
    WHERE m.old_group IS DISTINCT FROM m.new_group
), ends AS (
    SELECT id, k, grp AS from_group, LEAD(grp) OVER w AS to_group, before,
        CASE WHEN LEAD(k) OVER w = 2147483647 THEN total
             ELSE GREATEST(total, LEAST(before, MIN(edge) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)))
        END AS step_end
    FROM passed WINDOW w AS (PARTITION BY id ORDER BY k)
), steps AS (
    SELECT id, from_group, to_group, COALESCE(LAG(step_end) OVER (PARTITION BY id ORDER BY k), before) AS previous,
           step_end, k
    FROM ends WHERE k < 2147483647
), crossed AS (
    INSERT INTO scoring_grouptransition (lead_id, kind, from_group_id, to_group_id, direction, previous_total,
                                         total_score, cause, from_stage, to_stage, detail, occurred_at)
    SELECT id, 'score', from_group, to_group, 'down', previous, step_end, 'decay', '', '', '', %(at)s
    FROM (
        SELECT id, k, from_group, to_group, previous, step_end FROM steps
        UNION ALL
        SELECT id, 0, old_group, new_group, before, total FROM moved
        WHERE old_group IS NOT DISTINCT FROM new_group
          AND EXISTS (SELECT 1 FROM scoring_scorewatch w WHERE w.value > moved.total AND w.value <= moved.before)
    ) crossings
    ORDER BY id, k
)
INSERT INTO scoring_scoreentry (lead_id, dimension, delta, cause, occurred_at, created_at, note)
SELECT id, 'engagement', delta, 'decay', %(at)s, %(at)s, %(note)s FROM moved
RETURNING lead_id, delta
"""


# Each scorecard's policy as a row (parallel arrays, one element per scorecard).
_SCORECARD_POLICIES_SQL = """
    SELECT card, kind, floor_points, per_day, after_days, half_life, half_life_cap,
           window_start::timestamptz AS window_start, quiet_since::timestamptz AS quiet_since, note
    FROM unnest(%(cards)s::bigint[], %(kinds)s::text[], %(floors)s::bigint[], %(per_days)s::bigint[],
                %(afters)s::bigint[], %(half_lives)s::float8[], %(half_life_caps)s::float8[],
                %(window_starts)s::text[], %(quiet_sinces)s::text[], %(notes)s::text[])
         AS p(card, kind, floor_points, per_day, after_days, half_life, half_life_cap, window_start, quiet_since, note)
"""

# The leads with a score some scorecard may decay, ids in [low, high), locked in id order
# as every writer of scores locks them.
_SCORECARDS_DECAY_LOCK_SQL = """
WITH p AS ({policies})
SELECT l.id FROM scoring_lead l
WHERE l.id IN (SELECT s.lead_id FROM p JOIN scoring_leadscore s ON s.scorecard_id = p.card
               WHERE s.lead_id >= %(low)s AND s.lead_id < %(high)s
                 AND s.engagement_score > p.floor_points AND s.engagement_base_at < p.quiet_since
                 AND s.lead_id <> ALL(%(skip)s::bigint[]))
ORDER BY l.id FOR NO KEY UPDATE OF l
"""

# The scorecards' decay, one statement per chunk for every scorecard at once, as
# _DECAY_SQL is the default score's: each score's goal by its scorecard's policy
# (one row of ``p`` each), the scores lowered and regrouped among their scorecard's
# groups, a scorecard ledger row per score moved and a transition per group crossed.
# No score watches: those are the default score's. Call holding the row locks of the
# leads in %(ids)s (a worker scoring them reads their LeadScore rows under those locks).
_SCORECARDS_DECAY_SQL = """
WITH p AS ({policies}), goal AS (
    SELECT s.ctid AS tid, s.id, s.lead_id, s.scorecard_id, s.engagement_score AS current, s.fit_score,
           s.score_group_id AS old_group, p.floor_points, p.note, {goal} AS goal
    FROM p JOIN scoring_leadscore s ON s.scorecard_id = p.card
    -- The chunk's range as well as its ids: the planner reads the range from the index,
    -- where tens of thousands of ids alone made it scan the whole table for each chunk.
    WHERE s.lead_id >= %(low)s AND s.lead_id < %(high)s AND s.lead_id = ANY(%(ids)s::bigint[])
      AND s.engagement_score > p.floor_points AND s.engagement_base_at < p.quiet_since
), grouped AS (
    -- scoring.rules.group_for among the scorecard's groups, as in _DECAY_SQL.
    SELECT g.tid, g.id, g.lead_id, g.scorecard_id, g.current, g.goal, g.old_group, g.note,
           g.fit_score + g.goal AS total, g.fit_score + g.current AS before,
        CASE WHEN now.id IS NOT NULL AND g.fit_score + g.goal >= COALESCE(now.leave_below, now.min_score)
            THEN now.id
            ELSE (SELECT x.id FROM scoring_scoregroup x WHERE x.min_score <= g.fit_score + g.goal
                  AND x.version_id IS NULL AND x.scorecard_id = g.scorecard_id
                  ORDER BY x.min_score DESC LIMIT 1)
        END AS new_group
    FROM goal g LEFT JOIN scoring_scoregroup now
         ON now.id = g.old_group AND now.scorecard_id = g.scorecard_id AND now.version_id IS NULL
    WHERE g.goal < g.current AND g.goal >= g.floor_points
), moved AS (
    UPDATE scoring_leadscore s SET engagement_score = g.goal, score_group_id = g.new_group
    FROM grouped g
    WHERE s.ctid = g.tid AND s.id = g.id
    RETURNING s.id, s.lead_id, s.scorecard_id, g.goal - g.current AS delta, g.old_group, g.new_group, g.total,
              g.before, g.note
), passed AS (
    -- scoring.rules.groups_crossed going down, among the scorecard's groups (see _DECAY_SQL).
    SELECT m.id, m.lead_id, m.scorecard_id, m.before, m.total, 0::bigint AS k, m.old_group AS grp,
           COALESCE(o.leave_below, o.min_score) - 1 AS edge
    FROM moved m JOIN scoring_scoregroup o ON o.id = m.old_group
    WHERE m.old_group IS DISTINCT FROM m.new_group
    UNION ALL
    SELECT m.id, m.lead_id, m.scorecard_id, m.before, m.total,
           row_number() OVER (PARTITION BY m.id ORDER BY s.min_score DESC, s.id DESC),
           s.id, COALESCE(s.leave_below, s.min_score) - 1
    FROM moved m JOIN scoring_scoregroup o ON o.id = m.old_group
    JOIN scoring_scoregroup s ON s.min_score < o.min_score AND s.id <> o.id
         AND s.version_id IS NULL AND s.scorecard_id = m.scorecard_id
    LEFT JOIN scoring_scoregroup n ON n.id = m.new_group
    WHERE m.old_group IS DISTINCT FROM m.new_group AND s.id IS DISTINCT FROM m.new_group
      AND (n.id IS NULL OR s.min_score > n.min_score)
    UNION ALL
    SELECT m.id, m.lead_id, m.scorecard_id, m.before, m.total, 2147483647, m.new_group, NULL FROM moved m
    WHERE m.old_group IS DISTINCT FROM m.new_group
), ends AS (
    SELECT id, lead_id, scorecard_id, k, grp AS from_group, LEAD(grp) OVER w AS to_group, before,
        CASE WHEN LEAD(k) OVER w = 2147483647 THEN total
             ELSE GREATEST(total, LEAST(before, MIN(edge) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)))
        END AS step_end
    FROM passed WINDOW w AS (PARTITION BY id ORDER BY k)
), steps AS (
    SELECT lead_id, scorecard_id, from_group, to_group,
           COALESCE(LAG(step_end) OVER (PARTITION BY id ORDER BY k), before) AS previous, step_end, k
    FROM ends WHERE k < 2147483647
), crossed AS (
    INSERT INTO scoring_grouptransition (lead_id, kind, from_group_id, to_group_id, direction, previous_total,
                                         total_score, cause, from_stage, to_stage, detail, occurred_at, scorecard_id)
    SELECT lead_id, 'score', from_group, to_group, 'down', previous, step_end, 'decay', '', '', '', %(at)s,
           scorecard_id
    FROM steps
    ORDER BY scorecard_id, lead_id, k
)
INSERT INTO scoring_scorecardentry (lead_id, scorecard_id, dimension, delta, cause, occurred_at, created_at, note)
SELECT lead_id, scorecard_id, 'engagement', delta, 'decay', %(at)s, %(at)s, note FROM moved
ORDER BY scorecard_id, lead_id
RETURNING lead_id, delta
"""


def decay_policy_set(*, policy: decay.Policy, scorecard: Scorecard | None = None) -> DecayPolicy:
    """Make ``policy`` the decay policy of ``scorecard`` (the default one when None; each has one)."""
    errors = decay.check_policy(policy)
    if errors:
        raise ValueError("; ".join(f"{name}: {message}" for name, message in errors.items()))
    DecayPolicy.every_scorecard.filter(scorecard=scorecard).delete()
    return DecayPolicy.every_scorecard.create(
        scorecard=scorecard,
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
    at: datetime | None = None  # when the run happens (its ledger rows and transitions); None: now


def _decay_pass(
    policy: decay.Policy, today: date, *, skip: Iterable[int] = (), at: datetime | None = None
) -> _DecayPass:
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
    return _DecayPass(policy, today, midnight, quiet_since, window_start, note, tuple(skip), at)


def _decay_policy() -> decay.Policy:
    """The policy in force, refused whole (nothing decays) when it cannot be used: a
    policy edited past the admin's checks is not a lead's fault to set aside."""
    policy = DecayPolicy.current()
    errors = decay.check_policy(policy)
    if errors:
        raise ValueError("decay policy: " + "; ".join(f"{name}: {message}" for name, message in errors.items()))
    return policy


def leads_decay(
    *, today: date | None = None, chunk_size: int = 50_000, jobs: int | None = None, now: datetime | None = None
) -> DecaySummary:
    """Apply the decay policy for ``today`` to every quiet lead, in chunks of ids.
    ``now`` (default: now) is when the run happens: the time of its ledger rows and
    transitions (a history built day by day gives that day's night).

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
    tally = _Tally()
    bounds = Lead.objects.aggregate(low=Min("id"), high=Max("id"))
    jobs = max(1, jobs or settings.LEADFLOW_DECAY_JOBS)
    if policy.kind is not decay.Kind.NONE and bounds["high"] is not None:
        work = _decay_pass(policy, today, skip=selectors.set_aside_open_ids(kind=SET_ASIDE_DECAY), at=now)
        chunks = [(low, low + chunk_size) for low in range(bounds["low"], bounds["high"] + 1, chunk_size)]
        tally.merge(_chunks_run(chunks, lambda low, high: _leads_decay_chunk(work, low, high), jobs=jobs))
    tally.merge(_scorecards_decay(today, chunk_size=chunk_size, jobs=jobs, at=now))
    # The accounts of the leads decay moved (queued by each chunk) brought in line here, in
    # the same sessions, rather than by the next scoring run's sweep: one worker, fresh
    # events waiting behind a night's accounts.
    accounts = sum(_sessions_run(jobs, lambda _k, _n: accounts_refresh_pending(at=now)))
    run.finished_at, run.leads, run.points = now or timezone.now(), len(tally.leads), tally.points
    run.save(update_fields=["finished_at", "leads", "points"])
    return DecaySummary(today, len(tally.leads), tally.points, accounts, tally.scores)


def _leads_decay_chunk(work: _DecayPass, low: int, high: int) -> Lowered:
    """Decay the leads with ids in [low, high) in one transaction; returns what it lowered.
    If that fails, the chunk is decayed again in parts down to the lead, and the
    leads that fail alone are set aside."""

    return _chunk_isolating(
        run=lambda: _leads_decay_range(work, low, high),
        candidates=lambda: list(_leads_quiet(work, low, high)),
        part=lambda part: _leads_decay_range(work, part[0], part[-1] + 1),
    )


def _chunk_isolating(
    *, run: Callable[[], Lowered], candidates: Callable[[], list[int]], part: Callable[[list[int]], Lowered]
) -> Lowered:
    """``run`` a chunk of decay in a transaction of its own; returns what it lowered. If it
    fails, its ``candidates`` (the ids of the leads it would move, in order) are decayed in
    a new transaction in parts (``part``), split down to the lead, and the leads that fail alone
    are set aside (:mod:`scoring.setaside`): out of decay's way on every scorecard until
    retried. The rest of the chunk, and the chunks after it, decay as usual."""

    def isolated() -> Lowered:
        # Each part is the id range of consecutive candidates: the same statement as a chunk.
        done = setaside.rows_isolate(kind=SET_ASIDE_DECAY, rows=[(pk, pk) for pk in candidates()], process=part)
        return [moved for lowered in done.results for moved in lowered]

    return setaside.batch_run(kind=SET_ASIDE_DECAY, run=run, isolated=isolated)


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
        "at": work.at or timezone.now(),
        "note": work.note,
    }


def _leads_decay_range(work: _DecayPass, low: int, high: int) -> Lowered:
    """Decay the leads with ids in [low, high); call in a transaction. Returns what it lowered."""
    if not _decay_set_based():
        return _leads_decay_portable(work, low, high)
    # Each chunk is all or nothing, and decay can be redone (idempotent, and a
    # later run applies what is missing): a chunk need not wait for its WAL to
    # reach the disk. The run's last write is a normal commit, which does
    # wait, for every chunk before it too.
    bulk.pg_execute("SET LOCAL synchronous_commit TO OFF", [])
    sql = _DECAY_SQL.format(goal=_decay_goal_sql(work.policy.kind))
    return [(lead, delta) for lead, delta in bulk.pg_execute_named(sql, _decay_params(work, low, high))]


def _leads_quiet(work: _DecayPass, low: int, high: int) -> QuerySet[Lead, int] | list[int]:
    """The ids, in order, of the leads in [low, high) whose default score has gone quiet
    above the floor (those set aside left out): what its decay moves (none when no lead can
    have been quiet so long). The default score's twin of :func:`_scorecard_quiet`."""
    if work.quiet_since is None:
        return []
    return (
        Lead.objects.filter(
            pk__gte=low, pk__lt=high, engagement_score__gt=work.policy.floor, engagement_base_at__lt=work.quiet_since
        )
        .exclude(pk__in=work.skip)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _leads_decay_portable(work: _DecayPass, low: int, high: int) -> Lowered:
    """:func:`leads_decay` for one chunk, without PostgreSQL: the same goals, in Python."""
    ids = list(_leads_quiet(work, low, high))
    if not ids:
        return []
    states = lead_states_lock(ids)
    recent = _window_points(work, ScoreEntry.objects.filter(lead_id__in=states))
    at = work.at or timezone.now()
    entries = _decay_rows(work, states, recent, at=at)
    entries_apply(states=states, entries=entries, now=at)
    return [(e.lead_id, e.delta) for e in entries]


class _Decaying(Protocol):
    """What decay reads of a score under its lead's lock (a lead's, or a lead's on a scorecard)."""

    @property
    def engagement(self) -> int: ...
    @property
    def engagement_base(self) -> int: ...
    @property
    def engagement_base_at(self) -> datetime | None: ...


def _window_points(work: _DecayPass, rows: QuerySet[Any]) -> dict[int, int]:
    """For a window policy, what each lead's engagement gained in the window (``rows``: its
    ledger rows), decay excluded: the window's goal. Empty for other policies."""
    if work.policy.kind is not decay.Kind.WINDOW:
        return {}
    counted = rows.filter(dimension=pure.Dimension.ENGAGEMENT)
    if work.window_start is not None:
        counted = counted.filter(occurred_at__gte=work.window_start)
    return dict(
        counted.exclude(cause=ScoreEntry.Cause.DECAY)
        .values("lead_id")
        .annotate(points=Sum("delta"))
        .values_list("lead_id", "points")
    )


def _decay_rows(
    work: _DecayPass,
    states: Mapping[int, _Decaying],
    recent: Mapping[int, int],
    *,
    at: datetime,
    scorecard_id: int | None = None,
) -> list[LedgerRow]:
    """The decay ledger rows of these leads' scores (on ``scorecard_id``; None: the default
    one): each brought down to its policy's goal for today."""
    policy = work.policy
    tz = timezone.get_current_timezone()
    entries = []
    for pk, state in states.items():
        if policy.kind is decay.Kind.WINDOW:
            goal = decay.window_target(policy, recent=recent.get(pk, 0))
        else:
            assert state.engagement_base_at is not None
            days = decay.quiet_days_since(state.engagement_base_at, work.today, tz)
            goal = decay.target(policy, base=state.engagement_base, days=days)
        delta = decay.decay_delta(policy, current=state.engagement, goal=goal)
        if delta:
            entries.append(
                LedgerRow(
                    pk,
                    pure.Dimension.ENGAGEMENT,
                    delta,
                    ScoreEntry.Cause.DECAY,
                    at,
                    note=work.note,
                    scorecard_id=scorecard_id,
                )
            )
    return entries


def _scorecard_passes(today: date, *, at: datetime | None) -> list[tuple[int, _DecayPass]]:
    """Each active scorecard's decay pass by its own policy, by scorecard id; those whose
    policy decays nothing today (none, unusable, or no lead can have been quiet so long) left out.
    A lead decay set aside is out of every scorecard's way too, until it is retried: the
    failure may be the lead's, whichever score decays."""
    passes = []
    skip = selectors.set_aside_open_ids(kind=SET_ASIDE_DECAY)
    rows = DecayPolicy.every_scorecard.filter(scorecard__isnull=False, scorecard__active=True).order_by("scorecard_id")
    for row in rows:
        policy, card_id = row.as_pure(), row.scorecard_id
        if card_id is None or policy.kind is decay.Kind.NONE or decay.check_policy(policy):
            continue
        work = _decay_pass(policy, today, skip=skip, at=at)
        if work.quiet_since is not None:
            passes.append((card_id, work))
    return passes


def _scorecards_decay(today: date, *, chunk_size: int, jobs: int, at: datetime | None) -> _Tally:
    """Decay each active scorecard's quiet leads by the scorecard's own policy, as the default
    score is (same goals, same idempotence), a transaction per chunk of leads; returns what
    it lowered. On PostgreSQL every scorecard at once, one statement per chunk of lead ids (in
    ``jobs`` sessions as the default score's); elsewhere in Python, a scorecard at a time."""
    tally = _Tally()
    passes = _scorecard_passes(today, at=at)
    if not passes:
        return tally
    if not _decay_set_based():
        return _scorecards_decay_portable(passes, chunk_size=min(chunk_size, 5000))
    bounds = LeadScore.objects.filter(scorecard_id__in=[card for card, _ in passes]).aggregate(
        low=Min("lead_id"), high=Max("lead_id")
    )
    if bounds["high"] is None:
        return tally
    chunks = [(low, low + chunk_size) for low in range(bounds["low"], bounds["high"] + 1, chunk_size)]
    return _chunks_run(chunks, lambda low, high: _scorecards_decay_chunk(passes, low, high), jobs=jobs)


def _scorecards_decay_chunk(passes: Sequence[tuple[int, _DecayPass]], low: int, high: int) -> Lowered:
    """Decay every scorecard's scores of the leads with ids in [low, high) in one
    transaction, as :func:`_leads_decay_chunk` does the default score's: if that fails, in
    parts down to the lead, the leads that fail alone set aside."""
    return _chunk_isolating(
        run=lambda: _scorecards_decay_leads(passes, low, high),
        candidates=lambda: _scorecards_quiet(passes, low, high),
        part=lambda part: _scorecards_decay_leads(passes, part[0], part[-1] + 1),
    )


def _scorecards_quiet(passes: Sequence[tuple[int, _DecayPass]], low: int, high: int) -> list[int]:
    """The ids, in order, of the leads in [low, high) whose score has gone quiet on any of
    the scorecards of ``passes``."""
    quiet: set[int] = set()
    for card_id, work in passes:
        quiet.update(_scorecard_quiet(card_id, work).filter(lead_id__gte=low, lead_id__lt=high))
    return sorted(quiet)


def _chunks_run(chunks: Sequence[tuple[int, int]], run: Callable[[int, int], Lowered], *, jobs: int) -> _Tally:
    """``run`` each chunk of lead ids, in ``jobs`` sessions (:func:`_sessions_run`), each
    session taking every jobs-th chunk: neighbours share no rows, and the sessions' work
    stays even however the quiet leads are spread. Returns what they lowered, tallied."""

    def session(k: int, n: int) -> _Tally:
        tally = _Tally()
        for low, high in chunks[k::n]:
            tally.add(run(low, high))
        return tally

    total = _Tally()
    for part in _sessions_run(jobs, session):
        total.merge(part)
    return total


def _sessions_run(jobs: int, run: Callable[[int, int], T]) -> list[T]:
    """``run(k, n)`` for k in 0..n-1: n = ``jobs`` sessions at once on PostgreSQL when the
    caller holds no transaction (other sessions could not see what it holds), each in a
    database session of its own, closed afterwards; else n = 1, in the caller's session.
    Returns the results in k's order."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or jobs <= 1:
        return [run(0, 1)]

    def session(k: int) -> T:
        try:
            return run(k, jobs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(session, range(jobs)))


def _scorecards_decay_params(passes: Sequence[tuple[int, _DecayPass]], low: int, high: int) -> dict[str, Any]:
    policies = [work.policy for _, work in passes]
    return {
        "low": low,
        "high": high,
        "cards": [card for card, _ in passes],
        "kinds": [policy.kind.value for policy in policies],
        "floors": [policy.floor for policy in policies],
        "per_days": [policy.points_per_day for policy in policies],
        "afters": [policy.after_days for policy in policies],
        "half_lives": [float(policy.half_life_days or 1.0) for policy in policies],
        "half_life_caps": [decay.HALF_LIVES_MAX * (policy.half_life_days or 1.0) for policy in policies],
        # Days before the year 1: PostgreSQL's -infinity (Python has no such date).
        "window_starts": [work.window_start.isoformat() if work.window_start else "-infinity" for _, work in passes],
        "quiet_sinces": [work.quiet_since.isoformat() if work.quiet_since else "-infinity" for _, work in passes],
        "notes": [work.note for _, work in passes],
        # Every pass skips the same leads (those decay set aside).
        "skip": list(passes[0][1].skip),
        "today": passes[0][1].today,
        "tz": str(timezone.get_current_timezone()),
        "at": passes[0][1].at or timezone.now(),
    }


def _scorecards_decay_range(passes: Sequence[tuple[int, _DecayPass]], low: int, high: int) -> Lowered:
    """Decay every scorecard's scores of the leads with ids in [low, high), in one transaction:
    the leads locked, then one statement. Returns what it lowered."""
    params = _scorecards_decay_params(passes, low, high)
    policies = _SCORECARD_POLICIES_SQL
    # Its callers' transaction or savepoint (a chunk's, a part's): no savepoint of its own.
    with transaction.atomic(savepoint=False):
        # As the default score's chunks: all or nothing, and redone by the next run.
        bulk.pg_execute("SET LOCAL synchronous_commit TO OFF", [])
        locked = bulk.pg_execute_named(_SCORECARDS_DECAY_LOCK_SQL.format(policies=policies), params)
        if not locked:
            return []
        # Read again under the locks (a new snapshot): what moved since is decayed from where it is now.
        params["ids"] = [row[0] for row in locked]
        sql = _SCORECARDS_DECAY_SQL.format(policies=policies, goal=_scorecard_decay_goal_sql())
        return [(lead, delta) for lead, delta in bulk.pg_execute_named(sql, params)]


def _scorecard_quiet(card_id: int, work: _DecayPass) -> QuerySet[LeadScore, int]:
    """The ids, in order, of the leads whose score on this scorecard has gone quiet above
    the floor (those set aside left out): what its decay moves."""
    return (
        LeadScore.objects.filter(
            scorecard_id=card_id,
            engagement_score__gt=work.policy.floor,
            engagement_base_at__lt=work.quiet_since,
        )
        .exclude(lead_id__in=work.skip)
        .order_by("lead_id")
        .values_list("lead_id", flat=True)
    )


def _scorecards_decay_portable(passes: Sequence[tuple[int, _DecayPass]], *, chunk_size: int) -> _Tally:
    """:func:`_scorecards_decay` without PostgreSQL: a scorecard at a time, chunks of its
    quiet leads, the goals in Python. A chunk that fails is decayed in parts down to the
    lead, as the default score's is; a lead set aside on one scorecard is left out of the
    scorecards after it (its retry decays them all)."""
    tally = _Tally()
    for card_id, work in passes:
        last = 0
        while True:
            quiet = _scorecard_quiet(card_id, work).exclude(
                lead_id__in=selectors.set_aside_open(kind=SET_ASIDE_DECAY).values("row_id")
            )
            ids = list(quiet.filter(lead_id__gt=last)[:chunk_size])
            if not ids:
                break
            tally.add(_scorecard_decay_isolating(work, card_id, ids))
            last = ids[-1]
    return tally


def _scorecard_decay_isolating(work: _DecayPass, scorecard_id: int, lead_ids: list[int]) -> Lowered:
    """:func:`_scorecard_decay_chunk` in a transaction of its own, in parts if it fails."""
    return _chunk_isolating(
        run=lambda: _scorecard_decay_chunk(work, scorecard_id, lead_ids),
        candidates=lambda: lead_ids,
        part=lambda part: _scorecard_decay_chunk(work, scorecard_id, part),
    )


def _scorecard_decay_chunk(work: _DecayPass, scorecard_id: int, lead_ids: list[int]) -> Lowered:
    """Decay these leads' scores on one scorecard (call in a transaction); returns what it lowered."""
    policy = work.policy
    locked = lead_states_lock(lead_ids)
    states = {
        lead_id: state for (lead_id, _), state in scorecard_states(lead_ids=locked, scorecard_id=scorecard_id).items()
    }
    # Read again under the lock: skip what moved since the candidates were listed.
    quiet = {
        pk: state
        for pk, state in states.items()
        if state.engagement > policy.floor
        and state.engagement_base_at is not None
        and (work.quiet_since is None or state.engagement_base_at < work.quiet_since)
    }
    rows = ScorecardEntry.objects.filter(bulk.ids_in("lead_id", list(quiet)), scorecard_id=scorecard_id)
    recent = _window_points(work, rows)
    at = work.at or timezone.now()
    entries = _decay_rows(work, quiet, recent, at=at, scorecard_id=scorecard_id)
    entries_apply(states=locked, entries=entries, now=at)
    return [(e.lead_id, e.delta) for e in entries]


def _scorecards_decay_leads(passes: Sequence[tuple[int, _DecayPass]], low: int, high: int) -> Lowered:
    """Decay every scorecard's scores of the leads with ids in [low, high) (call in a
    transaction), by the set-based statement on PostgreSQL, else in Python; returns what it lowered."""
    if _decay_set_based():
        return _scorecards_decay_range(passes, low, high)
    deltas: Lowered = []
    for card_id, work in passes:
        ids = list(_scorecard_quiet(card_id, work).filter(lead_id__gte=low, lead_id__lt=high))
        if ids:
            deltas += _scorecard_decay_chunk(work, card_id, ids)
    return deltas


def _decay_retry(ids: list[int]) -> dict[int, Said]:
    """Retry leads decay set aside: decayed now, each on its own, to today's goal, on the
    default scorecard and on every other one (whose decay skipped them too)."""
    policy = _decay_policy()
    today = timezone.localdate()
    work = _decay_pass(policy, today) if policy.kind is not decay.Kind.NONE else None
    # The retried rows are resolved already: these passes skip only the leads still set aside.
    passes = _scorecard_passes(today, at=None)
    if work is None and not passes:
        return dict.fromkeys(ids, said(gettext_noop("no decay policy: nothing to do")))

    def process(part: list[int]) -> tuple[Lowered, Lowered]:
        low, high = part[0], part[-1] + 1
        own = _leads_decay_range(work, low, high) if work is not None else []
        return own, (_scorecards_decay_leads(passes, low, high) if passes else [])

    outcome: dict[int, Said] = {}
    for pk in ids:
        done = setaside.rows_isolate(kind=SET_ASIDE_DECAY, rows=[(pk, pk)], process=process)
        if done.results:
            own, on_cards = done.results[0]
            result = (
                said(gettext_noop("decayed by {points} points"), points=-sum(d for _, d in own))
                if own
                else said(gettext_noop("nothing to decay today"))
            )
            if on_cards:
                result = said(
                    gettext_noop("{result}; on its other scorecards by {points} points"),
                    result=result,
                    points=-sum(d for _, d in on_cards),
                )
            outcome[pk] = result
    return outcome


setaside.register_kind(
    setaside.Kind(SET_ASIDE_DECAY, gettext_noop("Lead (decay)"), _decay_retry, "admin:scoring_lead_change")
)
