"""Accounts: which account each lead belongs to (its email's domain unless a free-mail
one, or the account another system names), kept by every path that creates a lead or
changes its email, a few statements whatever the number of leads; and the account's
score, its leads' scores rolled up, kept in the account ledger.

Lock order: lead rows, then account rows, each in id order. Transactions that change
leads never lock an account: they queue it (:class:`StaleAccount`, insert only), and
the refresh locks the accounts alone, reading their leads unlocked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from scoring import accounts as pure
from scoring import bulk, rules
from scoring.models import (
    Account,
    AccountEntry,
    AccountRule,
    AccountRuleCondition,
    AccountSettings,
    FreeMailDomain,
    Lead,
    StaleAccount,
)
from scoring.sentences import WORDS
from scoring.services.account_groups import account_moves, account_transitions_record, accounts_regroup
from scoring.services.background import enqueue


class Assigned(NamedTuple):
    leads: int  # leads whose account changed
    accounts: frozenset[int]  # the accounts they left or joined (their roll-ups change)


def free_mail_domains() -> frozenset[str]:
    return frozenset(domain.lower() for domain in FreeMailDomain.objects.values_list("domain", flat=True))


def _accounts_ensure(*, field: str, names: Mapping[str, str]) -> dict[str, int]:
    """The id of the account with each value of ``field`` (domain or external id) in
    ``names``, created with its name if new. Created in key order, conflicts ignored
    and read back: two requests creating the same account wait on the unique index
    instead of deadlocking, and both find the one account."""
    if not names:
        return {}
    found = dict(Account.objects.filter(**{f"{field}__in": list(names)}).values_list(field, "pk"))
    missing = sorted(set(names) - set(found))
    if missing:
        Account.objects.bulk_create(
            [Account(name=names[key][:200], **{field: key}) for key in missing], ignore_conflicts=True
        )
        found.update(Account.objects.filter(**{f"{field}__in": missing}).values_list(field, "pk"))
    return found


# No savepoint: inside a caller's transaction (a lead upsert, an import's batch) an error
# rolls the caller's whole transaction back.
@transaction.atomic(savepoint=False)
def leads_accounts_assign(
    *,
    lead_ids: Iterable[int],
    external_ids: Mapping[int, str] | None = None,
    accounts: Mapping[int, int] | None = None,
) -> Assigned:
    """Put each lead in its account, idempotently.

    ``external_ids`` (lead id -> the company's id in another system, the API's
    ``account_id``) and ``accounts`` (lead id -> an account id a person chose) name a
    lead's account explicitly: it is kept from then on, whatever the email says. The
    other leads, unless named explicitly before, belong to the account of their email's
    domain, created on first sight with the lead's company as its name (else the
    domain); a lead with a free-mail address, or none, belongs to no account.

    Locks the leads in id order (callers holding them already lose nothing).
    """
    external_ids, accounts = dict(external_ids or {}), dict(accounts or {})
    ids = sorted(set(lead_ids) | set(external_ids) | set(accounts))
    if not ids:
        return Assigned(0, frozenset())
    rows = list(
        Lead.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "email", "company", "account_id", "account_explicit")
    )
    named = {ext: (company or ext) for pk, _, company, _, _ in rows if (ext := external_ids.get(pk))}
    by_external = _accounts_ensure(field="external_id", names=named)
    by_domain: dict[int, str] = {}
    free = free_mail_domains() if any(pk not in external_ids and pk not in accounts for pk, *_ in rows) else frozenset()
    names: dict[str, str] = {}
    for pk, email, company, _, explicit in rows:
        if pk in external_ids or pk in accounts or explicit:
            continue
        domain = pure.business_domain(email, free_mail=free)
        if domain:
            by_domain[pk] = domain
            names.setdefault(domain, company or domain)  # the lowest id's company names it
    domain_accounts = _accounts_ensure(field="domain", names=names)
    changes: list[tuple[int, int | None, bool]] = []
    touched: set[int] = set()
    for pk, _, _, account_id, explicit in rows:
        if pk in accounts:
            wanted: tuple[int | None, bool] = (accounts[pk], True)
        elif pk in external_ids:
            wanted = (by_external[external_ids[pk]], True)
        elif explicit:
            continue
        else:
            domain = by_domain.get(pk)
            wanted = (domain_accounts[domain] if domain else None, False)
        if wanted != (account_id, explicit):
            changes.append((pk, *wanted))
            touched.update(account for account in (account_id, wanted[0]) if account is not None)
    bulk.values_update(Lead, ["account", "account_explicit"], changes)
    _accounts_mark_stale_by_id(touched)
    return Assigned(len(changes), frozenset(touched))


def leads_accounts_assign_all(*, chunk_size: int = 1000) -> Assigned:
    """:func:`leads_accounts_assign` over every lead, ``chunk_size`` at a time (one
    transaction each): after the free-mail list changed, or for leads from before
    accounts. Leads named explicitly keep their account."""
    changed, touched, last_id = 0, set[int](), 0
    while True:
        ids = list(Lead.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return Assigned(changed, frozenset(touched))
        with transaction.atomic():
            done = leads_accounts_assign(lead_ids=ids)
        changed += done.leads
        touched |= done.accounts
        last_id = ids[-1]


# --- roll-up: an account's lead score, kept in the account ledger ---------------------


def account_settings_get() -> AccountSettings:
    found, _ = AccountSettings.objects.get_or_create(pk=1)
    return found


@transaction.atomic
def account_settings_set(*, rollup: str, top_n: int) -> AccountSettings:
    """Change how accounts roll up their leads' scores; every account is recomputed
    by a worker once this commits (else by the nightly recompute)."""
    config = account_settings_get()
    if (config.rollup, config.top_n) == (rollup, top_n):
        return config
    config.rollup, config.top_n = pure.Rollup(rollup).value, top_n
    config.save(update_fields=["rollup", "top_n"])
    transaction.on_commit(
        lambda: enqueue("scoring.accounts_rescore_nightly", fallback="the nightly recompute will apply the change")
    )
    return config


def accounts_mark_stale(*, lead_ids: Iterable[int]) -> None:
    """Queue the accounts of these leads for a refresh of their roll-up (their scores or
    members changed): one ``INSERT … SELECT``, in the caller's transaction. Inserts only,
    so transactions changing leads of one account never wait on each other here."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    table = StaleAccount._meta.db_table
    if connection.vendor == "postgresql":
        bulk.pg_execute(
            f"INSERT INTO {table} (account_id) SELECT DISTINCT account_id FROM scoring_lead"  # noqa: S608
            " WHERE id = ANY(%s::bigint[]) AND account_id IS NOT NULL",
            [ids],
        )
        return
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            cursor.execute(
                f"INSERT INTO {table} (account_id) SELECT DISTINCT account_id FROM scoring_lead"  # noqa: S608
                f" WHERE id IN ({', '.join(['%s'] * len(part))}) AND account_id IS NOT NULL",
                part,
            )


