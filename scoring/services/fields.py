"""Lead fields written for other apps, many leads at once: lifecycle stages (routing's
``set_stage``, sales' won), tags (routing's ``add_tag``), owners and the queue a lead
waits in (the sales queue), what Segment's identify says about people, consent. Other
apps never write the lead table themselves: they ask here, so a change of a field fit
rules read re-evaluates fit in the same transaction (or queues the lead's fit for the
next scoring batch, :func:`leads_fit_queue`, for bulk identifies), whoever makes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from scoring import bulk, lead_fields
from scoring import rules as pure
from scoring.models import Lead, LifecycleStage, RuleCondition
from scoring.services.accounts import accounts_of_new_leads
from scoring.services.attribute_names import attribute_names_record
from scoring.services.background import enqueue
from scoring.services.leads import leads_fit_queue, leads_rescore_fit
from scoring.services.ledger import stage_changes_record

# The custom attributes a source anyone can use (``fill_only``) may bring a lead to: past
# them it adds none, so it cannot give every lead's export thousands of columns a few
# at a time. The company's own systems are not held to it.
FILL_ONLY_MAX_ATTRIBUTES = 200


def leads_stage_set(*, lead_ids: Iterable[int], stage: str, cause: str, at: datetime | None = None) -> int:
    """Move leads to lifecycle ``stage``; each lead whose stage changes gets a
    ``stage`` outbox row (routing's "lifecycle stage changes" trigger) and its fit
    re-evaluated (the stage is a fit field), in the same transaction. Returns how
    many changed."""
    if stage not in LifecycleStage.values:
        raise ValueError(f"stage: '{stage}' is not a lifecycle stage ({', '.join(LifecycleStage.values)})")
    at = at or timezone.now()
    ids = sorted(set(lead_ids))
    # No savepoint inside a caller's transaction (a routing batch): on an error the caller's whole
    # transaction rolls back, and routing runs the batch again in parts.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            # One statement: lock in id order, change, and say what each lead was.
            rows = bulk.pg_execute(
                "WITH before AS (SELECT id, lifecycle_stage, total_score FROM scoring_lead"
                " WHERE id = ANY(%s::bigint[]) AND lifecycle_stage <> %s ORDER BY id FOR NO KEY UPDATE)"
                " UPDATE scoring_lead l SET lifecycle_stage = %s, updated_at = %s FROM before WHERE l.id = before.id"
                " RETURNING l.id, before.lifecycle_stage, before.total_score",
                [ids, stage, stage, at],
            )
        else:
            rows = list(
                Lead.objects.select_for_update(no_key=True)
                .filter(pk__in=ids)
                .exclude(lifecycle_stage=stage)
                .order_by("pk")
                .values_list("pk", "lifecycle_stage", "total_score")
            )
            Lead.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(lifecycle_stage=stage, updated_at=at)
        stage_changes_record([(pk, before, stage, total) for pk, before, total in rows], cause=cause, at=at)
        if rows and _fit_reads("lifecycle_stage"):
            leads_rescore_fit(lead_ids=[pk for pk, _, _ in rows], at=at)
    return len(rows)


def leads_tag(*, lead_ids: Iterable[int], tag: str, at: datetime | None = None) -> int:
    """Add ``tag`` to the leads' ``attributes.tags`` (a list; rules can test it with
    'contains'); leads that have it already are left alone. The leads that changed get
    their fit re-evaluated in the same transaction (a fit rule may test the tags).
    Returns how many changed. Set-based: a few statements whatever the number of leads."""
    ids = sorted(set(lead_ids))
    at = at or timezone.now()
    if not ids:
        return 0
    # No savepoint inside a caller's transaction (a routing batch): on an error the caller's whole
    # transaction rolls back, and routing runs the batch again in parts.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            changed = [
                pk
                for (pk,) in bulk.pg_execute(
                    "UPDATE scoring_lead SET updated_at = %s, attributes = attributes"
                    " || jsonb_build_object('tags', COALESCE(attributes->'tags', '[]'::jsonb) || to_jsonb(%s::text))"
                    " WHERE id = ANY(%s::bigint[])"
                    " AND NOT COALESCE(attributes->'tags', '[]'::jsonb) @> jsonb_build_array(%s::text) RETURNING id",
                    [at, tag, ids, tag],
                )
            ]
        else:
            rows = []
            for pk, attributes in (
                Lead.objects.select_for_update(no_key=True)
                .filter(pk__in=ids)
                .order_by("pk")
                .values_list("pk", "attributes")
            ):
                tags = list((attributes or {}).get("tags") or [])
                if tag not in tags:
                    rows.append((pk, {**(attributes or {}), "tags": [*tags, tag]}, at))
            bulk.values_update(Lead, ["attributes", "updated_at"], rows)
            changed = [pk for pk, _, _ in rows]
        if changed and _fit_reads("attributes.tags"):
            leads_rescore_fit(lead_ids=changed, at=at)
    return len(changed)


def _fit_reads(field: str) -> bool:
    """Whether a fit rule tests ``field`` (a column, or ``attributes.<name>``): if none
    does, a change of it cannot change anyone's fit, and a routing batch is spared the
    evaluation (one query instead of a few)."""
    return RuleCondition.objects.filter(rule__dimension=pure.Dimension.FIT, field=field).exists()


def leads_assignment_set(
    *, owners: Mapping[int, int | None] | None = None, queue_teams: Mapping[int, int | None] | None = None
) -> None:
    """Write who owns each lead (``owners``: lead id -> user id or None) and the sales
    team whose queue it waits in unclaimed (``queue_teams``: lead id -> team id or None),
    as the sales queue decides them. Neither is a fit field: fit is not touched. Call in
    the transaction that changes the queue items (the queue page's index must agree)."""
    owners, queue_teams = owners or {}, queue_teams or {}
    both = sorted(owners.keys() & queue_teams.keys())
    bulk.values_update(Lead, ["owner", "queue_team_id"], [(pk, owners[pk], queue_teams[pk]) for pk in both])
    bulk.values_update(Lead, ["owner"], [(pk, user) for pk, user in sorted(owners.items()) if pk not in queue_teams])
    bulk.values_update(
        Lead, ["queue_team_id"], [(pk, team) for pk, team in sorted(queue_teams.items()) if pk not in owners]
    )


def lead_unsubscribe(*, lead_id: int, at: datetime) -> bool:
    """Record the lead's unsubscribe (consent, once: a second one keeps the first time).
    Returns whether it was not unsubscribed before."""
    return bool(Lead.objects.filter(pk=lead_id, unsubscribed_at__isnull=True).update(unsubscribed_at=at))


def leads_by_email(emails: Iterable[str]) -> dict[str, int]:
    """Lead id by lower-cased email, for those of ``emails`` (lower-cased) that exist; one query."""
    emails = set(emails)
    if not emails:
        return {}
    if connection.vendor == "postgresql":
        # One probe of the unique index (lower(email)) per email, whatever the table's
        # size. Asked as ``lower(email) = ANY(…)``, the planner read the whole table below
        # about a hundred thousand leads and computed lower() on every row: 20-30 ms for
        # an API request's 500 emails among 50,000 leads, against about 4 ms probed. The
        # emails go as one array parameter (the ORM's thousand placeholders took most of
        # this lookup's time in Python).
        found = bulk.pg_execute(
            "WITH probed AS MATERIALIZED ("
            " SELECT email, (SELECT id FROM scoring_lead WHERE lower(scoring_lead.email) = wanted.email) AS id"
            " FROM unnest(%s::text[]) AS wanted (email))"
            " SELECT email, id FROM probed WHERE id IS NOT NULL",
            [sorted(emails)],
        )
        return dict(found)
    rows = Lead.objects.annotate(email_ci=Lower("email")).filter(email_ci__in=emails).values_list("email_ci", "pk")
    return dict(rows)


def leads_create(*, keys: Iterable[tuple[str | None, str | None]], companies: Mapping[str, str] | None = None) -> None:
    """Create a lead for each (email, external id), skipping those another request
    created meanwhile (ignored conflicts: read them back). A worker evaluates the new
    leads' fit (:func:`leads_fit_queue`). Leads with an email are created in the account
    of its domain (see :func:`leads_accounts_assign`), a new one named after the company
    ``companies`` gives the email (the caller sets the lead's company field itself)."""
    # In key order: concurrent requests creating overlapping leads then wait for each
    # other on the unique index instead of deadlocking.
    ordered = sorted(set(keys), key=lambda k: (k[0] or "", k[1] or ""))
    if not ordered:
        return
    # Inserted in their accounts: putting them there afterwards wrote every new row twice.
    accounts = accounts_of_new_leads((email for email, _ in ordered if email), companies=companies)
    fields, template = _new_lead_template()
    rows = [(*template, email, external_id, accounts.get(email) if email else None) for email, external_id in ordered]
    columns = [*fields, "email", "external_id", "account"]
    # One statement of arrays: the ORM built a model instance per lead (28 % of the web
    # processes' time while a bulk created leads); the columns every new lead shares go once.
    if connection.vendor == "postgresql":
        leads_fit_queue(bulk.values_insert(Lead, columns, rows, ignore_conflicts=True, returning_pk=True))
        return
    before = _ids_of_keys(ordered)
    bulk.values_insert(Lead, columns, rows, ignore_conflicts=True)
    leads_fit_queue(_ids_of_keys(ordered) - before)


def _ids_of_keys(keys: list[tuple[str | None, str | None]]) -> set[int]:
    """The leads of these (email, external id) keys: by email, or by external id for a key without one."""
    by_email = leads_by_email({email for email, _ in keys if email})
    external_ids = {external_id for email, external_id in keys if not email and external_id}
    return set(by_email.values()) | set(
        Lead.objects.filter(external_id__in=external_ids).values_list("pk", flat=True) if external_ids else []
    )


def _new_lead_template() -> tuple[list[str], tuple[Any, ...]]:
    """The fields of a new lead other than its email, external id and account, and their
    values: the model's defaults (created and updated now)."""
    lead = Lead()
    names, values = [], []
    for field in Lead._meta.concrete_fields:
        if field.primary_key or field.generated or field.name in ("email", "external_id", "account"):
            continue
        value = field.pre_save(lead, add=True)
        names.append(field.name)
        values.append(value)
    return names, tuple(values)


def leads_merge(
    *,
    fields: Mapping[str, Mapping[str, Any]],
    external_ids: Mapping[str, str] | None = None,
    at: datetime | None = None,
    fill_only: bool = False,
) -> tuple[dict[str, int], int]:
    """Write what other systems say about people, by email (lower-cased): the leads
    are created if new, ``fields`` (writable lead fields but stage and external id;
    ``attributes`` merge into those known) set, and ``external_ids`` given to leads
    unless another lead has that id already. With ``fill_only`` a value is written only
    where the lead has none (an empty field, an attribute it lacks): what a source anyone
    can use says (a key used in web pages) tells Leadflow what it does not know, never
    changes what it does. Every lead created or changed is queued for
    a worker's fit evaluation (:func:`leads_fit_queue`) and a scoring batch asked for
    (set-based here, whatever the number of leads). Returns the lead id per email, and
    how many leads changed. Call inside a transaction (the leads stay locked until it
    ends)."""
    external_ids = external_ids or {}
    for email, values in fields.items():
        if {"lifecycle_stage", "external_id"} & set(values):
            raise ValueError(f"{email}: leads_merge changes neither stage nor external id in fields: use lead_upsert")
    at = at or timezone.now()
    emails = set(fields) | set(external_ids)
    if not emails:
        return {}, 0
    if not fill_only:
        attribute_names_record(name for values in fields.values() for name in values.get("attributes") or ())
    ids = leads_by_email(emails)
    if missing := emails - set(ids):
        # In their accounts, a new one named after the company the fields give (not after
        # what a source anyone can use says: the first to name a domain would name it).
        companies = (
            {}
            if fill_only
            else {
                email: company for email in missing if isinstance(company := fields.get(email, {}).get("company"), str)
            }
        )
        leads_create(keys=[(email, None) for email in missing], companies=companies)
        ids.update(leads_by_email(missing))
    # Locked by primary key (the emails' lookup probes the email index; a filter on
    # lower(email) could read the whole table).
    locked = Lead.objects.select_for_update(no_key=True).filter(pk__in=ids.values()).order_by("pk")
    by_id = {lead.pk: lead for lead in locked}
    leads: dict[str, Lead] = {email: by_id[pk] for email, pk in ids.items() if pk in by_id}
    holders = dict(Lead.objects.filter(external_id__in=set(external_ids.values())).values_list("external_id", "pk"))
    changed: dict[int, Lead] = {}
    names: set[str] = set()
    for email, external_id in external_ids.items():
        lead = leads[email]
        if holders.setdefault(external_id, lead.pk) == lead.pk and lead.external_id != external_id:
            lead.external_id = external_id
            changed[lead.pk] = lead
            names.add("external_id")
    for email, values in fields.items():
        lead = leads[email]
        filled: list[str] = []
        for name, value in values.items():
            current = getattr(lead, name)
            if name == "attributes" or (fill_only and current not in (None, "")):
                continue
            if value not in (None, ""):
                filled.append(name)
            if current != value:
                setattr(lead, name, value)
                changed[lead.pk] = lead
                names.add(name)
        # A field given a value drops the attribute that held one it could not (an identify's
        # employees as "51-200"); what the same write says in its attributes stays.
        attributes = lead_fields.attributes_merged(
            lead.attributes,
            filled,
            values.get("attributes"),
            kept_as=lead_fields.KEPT_AS,
            fill_only=fill_only,
            at_most=FILL_ONLY_MAX_ATTRIBUTES if fill_only else None,
        )
        if attributes != (lead.attributes or {}):
            lead.attributes = attributes
            changed[lead.pk] = lead
            names.add("attributes")
    if changed:
        leads_changes_write(changed, names, at=at)
        leads_fit_queue(changed)
    if changed or missing:
        transaction.on_commit(_scoring_enqueue)
    return {email: lead.pk for email, lead in leads.items()}, len(changed)


def leads_changes_write(changed: Mapping[int, Lead], names: Iterable[str], *, at: datetime) -> None:
    """Write the fields ``names`` of the ``changed`` leads (by id), and their ``updated_at``
    = ``at``: one statement whatever the number of leads (bulk_update's CASE per row and
    field took seconds). Call holding the leads' rows."""
    columns = [*sorted(names), "updated_at"]
    rows = [
        (lead.pk, *[getattr(lead, name) for name in columns[:-1]], at)
        for lead in sorted(changed.values(), key=lambda lead: lead.pk)
    ]
    bulk.values_update(Lead, columns, rows)


def _scoring_enqueue() -> None:
    enqueue("scoring.score_pending", fallback="the periodic sweep will evaluate their fit")
