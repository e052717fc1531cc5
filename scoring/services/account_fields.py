"""An account's own fields written for other apps: what Segment's group call and an
identify's company say about a company (its name, industry, company size, annual
revenue, country and custom attributes). The account's fit follows in the same
transaction, by the path a save in the admin takes
(:func:`~scoring.services.accounts.accounts_rescore_fit`), so account fit rules score
what other systems tell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from scoring import accounts as pure_accounts
from scoring import bulk, lead_fields
from scoring.models import Account, Lead
from scoring.services.accounts import Assigned, accounts_rescore_fit, leads_accounts_assign

# What other systems may write on an account (checked values, as the columns hold them);
# "attributes" are merged into those known.
ACCOUNT_WRITABLE_FIELDS = frozenset({"name", "industry", "company_size", "annual_revenue", "country", "attributes"})

# What a lead says of its own company that its account's empty fields take
# (:func:`leads_accounts_fill`).
LEAD_COMPANY_FIELDS = ("industry", "company_size", "annual_revenue", "country")


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _told_json(value: Any) -> Any:
    """A company field's value as :attr:`Lead.company_told` keeps it (JSON: a revenue as text, exact)."""
    return str(value) if isinstance(value, Decimal) else value


def _told_value(name: str, value: Any) -> Any:
    """A value of :attr:`Lead.company_told` as the account's column holds it."""
    return Decimal(str(value)) if name == "annual_revenue" else value


@transaction.atomic(savepoint=False)
def leads_accounts_fill(*, descriptions: Sequence[tuple[int, Mapping[str, Any]]], at: datetime | None = None) -> int:
    """Fill the empty fields of each lead's account from what ``descriptions`` (a lead
    id, and the lead's fields a sender has just written, changed or not) say of the lead's
    own company (:data:`LEAD_COMPANY_FIELDS`): a company whose leads say "Software, 250
    employees" is scored so by account fit rules. Fill-only: a field the account has
    (typed in the admin, sent by a group call or an identify's company, or filled by an
    earlier lead) is never changed, so the first lead to tell wins, and among
    ``descriptions`` the first given. The accounts that change get their fit re-evaluated
    in the same transaction (:func:`accounts_describe`). What is said is also kept on each
    lead (:attr:`~scoring.models.Lead.company_told`; a field written empty forgets it), for
    the account it joins later (:func:`leads_accounts_fill_told`). One read whatever the
    number of leads (none when no description names a company field), one write of the
    leads whose told values change, two more when an account has a field to fill; the same
    lead written again changes nothing. Returns how many accounts changed.

    Only for what a trusted sender wrote (the API, an import, the admin, a key kept on a
    server), and only what it wrote: a field a key used in web pages or a tracked form
    (anyone may post one) filled on the lead describes no company, even once the lead is
    written again.
    Precondition: the leads are in their accounts already. Lock order: call after the
    transaction has locked every lead row it will (leads, then accounts)."""
    changed_told, fills = _fill_planned(descriptions)
    if changed_told:
        bulk.values_update(Lead, ["company_told"], changed_told)
    return accounts_describe(fields=fills, at=at, fill_only=True)


def leads_accounts_fill_pending(*, descriptions: Sequence[tuple[int, Mapping[str, Any]]]) -> bool:
    """Whether :func:`leads_accounts_fill` of ``descriptions`` would write anything (a
    lead's told values, an account's empty field), read without taking any row: a lead
    written again as it was need not wait for its row when this is false."""
    changed_told, fills = _fill_planned(descriptions)
    return bool(changed_told or fills)


def _fill_planned(
    descriptions: Sequence[tuple[int, Mapping[str, Any]]],
) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, dict[str, Any]]]:
    """What :func:`leads_accounts_fill` writes: the leads whose told values change (lead id,
    the new ones), and each account's empty fields to fill."""
    said = [
        (lead, {name: fields[name] for name in LEAD_COMPANY_FIELDS if name in fields}) for lead, fields in descriptions
    ]
    said = [(lead, company) for lead, company in said if company]
    if not said:
        return [], {}
    rows = Lead.objects.filter(bulk.ids_in("pk", sorted({lead for lead, _ in said})))
    known = {
        pk: (account, told or {}, dict(zip(LEAD_COMPANY_FIELDS, has, strict=True)))
        for pk, account, told, *has in rows.values_list(
            "pk", "account_id", "company_told", *(f"account__{name}" for name in LEAD_COMPANY_FIELDS)
        )
    }
    telling: dict[int, dict[str, Any]] = {}
    fills: dict[int, dict[str, Any]] = {}
    for lead, company in said:
        if lead not in known:
            continue
        account, told, has = known[lead]
        now_told = telling.setdefault(lead, dict(told))
        for name, value in company.items():
            if _empty(value):
                now_told.pop(name, None)
                continue
            now_told[name] = _told_json(value)
            if account is not None and _empty(has[name]):  # in no account: a free-mail address
                fills.setdefault(account, {}).setdefault(name, value)  # the first to tell wins
    return sorted((lead, told) for lead, told in telling.items() if told != known[lead][1]), fills