def _accounts_mark_stale_by_id(account_ids: Iterable[int]) -> None:
    StaleAccount.objects.bulk_create([StaleAccount(account_id=pk) for pk in sorted(set(account_ids))])


def accounts_rollup(*, account_ids: Sequence[int], config: AccountSettings) -> dict[int, int]:
    """Each account's roll-up of its leads' total scores as ``config`` says (0 without
    leads), computed by the database: one query whatever the number of accounts."""
    leads = Lead.objects.filter(bulk.ids_in("account_id", list(account_ids))).order_by()
    values: dict[int, int] = dict.fromkeys(account_ids, 0)
    method = config.method
    if method is pure.Rollup.TOP_AVERAGE:
        ranked = leads.annotate(
            rank=Window(RowNumber(), partition_by=[F("account_id")], order_by=[F("total_score").desc(), F("id")])
        ).filter(rank__lte=config.top_n)
        sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for account_id, score in ranked.values_list("account_id", "total_score"):
            sums[account_id][0] += score
            sums[account_id][1] += 1
        values.update({pk: pure.rounded_average(total, count) for pk, (total, count) in sums.items()})
        return values
    aggregate = Sum("total_score") if method is pure.Rollup.SUM else Max("total_score")
    values.update(leads.values("account_id").annotate(value=aggregate).values_list("account_id", "value"))
    return values


