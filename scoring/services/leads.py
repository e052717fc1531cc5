"""Leads and their fit: creating and updating a lead (its fields' one writer), fit
re-evaluated whenever a field changes, and the changes people make by hand (a score
adjusted with a reason, engagement reset for a fresh start).

Every change of a lead's fields goes through this module, whoever asks (the API, a
form, the admin, routing's actions, sales, Segment's identify): a change of a field
fit rules read re-evaluates fit in the same transaction (one lead, or a routing batch's
leads at once), or queues the lead's fit for the next scoring batch (bulk identifies,
:func:`leads_fit_queue`), so fit is never left stale."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from scoring import bulk, file_checks, lead_fields, localized, selectors
from scoring import rules as pure
from scoring.models import Account, Lead, LifecycleStage, PendingFit, ScorecardEntry, ScoreEntry
from scoring.services.account_fields import LEAD_COMPANY_FIELDS, leads_accounts_fill, leads_accounts_fill_pending
from scoring.services.accounts import leads_accounts_assign
from scoring.services.attribute_names import attribute_names_record
from scoring.services.ledger import (
    FitLead,
    LeadState,
    LedgerRow,
    entries_apply,
    lead_states_lock,
    leads_fit_locked,
    stage_changes_record,
)

# What a score column holds (an integer column, as a model file's whole numbers): a hand
# adjustment may not pass it.
SCORE_MAX = file_checks.WHOLE_MAX


def leads_fit_queue(lead_ids: Iterable[int]) -> None:
    """Queue these leads' fit for the next scoring batch (:class:`~scoring.models.PendingFit`; a lead
    queued already stays queued once). Call in the transaction that creates the leads or
    holds their rows: the batch takes a lead only with its row."""
    bulk.values_insert(PendingFit, ["lead"], [(pk,) for pk in sorted(set(lead_ids))], ignore_conflicts=True)


# No savepoint inside a caller's transaction (a routing batch acting on many leads): on an
# error the caller's whole transaction rolls back.
@transaction.atomic(savepoint=False)
def leads_rescore_fit(
    *, lead_ids: Iterable[int], at: datetime | None = None, cause: str = ScoreEntry.Cause.RULE
) -> int:
    """Bring each lead's fit score in line with the fit rules in force now.

    Writes one ledger row per rule whose contribution changes (rules that no
    longer apply are taken back to 0). Returns the number of rows written.
    """
    written, _ = leads_rescore_fit_locked(leads=leads_fit_locked(lead_ids), at=at or timezone.now(), cause=cause)
    return written


class FitSums(NamedTuple):
    """What each fit rule has given each lead so far (the ledger's sums, by lead then
    rule), and the scorecard of every rule they hold that is on one."""

    by_lead: dict[int, dict[int, int]]
    card_of: dict[int, int]


def fit_sums(*, lead_ids: Iterable[int], card_ids: Iterable[int]) -> FitSums:
    """:class:`FitSums` of these leads, on the default scorecard and on ``card_ids`` (the
    active ones: a retired scorecard keeps its scores as they were)."""
    sums = FitSums(defaultdict(dict), {})
    ids = list(lead_ids)
    rows: list[QuerySet[Any, dict[str, Any]]] = [
        ScoreEntry.objects.filter(bulk.ids_in("lead_id", ids), dimension=pure.Dimension.FIT, rule__isnull=False)
        .values("lead_id", "rule_id")
        .annotate(points=Sum("delta"))
        .order_by()
    ]
    if cards := set(card_ids):
        rows.append(
            ScorecardEntry.objects.filter(
                bulk.ids_in("lead_id", ids), scorecard_id__in=cards, dimension=pure.Dimension.FIT, rule__isnull=False
            )
            .values("lead_id", "rule_id", "scorecard_id")
            .annotate(points=Sum("delta"))
            .order_by()
        )
    for queryset in rows:
        for row in queryset:
            sums.by_lead[row["lead_id"]][row["rule_id"]] = row["points"]
            if row.get("scorecard_id") is not None:
                sums.card_of[row["rule_id"]] = row["scorecard_id"]
    return sums


def fit_rules_live() -> tuple[list[pure.Rule], dict[int, int]]:
    """The fit rules of the default scorecard and of the active ones (rule ids are unique
    across them), and the scorecard of each rule that is on one."""
    card_rules, card_of = selectors.scorecard_rules_pure(dimension=pure.Dimension.FIT)
    return selectors.rules_pure(dimension=pure.Dimension.FIT) + card_rules, card_of


def leads_rescore_fit_locked(
    *,
    leads: Mapping[int, FitLead],
    at: datetime,
    cause: str,
    rules: tuple[list[pure.Rule], dict[int, int]] | None = None,
    sums: FitSums | None = None,
) -> tuple[int, dict[int, LeadState]]:
    """:func:`leads_rescore_fit` of leads already locked and read (:func:`leads_fit_locked`):
    the rows written, and every lead's score columns after them. ``rules`` (their
    :func:`fit_rules_live`) and ``sums`` (their :func:`fit_sums`): when the caller read them already."""
    states = {pk: lead.state for pk, lead in leads.items()}
    if not leads:
        return 0, states
    fit_rules, card_of = fit_rules_live() if rules is None else rules
    if sums is None:
        sums = fit_sums(lead_ids=leads, card_ids=card_of.values())
    on_card = {**card_of, **sums.card_of}
    entries: list[LedgerRow] = []
    for pk, lead in leads.items():
        targets = pure.fit_targets(fit_rules, lead.values, at=at)
        for rule_id, delta in pure.fit_deltas(targets, sums.by_lead.get(pk, {})).items():
            entries.append(
                LedgerRow(pk, pure.Dimension.FIT, delta, cause, at, rule_id=rule_id, scorecard_id=on_card.get(rule_id))
            )
    states.update(entries_apply(states=states, entries=entries, now=at))
    return len(entries), states


def leads_rescore_fit_all(*, chunk_size: int = 1000, at: datetime | None = None) -> int:
    """Rescore every lead's fit in chunks of ``chunk_size`` (one transaction each)."""
    written = 0
    last_id = 0
    while True:
        ids = list(Lead.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return written
        written += leads_rescore_fit(lead_ids=ids, at=at)
        last_id = ids[-1]


# What lead_upsert may change: the fields other systems may write (scoring.lead_fields).
LEAD_EDITABLE_FIELDS = lead_fields.WRITABLE


class LeadConflict(ValueError):
    """A lead field that must be unique already belongs to another lead."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@transaction.atomic
def lead_upsert(
    *,
    email: str,
    fields: Mapping[str, Any] | None = None,
    account_external_id: str | None = None,
) -> tuple[Lead, bool]:
    """Create the lead with this email, or update it; re-evaluate fit when it changed.

    ``fields`` may hold any of :data:`LEAD_EDITABLE_FIELDS`; ``attributes`` are
    merged into the custom attributes already known. An ``external_id`` another
    lead has raises :class:`LeadConflict` (a ValueError) naming the field, and
    changes nothing. A new lead joins the account of its email's domain;
    ``account_external_id`` (the company's id in another system) names its account
    instead, created if new, from then on. The account's empty fields take the lead's
    industry, company size, annual revenue and country (:func:`leads_accounts_fill`).
    For trusted senders only: what anyone may send (a tracked form) fills only a lead's
    empty fields and describes no company (:func:`leads_merge` with ``fill_only``).
    """
    fields = dict(fields or {})
    unknown = set(fields) - LEAD_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"unknown lead fields: {', '.join(sorted(unknown))}")
    email = email.strip()
    external_id = fields.get("external_id")
    attribute_names_record(fields.get("attributes") or ())

    def conflict_check(lead: Lead) -> None:
        if external_id is None:
            return
        holders = Lead.objects.filter(external_id=external_id)
        if (holders.exclude(pk=lead.pk) if lead.pk else holders).exists():
            raise LeadConflict("external_id", "another lead already has this external_id")

    # Read unlocked first: a lead sent again as it is (an identify or a CRM's sync repeating
    # itself) is neither written nor locked, so it does not wait for whoever holds the lead
    # (a publish rescoring every lead until it commits, a scoring batch, a rep's claim).
    seen = Lead.objects.with_email(email).first()
    if (
        seen is not None
        and not _fields_set(seen, fields)
        and _accounts_settled(seen, fields, account_external_id=account_external_id)
    ):
        return seen, False

    # Two tries, for the one race this is meant for: another request creating
    # the same email between the look-up and the insert (the second try updates
    # that lead). Anything else that breaks a unique index is answered, not retried.
    for attempt in (1, 2):
        found = Lead.objects.select_for_update(no_key=True).with_email(email).first()
        created = found is None
        lead = found if found is not None else Lead(email=email)
        stage_before = lead.lifecycle_stage
        changed = _fields_set(lead, fields)
        if not (created or changed):
            moved = (
                account_external_id is not None
                and leads_accounts_assign(lead_ids=[lead.pk], external_ids={lead.pk: account_external_id}).leads
            )
            # Its account (a new one, or one emptied since) learns what the lead says.
            if leads_accounts_fill(descriptions=[(lead.pk, fields)]) or moved:
                lead.refresh_from_db()
            return lead, False
        conflict_check(lead)
        try:
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            if created and attempt == 1 and Lead.objects.with_email(email).exists():
                continue
            conflict_check(lead)  # a concurrent request took the external_id meanwhile
            raise
        break
    if created and lead.lifecycle_stage != LifecycleStage.LEAD:
        # Created at a later stage (a CRM syncing an SQL): a change of stage from nothing.
        stage_changes_record([(lead.pk, "", lead.lifecycle_stage, 0)], cause="create", at=timezone.now())
    elif not created and lead.lifecycle_stage != stage_before:
        stage_changes_record(
            [(lead.pk, stage_before, lead.lifecycle_stage, lead.total_score)], cause="update", at=timezone.now()
        )
    if created or account_external_id is not None:
        external = {lead.pk: account_external_id} if account_external_id is not None else None
        leads_accounts_assign(lead_ids=[lead.pk], external_ids=external)
    leads_rescore_fit(lead_ids=[lead.pk])
    # Last, holding the lead's row: then its account's (lock order: leads, then accounts).
    leads_accounts_fill(descriptions=[(lead.pk, fields)])
    lead.refresh_from_db()
    return lead, created


def _fields_set(lead: Lead, fields: Mapping[str, Any]) -> bool:
    """Set what :func:`lead_upsert` writes of ``fields`` on ``lead`` (not saved); whether
    anything changed."""
    changed = False
    for name, value in fields.items():
        if name != "attributes" and getattr(lead, name) != value:
            setattr(lead, name, value)
            changed = True
    # A field given a value drops the attribute that held one it could not (a Segment
    # identify's employees as "51-200"); the attributes given here stay.
    given = [name for name, value in fields.items() if name != "attributes" and value not in (None, "")]
    merged = lead_fields.attributes_merged(
        lead.attributes, given, fields.get("attributes"), kept_as=lead_fields.KEPT_AS
    )
    if merged != (lead.attributes or {}):
        lead.attributes, changed = merged, True
    return changed


def _accounts_settled(lead: Lead, fields: Mapping[str, Any], *, account_external_id: str | None) -> bool:
    """Whether :func:`lead_upsert` of a lead whose fields stay as they are leaves its account
    as it is too: it is in the account ``account_external_id`` names already (explicitly), and
    its account has no empty field ``fields`` would fill, nor the lead a told value to change
    (read without taking any row)."""
    if account_external_id is not None and not (
        lead.account_explicit
        and lead.account_id is not None
        and Account.objects.filter(pk=lead.account_id, external_id=account_external_id).exists()
    ):
        return False
    return not leads_accounts_fill_pending(descriptions=[(lead.pk, fields)])


@transaction.atomic
def lead_save(*, lead: Lead, fields: Iterable[str] | None = None, stage_before: str | None = None, cause: str) -> None:
    """Save a lead a form has built and checked (the admin's): only ``fields`` when
    given (the cached scores on ``lead`` may be older than the row's, which workers
    move meanwhile), else the whole new lead. Fit is re-evaluated and a change of
    lifecycle stage from ``stage_before`` recorded, in the same transaction: ``""``
    for a new lead, which is recorded (from nothing) unless it starts at ``lead``, as
    :func:`lead_upsert` does. An account the form sets is the lead's from then on; a
    new email (or an account taken away) puts the lead in its domain's account. The
    account's empty fields take the lead's company fields (:func:`leads_accounts_fill`)."""
    if (fields is None or "attributes" in fields) and isinstance(lead.attributes, dict):
        attribute_names_record(lead.attributes)
    if fields is None:
        lead.save()
    else:
        lead.save(update_fields=[*dict.fromkeys([*fields, "updated_at"])])
    if fields is None or {"email", "account"} & set(fields):
        chosen = fields is None or "account" in fields
        if chosen and lead.account_id is None:
            # None chosen, or taken away by a person: the email's domain says again.
            Lead.objects.filter(pk=lead.pk, account_explicit=True).update(account_explicit=False)
        leads_accounts_assign(
            lead_ids=[lead.pk], accounts={lead.pk: lead.account_id} if chosen and lead.account_id else None
        )
    created_at_default = stage_before == "" and lead.lifecycle_stage == LifecycleStage.LEAD
    if stage_before is not None and stage_before != lead.lifecycle_stage and not created_at_default:
        total = Lead.objects.values_list("total_score", flat=True).get(pk=lead.pk)
        stage_changes_record([(lead.pk, stage_before, lead.lifecycle_stage, total)], cause=cause, at=timezone.now())
    leads_rescore_fit(lead_ids=[lead.pk])
    # The form shows the lead's fields: what it saves, a person has seen.
    leads_accounts_fill(descriptions=[(lead.pk, {name: getattr(lead, name) for name in LEAD_COMPANY_FIELDS})])


@transaction.atomic
def lead_adjust_score(
    *,
    lead_id: int,
    dimension: pure.Dimension,
    delta: int,
    note: str,
    user: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> LeadState:
    """A person moves a score by hand; the reason is kept in the ledger. Returns the new scores."""
    if not note.strip():
        raise ValueError("note: say why the score is adjusted")
    if delta == 0:
        raise ValueError("delta: an adjustment of 0 changes nothing")
    at = at or timezone.now()
    states = lead_states_lock([lead_id])
    if not states:
        raise Lead.DoesNotExist(f"lead {lead_id} does not exist")
    state = states[lead_id]
    fit = state.fit + (delta if dimension == pure.Dimension.FIT else 0)
    engagement = state.engagement + (delta if dimension == pure.Dimension.ENGAGEMENT else 0)
    if any(abs(score) > SCORE_MAX for score in (fit, engagement, fit + engagement)):
        # The columns (and the total beside them) are 32-bit: past it the write was a 500.
        raise ValueError(
            gettext("delta: that takes the score past what it can hold, {low} to {high}").format(
                low=localized.number(-SCORE_MAX), high=localized.number(SCORE_MAX)
            )
        )
    entry = LedgerRow(
        lead_id,
        dimension,
        delta,
        ScoreEntry.Cause.MANUAL,
        at,
        note=note.strip(),
        created_by_id=user.pk if user is not None else None,
    )
    return entries_apply(states=states, entries=[entry])[lead_id]


def leads_engagement_reset(
    *, reason: str, lead_ids: Iterable[int] | None = None, user: AbstractBaseUser | None = None, chunk_size: int = 1000
) -> int:
    """Fresh start: take the engagement of the given leads (or all) to 0, with
    the reason in the ledger (cause: manual). Returns the leads changed."""
    if not reason.strip():
        raise ValueError("reason: say why engagement is reset")
    note = f"Fresh start: {reason.strip()}"
    leads = Lead.objects.exclude(engagement_score=0)
    if lead_ids is not None:
        leads = leads.filter(pk__in=list(lead_ids))
    changed = last_id = 0
    while True:
        ids = list(leads.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return changed
        with transaction.atomic():
            states = lead_states_lock(ids)
            at = timezone.now()
            entries = [
                LedgerRow(
                    pk,
                    pure.Dimension.ENGAGEMENT,
                    -state.engagement,
                    ScoreEntry.Cause.MANUAL,
                    at,
                    note=note,
                    created_by_id=user.pk if user else None,
                )
                for pk, state in states.items()
                if state.engagement
            ]
            entries_apply(states=states, entries=entries)
        changed += len(entries)
        last_id = ids[-1]
