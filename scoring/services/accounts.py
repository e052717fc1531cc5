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
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.text import slugify

from scoring import accounts as pure
from scoring import bulk, rules
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
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
from scoring.services.account_groups import (
    account_bands,
    account_moves,
    account_transitions_record,
    accounts_regroup,
)
from scoring.services.background import enqueue


class Assigned(NamedTuple):
    leads: int  # leads whose account changed
    accounts: frozenset[int]  # the accounts they left or joined (their roll-ups change)
    joined: frozenset[int] = frozenset()  # the leads now in another account than before (not in none)


def free_mail_domains() -> frozenset[str]:
    return frozenset(domain.lower() for domain in FreeMailDomain.objects.values_list("domain", flat=True))


def _accounts_ensure(*, field: str, names: Mapping[str, str]) -> dict[str, int]:
    """The id of the account with each value of ``field`` (domain or external id) in
    ``names``, created with its name if new. Created in key order, conflicts ignored
    and read back: two requests creating the same account wait on the unique index
    instead of deadlocking, and both find the one account."""
    if not names:
        return {}
    found = _accounts_find(field, names)
    missing = sorted(set(names) - set(found))
    if missing:
        if connection.vendor == "postgresql":
            # Arrays of values: a model instance per account, and the ORM's placeholder per
            # value, were most of the time a batch of new leads spent making their accounts.
            fields, template = _new_account_template(field)
            bulk.values_insert(
                Account,
                [*fields, "name", field],
                [(*template, names[key][:200], key) for key in missing],
                ignore_conflicts=True,
            )
        else:
            Account.objects.bulk_create(
                [Account(name=names[key][:200], **{field: key}) for key in missing], ignore_conflicts=True
            )
        found.update(_accounts_find(field, missing))
    return found


def _accounts_find(field: str, keys: Iterable[str]) -> dict[str, int]:
    """The id of the account with each of ``keys`` as its ``field`` (domain or external id)
    that has one; one query (the keys as one array parameter on PostgreSQL)."""
    if connection.vendor == "postgresql":
        column = Account._meta.get_field(field).column  # type: ignore[union-attr]
        sql = f"SELECT {column}, id FROM scoring_account WHERE {column} = ANY(%s::text[])"  # noqa: S608
        return dict(bulk.pg_execute(sql, [sorted(keys)]))
    return dict(Account.objects.filter(**{f"{field}__in": list(keys)}).values_list(field, "pk"))


def _new_account_template(field: str) -> tuple[list[str], tuple[Any, ...]]:
    """The fields of a new account other than its name and ``field`` (its domain or
    external id), and their values: the model's defaults (created now)."""
    account = Account()
    names, values = [], []
    for model_field in Account._meta.concrete_fields:
        if model_field.primary_key or model_field.generated or model_field.name in ("name", field):
            continue
        names.append(model_field.name)
        values.append(model_field.pre_save(account, add=True))
    return names, tuple(values)


def accounts_of_new_leads(emails: Iterable[str], *, companies: Mapping[str, str] | None = None) -> dict[str, int]:
    """The account of each email's domain, for leads about to be created with these emails
    (inserted in their accounts, as :func:`leads_accounts_assign` would put them): made if
    new, named after the company ``companies`` gives the email (the first email's, in order,
    when several name one new domain), else the domain, and queued for a refresh of their
    roll-ups (which count the new leads). Free-mail addresses have none. Call in the
    creating transaction."""
    free = free_mail_domains()
    companies = companies or {}
    domains = {email: domain for email in emails if (domain := pure.business_domain(email, free_mail=free))}
    names: dict[str, str] = {}
    for email in sorted(domains):
        if company := companies.get(email):
            names.setdefault(domains[email], company)
    for domain in domains.values():
        names.setdefault(domain, domain)
    accounts = _accounts_ensure(field="domain", names=names)
    accounts_mark_stale(account_ids=accounts.values())
    return {email: accounts[domain] for email, domain in domains.items()}


