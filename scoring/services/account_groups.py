"""Account groups: which group each account's total is in, judged with hysteresis as
leads' score groups are (:func:`scoring.rules.group_for`), every change kept as account
transitions (one per group crossed, :func:`scoring.rules.group_moves`) and handed to
routing as an event of the account's best lead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.db import transaction
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
    moved, transitions = account_moves(
        [(pk, before[pk], total, group_id) for pk, total, group_id in rows], cause=cause, at=at
    )
    bulk.values_update(Account, ["group"], moved)
    account_transitions_record(transitions)
    return len(moved)


def account_moves(
    rows: Iterable[tuple[int, int, int, int | None]], *, cause: str, at: datetime, bands: list[pure.Band] | None = None
) -> tuple[list[tuple[int, int | None]], list[AccountTransition]]:
    """What :func:`accounts_regroup` changes, for writers that know the new totals before
    writing them (one ``UPDATE`` for score and group): for each (account id, total
    before, total now, group now), the accounts whose group changes with their new
    group, and the transitions to record (:func:`account_transitions_record`)."""
    bands = account_bands() if bands is None else bands
    moved: list[tuple[int, int | None]] = []
    transitions: list[AccountTransition] = []
    for pk, previous, total, group_id in rows:
        wanted = pure.group_for(total, bands, current=group_id)
        if wanted == group_id:
            continue
        moved.append((pk, wanted))
        for step, up in pure.group_moves(group_id, wanted, previous, total, bands):
            transitions.append(
                AccountTransition(
                    account_id=pk,
                    from_group_id=step.from_group,
                    to_group_id=step.to_group,
                    direction=AccountTransition.Direction.UP if up else AccountTransition.Direction.DOWN,
                    previous_total=step.previous_total,
                    total_score=step.total,
                    cause=cause,
                    occurred_at=at,
                )
            )
    return moved, transitions


def account_transitions_record(transitions: Sequence[AccountTransition]) -> None:
    """Write the transitions :func:`account_moves` made and hand them to routing, in the
    transaction that moves the accounts."""
    AccountTransition.objects.bulk_create(transitions)
    _best_leads_notify(transitions)


def _best_leads_notify(transitions: Sequence[AccountTransition]) -> None:
    """Tell routing of each account move, through the lead outbox: an ``account`` event
    on the account's best lead (highest total score, then the oldest), the lead its
    routing rules act on ("route its best lead to sales"). In the same transaction as
    the move, so routing hears of each move exactly once; an account without leads has
    no lead to act on, and its move is only kept."""
    if not transitions:
        return
    best = dict(
        Lead.objects.filter(bulk.ids_in("account_id", sorted({t.account_id for t in transitions})))
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
                t.cause,
                t.pk,
                t.occurred_at,
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
