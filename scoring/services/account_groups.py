"""Account groups: which group each account's total is in, judged with hysteresis as
leads' score groups are (:func:`scoring.rules.group_for`), every change kept as account
transitions (one per group crossed, :func:`scoring.rules.group_moves`) and handed to
routing as an event of the account's best lead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from scoring import bulk
from scoring import rules as pure
from scoring.models import Account, AccountGroup, AccountTransition, GroupTransition, Lead
from scoring.services.background import enqueue


def account_bands() -> list[pure.Band]:
    return [group.band() for group in AccountGroup.objects.all()]


def accounts_regroup(*, before: Mapping[int, int], cause: str, at: datetime) -> int:
    """Put each account of ``before`` (account id -> its total before the change) in
    the account group its total now belongs to, keeping hysteresis, and record each
    group it crossed as an :class:`AccountTransition`. An account already in its group
    changes nothing, so running it again writes nothing. Returns the accounts that
    changed group.

    Precondition: inside a transaction holding the row lock of every account in
    ``before`` (the writers of account scores take them in id order), with the
    accounts' new scores written."""
    if not before:
        return 0
    rows = (
        Account.objects.filter(bulk.ids_in("pk", sorted(before)))
        .order_by("pk")
        .values_list("pk", "total_score", "group_id")
    )
    moved, steps = account_moves([(pk, before[pk], total, group_id) for pk, total, group_id in rows])
    bulk.values_update(Account, ["group"], moved)
    account_transitions_record(steps, cause=cause, at=at)
    return len(moved)


class AccountMove(NamedTuple):
    """One group an account crossed (an :class:`AccountTransition` to write)."""

    account_id: int
    from_group: int | None
    to_group: int | None
    direction: str  # AccountTransition.Direction
    previous_total: int
    total: int


def account_moves(
    rows: Iterable[tuple[int, int, int, int | None]], *, bands: list[pure.Band] | None = None
) -> tuple[list[tuple[int, int | None]], list[AccountMove]]:
    """What :func:`accounts_regroup` changes, for writers that know the new totals before
    writing them (one ``UPDATE`` for score and group): for each (account id, total
    before, total now, group now), the accounts whose group changes with their new
    group, and the transitions to record (:func:`account_transitions_record`)."""
    bands = account_bands() if bands is None else bands
    up, down = AccountTransition.Direction.UP.value, AccountTransition.Direction.DOWN.value
    moved: list[tuple[int, int | None]] = []
    steps: list[AccountMove] = []
    for pk, previous, total, group_id in rows:
        wanted = pure.group_for(total, bands, current=group_id)
        if wanted == group_id:
            continue
        moved.append((pk, wanted))
        steps += (
            AccountMove(pk, step.from_group, step.to_group, up if rising else down, step.previous_total, step.total)
            for step, rising in pure.group_moves(group_id, wanted, previous, total, bands)
        )
    return moved, steps


# The account transitions of %(...)s arrays (one element per step, in order) and, for each,
# the ``account`` event on its account's best lead (highest total score, then the oldest)
# in the lead outbox: one statement, no row read into Python.
_TRANSITIONS_SQL = """
WITH t AS (
    INSERT INTO scoring_accounttransition (account_id, from_group_id, to_group_id, direction, previous_total,
                                           total_score, cause, occurred_at)
    SELECT account_id, from_group_id, to_group_id, direction, previous_total, total_score, %(cause)s, %(at)s
    FROM unnest(%(accounts)s::bigint[], %(from_groups)s::bigint[], %(to_groups)s::bigint[], %(directions)s::text[],
                %(previous)s::int[], %(totals)s::int[]) WITH ORDINALITY
         AS u (account_id, from_group_id, to_group_id, direction, previous_total, total_score, n)
    ORDER BY n
    RETURNING id, account_id, direction, previous_total, total_score
), best AS (
    SELECT DISTINCT ON (l.account_id) l.account_id, l.id FROM scoring_lead l
    WHERE l.account_id = ANY(%(accounts)s::bigint[])
    ORDER BY l.account_id, l.total_score DESC, l.id
)
INSERT INTO scoring_grouptransition (lead_id, kind, direction, previous_total, total_score, cause,
                                     account_transition_id, occurred_at)
SELECT best.id, %(kind)s, t.direction, t.previous_total, t.total_score, %(cause)s, t.id, %(at)s
FROM t JOIN best ON best.account_id = t.account_id
ORDER BY t.id
"""


def account_transitions_record(steps: Sequence[AccountMove], *, cause: str, at: datetime) -> None:
    """Write the transitions :func:`account_moves` made and hand each to routing, in the
    transaction that moves the accounts: an ``account`` event on the account's best lead
    (highest total score, then the oldest), the lead its routing rules act on ("route its
    best lead to sales"). In the same transaction as the move, so routing hears of each
    move exactly once; an account without leads has no lead to act on, and its move is
    only kept."""
    if not steps:
        return
    if connection.vendor == "postgresql":
        bulk.pg_execute_named(
            _TRANSITIONS_SQL,
            {
                "accounts": [s.account_id for s in steps],
                "from_groups": [s.from_group for s in steps],
                "to_groups": [s.to_group for s in steps],
                "directions": [s.direction for s in steps],
                "previous": [s.previous_total for s in steps],
                "totals": [s.total for s in steps],
                "cause": str(cause),
                "at": at,
                "kind": GroupTransition.Kind.ACCOUNT.value,
            },
        )
        return
    transitions = AccountTransition.objects.bulk_create(
        AccountTransition(
            account_id=s.account_id,
            from_group_id=s.from_group,
            to_group_id=s.to_group,
            direction=s.direction,
            previous_total=s.previous_total,
            total_score=s.total,
            cause=cause,
            occurred_at=at,
        )
        for s in steps
    )
    best = dict(
        Lead.objects.filter(bulk.ids_in("account_id", sorted({s.account_id for s in steps})))
        .annotate(rank=Window(RowNumber(), partition_by=[F("account_id")], order_by=[F("total_score").desc(), F("id")]))
        .filter(rank=1)
        .values_list("account_id", "pk")
    )
    bulk.values_insert(
        GroupTransition,
        ["lead", "kind", "direction", "previous_total", "total_score", "cause", "account_transition", "occurred_at"],
        [
            (
                best[t.account_id],
                GroupTransition.Kind.ACCOUNT,
                t.direction,
                t.previous_total,
                t.total_score,
                cause,
                t.pk,
                at,
            )
            for t in transitions
            if t.account_id in best
        ],
    )


def account_groups_changed() -> None:
    """The account groups changed: every account is regrouped by a worker once this
    transaction commits (else by the nightly recompute), its moves recorded with cause
    ``regroup``."""
    transaction.on_commit(
        lambda: enqueue("scoring.accounts_rescore_nightly", fallback="the nightly recompute will regroup the accounts")
    )