# No savepoint: inside a caller's transaction (a lead upsert, an import's batch) an error
# rolls the caller's whole transaction back.
@transaction.atomic(savepoint=False)
def leads_accounts_assign(
    *,
    lead_ids: Iterable[int],
    external_ids: Mapping[int, str] | None = None,
    accounts: Mapping[int, int] | None = None,
    fill_only: bool = False,
) -> Assigned:
    """Put each lead in its account, idempotently.

    ``external_ids`` (lead id -> the company's id in another system, the API's
    ``account_id``) and ``accounts`` (lead id -> an account id a person chose) name a
    lead's account explicitly: it is kept from then on, whatever the email says. With
    ``fill_only`` (what a tracked form says: anyone may post one) an external id names
    the account only of a lead none was named for yet. The
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
        elif pk in external_ids and not (fill_only and explicit):
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
    accounts_mark_stale(account_ids=touched)
    before = {pk: account for pk, _, _, account, _ in rows}
    joined = frozenset(pk for pk, account, _ in changes if account is not None and account != before[pk])
    return Assigned(len(changes), frozenset(touched), joined)


# --- roll-up: an account's lead score, kept in the account ledger ---------------------


def account_settings_get() -> AccountSettings:
    found, _ = AccountSettings.objects.get_or_create(pk=1)
    return found


def account_rules_lock() -> None:
    """Hold the account scoring's row (its settings) until the transaction ends (call in
    one), before checking account fit rules against the active ones and writing them: two
    rules saved at once each passed the check alone, and together took the account fit
    past its column. The admin's save, :func:`account_rule_create` and a model file's
    import take it."""
    AccountSettings.objects.select_for_update().get_or_create(pk=1)


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


def accounts_mark_stale(*, account_ids: Iterable[int]) -> None:
    """Queue these accounts for a refresh of their roll-up (their leads' scores or members
    changed): one insert, in the caller's transaction. Inserts only, so transactions
    changing leads of one account never wait on each other here."""
    bulk.values_insert(StaleAccount, ["account"], [(pk,) for pk in sorted(set(account_ids))])


def accounts_rollup(*, account_ids: Sequence[int], config: AccountSettings) -> dict[int, int]:
    """Each account's roll-up of its leads' total scores as ``config`` says (0 without
    leads), computed by the database: one query whatever the number of accounts."""
    values: dict[int, int] = dict.fromkeys(account_ids, 0)
    if connection.vendor == "postgresql":
        sql = _ROLLUP_SQL[config.method]
        values.update(bulk.pg_execute_named(sql, {"ids": list(account_ids), "top_n": config.top_n}))
        return values
    leads = Lead.objects.filter(bulk.ids_in("account_id", list(account_ids))).order_by()
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


# Each account's roll-up (account_id, value) of the leads of the accounts %(ids)s, by
# method, as :func:`scoring.accounts.rollup` computes it (the average of the best N
# rounded to the nearest point, halves away from zero, as pure.rounded_average does). A
# sum of many leads' scores is kept within the integer column (WHOLE_MIN..WHOLE_MAX).
_ROLLUP_SQL: dict[pure.Rollup, str] = {
    pure.Rollup.SUM: (
        "SELECT account_id, greatest(least(sum(total_score), 2147483647), -2147483648)::int AS value"
        " FROM scoring_lead"
        " WHERE account_id = ANY(%(ids)b::bigint[]) GROUP BY account_id"
    ),
    pure.Rollup.MAX: (
        "SELECT account_id, max(total_score) AS value FROM scoring_lead"
        " WHERE account_id = ANY(%(ids)b::bigint[]) GROUP BY account_id"
    ),
    pure.Rollup.TOP_AVERAGE: (
        "SELECT account_id, (sign(sum(total_score))"
        " * ((2 * abs(sum(total_score)) + count(*)) / (2 * count(*))))::int AS value"
        " FROM (SELECT account_id, total_score, row_number() OVER (PARTITION BY account_id"
        " ORDER BY total_score DESC, id) AS rank FROM scoring_lead"
        " WHERE account_id = ANY(%(ids)b::bigint[])) AS ranked"
        " WHERE rank <= %(top_n)s GROUP BY account_id"
    ),
}

# The accounts %(ids)s (locked by the caller) whose lead score is not their roll-up, with
# what the refresh needs of them, in id order: one statement, after the locks were taken.
# The roll-up is kept where lead score + fit score fits the total's column (as
# :func:`scoring.accounts.rollup_within` does).
_MOVED_SQL = """
SELECT a.id, t.target, a.lead_score, a.fit_score, a.group_id
FROM scoring_account a LEFT JOIN ({rollup}) r ON r.account_id = a.id,
     LATERAL (SELECT greatest(least(coalesce(r.value, 0), %(high)s, %(high)s::bigint - a.fit_score),
                              %(low)s, %(low)s::bigint - a.fit_score)::int AS target) t
