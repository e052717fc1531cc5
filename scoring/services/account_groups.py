"""Account groups: which group each account's total is in, judged with hysteresis as
leads' score groups are (:func:`scoring.rules.group_for`), every change kept as account
transitions (one per group crossed, :func:`scoring.rules.group_moves`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import transaction

from scoring import bulk
from scoring import rules as pure
from scoring.models import Account, AccountGroup, AccountTransition
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
    bands = account_bands()
    rows = Account.objects.filter(pk__in=sorted(before)).order_by("pk").values_list("pk", "total_score", "group_id")
    moved: list[tuple[int, int | None]] = []
    transitions: list[tuple[int, int | None, int | None, str, int, int, str, datetime]] = []
    for pk, total, group_id in rows:
        wanted = pure.group_for(total, bands, current=group_id)
        if wanted == group_id:
            continue
        moved.append((pk, wanted))
        for step, up in pure.group_moves(group_id, wanted, before[pk], total, bands):
            direction = AccountTransition.Direction.UP if up else AccountTransition.Direction.DOWN
            transitions.append(
                (pk, step.from_group, step.to_group, direction, step.previous_total, step.total, cause, at)
            )
    bulk.values_update(Account, ["group"], moved)
    bulk.values_insert(
        AccountTransition,
        ["account", "from_group", "to_group", "direction", "previous_total", "total_score", "cause", "occurred_at"],
        transitions,
    )
    return len(moved)


def account_groups_changed() -> None:
    """The account groups changed: every account is regrouped by a worker once this
    transaction commits (else by the nightly recompute), its moves recorded with cause
    ``regroup``."""
    transaction.on_commit(
        lambda: enqueue("scoring.accounts_rescore_nightly", fallback="the nightly recompute will regroup the accounts")
    )