@transaction.atomic(savepoint=False)
def accounts_refresh(
    *, account_ids: Iterable[int], cause: str = AccountEntry.Cause.ROLLUP, at: datetime | None = None
) -> int:
    """Bring each account's lead score in line with its leads' roll-up: one ledger row
    per account whose roll-up changed (the difference), none otherwise, so running it
    again changes nothing. Locks the accounts in id order (two workers refreshing
    overlapping accounts wait, never deadlock) and reads the leads unlocked: whoever
    changes a lead's score queues its account again (:func:`accounts_mark_stale`).
    Returns the number of ledger rows written."""
    at = at or timezone.now()
    ids = sorted(set(account_ids))
    if not ids:
        return 0
    locked = (
        Account.objects.select_for_update(no_key=True)
        .filter(bulk.ids_in("pk", ids))
        .order_by("pk")
        .values_list("pk", "lead_score", "fit_score", "group_id")
    )
    current = {pk: (lead_score, fit, group) for pk, lead_score, fit, group in locked}
    targets = accounts_rollup(account_ids=list(current), config=account_settings_get())
    moved = [(pk, targets[pk]) for pk, (score, _, _) in current.items() if targets[pk] != score]
    # The new group is worked out before writing: score and group in one UPDATE.
    regrouped, transitions = account_moves(
        [(pk, current[pk][0] + current[pk][1], target + current[pk][1], current[pk][2]) for pk, target in moved],
        cause=cause,
        at=at,
    )
    groups = dict(regrouped)
    bulk.values_insert(
        AccountEntry,
        ["account", "dimension", "delta", "cause", "note", "created_at"],
        [(pk, AccountEntry.Dimension.LEADS, target - current[pk][0], cause, "", at) for pk, target in moved],
    )
    bulk.values_update(
        Account, ["lead_score", "group"], [(pk, target, groups.get(pk, current[pk][2])) for pk, target in moved]
    )
    account_transitions_record(transitions)
    return len(moved)


def accounts_refresh_pending(*, batch_size: int = 1000, at: datetime | None = None) -> int:
    """Refresh the accounts queued by :func:`accounts_mark_stale`, batch by batch; many
    workers may run it at once (each claims its queue rows, skipping those another has).
    Returns the ledger rows written."""
    written = 0
    while True:
        with transaction.atomic():
            claimed, accounts = _stale_accounts_claim(batch_size)
            if not accounts:
                return written
            written += accounts_refresh(account_ids=accounts, at=at)
        if claimed < batch_size:
            return written


def _stale_accounts_claim(batch_size: int) -> tuple[int, list[int]]:
    """Take the first ``batch_size`` queue rows no other worker holds, and every other
    row of the same accounts no other worker holds (a busy account is queued by many
    scoring batches: refreshed once for all of them). Deletes them in the caller's
    transaction, so a failed refresh leaves them queued. Returns (the first rows' count,
    their accounts in id order).

    Precondition: the refresh reads the leads after this (a later statement of the same
    transaction), so it sees every change whose queue row this took: those rows were
    committed before this statement began."""
    table = StaleAccount._meta.db_table
    if connection.vendor == "postgresql":
        first = [
            account
            for (account,) in bulk.pg_execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s"  # noqa: S608
                " FOR UPDATE SKIP LOCKED) RETURNING account_id",
                [batch_size],
            )
        ]
        accounts = sorted(set(first))
        _stale_accounts_forget(accounts)
        return len(first), accounts
    rows = list(StaleAccount.objects.order_by("pk").values_list("pk", "account_id")[:batch_size])
    accounts = sorted({account for _, account in rows})
    _stale_accounts_forget(accounts)
    return len(rows), accounts


def _stale_accounts_forget(account_ids: Sequence[int]) -> None:
    """Delete the queue rows of these accounts that no other worker holds, in the
    caller's transaction, before it reads their leads (see :func:`_stale_accounts_claim`)."""
    if not account_ids:
        return
    table = StaleAccount._meta.db_table
    if connection.vendor == "postgresql":
        bulk.pg_execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"  # noqa: S608
            " WHERE account_id = ANY(%s::bigint[]) FOR UPDATE SKIP LOCKED)",
            [list(account_ids)],
        )
        return
    StaleAccount.objects.filter(account_id__in=list(account_ids)).delete()


# The cause of account transitions that a change of the account groups made.
REGROUP = "regroup"


