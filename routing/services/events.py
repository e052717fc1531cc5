"""Acting on lead events: the outbox that scoring (and sales) write, consumed here.

Workers claim a batch of unprocessed events (``SKIP LOCKED``), find the rules
each fires (pure: :mod:`routing.triggers`), claim every (event, action) pair
with one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` into
:class:`ActionRun`, and then run each action once for all the leads it
claimed, as bulk statements. A re-run after a crash finds the pairs already
claimed and repeats nothing.

Per lead, actions run in rule order then action order. A batch holding two
events of the same lead runs them in waves (each lead's first event, then its
second…), so that order holds across events too, and each wave reads the lead
again: a rule's conditions see what the lead's earlier events did.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_noop

from routing import triggers
from routing.models import ActionRun, RoutingAction, RoutingRule
from routing.services.actions import ACTIONS, LEAD_WRITING, Claimed, Ran
from scoring import bulk, selectors, setaside
from scoring import services as scoring
from scoring.models import AccountTransition, GroupTransition
from scoring.said import Said, said
from scoring.services import predictive

# What the routing batch sets aside (scoring.setaside): a lead event its rules cannot be run for.
SET_ASIDE_EVENT = "transition"


EVENT_FIELDS = (
    "id",
    "lead_id",
    "kind",
    "from_group_id",
    "to_group_id",
    "previous_total",
    "total_score",
    "from_stage",
    "to_stage",
    "cause",
    "detail",
    "occurred_at",
    "watch_percent",
    "direction",
    "account_transition_id",
    "scorecard_id",
)


@dataclass(frozen=True)
class LoadedRule:
    rule: RoutingRule
    trigger: triggers.RuleTrigger
    actions: tuple[RoutingAction, ...]


def rules_load() -> list[LoadedRule]:
    """Active rules with their conditions and actions, in order (three queries)."""
    rules = RoutingRule.objects.filter(active=True).prefetch_related("conditions", "actions__sequence", "actions__team")
    return [
        LoadedRule(
            rule,
            triggers.RuleTrigger(
                triggers.Trigger(rule.trigger),
                group=rule.group_id,
                threshold=rule.threshold,
                stage=rule.stage,
                percent=rule.probability,
                account_group=rule.account_group_id,
                conditions=rule.conditions_pure(),
            ),
            tuple(rule.actions.all()),
        )
        for rule in rules
    ]


def score_watches_sync() -> None:
    """Tell scoring which totals the active rules watch (call after rules change)."""
    loaded = [r.trigger for r in rules_load()]
    scoring.score_watches_set(values=triggers.watched_scores(loaded))
    predictive.probability_watches_set(percents=triggers.watched_probabilities(loaded))


def _event_of(row: Mapping[str, Any]) -> triggers.Event:
    return triggers.Event(
        kind=triggers.EventKind(row["kind"]),
        from_group=row["from_group_id"],
        to_group=row["to_group_id"],
        previous_total=row["previous_total"],
        total=row["total_score"],
        from_stage=row["from_stage"],
        to_stage=row["to_stage"],
        watch_percent=row["watch_percent"],
        rose=row["direction"] == GroupTransition.Direction.UP,
        from_account_group=row.get("from_account_group"),
        to_account_group=row.get("to_account_group"),
        scorecard=row.get("scorecard_id"),
    )


def _with_accounts(rows: list[dict[str, Any]]) -> None:
    """Add to each account event the account and the account groups of its move (one
    query, for the batch's account events only)."""
    ids = {row["account_transition_id"] for row in rows if row["account_transition_id"] is not None}
    if not ids:
        return
    moves = {
        pk: (account, from_group, to_group)
        for pk, account, from_group, to_group in AccountTransition.objects.filter(pk__in=ids).values_list(
            "pk", "account_id", "from_group_id", "to_group_id"
        )
    }
    for row in rows:
        move = moves.get(row["account_transition_id"])
        if move is not None:
            row["account_id"], row["from_account_group"], row["to_account_group"] = move


def transitions_route(*, batch_size: int = 1000, now: datetime | None = None) -> int:
    """Run the routing rules for unprocessed lead events, oldest first, until none
    is left. Returns how many events were processed. Safe to run twice, and in
    several workers at once. An event the rules cannot be run for is set aside
    (:mod:`scoring.setaside`) and the others go on."""
    rules = rules_load()
    done = 0
    while True:
        taken = _transitions_route_batch(rules, batch_size=batch_size, now=now)
        done += taken
        # Actions may record new events (a change of stage): drain those too.
        if not taken:
            return done


def _transitions_route_batch(rules: list[LoadedRule], *, batch_size: int, now: datetime | None) -> int:
    """One batch: claimed, acted on and marked processed in one transaction; if that
    fails, again in parts, setting aside the events that fail alone. Returns how many
    events it took."""

    def run() -> int:
        # The events stay locked until this batch commits: no other worker acts on them.
        rows = list(
            GroupTransition.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True)
            .order_by("id")
            .values(*EVENT_FIELDS)[:batch_size]
        )
        if rows:
            _route_batch(rows, rules, now or timezone.now())
            _events_processed([r["id"] for r in rows], now or timezone.now())
        return len(rows)

    def isolated() -> int:
        claimed = list(
            GroupTransition.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True)
            .order_by("id")
            .values_list("id", "lead_id")[:batch_size]
        )
        _events_isolate(claimed, rules, now)
        return len(claimed)

    return setaside.batch_run(kind=SET_ASIDE_EVENT, run=run, isolated=isolated)


