"""Many leads written at once from rows another system keeps (a CSV import): each row
names its lead by one key (email or external id) and the fields and custom attributes
to set. A few statements per batch whatever its size: look the leads up, create the new
ones, lock them all in id order, and write the changes as one ``UPDATE``. The fit of
the leads created or changed is evaluated in the same transaction (set-based, a few
statements): their cached scores equal the ledger when it commits, and a caller
recording outcomes in its own transaction around it (a won lead's stage) commits both
at once, with no lead left for a scoring worker to skip while it is held."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone

from scoring import lead_fields
from scoring.models import Account, Lead
from scoring.services.account_fields import leads_accounts_fill
from scoring.services.accounts import leads_accounts_assign
from scoring.services.attribute_names import attribute_names_record
from scoring.services.engagement import scoring_enqueue
from scoring.services.fields import leads_by_email, leads_changes_write
from scoring.services.leads import leads_rescore_fit

KeyField = Literal["email", "external_id"]
# What a row may set: the writable fields but the stage (outcomes move it) and the
# attributes (given apart, merged into those known).
ROW_FIELDS = frozenset({"email", *lead_fields.WRITABLE} - {"lifecycle_stage", "attributes"})


@dataclass(frozen=True)
class LeadRow:
    key: str  # the email (lower-cased) or the external id
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    # The company's id in another system (the API's account_id): the lead's account from then on.
    account_id: str | None = None


@dataclass(frozen=True)
class RowWritten:
    lead_id: int | None  # None: refused
    status: Literal["created", "updated", "unchanged", "refused"]
    field: str = ""
    reason: str = ""


def _identity(key_field: KeyField) -> KeyField:
    return "external_id" if key_field == "email" else "email"


def _by(field_name: KeyField, values: set[str]) -> dict[str, int]:
    if not values:
        return {}
    if field_name == "email":
        return leads_by_email(values)
    return {str(key): pk for key, pk in Lead.objects.filter(external_id__in=values).values_list("external_id", "pk")}


def leads_write_rows(*, key_field: KeyField, rows: Sequence[LeadRow], at: datetime | None = None) -> list[RowWritten]:
    """Create or update the lead of each row (keys must differ), in one transaction; the
    result says for each row, in order, which lead it is and whether it was created,
    updated or already as the row says. A row whose other identity (an external id when
    keyed by email, or the other way round) belongs to another lead is refused naming
    that field, and changes nothing. Attributes merge into those the lead has. A row's
    ``account_id`` puts its lead in that account (made if new), as the API's does. An
    account's empty fields take what its leads say of their company
    (:func:`~scoring.services.account_fields.leads_accounts_fill`)."""
    unknown = {name for row in rows for name in row.fields} - ROW_FIELDS
    if unknown:
        raise ValueError(f"lead fields rows cannot set: {', '.join(sorted(unknown))}")
    at = at or timezone.now()
    other = _identity(key_field)
    with transaction.atomic():
        attribute_names_record(name for row in rows for name in row.attributes)
        found = _by(key_field, {row.key for row in rows})
        holders = _by(
            other,
            {
                str(row.fields[other]).lower() if other == "email" else str(row.fields[other])
                for row in rows
                if row.fields.get(other)
            },
        )
        results: dict[int, RowWritten] = {}
        for n, row in enumerate(rows):
            value = row.fields.get(other)
            if not value:
                continue
            holder = holders.get(str(value).lower() if other == "email" else str(value))
            if holder is not None and holder != found.get(row.key):
                reason = f"another lead already has this {'email' if other == 'email' else 'external id'}"
                results[n] = RowWritten(None, "refused", other, reason)
        new = [(n, row) for n, row in enumerate(rows) if n not in results and row.key not in found]
        if new:
            # In key order: two imports creating the same leads wait on the unique index instead of deadlocking.
            creating = sorted(new, key=lambda item: item[1].key)
            Lead.objects.bulk_create(
                [
                    # With their fields: a lead created here needs no UPDATE after (one made
                    # meanwhile by another import is compared and updated below).
                    Lead(
                        **{**row.fields, key_field: row.key},
                        attributes=dict(row.attributes),
                    )
                    for _, row in creating
                ],
                ignore_conflicts=True,
            )
            found.update(_by(key_field, {row.key for _, row in new}))
        created = {n for n, _ in new}
        ids = sorted({found[row.key] for n, row in enumerate(rows) if n not in results and row.key in found})
        leads = {
            lead.pk: lead for lead in Lead.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
        }
        changed: dict[int, Lead] = {}
        names: set[str] = set()
        moved: set[int] = set()  # leads created or with a new email: their account is found again
        named = {found[row.key]: row.account_id for n, row in enumerate(rows) if n not in results and row.account_id}
        in_account = dict(
            Account.objects.filter(pk__in={leads[pk].account_id for pk in named}).values_list("pk", "external_id")
        )
        for n, row in enumerate(rows):
            if n in results:
                continue
            lead = leads[found[row.key]]
            touched = False
            if n in created:
                moved.add(lead.pk)
            for name, value in row.fields.items():
                if getattr(lead, name) != value:
                    setattr(lead, name, value)
                    names.add(name)
                    touched = True
                    if name == "email":
                        moved.add(lead.pk)
            # A field given a value drops the attribute that held one it could not (a Segment
            # identify's employees as "51-200"); the row's own attributes stay.
            given = [name for name, value in row.fields.items() if value not in (None, "")]
            merged = lead_fields.attributes_merged(lead.attributes, given, row.attributes, kept_as=lead_fields.KEPT_AS)
            if merged != (lead.attributes or {}):
                lead.attributes = merged
                names.add("attributes")
                touched = True
            there = lead.account_explicit and in_account.get(lead.account_id or 0) == row.account_id
            if row.account_id and not there:
                touched = True  # joins the account the row names
            if touched:
                changed[lead.pk] = lead
            status: Literal["created", "updated", "unchanged"] = (
                "created" if n in created else "updated" if touched else "unchanged"
            )
            results[n] = RowWritten(lead.pk, status)
        if changed:
            leads_changes_write(changed, names, at=at)
        leads_accounts_assign(lead_ids=moved, external_ids=named)
        # The accounts' empty fields take what the rows' leads say of their company: one
        # read for the batch (then the accounts' rows, after every lead's).
        leads_accounts_fill(
            descriptions=[
                (written, row.fields) for n, row in enumerate(rows) if (written := results[n].lead_id) is not None
            ],
            at=at,
        )
        # After the accounts: a fit rule may read the lead's account.
        leads_rescore_fit(lead_ids=[*changed, *(found[rows[n].key] for n in created)], at=at)
        if changed or created:
            transaction.on_commit(scoring_enqueue)
    return [results[n] for n in range(len(rows))]