def accounts_rescore(*, chunk_size: int = 1000, at: datetime | None = None) -> int:
    """Recompute every account's roll-up, fit and group (nightly, and after the roll-up
    settings, the account fit rules or the account groups change), ``chunk_size``
    accounts per transaction. Writes a ledger row only where the cached score was not
    what it should be, and a transition only where the group was not: a second run
    writes nothing. Returns the ledger rows written."""
    at = at or timezone.now()
    written = last_id = 0
    while True:
        ids = list(Account.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return written
        with transaction.atomic():
            # Recomputed here, so the sweep has nothing left to do for them.
            _stale_accounts_forget(ids)
            written += accounts_refresh(account_ids=ids, cause=AccountEntry.Cause.RESCORE, at=at)
            written += accounts_rescore_fit(account_ids=ids, at=at)
            # The accounts are locked by the two above; those whose score did not move
            # may still change group when the groups changed.
            totals = Account.objects.filter(bulk.ids_in("pk", ids)).values_list("pk", "total_score")
            accounts_regroup(before=dict(totals), cause=REGROUP, at=at)
        last_id = ids[-1]


# --- account fit: the account fit rules' points, kept in the account ledger ------------


@transaction.atomic(savepoint=False)
def accounts_rescore_fit(*, account_ids: Iterable[int], at: datetime | None = None) -> int:
    """Bring each account's fit score in line with the account fit rules in force: one
    ledger row per rule whose points for the account change (a rule that no longer
    applies, or was deactivated, is taken back to 0), with the rule as its cause. Locks
    the accounts in id order. Returns the ledger rows written."""
    at = at or timezone.now()
    accounts = {
        account.pk: account
        for account in Account.objects.select_for_update(no_key=True)
        .filter(bulk.ids_in("pk", sorted(set(account_ids))))
        .order_by("pk")
    }
    if not accounts:
        return 0
    fit_rules = [rule.to_pure() for rule in AccountRule.objects.prefetch_related("conditions")]
    current: dict[int, dict[int, int]] = defaultdict(dict)
    for account_id, rule_id, points in (
        AccountEntry.objects.filter(
            bulk.ids_in("account_id", list(accounts)), dimension=AccountEntry.Dimension.FIT, rule__isnull=False
        )
        .values("account_id", "rule_id")
        .annotate(points=Sum("delta"))
        .order_by()
        .values_list("account_id", "rule_id", "points")
    ):
        current[account_id][rule_id] = points
    entries: list[tuple[int, str, int, str, int, str, datetime]] = []
    moved: dict[int, int] = defaultdict(int)
    for account in accounts.values():
        targets = rules.fit_targets(fit_rules, account.rule_values(), at=at)
        for rule_id, delta in rules.fit_deltas(targets, current[account.pk]).items():
            entries.append((account.pk, AccountEntry.Dimension.FIT, delta, AccountEntry.Cause.RULE, rule_id, "", at))
            moved[account.pk] += delta
    bulk.values_insert(AccountEntry, ["account", "dimension", "delta", "cause", "rule", "note", "created_at"], entries)
    changed = [(pk, accounts[pk].fit_score + delta) for pk, delta in sorted(moved.items()) if delta]
    bulk.values_update(Account, ["fit_score"], changed)
    accounts_regroup(before={pk: accounts[pk].total_score for pk, _ in changed}, cause=AccountEntry.Cause.RULE, at=at)
    return len(entries)


@transaction.atomic
def account_save(*, account: Account, fields: Iterable[str] | None = None) -> None:
    """Save an account a form has built and checked (the admin's): only ``fields`` when
    given (the cached scores on ``account`` may be older than the row's), and its fit
    re-evaluated in the same transaction."""
    if fields is None:
        account.save()
    else:
        names = [name for name in fields if name not in {"lead_score", "fit_score", "total_score"}]
        if names:
            account.save(update_fields=names)
    accounts_rescore_fit(account_ids=[account.pk])


def free_mail_domains_changed() -> None:
    """The free-mail list changed: a worker puts every lead in its account again once this
    transaction commits (leads named explicitly keep theirs), and the next sweep refreshes
    the accounts they left or joined."""
    transaction.on_commit(
        lambda: enqueue("scoring.accounts_assign_all", fallback="run manage.py accounts_assign to move the leads")
    )


def account_rule_create(
    *,
    name: str,
    points: int,
    conditions: Sequence[tuple[str, str, object]],
    match: str = rules.Match.ALL.value,
    active: bool = True,
) -> AccountRule:
    """An account fit rule with its conditions (field, operator, value), checked as the
    admin checks them: ValidationError names every problem at once, by field
    ("conditions" for the conditions, each with its number). Every account's fit follows
    once the transaction commits (:func:`account_rules_changed`)."""
    rule = AccountRule(name=name, points=points, match=match, active=active)
    errors: dict[str, list[str]] = {}
    try:
        rule.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    problems = pure.check_account_conditions(conditions, words=WORDS)
    if problems:
        errors["conditions"] = problems
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule.save()
        AccountRuleCondition.objects.bulk_create(
            AccountRuleCondition(rule=rule, position=n, field=field, operator=operator, value=value)
            for n, (field, operator, value) in enumerate(conditions)
        )
    account_rules_changed()
    return rule


def account_rules_changed() -> None:
    """The account fit rules changed: every account's fit is re-evaluated by a worker once
    this transaction commits (else by the nightly recompute)."""
    transaction.on_commit(
        lambda: enqueue("scoring.accounts_rescore_nightly", fallback="the nightly recompute will apply the rules")
    )