def _events_isolate(claimed: Sequence[tuple[int, int]], rules: list[LoadedRule], now: datetime | None) -> list[int]:
    """Route these locked events in parts (in id order, so each lead's order holds);
    set aside those that fail alone. Returns the ids set aside."""

    def route(ids: list[int]) -> None:
        rows = list(GroupTransition.objects.filter(pk__in=ids).order_by("id").values(*EVENT_FIELDS))
        _route_batch(rows, rules, now or timezone.now())
        _events_processed(ids, now or timezone.now())

    def leave(ids: list[int]) -> None:
        # Out of the outbox (processed, though nothing was done: Set-aside rows says why) until retried.
        _events_processed(ids, now or timezone.now())

    return setaside.rows_isolate(kind=SET_ASIDE_EVENT, rows=claimed, process=route, leave=leave).set_aside


ROUTED = said(gettext_noop("routed"))
BUSY = said(gettext_noop("left to the next routing run (busy)"))


def _events_retry(ids: list[int]) -> dict[int, Said]:
    """Retry set-aside lead events: back in the outbox, and routed now."""
    scoring.lead_events_processed(ids=ids, at=None)
    claimed = list(
        GroupTransition.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, processed_at__isnull=True)
        .order_by("id")
        .values_list("id", "lead_id")
    )
    _events_isolate(claimed, rules_load(), None)
    taken = {pk for pk, _ in claimed}
    return {pk: ROUTED if pk in taken else BUSY for pk in ids}


def _events_processed(ids: list[int], at: datetime) -> None:
    scoring.lead_events_processed(ids=ids, at=at)


def _route_batch(rows: list[dict[str, Any]], rules: list[LoadedRule], now: datetime) -> None:
    if not rules:
        return
    _with_accounts(rows)
    conditional = any(r.trigger.conditions for r in rules)
    waves: list[list[dict[str, Any]]] = []
    seen: dict[int, int] = defaultdict(int)
    for row in rows:
        wave = seen[row["lead_id"]]
        seen[row["lead_id"]] += 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(row)
    # Lock the leads the actions may change, in id order as scoring's workers do,
    # so that a scoring batch and a routing batch never wait on each other in a circle.
    # Only those (a row lock is written to the table like a change), found before any
    # wave runs, and whatever the rules' conditions will say of the lead then.
    writing = [r for r in rules if any(a.kind in LEAD_WRITING for a in r.actions)]
    scoring.leads_lock(
        lead_ids={row["lead_id"] for row in rows if any(triggers.fires(r.trigger, _event_of(row)) for r in writing)}
    )
    for wave_rows in waves:
        # Each event is judged against the lead as it is at that event: read after the
        # waves before it acted (a stage set by its first event, a tag…).
        values = selectors.leads_rule_values(lead_ids={r["lead_id"] for r in wave_rows}) if conditional else {}
        pairs: list[tuple[dict[str, Any], RoutingAction]] = []
        for row in wave_rows:
            event = _event_of(row)
            for loaded in rules:
                if triggers.applies(loaded.trigger, event, values.get(row["lead_id"], {})):
                    pairs.extend((row, action) for action in loaded.actions)
        claimed = _claim(pairs)
        by_action: dict[int, list[Claimed]] = defaultdict(list)
        for claim, action in claimed:
            by_action[action.pk].append(claim)
        actions = {action.pk: action for _, action in claimed}
        ordered = sorted(actions.values(), key=lambda a: (a.rule.position, a.rule_id, a.position, a.pk))
        outcomes: dict[int, Ran] = {}
        for action in ordered:
            outcomes.update(ACTIONS[action.kind](action, by_action[action.pk], now))
        _runs_record(claimed, outcomes)


