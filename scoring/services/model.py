"""The scoring model as a whole: imported from a model file (all or nothing, with
the other apps' sections), exported to one, and leads regrouped when the groups
change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import bulk, event_types, model_file, score_bounds, selectors, sentences
from scoring import decay as decay_math
from scoring import rules as pure
from scoring.file_checks import Problem
from scoring.models import (
    AccountGroup,
    AttributeName,
    DecayPolicy,
    Lead,
    LeadScore,
    ModelInfo,
    ModelVersion,
    RuleCondition,
    Scorecard,
    ScoreGroup,
    ScoringRule,
)
from scoring.services.account_groups import account_groups_changed
from scoring.services.attribute_names import attribute_names_declare, fit_condition_fields
from scoring.services.decay import decay_policy_set
from scoring.services.event_types import event_types_declare, event_types_export
from scoring.services.ledger import Crossing, transitions_record
from scoring.services.model_accounts import account_scoring_export, account_scoring_import
from scoring.services.model_groups import LeftOut, groups_left_out_delete, groups_left_out_uses, groups_write


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
def scoring_model_import(
    *, spec: model_file.ModelSpec, dry_run: bool = False, left_out: Sequence[LeftOut] = ()
) -> ModelImportSummary:
    """Make the database's model that of ``spec``, all or nothing.

    Groups and rules are matched by key. Groups missing from the file are
    deleted once the whole file is written (:class:`LeftOut`), so its sequences
    and routing rules may move from a group it renames to the new one; rules
    missing from it are deactivated, since the ledger keeps their history.
    Leads' fit scores and groups are brought up to date afterwards by
    :func:`leads_rescore_fit_all` and :func:`leads_regroup`.
    A file without the scoring part (``spec.scoring`` false) leaves it alone;
    ``left_out`` are groups the caller's transaction already left out of the
    model (the file's scoring part, published as a version first), deleted with
    the file's own once its sections are written.

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
    imported with a warning (a typo, or a type no sender has sent yet). Its
    ``account_groups`` and ``accounts`` (the roll-up and the account fit rules), when
    present, are written too; every account follows once this commits. Account fit rules
    that may together pass the account fit column are refused before anything is written
    (:func:`score_bounds.account_fit_past_column`).
    """
    if past := score_bounds.account_fit_past_column(spec, words=sentences.WORDS):
        raise model_file.ModelFileError(past)
    lines = event_types_declare(specs=spec.event_types) if spec.event_types is not None else []
    summary, leaving = scoring_part_import(spec) if spec.scoring else (ModelImportSummary(0, 0, 0, 0, 0, []), [])
    leaving = [*left_out, *leaving]
    if spec.account_groups is not None:
        line, account_left_out = account_groups_import(spec.account_groups)
        lines.append(line)
        leaving.append(account_left_out)
    if spec.accounts is not None:
        lines.append(account_scoring_import(spec.accounts))
    if spec.scoring or spec.name is not None or spec.description is not None:
        model_info_set(name=spec.name or "", description=spec.description or "")
    errors: list[str] = []
    failed: dict[str, Any] = {}
    leaving_ids: dict[model_file.GroupKind, set[int]] = {}
    for part in leaving:
        leaving_ids.setdefault(part.kind, set()).update(part.groups)
    for section in model_file.sections():
        if section.name not in spec.sections:
            continue
        try:
            # A savepoint: a section that fails part-way leaves the transaction usable for the next one's checks.
            with transaction.atomic(), model_file.groups_leaving(leaving_ids), model_file.sections_failing(failed):
                lines.extend(section.import_(spec.sections[section.name]))
        except model_file.ModelFileError as exc:
            errors.extend(exc.errors)
            failed[section.name] = spec.sections[section.name]
    # Reported with the sections' problems, but not about a failed section's rows (not written).
    errors.extend(groups_left_out_uses(leaving, skip=failed))
    if errors:
        raise model_file.ModelFileError(errors)
    groups_left_out_delete(leaving, uses_checked=True)
    warnings = model_rules_warnings(spec) if spec.scoring else []
    if dry_run:
        transaction.set_rollback(True)
    return dataclasses.replace(summary, sections=tuple(lines), warnings=tuple(warnings))


def account_groups_import(specs: Sequence[model_file.GroupSpec]) -> tuple[str, LeftOut]:
    """Make the account groups the file's; every account is regrouped once this commits.
    Returns the summary's line and the groups left out (for :func:`groups_left_out_delete`)."""
    created, updated, left_out = groups_write(AccountGroup, specs, section="account_groups")
    account_groups_changed()
    line = f"account groups: {created} created, {updated} updated, {len(left_out)} deleted"
    return line, LeftOut("account", left_out)


def model_rules_warnings(spec: model_file.ModelSpec) -> list[Problem]:
    """What may be a mistake in the file's rules: a type never seen nor declared (English,
    said in the reader's language by :func:`scoring.sentences.problems`). A file with
    ``event_types`` is read as declaring those instead of the site's, as its import or its
    draft's publish makes them, so a draft's warnings are those of its publish."""
    known = set(selectors.event_types_known())
    if spec.event_types is not None:
        known = set(selectors.event_types_seen()) | {declared.key for declared in spec.event_types}
    warnings: list[Problem] = []
    places = [(f"rules[{i}]", rule) for i, rule in enumerate(spec.rules)]
    places += [
        (f"scorecards[{n}].rules[{i}]", r) for n, card in enumerate(spec.scorecards) for i, r in enumerate(card.rules)
    ]
    for where, rule in places:
        for kind in event_types.unknown(rule.interaction_types, known):
            warnings.append(
                Problem(
                    gettext_noop(
                        "{place}: '{value}' has never been seen nor declared "
                        "(declare it under event_types, or check the spelling); the rule scores it once it comes"
                    ),
                    place=f"{where}.interaction_types",
                    value=kind,
                )
            )
    return warnings


_RULES_LOCK = 0x5C0_12E5  # pg_advisory_xact_lock's key for the live rules and every draft's


def scoring_rules_lock() -> None:
    """Hold the scoring model's rules until the transaction ends (call in one), before
    checking fit rules against the active ones and writing them: two rules saved at once
    each passed the check alone, and together took a lead's fit past its column. One lock
    for the live model and the drafts: people save rules, one at a time costs nothing.
    On SQLite a transaction that writes holds the whole database already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RULES_LOCK])


def scoring_part_import(spec: model_file.ModelSpec) -> tuple[ModelImportSummary, list[LeftOut]]:
    """Write the scoring part of ``spec`` over the live model, by key (call in a transaction).

    The scorecards of the file are made or updated by key; a live scorecard the file leaves
    out is retired (it keeps its history, its rules are deactivated, its groups deleted and
    its decay set to none), as a rule missing from a file is. Rule and group keys are unique
    across the model, so a rule or group the file moves to another scorecard moves.

    The groups the file leaves out are returned, not yet deleted: call
    :func:`groups_left_out_delete` once the rest of the file is written. A model whose fit
    rules may pass the score columns is refused (:class:`model_file.ModelFileError`) before
    anything is written."""
    if past := score_bounds.fit_past_columns(spec, words=sentences.WORDS):
        raise model_file.ModelFileError(past)
    scoring_rules_lock()  # a rule saved in the admin meanwhile is one the file leaves out
    scorecards = scorecards_write(spec.scorecards)
    parts: list[tuple[Scorecard | None, model_file.ScorecardSpec | model_file.ModelSpec]] = [(None, spec)]
    parts += [(scorecards[s.key], s) for s in spec.scorecards]
    attribute_names_declare(fit_condition_fields(part for _, part in parts), origin=AttributeName.Origin.RULE)
    places = ["score_groups", *(f"scorecards[{n}].score_groups" for n in range(len(spec.scorecards)))]
    retired = [card for key, card in scorecards.items() if key not in {s.key for s in spec.scorecards}]
    groups_created = groups_updated = 0
    left_out: dict[int, tuple[str, str]] = {}
    for (card, part), where in zip(parts, places, strict=True):
        made, kept, gone = groups_write(ScoreGroup, part.groups, section=where, scorecard=card)
        groups_created, groups_updated = groups_created + made, groups_updated + kept
        left_out.update(gone)
    for card in retired:
        left_out.update(groups_write(ScoreGroup, (), section=f"scorecards ({card.key} left out)", scorecard=card)[2])
    # A group one scorecard leaves out and another of the file holds has moved there.
    wanted_groups = {g.key for _, part in parts for g in part.groups}
    left_out = {pk: (where, key) for pk, (where, key) in left_out.items() if key not in wanted_groups}

    existing_rules = {r.key: r for r in ScoringRule.every_scorecard.select_for_update()}
    rules_created = rules_updated = 0
    for card, part in parts:
        for rule in part.rules:
            obj, created = ScoringRule.every_scorecard.update_or_create(
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
                    "scorecard": card,
                },
            )
            rules_created += created
            rules_updated += not created
            RuleCondition.objects.filter(rule=obj).delete()
            RuleCondition.objects.bulk_create(
                RuleCondition(rule=obj, position=i, field=c.field, operator=c.operator, value=c.value)
                for i, c in enumerate(rule.conditions)
            )
        decay_policy_set(policy=part.decay, scorecard=card)
    for card in retired:
        decay_policy_set(policy=decay_math.Policy(), scorecard=card)
    wanted_rules = {r.key for _, part in parts for r in part.rules}
    to_deactivate = sorted(k for k, r in existing_rules.items() if k not in wanted_rules and r.active)
    ScoringRule.every_scorecard.filter(key__in=to_deactivate).update(active=False)
    summary = ModelImportSummary(
        groups_created, groups_updated, len(left_out), rules_created, rules_updated, to_deactivate
    )
    return summary, [LeftOut("score", left_out)]


def scorecards_write(specs: Sequence[model_file.ScorecardSpec]) -> dict[str, Scorecard]:
    """Make the live scorecards those of ``specs`` by key: made or updated and active; the
    others retired (``active`` off). Returns every live scorecard by key. Call in a transaction."""
    existing = {card.key: card for card in Scorecard.objects.select_for_update()}
    for spec in specs:
        card = existing.get(spec.key) or Scorecard(key=spec.key)
        card.name, card.description, card.active = spec.name, spec.description, True
        card.save()
        existing[spec.key] = card
    wanted = {spec.key for spec in specs}
    for key, card in existing.items():
        if key not in wanted and card.active:
            card.active = False
            card.save(update_fields=["active"])
    return existing


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


def scorecard_specs(version: ModelVersion | None = None) -> tuple[model_file.ScorecardSpec, ...]:
    """The active scorecards of the live model (or of the draft ``version``) as the model
    file writes them; four queries whatever their number."""
    cards = list(Scorecard.all_versions.filter(version=version, active=True).order_by("key"))
    if not cards:
        return ()
    ids = [card.pk for card in cards]
    groups: dict[int, list[ScoreGroup]] = {pk: [] for pk in ids}
    for group in ScoreGroup.all_versions.filter(scorecard__in=ids).order_by("min_score"):
        groups[group.scorecard_id].append(group)  # type: ignore[index]
    rules: dict[int, list[model_file.RuleSpec]] = {pk: [] for pk in ids}
    ordered = ScoringRule.all_versions.filter(scorecard__in=ids).prefetch_related("conditions")
    for rule in ordered.order_by("dimension", "key"):
        rules[rule.scorecard_id].append(rule_spec(rule))  # type: ignore[index]
    decays = {row.scorecard_id: row.as_pure() for row in DecayPolicy.all_versions.filter(scorecard__in=ids)}
    return tuple(
        model_file.ScorecardSpec(
            key=card.key,
            name=card.name,
            description=card.description,
            groups=_group_specs(groups[card.pk]),
            rules=tuple(rules[card.pk]),
            decay=decays.get(card.pk, decay_math.Policy()),
        )
        for card in cards
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
        scorecards=scorecard_specs(),
        sections={section.name: section.export() for section in model_file.sections()},
        event_types=event_types_export(),
        account_groups=_group_specs(AccountGroup.objects.order_by("min_score")),
        accounts=account_scoring_export(),
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
    now = timezone.now()
    transitions_record(crossed, bands, at=now)
    return len(crossed) + _scorecards_regroup(lead_ids=[pk for pk, *_ in rows], at=now)


def _scorecards_regroup(*, lead_ids: list[int], at: datetime) -> int:
    """:func:`leads_regroup_some` for the leads' scores on the other scorecards (under the
    leads' row locks); returns how many changed group."""
    card_bands = selectors.group_thresholds_by_scorecard()
    crossed: list[Crossing] = []
    moved: list[tuple[int, int | None]] = []
    rows = LeadScore.objects.filter(lead_id__in=lead_ids).values_list(
        "pk", "lead_id", "scorecard_id", "total_score", "score_group_id"
    )
    for pk, lead_id, card_id, total, group_id in rows:
        new = pure.group_for(total, card_bands.get(card_id, []), current=group_id)
        if new != group_id:
            crossed.append(Crossing(lead_id, group_id, new, total, total, "regroup", card_id))
            moved.append((pk, new))
    bulk.values_update(LeadScore, ["score_group"], moved)
    for card in {c.scorecard_id for c in crossed if c.scorecard_id is not None}:
        transitions_record([c for c in crossed if c.scorecard_id == card], card_bands.get(card, []), at=at)
    return len(crossed)