def _told_fills(rows: Iterable[tuple[int, Mapping[str, Any]]]) -> dict[int, dict[str, Any]]:
    """What ``rows`` (an account id and what a lead of it was told, in the order the leads
    tell: lowest lead id first) fill, by account: the first lead to tell a field wins."""
    fills: dict[int, dict[str, Any]] = {}
    for account, told in rows:
        into = fills.setdefault(account, {})
        for name in LEAD_COMPANY_FIELDS:
            if not _empty(value := (told or {}).get(name)):
                into.setdefault(name, _told_value(name, value))
    return fills


@transaction.atomic(savepoint=False)
def leads_accounts_fill_told(*, lead_ids: Iterable[int], at: datetime | None = None) -> int:
    """Fill the empty fields of these leads' accounts from what trusted senders told of
    each lead's company (:attr:`~scoring.models.Lead.company_told`), the lowest lead id
    first: for leads that have just joined an account (the free-mail list changed) as if
    told again there. One read, and :func:`accounts_describe`'s. Returns how many accounts
    changed. Lock order: call after the transaction has locked every lead row it will."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    rows = (
        Lead.objects.filter(bulk.ids_in("pk", ids), account__isnull=False)
        .exclude(company_told={})
        .order_by("pk")
        .values_list("account_id", "company_told")
    )
    return accounts_describe(fields=_told_fills(rows), at=at, fill_only=True)


def leads_accounts_assign_all(*, chunk_size: int = 1000) -> Assigned:
    """:func:`~scoring.services.accounts.leads_accounts_assign` over every lead,
    ``chunk_size`` at a time (one transaction each): after the free-mail list changed, or
    for leads from before accounts. Leads named explicitly keep their account. A lead that
    joins an account fills its empty fields with what trusted senders told of the lead's
    company (:func:`leads_accounts_fill_told`), as its next trusted write would."""
    changed, touched, joined, last_id = 0, set[int](), set[int](), 0
    while True:
        ids = list(Lead.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return Assigned(changed, frozenset(touched), frozenset(joined))
        with transaction.atomic():
            done = leads_accounts_assign(lead_ids=ids)
            leads_accounts_fill_told(lead_ids=done.joined)  # after the leads' rows: then the accounts'
        changed += done.leads
        touched |= done.accounts
        joined |= done.joined
        last_id = ids[-1]


class Filled(NamedTuple):
    accounts: int  # accounts whose fields changed (their fit was re-evaluated)
    read: int  # accounts with an empty field, looked at


def accounts_fill_all(*, chunk_size: int = 500, from_columns: bool = False, at: datetime | None = None) -> Filled:
    """Fill every account's empty fields from what trusted senders told of its leads'
    company (:attr:`~scoring.models.Lead.company_told`), the lowest lead id first, as if
    its leads had been written again: once, for leads written before their accounts took
    their fields, or an account emptied since. ``chunk_size`` accounts (of those with an
    empty field, in id order) per transaction, each one read of their leads and
    :func:`accounts_describe`'s statements, which re-evaluate the fit of those that change.
    Running it again changes nothing.

    With ``from_columns`` a lead no trusted sender has told anything (written before
    Leadflow kept what they tell) fills from its own columns: only for an installation where
    no key used in web pages or tracked form wrote a lead's company fields, which would then
    describe its company for everyone."""
    empty = Q()
    for name in LEAD_COMPANY_FIELDS:
        empty |= Q(**{f"{name}__isnull": True}) if name in ("company_size", "annual_revenue") else Q(**{name: ""})
    changed = read = 0
    last = 0
    while True:
        ids = list(Account.objects.filter(empty, pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return Filled(changed, read)
        leads = Lead.objects.filter(bulk.ids_in("account_id", ids)).order_by("pk")
        if not from_columns:
            leads = leads.exclude(company_told={})
        rows = (
            (account, told or (dict(zip(LEAD_COMPANY_FIELDS, columns, strict=True)) if from_columns else {}))
            for account, told, *columns in leads.values_list("account_id", "company_told", *LEAD_COMPANY_FIELDS)
        )
        with transaction.atomic():
            changed += accounts_describe(fields=_told_fills(rows), at=at, fill_only=True)
        read += len(ids)
        last = ids[-1]


# No savepoint: inside a caller's transaction (a Segment batch) an error rolls the caller's
# whole transaction back, and nothing of the batch is kept.
@transaction.atomic(savepoint=False)
def leads_accounts_describe(
    *, descriptions: Sequence[tuple[int, Mapping[str, Any]]], at: datetime | None = None
) -> int:
    """Write what ``descriptions`` (a lead id, and fields of its company) say to each lead's
    account as it is now: a lead in no account (a free-mail address and no company id)
    describes none. As if applied one by one in order: a later value wins, attributes
    merge. See :func:`accounts_describe`. Returns how many accounts changed.

    Precondition: the leads are in their accounts already (this reads where they are)."""
    wanted = [(lead, fields) for lead, fields in descriptions if fields]
    if not wanted:
        return 0
    account_of = dict(
        Lead.objects.filter(pk__in={lead for lead, _ in wanted}, account__isnull=False).values_list("pk", "account_id")
    )
    merged: dict[int, dict[str, Any]] = {}
    for lead, fields in wanted:
        if (account := account_of.get(lead)) is None:
            continue
        into = merged.setdefault(account, {})
        earlier = into.get("attributes")
        into.update(fields)
        if "attributes" in into:  # as if applied one by one: a later value drops an earlier kept one
            given = [name for name, value in fields.items() if not _empty(value)]
            into["attributes"] = lead_fields.attributes_merged(
                earlier, given, fields.get("attributes"), kept_as=pure_accounts.KEPT_AS
            )
    return accounts_describe(fields=merged, at=at)


@transaction.atomic(savepoint=False)
def accounts_describe(
    *, fields: Mapping[int, Mapping[str, Any]], at: datetime | None = None, fill_only: bool = False
) -> int:
    """Write ``fields`` (account id -> values of :data:`ACCOUNT_WRITABLE_FIELDS`, checked)
    over what each account has, as the API writes a lead's: the sender is trusted, so a
    value it gives replaces the one known (typed in the admin or sent before); a field it
    does not give stays; ``attributes`` merge into those known. With ``fill_only`` a value
    is written only where the account has none (checked again holding its row: a
    concurrent write is never overwritten), and an attribute only where it lacks one. The
    accounts whose fields change get their fit re-evaluated in the same transaction, as
    after a save in the admin (:func:`accounts_rescore_fit`: a ledger row per rule whose
    points change, and their group). Sending the same values again changes nothing and locks nothing.
    Returns how many accounts changed.

    Lock order: call after the transaction has locked every lead row it will (leads, then
    accounts)."""
    for pk, values in fields.items():
        if unknown := set(values) - ACCOUNT_WRITABLE_FIELDS:
            raise ValueError(f"account {pk}: unknown account fields: {', '.join(sorted(unknown))}")
    wanted = {pk: values for pk, values in fields.items() if values}
    if not wanted:
        return 0
    # Read unlocked first: the SDKs send a company's traits again on every call, and an
    # account they leave as it is is then neither locked nor written (the roll-up sweep and
    # the admin do not wait on it).
    unchanged = Account.objects.filter(bulk.ids_in("pk", sorted(wanted))).order_by("pk")
    moving = [account.pk for account in unchanged if _described(account, wanted[account.pk], fill_only=fill_only)]
    if not moving:
        return 0
    locked = Account.objects.select_for_update(no_key=True).filter(pk__in=moving).order_by("pk")
    changed: list[Account] = []
    names: set[str] = set()
    for account in locked:
        if written := _described(account, wanted[account.pk], fill_only=fill_only):
            changed.append(account)
            names |= written
    if not changed:
        return 0
    columns = sorted(names)
    bulk.values_update(
        Account, columns, [(account.pk, *(getattr(account, name) for name in columns)) for account in changed]
    )
    accounts_rescore_fit(account_ids=[account.pk for account in changed], at=at or timezone.now())
    return len(changed)


def _described(account: Account, values: Mapping[str, Any], *, fill_only: bool = False) -> set[str]:
    """Set ``values`` on ``account`` (in memory), only where it has none with
    ``fill_only``; the names of the fields that changed. A field given a value drops the
    custom attribute that held one it could not (:data:`scoring.accounts.KEPT_AS`: a group
    call's employees as "51-200"), so rules never read both; what ``values`` say in their
    attributes stays."""
    changed = set()
    filled = []
    for name, value in values.items():
        current = getattr(account, name)
        if name == "attributes" or (fill_only and not _empty(current)):
            continue
        if not _empty(value):
            filled.append(name)
        if current != value:
            setattr(account, name, value)
            changed.add(name)
    attributes = lead_fields.attributes_merged(
        account.attributes, filled, values.get("attributes"), kept_as=pure_accounts.KEPT_AS, fill_only=fill_only
    )
    if attributes != (account.attributes or {}):
        account.attributes = attributes
        changed.add("attributes")
    return changed