def _claim(pairs: Sequence[tuple[dict[str, Any], RoutingAction]]) -> list[tuple[Claimed, RoutingAction]]:
    """The (event, action) pairs not done yet, each with the id its ActionRun gets.

    The batch holds its events' row locks, so nobody else runs these pairs now;
    pairs done by an earlier run (an event made unprocessed again) are left out.
    On PostgreSQL the ids come from the table's sequence and the runs are
    inserted with their outcomes once the actions are done (one write per run;
    rows that refer to a run, such as a webhook delivery, may come first since
    Django's foreign keys are checked at commit). On SQLite the runs are
    inserted first and their outcomes written after.
    """
    if not pairs:
        return []
    actions = {a.pk: a for _, a in pairs}
    rows = {(row["id"], action.pk): row for row, action in pairs}
    keys = list(rows)
    if connection.vendor == "postgresql":
        done = set(
            bulk.pg_execute(
                # LATERAL: one index probe per event. "transition_id = ANY(…)" lets the planner
                # choose to scan the whole table, which it does once the table is large.
                "SELECT r.transition_id, r.action_id FROM unnest(%s::bigint[]) AS u(t)"
                " CROSS JOIN LATERAL (SELECT transition_id, action_id FROM routing_actionrun"
                " WHERE transition_id = u.t) AS r",
                [list({k[0] for k in keys})],
            )
        )
        todo = [k for k in keys if k not in done]
        run_ids = bulk.pg_execute(
            "SELECT nextval(pg_get_serial_sequence('routing_actionrun', 'id')) FROM generate_series(1, %s)",
            [len(todo)],
        )
        allotted = [(run_id, t, a) for (run_id,), (t, a) in zip(run_ids, todo, strict=True)]
    else:
        ActionRun.objects.bulk_create([ActionRun(transition_id=t, action_id=a) for t, a in keys], ignore_conflicts=True)
        # SQLite cannot say which rows ignore_conflicts skipped: the ones with no outcome yet are ours
        # (one writer at a time there, so nobody else holds them).
        allotted = list(
            ActionRun.objects.filter(transition_id__in={k[0] for k in keys}, outcome="").values_list(
                "id", "transition_id", "action_id"
            )
        )
    result = []
    for run_id, event_id, action_id in allotted:
        row = rows.get((event_id, action_id))
        if row is not None:
            result.append((Claimed(run_id, event_id, row["lead_id"], row), actions[action_id]))
    return result


def _runs_record(claimed: Sequence[tuple[Claimed, RoutingAction]], outcomes: Mapping[int, Ran]) -> None:
    """Record the runs :func:`_claim` allotted, with what each did: in English, and as
    said (:mod:`scoring.said`), for pages in their reader's language; and the team each
    acted for, whose team lead reads it."""
    if connection.vendor != "postgresql":
        rows = [(run_id, r.outcome.english()[:300], r.outcome.stored(), r.team_id) for run_id, r in outcomes.items()]
        bulk.values_update(ActionRun, ["outcome", "outcome_said", "team"], rows)
        return
    done = [outcomes.get(c.run_id) for c, _ in claimed]
    bulk.pg_execute(
        "INSERT INTO routing_actionrun (id, transition_id, action_id, done_at, outcome, outcome_said, team_id)"
        " SELECT i, t, a, now(), o, s::jsonb, m"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[])"
        " AS u(i, t, a, o, s, m)",
        [
            [c.run_id for c, _ in claimed],
            [c.event_id for c, _ in claimed],
            [a.pk for _, a in claimed],
            ["" if r is None else r.outcome.english()[:300] for r in done],
            [None if r is None else json.dumps(r.outcome.stored()) for r in done],
            [None if r is None else r.team_id for r in done],
        ],
    )


setaside.register_kind(
    setaside.Kind(
        SET_ASIDE_EVENT, gettext_noop("Lead event (routing)"), _events_retry, "admin:scoring_grouptransition_change"
    )
)
