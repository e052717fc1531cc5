"""Accepting events: find or create their leads and visitors, store each
interaction once, and ask a worker to score them. The request path stops here.

Everything is done in a few set-based statements per batch, whatever its size:
leads and visitors are looked up and created in bulk, interactions are inserted
with ``ON CONFLICT DO NOTHING RETURNING`` so that an id seen before (in this
batch, an earlier request or a concurrent one) is counted as a duplicate
exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from intake import lead_refs
from intake.bodies import json_text
from intake.events import Event, Rejection
from scoring import bulk, lead_fields
from scoring import services as scoring
from scoring.models import Interaction, Visitor
from scoring.services import event_types_seen, scoring_enqueue

INSERT_CHUNK = 500


@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int
    # Events refused once their leads were looked up (an email and an external id naming
    # two different leads), by the index they were given; nothing of them was stored.
    rejected: tuple[Rejection, ...] = ()


def _leads_by_email(emails: set[str]) -> dict[str, int]:
    return scoring.leads_by_email(emails)


def _leads_by_external_id(ids: set[str]) -> dict[str, int]:
    return lead_refs.lead_refs_find(emails=(), external_ids=ids).by_external_id


def _leads_found(events: Sequence[Event]) -> lead_refs.LeadsFound:
    return lead_refs.lead_refs_find(
        emails={e.email for e in events if e.email}, external_ids={e.external_id for e in events if e.external_id}
    )


@dataclass(frozen=True)
class Resolved:
    """What :func:`leads_resolve` found: the lead of each event naming one (lead id by
    event index), and the events refused for naming two different leads."""

    leads: dict[int, int]
    rejected: tuple[Rejection, ...] = ()


# A lead this batch creates: (email, None), or (None, external id) for one named only so.
_NewLead = tuple[str | None, str | None]

# Tries to create a batch's new leads when a concurrent request takes an external id
# one of them asked for (each try looks the references up again).
_RESOLVE_ATTEMPTS = 3


def _new_lead(lead: lead_refs.Named) -> int | _NewLead:
    """A lead as :class:`lead_refs.Naming` names it, as this module keys new leads."""
    return (lead, None) if isinstance(lead, str) else lead


def leads_resolve(events: Sequence[Event]) -> Resolved:
    """Lead id for each event index that names a lead; new leads are created.

    A lead is found by email first, then by external id. An event giving both is refused
    (``lead_mismatch``, naming both fields) unless they name the same lead, counting the
    leads this batch creates: an email no lead has yet makes a new lead, a different one
    from the lead an external id names (one that has it, or the new lead an earlier event
    of the batch gave it to). So an event is refused, or its lead found, alike each time
    it is sent. An email with an external id no lead has works: a new lead is given it.
    New leads are queued for a worker to evaluate their fit. Safe against concurrent
    requests creating the same lead: conflicts are ignored and re-read.
    """
    return _leads_resolve(events, attempts=_RESOLVE_ATTEMPTS)


def _leads_resolve(events: Sequence[Event], *, attempts: int) -> Resolved:
    named = [e for e in events if e.email or e.external_id]
    naming = lead_refs.Naming(_leads_found(named))

    target: dict[int, int | _NewLead] = {}  # by event index: a lead's id, or the new lead it makes
    new: dict[_NewLead, str | None] = {}  # the new leads, and the external id each is given
    rejected: list[Rejection] = []
    for e in named:
        if not e.email:
            by_id = naming.by_external_id(str(e.external_id))
            if by_id is None:
                by_id = (None, e.external_id)
                new[by_id] = e.external_id
                naming.give(str(e.external_id), by_id)
            target[e.index] = _new_lead(by_id)
            continue
        if naming.mismatched(e.email, e.external_id):
            refusal = lead_refs.mismatch()
            rejected.append(Rejection(e.index, e.id, refusal.errors, refusal.codes))
            continue
        by_mail = _new_lead(naming.by_email(e.email))
        # A new lead takes the first external id its events give that names no lead yet.
        if (
            isinstance(by_mail, tuple)
            and new.setdefault(by_mail, None) is None
            and e.external_id
            and naming.by_external_id(e.external_id) is None
        ):
            new[by_mail] = e.external_id
            naming.give(e.external_id, e.email)
        target[e.index] = by_mail

    made: dict[_NewLead, int] = {}
    if new:
        scoring.leads_create(keys=[(email, external_id) for (email, _), external_id in new.items()])
        made_by_email = _leads_by_email({email for email, _ in new if email})
        made_by_external = _leads_by_external_id({eid for email, eid in new if not email and eid})
        for key in new:
            email, external_id = key
            lead_id = made_by_email.get(email) if email else made_by_external.get(external_id or "")
            if lead_id is not None:
                made[key] = lead_id

    resolved: dict[int, int] = {}
    unmade: list[Event] = []
    for e in named:
        if e.index not in target:
            continue
        to = target[e.index]
        lead_id = to if isinstance(to, int) else made.get(to)
        if lead_id is not None:
            resolved[e.index] = lead_id
        else:  # its external id taken meanwhile by a concurrent request: look it up again
            unmade.append(e)
    if unmade:
        if attempts <= 1:
            raise RuntimeError(f"leads taken again and again while creating them: {[e.id for e in unmade]}")
        again = _leads_resolve(unmade, attempts=attempts - 1)
        resolved.update(again.leads)
        rejected.extend(again.rejected)
    return Resolved(resolved, tuple(sorted(rejected, key=lambda r: r.index)))


def visitors_resolve(
    events: Sequence[Event], leads: dict[int, int], *, now: datetime, moves_at_most: Mapping[str, int] | None = None
) -> dict[str, Visitor]:
    """The visitors the events name, created if new. An event naming both a
    visitor and a lead identifies the visitor: its anonymous interactions move
    to the lead, where they are scored (at most ``moves_at_most`` of a visitor's, by its key:
    :func:`_visitors_identify`)."""
    keys = {e.visitor_id for e in events if e.visitor_id}
    if not keys:
        return {}
    first_lead: dict[str, int] = {}
    for e in events:
        lead_id = leads.get(e.index)
        if e.visitor_id and lead_id is not None:
            first_lead.setdefault(e.visitor_id, lead_id)
    visitors = _visitors_lock(keys)
    _visitors_identify(visitors, lead_by_key=first_lead, now=now, at_most=moves_at_most)
    Visitor.objects.filter(pk__in=[v.pk for v in visitors.values()]).update(last_seen_at=now)
    return visitors


def _visitors_lock(keys: set[str]) -> dict[str, Visitor]:
    """The visitors with these keys, created if new, their rows locked."""
    Visitor.objects.bulk_create([Visitor(key=key) for key in sorted(keys)], ignore_conflicts=True)
    return {v.key: v for v in Visitor.objects.select_for_update(no_key=True).filter(key__in=keys).order_by("pk")}


def visitor_interactions_waiting(key: str) -> int:
    """How many interactions the visitor ``key`` holds that move to a lead once it
    identifies: 0 for a visitor tied to a lead already, or unknown."""
    return Interaction.objects.filter(visitor__key=key, visitor__lead__isnull=True, lead__isnull=True).count()


def visitor_lead(key: str) -> tuple[str | None, str | None] | None:
    """The email and external id of the lead the visitor ``key`` is tied to; None for a
    visitor tied to none, or unknown."""
    return Visitor.objects.filter(key=key, lead__isnull=False).values_list("lead__email", "lead__external_id").first()


_THEIR_LEAD = "(SELECT lead_id FROM scoring_visitor WHERE scoring_visitor.id = scoring_interaction.visitor_id)"


def _visitors_identify(
    visitors: Mapping[str, Visitor],
    *,
    lead_by_key: Mapping[str, int],
    now: datetime,
    at_most: Mapping[str, int] | None = None,
) -> int:
    """Tie each visitor not yet tied to a lead to its lead in ``lead_by_key``, and
    hand its past interactions over; returns how many moved. Two statements on PostgreSQL
    whatever the number of visitors, and one more for each visitor ``at_most`` names: of
    its interactions, only that many move, the latest; the others stay with the visitor,
    never scored (what an anonymous door may bring a lead is counted: the caller said how
    many its limit lets through).

    Precondition: the visitors' rows are locked. The moved interactions were never
    scored; they wait for a worker now, which scores them once, for the lead.
    """
    fresh = [v for key, v in visitors.items() if v.lead_id is None and key in lead_by_key]
    if not fresh:
        return 0
    for visitor in fresh:
        visitor.lead_id, visitor.identified_at = lead_by_key[visitor.key], now
    bulk.values_update(Visitor, ["lead", "identified_at"], [(v.pk, v.lead_id, now) for v in fresh])
    capped = {v.pk: at_most[v.key] for v in fresh if at_most and v.key in at_most}
    ids = [v.pk for v in fresh if v.pk not in capped]
    moved = 0
    if ids:
        moved += scoring.interactions_wait_moved(
            changes=f"lead_id = {_THEIR_LEAD}",
            where=f"WHERE visitor_id IN ({', '.join(['%s'] * len(ids))}) AND lead_id IS NULL",
            params=ids,
            lead=_THEIR_LEAD,
        )
    for pk, count in capped.items():
        if count > 0:
            moved += scoring.interactions_wait_moved(
                changes=f"lead_id = {_THEIR_LEAD}",
                where=(
                    "WHERE visitor_id = %s AND lead_id IS NULL AND id IN (SELECT id FROM scoring_interaction"
                    " WHERE visitor_id = %s AND lead_id IS NULL ORDER BY occurred_at DESC, id DESC LIMIT %s)"
                ),
                params=[pk, pk, count],
                lead=_THEIR_LEAD,
            )
    if moved:
        transaction.on_commit(scoring_enqueue)
    return moved


@dataclass(frozen=True)
class Identity:
    """What one message (a Segment identify) says about a person."""

    email: str  # checked, lower-cased
    # Checked values of LEAD_EDITABLE_FIELDS but lifecycle_stage and external_id;
    # "attributes" are merged into those known.
    fields: Mapping[str, Any] = field(default_factory=dict)
    external_id: str | None = None  # refused (leads_identify) if another lead has it already
    visitor_key: str | None = None  # this anonymous visitor is the person
    account_id: str | None = None  # the company's id in another system: the person's account from then on
    # Checked values of scoring.services.ACCOUNT_WRITABLE_FIELDS: what the message says of
    # the person's company, written to the account the person is in once identified.
    company: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Identified:
    """What :func:`leads_identify` did: how many leads changed, and the identities it
    refused (their positions in the sequence given) for naming one lead by email and
    another by external id; nothing of those was written."""

    changed: int
    refused: tuple[int, ...] = ()
    # What the identities say of each person's company, by lead id, in order: for
    # :func:`accounts_describe` once the transaction has taken every lead it will.
    companies: tuple[tuple[int, Mapping[str, Any]], ...] = ()
    # What the identities wrote on each person's lead, by lead id, in order: their accounts'
    # empty fields may take what it says of the company (:func:`accounts_describe`).
    written: tuple[tuple[int, Mapping[str, Any]], ...] = ()
    # The custom attributes' names left out of every identity (``fill_only``): new to
    # Leadflow once its room for names brought from pages was full.
    attributes_dropped: tuple[str, ...] = ()


def leads_identify(
    identities: Sequence[Identity], *, now: datetime | None = None, fill_only: bool = False
) -> Identified:
    """Write what ``identities`` say to their leads (created if new) and tie their
    visitors to them, in a few statements whatever their number.

    As if applied one by one in order: a later value wins, attributes merge. An
    identity whose email and external id name two different leads is refused, as an
    event naming them is (:func:`leads_resolve`): the external id's lead is the one that
    has it, in the database or given it by an earlier identity of the batch (an email no
    lead has is a new lead, a different one). With ``fill_only`` the traits are written
    only where a lead has no value yet, an account id only places a lead no account was
    named for yet, and custom attributes only under names Leadflow
    knows or may still learn from a page (:func:`_attribute_names_held`). Scoring writes the leads
    (:func:`scoring.services.leads_merge`): changed leads are queued for a worker to
    evaluate their fit. What the identities say of each person's company is returned,
    for :func:`accounts_describe` to write once the transaction has taken every lead row
    it will. Call inside a transaction (leads are locked until it ends).
    """
    if not identities:
        return Identified(0)
    now = now or timezone.now()
    refused = _identities_mismatched(identities)
    if refused:
        skipped = set(refused)
        identities = [identity for n, identity in enumerate(identities) if n not in skipped]
    dropped: tuple[str, ...] = ()
    if fill_only:
        identities, dropped = _attribute_names_held(identities)
    merged: dict[str, dict[str, Any]] = {}
    claims: dict[str, str] = {}  # email -> the external id it asks for (the last one)
    for identity in identities:
        if {"lifecycle_stage", "external_id"} & set(identity.fields):
            raise ValueError("leads_identify changes neither stage nor external id in fields: use lead_upsert")
        fields = merged.setdefault(identity.email, {})
        earlier = fields.get("attributes")
        fields.update(identity.fields)
        if "attributes" in fields:
            # A value a later identity gives drops what an earlier one kept as an attribute
            # for want of a readable one, as it would have sent one by one (leads_merge).
            given = [name for name, value in identity.fields.items() if value not in (None, "")]
            fields["attributes"] = lead_fields.attributes_merged(
                earlier, given, identity.fields.get("attributes"), kept_as=lead_fields.KEPT_AS
            )
        if identity.external_id is not None:
            claims[identity.email] = identity.external_id

    ids, changed = scoring.leads_merge(fields=merged, external_ids=claims, at=now, fill_only=fill_only)
    # The last company named for each person wins, as a later trait does.
    accounts = {ids[i.email]: i.account_id for i in identities if i.account_id is not None}
    if accounts:
        changed += scoring.leads_accounts_assign(lead_ids=(), external_ids=accounts, fill_only=fill_only).leads
    lead_by_key = {i.visitor_key: ids[i.email] for i in reversed(identities) if i.visitor_key}
    if lead_by_key:
        visitors = _visitors_lock(set(lead_by_key))
        _visitors_identify(visitors, lead_by_key=lead_by_key, now=now)
    companies = tuple((ids[i.email], i.company) for i in identities if i.company)
    written = tuple((ids[i.email], i.fields) for i in identities if i.fields)
    return Identified(changed, refused, companies, written, dropped)


def _attribute_names_held(identities: Sequence[Identity]) -> tuple[list[Identity], tuple[str, ...]]:
    """The identities of a source anyone can use (a key used in web pages) without the
    custom attributes whose names Leadflow does not know, past the few new ones such sources
    may bring site-wide (``LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES``,
    :func:`scoring.services.attribute_names_admit`), and the names left out: else an
    identify per made-up email, each with 50 names of its own, gave the leads' export a
    column per name. A few queries for the whole batch, before it takes any lead's row."""
    names = [name for identity in identities for name in identity.fields.get("attributes") or ()]
    if not names:
        return list(identities), ()
    admitted = scoring.attribute_names_admit(names, new_limit=settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES)
    if not admitted.dropped:
        return list(identities), ()
    held = []
    for identity in identities:
        fields = dict(identity.fields)
        if "attributes" in fields:
            kept = {name: value for name, value in fields.pop("attributes").items() if name in admitted.names}
            fields.update({"attributes": kept} if kept else {})
        held.append(replace(identity, fields=fields))
    return held, admitted.dropped


