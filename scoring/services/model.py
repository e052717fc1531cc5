"""The scoring model as a whole: imported from a model file (all or nothing, with
the other apps' sections), exported to one, and leads regrouped when the groups
change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from scoring import bulk, event_types, model_file, selectors
from scoring import rules as pure
from scoring.models import AccountGroup, DecayPolicy, Lead, ModelInfo, RuleCondition, ScoreGroup, ScoringRule
from scoring.services.account_groups import account_groups_changed
from scoring.services.decay import decay_policy_set
from scoring.services.event_types import event_types_declare, event_types_export
from scoring.services.ledger import Crossing, transitions_record


@dataclass(frozen=True)
class ModelImportSummary:
    groups_created: int
    groups_updated: int
    groups_deleted: int
    rules_created: int
    rules_updated: int
    rules_deactivated: list[str]
    sections: tuple[str, ...] = ()  # what other apps' sections of the file did (and the event types)
    # What may be a mistake but is imported: a rule scoring a type never seen nor declared.
    warnings: tuple[str, ...] = ()


@transaction.atomic
def scoring_model_import(*, spec: model_file.ModelSpec, dry_run: bool = False) -> ModelImportSummary:
    """Make the database's model that of ``spec``, all or nothing.

    Groups and rules are matched by key. Groups missing from the file are
    deleted; rules missing from it are deactivated, since the ledger keeps
    their history. Leads' fit scores and groups are brought up to date
    afterwards by :func:`leads_rescore_fit_all` and :func:`leads_regroup`.
    A file without the scoring part (``spec.scoring`` false) leaves it alone.

    The file's ``name`` and ``description`` are stored (:class:`ModelInfo`) when
    it holds the scoring part or gives either of them; one it leaves out is
    emptied, as the file is the model.

    Then the other apps' sections in the file (:func:`model_file.register_section`)
    are imported in the same transaction, each after the sections it refers to
    (:func:`model_file.sections`), whatever the order of the file's keys; the
    problems of every section are collected and raised together as
    :class:`model_file.ModelFileError`, and nothing changes. ``dry_run`` does everything, then rolls it back: a check
    of the file against the database.

    The file's ``event_types``, when present, are declared first, so its rules may
    score them; a rule scoring a type neither built in, declared nor seen is
    imported with a warning (a typo, or a type no sender has sent yet).
    """
    lines = event_types_declare(specs=spec.event_types) if spec.event_types is not None else []
    summary = scoring_part_import(spec) if spec.scoring else ModelImportSummary(0, 0, 0, 0, 0, [])
    if spec.account_groups is not None:
        lines.append(account_groups_import(spec.account_groups))
    if spec.scoring or spec.name is not None or spec.description is not None:
        model_info_set(name=spec.name or "", description=spec.description or "")
    errors: list[str] = []
    for section in model_file.sections():
        if section.name not in spec.sections:
            continue
        try:
            # A savepoint: a section that fails part-way leaves the transaction usable for the next one's checks.
            with transaction.atomic():
                lines.extend(section.import_(spec.sections[section.name]))
        except model_file.ModelFileError as exc:
            errors.extend(exc.errors)
    if errors:
        raise model_file.ModelFileError(errors)
    warnings = model_rules_warnings(spec) if spec.scoring else []
    if dry_run:
        transaction.set_rollback(True)
    return dataclasses.replace(summary, sections=tuple(lines), warnings=tuple(warnings))


def account_groups_import(specs: Sequence[model_file.GroupSpec]) -> str:
    """Make the account groups the file's; every account is regrouped once this commits.
    Returns the summary's line."""
    created, updated, deleted = groups_write(AccountGroup, specs, section="account_groups")
    account_groups_changed()
    return f"account groups: {created} created, {updated} updated, {deleted} deleted"


def model_rules_warnings(spec: model_file.ModelSpec) -> list[str]:
    """What may be a mistake in the file's rules: a type never seen nor declared."""
    known = selectors.event_types_known()
    warnings = []
    for index, rule in enumerate(spec.rules):
        for kind in event_types.unknown(rule.interaction_types, known):
            warnings.append(
                f"rules[{index}].interaction_types: '{kind}' has never been seen nor declared "
                "(declare it under event_types, or check the spelling); the rule scores it once it comes"
            )
    return warnings


def scoring_part_import(spec: model_file.ModelSpec) -> ModelImportSummary:
    """Write the scoring part of ``spec`` over the live model, by key (call in a transaction)."""
    groups_created, groups_updated, groups_deleted = groups_write(ScoreGroup, spec.groups, section="score_groups")

    existing_rules = {r.key: r for r in ScoringRule.objects.select_for_update()}
    rules_created = rules_updated = 0
    for rule in spec.rules:
        obj, created = ScoringRule.objects.update_or_create(
            key=rule.key,
            defaults={
                "name": rule.name,
                "description": rule.description,
                "dimension": rule.dimension,
                "points": rule.points,
                "match": rule.match,
                "interaction_types": list(rule.interaction_types),
                "cap_count": rule.cap_count,
                "cap_points": rule.cap_points,
                "cap_window_days": rule.cap_window_days,
                "active": rule.active,
                "valid_from": rule.valid_from,
                "valid_until": rule.valid_until,
            },
        )
        rules_created += created
        rules_updated += not created
        obj.conditions.all().delete()
        RuleCondition.objects.bulk_create(
            RuleCondition(rule=obj, position=i, field=c.field, operator=c.operator, value=c.value)
            for i, c in enumerate(rule.conditions)
        )
    decay_policy_set(policy=spec.decay)
    wanted_rules = {r.key for r in spec.rules}
    to_deactivate = sorted(k for k, r in existing_rules.items() if k not in wanted_rules and r.active)
    ScoringRule.objects.filter(key__in=to_deactivate).update(active=False)
    return ModelImportSummary(
        groups_created, groups_updated, groups_deleted, rules_created, rules_updated, to_deactivate
    )


