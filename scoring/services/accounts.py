"""Accounts: which account each lead belongs to (its email's domain unless a free-mail
one, or the account another system names), kept by every path that creates a lead or
changes its email, a few statements whatever the number of leads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from django.db import transaction

from scoring import accounts as pure
from scoring import bulk
from scoring.models import Account, FreeMailDomain, Lead


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