def accounts_describe(identified: Identified, *, now: datetime | None = None, from_leads: bool = False) -> int:
    """Write what :func:`leads_identify`'s identities said of each person's company to the
    account the person is in (scoring.services.leads_accounts_describe: the values replace
    those known, and the account's fit follows). With ``from_leads`` (a trusted sender's
    identities: not a key used in web pages) the accounts' fields still empty then take
    what the identities wrote on the leads of their own company
    (scoring.services.leads_accounts_fill), in a few statements whatever the batch's
    size. Call in the same transaction,
    after every statement that takes a lead's row (lock order: leads, then accounts).
    Returns how many accounts changed."""
    changed = 0
    if identified.companies:
        changed += scoring.leads_accounts_describe(descriptions=identified.companies, at=now)
    if from_leads and identified.written:
        changed += scoring.leads_accounts_fill(descriptions=identified.written, at=now)
    return changed


def _identities_mismatched(identities: Sequence[Identity]) -> tuple[int, ...]:
    """The positions of the identities whose external id is another lead's than their
    email's: a lead's in the database, or the lead an earlier identity gave it to."""
    asking = [identity for identity in identities if identity.external_id]
    if not asking:
        return ()
    naming = lead_refs.Naming(
        lead_refs.lead_refs_find(emails={i.email for i in asking}, external_ids={str(i.external_id) for i in asking})
    )
    refused = []
    for n, identity in enumerate(identities):
        if naming.mismatched(identity.email, identity.external_id):
            refused.append(n)
        elif identity.external_id:
            naming.give(identity.external_id, naming.by_email(identity.email))
    return tuple(refused)