def groups_write(
    model: type[ScoreGroup] | type[AccountGroup], specs: Sequence[model_file.GroupSpec], *, section: str
) -> tuple[int, int, int]:
    """Make the groups of ``model`` (leads' score groups or account groups) those of
    ``specs``, by key: created, updated, and deleted when missing from the file. Returns
    how many of each. A group another app's row refers to (a routing rule watching it)
    cannot be deleted: every such problem is raised as :class:`model_file.ModelFileError`
    naming ``section``. Call in a transaction."""
    manager = model.objects
    existing = {g.key: g for g in manager.select_for_update()}
    wanted = {g.key for g in specs}
    deleted = [g.pk for key, g in existing.items() if key not in wanted]
    try:
        manager.filter(pk__in=deleted).delete()
    except ProtectedError as exc:
        # Other apps' rows (a routing rule watching the group…) keep it: say which, by place.
        missing = ", ".join(sorted(key for key in existing if key not in wanted))
        raise model_file.ModelFileError(
            [
                f"{section}: {missing} not in the file, but {obj._meta.verbose_name} '{obj}' uses it: "
                "keep the group or change that first"
                for obj in exc.protected_objects
            ]
        ) from None
    # Thresholds are unique: park the kept ones out of the way before moving them.
    manager.filter(key__in=wanted).update(min_score=-F("id") - 10**9, leave_below=None)
    created = updated = 0
    for group in specs:
        _, made = manager.update_or_create(
            key=group.key,
            defaults={
                "name": group.name,
                "min_score": group.min_score,
                "leave_below": group.leave_below,
                "description": group.description,
            },
        )
        created += made
        updated += not made
    return created, updated, len(deleted)


def model_info_set(*, name: str, description: str) -> ModelInfo:
    """Store the model's name and description (the one row, made if missing)."""
    info = ModelInfo.objects.select_for_update().order_by("pk").first() or ModelInfo()
    info.name, info.description = name, description
    info.save()
    return info


def rule_spec(rule: ScoringRule) -> model_file.RuleSpec:
    """A rule as the model file writes it (its conditions prefetched)."""
    return model_file.RuleSpec(
        key=rule.key,
        name=rule.name,
        dimension=rule.dimension,
        points=rule.points,
        description=rule.description,
        match=rule.match,
        conditions=tuple(model_file.ConditionSpec(c.field, c.operator, c.value) for c in rule.conditions.all()),
        interaction_types=tuple(rule.interaction_types or ()),
        cap_count=rule.cap_count,
        cap_points=rule.cap_points,
        cap_window_days=rule.cap_window_days,
        active=rule.active,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
    )


def _group_specs(groups: Iterable[ScoreGroup | AccountGroup]) -> tuple[model_file.GroupSpec, ...]:
    return tuple(
        model_file.GroupSpec(g.key, g.name, g.min_score, g.description, leave_below=g.leave_below) for g in groups
    )


def scoring_model_export() -> model_file.ModelSpec:
    groups = _group_specs(ScoreGroup.objects.order_by("min_score"))
    ordered = ScoringRule.objects.prefetch_related("conditions").order_by("dimension", "key")
    rules = [rule_spec(rule) for rule in ordered]
    info = ModelInfo.current()
    return model_file.ModelSpec(
        name=info.name,
        description=info.description,
        groups=groups,
        rules=tuple(rules),
        decay=DecayPolicy.current(),
        sections={section.name: section.export() for section in model_file.sections()},
        event_types=event_types_export(),
        account_groups=_group_specs(AccountGroup.objects.order_by("min_score")),
    )


def leads_regroup(*, chunk_size: int = 5000) -> int:
    """Recompute every lead's score group (after groups changed), keeping
    hysteresis; each change is recorded as a transition. Returns the number
    of leads that changed group. In the caller's process: the admin starts a
    regroup job instead (:func:`regroup_job_start`)."""
    changed = last_id = 0
    while True:
        ids = list(Lead.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return changed
        changed += leads_regroup_some(lead_ids=ids)
        last_id = ids[-1]


@transaction.atomic
def leads_regroup_some(*, lead_ids: Iterable[int]) -> int:
    """Recompute these leads' score groups, keeping hysteresis; each change is
    recorded as a transition. Returns how many changed group."""
    bands = selectors.group_thresholds()
    rows = list(
        Lead.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(lead_ids)))
        .order_by("pk")
        .values_list("pk", "total_score", "score_group_id")
    )
    crossed = []
    for pk, total, group_id in rows:
        new = pure.group_for(total, bands, current=group_id)
        if new != group_id:
            crossed.append(Crossing(pk, group_id, new, total, total, "regroup"))
    bulk.values_update(Lead, ["score_group"], [(c.lead_id, c.to_group) for c in crossed])
    transitions_record(crossed, bands, at=timezone.now())
    return len(crossed)