WHERE a.id = ANY(%(ids)b::bigint[]) AND a.lead_score <> t.target
ORDER BY a.id
"""

# One ledger row and the new lead score and group for each moved account, in one
# statement (no round trip per table).
_WRITE_SQL = """
WITH v AS (SELECT * FROM unnest(%(ids)b::bigint[], %(targets)b::int[], %(deltas)b::int[], %(groups)b::bigint[])
           AS v (id, target, delta, group_id)),
     entries AS (INSERT INTO scoring_accountentry (account_id, dimension, delta, cause, note, created_at)
                 SELECT id, %(dimension)s, delta, %(cause)s, '', %(at)s FROM v)
UPDATE scoring_account a SET lead_score = v.target, group_id = v.group_id FROM v WHERE a.id = v.id
"""


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
    ids = sorted(set(account_ids))
    if not ids:
        return 0
    locked = list(
        Account.objects.select_for_update(no_key=True)
        .filter(bulk.ids_in("pk", ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return _accounts_refresh_locked(locked, cause=cause, at=at or timezone.now(), config=account_settings_get())


def _accounts_refresh_locked(
    ids: Sequence[int],
    *,
    cause: str,
    at: datetime,
    config: AccountSettings,
    bands: list[rules.Band] | None = None,
) -> int:
    """:func:`accounts_refresh` of accounts whose rows this transaction has locked.

    Precondition: the locks were taken by an earlier statement than this function's, so
    the leads it reads are at least as recent as those of whoever wrote the accounts last
    (the last writer of an account never writes an older roll-up)."""
    if not ids:
        return 0
    moved = _accounts_moved(ids, config=config)
    # The new group is worked out before writing: score and group in one UPDATE.
    regrouped, steps = account_moves(
        [(pk, score + fit, target + fit, group) for pk, target, score, fit, group in moved], bands=bands
    )
    groups = dict(regrouped)
    rows = [(pk, target, target - score, groups.get(pk, group)) for pk, target, score, _, group in moved]
    if connection.vendor == "postgresql":
        if rows:
            ids_, targets, deltas, new_groups = (list(column) for column in zip(*rows, strict=True))
            bulk.pg_execute_named(
                _WRITE_SQL,
                {
                    "ids": ids_,
                    "targets": targets,
                    "deltas": deltas,
                    "groups": new_groups,
                    "dimension": AccountEntry.Dimension.LEADS.value,
                    "cause": str(cause),
                    "at": at,
                },
            )
    else:
        bulk.values_insert(
            AccountEntry,
            ["account", "dimension", "delta", "cause", "note", "created_at"],
            [(pk, AccountEntry.Dimension.LEADS, delta, cause, "", at) for pk, _, delta, _ in rows],
        )
        bulk.values_update(Account, ["lead_score", "group"], [(pk, target, group) for pk, target, _, group in rows])
    account_transitions_record(steps, cause=cause, at=at)
    return len(rows)


def _accounts_moved(ids: Sequence[int], *, config: AccountSettings) -> list[tuple[int, int, int, int, int | None]]:
    """(account id, its roll-up, lead score, fit score, group id) of the accounts ``ids``
    whose lead score is not their roll-up, in id order."""
    if connection.vendor == "postgresql":
        sql = _MOVED_SQL.format(rollup=_ROLLUP_SQL[config.method])
        return [
            (pk, target, score, fit, group)
            for pk, target, score, fit, group in bulk.pg_execute_named(
                sql, {"ids": list(ids), "top_n": config.top_n, "high": WHOLE_MAX, "low": WHOLE_MIN}
            )
        ]
    current = (
        Account.objects.filter(bulk.ids_in("pk", list(ids)))
        .order_by("pk")
        .values_list("pk", "lead_score", "fit_score", "group_id")
    )
    rolled = accounts_rollup(account_ids=list(ids), config=config)
    targets = {pk: pure.rollup_within(rolled[pk], fit=fit) for pk, _, fit, _ in current}
    return [(pk, targets[pk], score, fit, group) for pk, score, fit, group in current if targets[pk] != score]


def accounts_refresh_pending(*, batch_size: int = 5000, at: datetime | None = None) -> int:
    """Refresh the accounts queued by :func:`accounts_mark_stale`, batch by batch; many
    workers may run it at once (each claims its queue rows, skipping those another has).
    Returns the ledger rows written."""
    at = at or timezone.now()
    # Read once per sweep: a change of either recomputes every account (a worker's
    # accounts_rescore) after it commits.
    config, bands = account_settings_get(), account_bands()
    written = last = 0
    while True:
        with transaction.atomic():
            claimed, accounts, last = _stale_accounts_claim(batch_size, after=last)
            if not accounts:
                return written
            if claimed >= batch_size and connection.vendor == "postgresql":
                # A chunk is all or nothing and its queue rows come back with it: a chunk
                # lost in a crash is swept again, so it need not wait for its WAL to reach
                # the disk. Only full chunks skip the wait: the sweep's last one (fewer
                # rows) commits normally, which flushes every chunk before it too.
                bulk.pg_execute("SET LOCAL synchronous_commit TO OFF", [])
            written += _accounts_refresh_locked(
                accounts, cause=AccountEntry.Cause.ROLLUP, at=at, config=config, bands=bands
            )
        if claimed < batch_size:
            return written


# Claims queue rows and locks their accounts, in one statement: the first %(limit)s rows no
# other worker holds, every other row of the same accounts no other worker holds (a busy
# account is queued by many scoring batches: refreshed once for all of them), deleted;
# then their accounts locked in id order. Returns the first rows' count, the locked ids and
# the last of the first rows' ids. The first rows are those after %(after)s: the sweep's
# deleted rows stay in the index until a vacuum, and a claim from the start stepped over
# all of them again, each batch more than the last.
_CLAIM_SQL = """
WITH first AS (SELECT id, account_id FROM scoring_staleaccount WHERE id > %(after)s
               ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
     others AS (SELECT id FROM scoring_staleaccount
                WHERE account_id IN (SELECT account_id FROM first) FOR UPDATE SKIP LOCKED),
     gone AS (DELETE FROM scoring_staleaccount
              WHERE id = ANY(ARRAY(SELECT id FROM first UNION SELECT id FROM others)) RETURNING account_id),
     locked AS (SELECT id FROM scoring_account WHERE id IN (SELECT account_id FROM gone)
                ORDER BY id FOR NO KEY UPDATE)
SELECT (SELECT count(*) FROM first), coalesce((SELECT array_agg(id ORDER BY id) FROM locked), '{}'),
       coalesce((SELECT max(id) FROM first), %(after)s)
"""


def _stale_accounts_claim(batch_size: int, *, after: int = 0) -> tuple[int, list[int], int]:
    """Take the first ``batch_size`` queue rows after ``after`` (a queue row id) that no
    other worker holds, and every other row of the same accounts no other worker holds (a
    busy account is queued by many scoring batches: refreshed once for all of them), and
    lock their accounts in id order. Deletes the rows in the caller's transaction, so a
    failed refresh leaves them queued. Returns (the first rows' count, their accounts in id
    order, the last first row's id: where the sweep's next claim starts; ``after`` if none).

    A sweep's claims go forward only. A row left behind (another worker held it, or its
    transaction committed after a later id's) is the next sweep's: the next scoring run's.

    Precondition: the refresh reads the leads after this (a later statement of the same
    transaction), so it sees every change whose queue row this took: those rows were
    committed before this statement began."""
    if connection.vendor == "postgresql":
        ((claimed, accounts, last),) = bulk.pg_execute_named(_CLAIM_SQL, {"limit": batch_size, "after": after})
        return claimed, list(accounts), last
    rows = list(StaleAccount.objects.filter(pk__gt=after).order_by("pk").values_list("pk", "account_id")[:batch_size])
    accounts = sorted({account for _, account in rows})
    _stale_accounts_forget(accounts)
    locked = Account.objects.select_for_update(no_key=True).filter(pk__in=accounts).order_by("pk")
    return len(rows), list(locked.values_list("pk", flat=True)), rows[-1][0] if rows else after


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
    applies, or was deactivated, is taken back to 0), with the rule as its cause; and
    where the fit moves, the roll-up kept so the total fits its column (a ledger row for
    the roll-up too, when that moves it). Locks the accounts in id order. Returns the
    ledger rows written."""
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
    entries: list[tuple[int, str, int, str, int | None, str, datetime]] = []
    moved: dict[int, int] = defaultdict(int)
    for account in accounts.values():
        targets = rules.fit_targets(fit_rules, account.rule_values(), at=at)
        for rule_id, delta in rules.fit_deltas(targets, current[account.pk]).items():
            entries.append((account.pk, AccountEntry.Dimension.FIT, delta, AccountEntry.Cause.RULE, rule_id, "", at))
            moved[account.pk] += delta
    fits = {pk: accounts[pk].fit_score + delta for pk, delta in sorted(moved.items()) if delta}
    # The total (roll-up + fit) is a generated column: a fit that rises takes the roll-up
    # down to where the total fits, as the roll-up refresh keeps it, and one that falls
    # lets it back up, in the fit's own UPDATE (the total never passes the column).
    rolled = accounts_rollup(account_ids=list(fits), config=account_settings_get()) if fits else {}
    changed = [(pk, fit, pure.rollup_within(rolled[pk], fit=fit)) for pk, fit in fits.items()]
    entries += [
        (pk, AccountEntry.Dimension.LEADS, target - accounts[pk].lead_score, AccountEntry.Cause.ROLLUP, None, "", at)
        for pk, _, target in changed
        if target != accounts[pk].lead_score
    ]
    bulk.values_insert(AccountEntry, ["account", "dimension", "delta", "cause", "rule", "note", "created_at"], entries)
    bulk.values_update(Account, ["fit_score", "lead_score"], changed)
    accounts_regroup(before={pk: accounts[pk].total_score for pk in fits}, cause=AccountEntry.Cause.RULE, at=at)
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


@transaction.atomic
def free_mail_domains_add(*, domains: Iterable[str]) -> list[str]:
    """Put ``domains`` on the free-mail list where missing, written as the admin keeps
    them (:meth:`FreeMailDomain.clean`: lower case, no '@', no final dot); returns those
    added. A value that is no domain raises ValidationError naming ``domain``, and none is
    added. Leads already at an added domain leave their accounts, as after a change in the
    admin."""
    wanted = set()
    for domain in domains:
        row = FreeMailDomain(domain=domain)
        row.clean()
        wanted.add(row.domain)
    added = sorted(wanted - set(FreeMailDomain.objects.filter(domain__in=wanted).values_list("domain", flat=True)))
    if not added:
        return []
    FreeMailDomain.objects.bulk_create([FreeMailDomain(domain=domain) for domain in added], ignore_conflicts=True)
    at_them = Q()
    for domain in added:
        at_them |= Q(email__iendswith=f"@{domain}")
    if Lead.objects.filter(at_them).exists():
        free_mail_domains_changed()
    return added


def account_rule_key(name: str) -> str:
    """A key no account rule has, from ``name``: its slug (``account-rule`` when it has no
    letter or digit to keep), then -2, -3… while taken."""
    longest = AccountRule._meta.get_field("key").max_length or 80
    base = slugify(name)[:longest].strip("-_") or "account-rule"
    # The candidates are looked up as they are, a hundred at a time: a base of the key's
    # full length is cut to make room for its number, so its -2 does not start with it.
    first = 1
    while True:
        candidates = [base] if first == 1 else []
        candidates += [_key_numbered(base, n, longest) for n in range(max(first, 2), first + 100)]
        taken = set(AccountRule.objects.filter(key__in=candidates).values_list("key", flat=True))
        if free := next((key for key in candidates if key not in taken), None):
            return free
        first += 100


def _key_numbered(base: str, n: int, longest: int) -> str:
    suffix = f"-{n}"
    return base[: longest - len(suffix)].rstrip("-_") + suffix


def account_rule_create(
    *,
    name: str,
    points: int,
    conditions: Sequence[tuple[str, str, object]],
    match: str = rules.Match.ALL.value,
    active: bool = True,
    key: str = "",
) -> AccountRule:
    """An account fit rule with its conditions (field, operator, value), checked as the
    admin checks them: ValidationError names every problem at once, by field
    ("conditions" for the conditions, each with its number). Without a ``key`` it gets
    one from its name (:func:`account_rule_key`). Every account's fit follows once the
    transaction commits (:func:`account_rules_changed`)."""
    with transaction.atomic():
        account_rules_lock()  # checked against the active rules and saved before another is
        rule = AccountRule(key=key or account_rule_key(name), name=name, points=points, match=match, active=active)
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