_COLUMNS = (
    ("idempotency_key", "text"),
    ("lead_id", "bigint"),
    ("visitor_id", "bigint"),
    ("type", "text"),
    ("occurred_at", "timestamptz"),
    ("properties", "jsonb"),  # sent as JSON text
    ("source", "text"),
    ("received_at", "timestamptz"),
)
_KEYS = "scoring_interactionkey"
# Interactions of known leads wait for a worker (scoring.models.WaitingInteraction).
_WAITING = "scoring_waitinginteraction"
_WAITING_COLUMNS = "interaction_id, lead_id, type, properties, occurred_at"


def _insert_new(rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert interaction rows, skipping ids already stored; return the ids of the new ones.

    An id is claimed in the keys' table (``INSERT … ON CONFLICT DO NOTHING RETURNING``),
    and only the rows whose id it returns are stored: the interactions' table cannot be
    unique on the id alone when it is partitioned by month (scoring.partitions).
    Those with a lead wait for a worker: a :class:`~scoring.models.WaitingInteraction`
    each, written with them. Only quoted identifiers and placeholders are formatted into
    the SQL; the values are parameters. On PostgreSQL each column is one array parameter
    (``unnest``), so the statement's size does not grow with the batch, and keys, rows and
    waiting rows are written by one statement.
    """
    table = connection.ops.quote_name(Interaction._meta.db_table)
    names = ", ".join(name for name, _ in _COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{'text' if kind == 'jsonb' else kind}[]" for _, kind in _COLUMNS)
            select = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in _COLUMNS)
            sql = (
                f"WITH v AS (SELECT * FROM unnest({arrays}) AS v ({names})),"  # noqa: S608
                f" k AS (INSERT INTO {_KEYS} (key, occurred_at, lead_id)"
                " SELECT idempotency_key, occurred_at, lead_id FROM v"
                " ON CONFLICT DO NOTHING RETURNING key),"
                f" i AS (INSERT INTO {table} ({names}) SELECT {select} FROM v"
                " WHERE idempotency_key IN (SELECT key FROM k)"
                " RETURNING id, lead_id, type, properties, occurred_at, idempotency_key),"
                f" w AS (INSERT INTO {_WAITING} ({_WAITING_COLUMNS})"
                " SELECT id, lead_id, type, properties, occurred_at FROM i WHERE lead_id IS NOT NULL)"
                " SELECT idempotency_key FROM i"
            )
            return {row[0] for row in bulk.pg_execute(sql, [list(column) for column in zip(*rows, strict=True)])}
        inserted: set[str] = set()
        placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {_KEYS} (key, occurred_at, lead_id) VALUES {values}"  # noqa: S608
                " ON CONFLICT DO NOTHING RETURNING key",
                [value for row in chunk for value in (row[0], row[4], row[1])],
            )
            new = {row[0] for row in cursor.fetchall()}
            chunk = [row for row in chunk if row[0] in new]
            if chunk:
                values = ", ".join([placeholders] * len(chunk))
                sql = (
                    f"INSERT INTO {table} ({names}) VALUES {values}"  # noqa: S608
                    " RETURNING id, lead_id, type, properties, occurred_at"
                )
                cursor.execute(sql, [value for row in chunk for value in row])
                waiting = [row for row in cursor.fetchall() if row[1] is not None]
                if waiting:
                    cursor.executemany(
                        f"INSERT INTO {_WAITING} ({_WAITING_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                        waiting,
                    )
            inserted |= new
        return inserted


def events_accept(
    events: Sequence[Event],
    *,
    source: str,
    now: datetime | None = None,
    moves_at_most: Mapping[str, int] | None = None,
) -> Accepted:
    """Store ``events`` (already checked) once each and enqueue their scoring. A visitor
    an event ties to its lead brings the lead its interactions, at most ``moves_at_most``
    of them by the visitor's key (:func:`_visitors_identify`).

    The leads they name are found or created first, in a transaction of their own (a
    savepoint inside the caller's, when there is one), and the events stored in a second.
    A request creating a lead holds its row until it commits, and every other request
    naming the same new person waits for that: for the few statements that create it, not
    for the whole request. A lead so created stays if storing the events then fails; the
    events sent again find it."""
    now = now or timezone.now()
    seen: set[str] = set()
    unique = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            unique.append(event)
    if not unique:
        return Accepted(0, len(events))
    with transaction.atomic():
        resolved = leads_resolve(unique)
    rejected = list(resolved.rejected)
    if rejected:
        refused = {r.index for r in rejected}
        unique = [e for e in unique if e.index not in refused]
    repeats = len(events) - len(unique) - len(rejected)
    if not unique:
        return Accepted(0, repeats, tuple(rejected))
    with transaction.atomic():
        stored = _events_store(
            unique, resolved.leads, source=source, now=now, repeats=repeats, moves_at_most=moves_at_most
        )
    if stored.rejected:  # refused only when their lead, erased meanwhile, was looked up again
        rejected = sorted([*rejected, *stored.rejected], key=lambda r: r.index)
    return Accepted(stored.accepted, stored.duplicates, tuple(rejected))


def _leads_held(
    events: Sequence[Event], leads: dict[int, int], *, also: Iterable[int] = ()
) -> tuple[dict[int, int], set[int], list[Rejection]]:
    """``leads`` (lead id by event index, from the first transaction) and ``also`` (the
    leads of the events' visitors), each held until this transaction ends
    (:func:`scoring.services.leads_hold`: the database checks no key from an interaction to
    its lead); returns them, the ids held and the events refused. An event's lead erased
    since is resolved again, as a later event naming the person would be: created anew,
    found if another request has, or refused if its references now name two leads; a
    visitor's lead erased since went with its visitor."""
    also = set(also)
    rejected: list[Rejection] = []
    for _ in range(_HOLD_ATTEMPTS):
        held = scoring.leads_hold(set(leads.values()) | also)
        gone = set(leads.values()) - held
        if not gone:
            return leads, held, rejected
        also &= held
        again = leads_resolve([e for e in events if leads.get(e.index) in gone])
        refused = {r.index for r in again.rejected}
        leads = {index: lead for index, lead in leads.items() if index not in refused} | again.leads
        rejected.extend(again.rejected)
    raise RuntimeError(f"leads erased again and again while storing their events: {sorted(gone)}")


# Each attempt finds a lead erased between two statements of this request; the next finds
# the person's lead another request has made since, or makes it in this transaction, where
# nothing else can erase it first.
_HOLD_ATTEMPTS = 5


def _events_store(
    unique: Sequence[Event],
    leads: dict[int, int],
    *,
    source: str,
    now: datetime,
    repeats: int,
    moves_at_most: Mapping[str, int] | None = None,
) -> Accepted:
    """:func:`events_accept`'s second transaction: the visitors, the interactions and their
    types; ``repeats``: the events left out as repeats of one in the same batch."""
    # The leads of the events' visitors are held with the events' own, before the visitors'
    # rows are locked: erasure takes a lead, then deletes its visitors, in that order too.
    keys = {e.visitor_id for e in unique if e.visitor_id}
    tied = Visitor.objects.filter(key__in=keys, lead__isnull=False).values_list("lead_id", flat=True) if keys else []
    leads, held, rejected = _leads_held(unique, leads, also=tied)
    if rejected:
        refused = {r.index for r in rejected}
        unique = [e for e in unique if e.index not in refused]
    visitors = visitors_resolve(unique, leads, now=now, moves_at_most=moves_at_most)
    if late := {v.lead_id for v in visitors.values() if v.lead_id is not None} - held:
        # A visitor tied to a lead since the read above: its lead held after its row, the
        # one step in the other order than erasure's (should that lead's erasure run at that
        # moment, the database ends one of the two). The lead is there: its visitor is.
        scoring.leads_hold(late)
    rows: list[tuple[Any, ...]] = []
    for e in unique:
        visitor = visitors[e.visitor_id] if e.visitor_id else None
        lead_id = leads.get(e.index) or (visitor.lead_id if visitor else None)
        rows.append(
            (
                e.id,
                lead_id,
                visitor.pk if visitor else None,
                e.type,
                e.occurred_at,
                json_text(e.properties),
                source,
                now,
            )
        )
    rows.sort(key=lambda row: row[0])  # key order, for the same reason as the leads
    inserted = _insert_new(rows) if rows else set()
    if inserted:
        # Last, so the type rows (which every concurrent batch may touch) stay locked only until the commit.
        event_types_seen(seen=[(e.type, e.occurred_at) for e in unique if e.id in inserted])
        transaction.on_commit(scoring_enqueue)
    return Accepted(len(inserted), len(unique) - len(inserted) + repeats, tuple(rejected))
