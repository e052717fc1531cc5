"""Teams and routing rules as part of the scoring model file (:mod:`scoring.model_file`).

Scoring imports no other app, so routing adds its two top-level keys to the
model file from :meth:`routing.apps.RoutingConfig.ready`::

    teams:
      - key: sales
        name: Store sales
        assignment: round_robin        # round_robin | territory | queue
        sla_hours: 24                  # optional
        sla_action: reassign           # notify (default) | reassign
        feedback_days: 3               # optional: an outcome is due this many days after a hand-off
        email: sales@toys.example      # optional
    routing:
      - key: preferential-to-sales
        name: Preferential leads go to sales
        trigger: enters_group          # see routing.triggers.Trigger
        group: preferential            # enters_group / leaves_group
        # account_group: hot           # account_enters_group / account_leaves_group (the file's account_groups)
        conditions:                    # optional; lead fields, scoring's operators
          - {field: country, operator: one_of, value: [US, Canada]}
        actions:
          - {kind: route_to_queue, team: sales}
          - {kind: webhook, url: https://crm.example/hook, secret_env: CRM_WEBHOOK_SECRET}

Reading the file (:func:`parse`) checks its form and touches no database.
Importing (:func:`routing_model_import`) runs inside the model import's
transaction, after the file's score groups and nurture sequences are written:
it resolves the keys the file names (score groups, nurture sequences, teams,
users) and checks every team, rule and action with the
model's own ``full_clean`` — the checks the admin runs — so the file and the
admin never disagree. Every problem is reported with its place, all at once.

Webhook secrets never go in the file: ``secret_env`` names an environment
variable read at import time, and the secret is stored as the admin stores
it (encrypted). Export cannot know that name, so it writes no
``secret_env``; importing a webhook action without one keeps the secret the
same rule's webhook to the same URL already has. Webhook URLs get the
admin's check of where they point (:mod:`routing.egress`), reported like any
other problem.

Rules missing from the file are deactivated (their action history stays);
teams missing from it are kept, since reps, territories and queued leads
belong to them. The groups the file leaves out are deleted after this runs: an
active rule still watching one refuses the file, an inactive one lets go of it
(:func:`rules_groups_leaving`), so a file may rename a group and move or
deactivate the rules that watched it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext_noop

from nurture.models import Sequence
from routing.models import SLA_HOURS_MAX, RoutingAction, RoutingCondition, RoutingRule, Team
from routing.services import score_watches_sync
from routing.triggers import Trigger
from scoring import file_checks as checks
from scoring import model_file as scoring_file
from scoring import rules as pure
from scoring.file_checks import LATER, NOT_ONE_OF, Problem
from scoring.models import AccountGroup, LifecycleStage, Scorecard, ScoreGroup

_NONE_YET = gettext_noop("none yet")
_TEAM_KEYS = {"key", "name", "assignment", "sla_hours", "sla_action", "feedback_days", "email", "scorecard"}
_RULE_KEYS = {
    "key",
    "name",
    "active",
    "trigger",
    "group",
    "account_group",
    "threshold",
    "probability",
    "stage",
    "conditions",
    "actions",
}
_ACTION_KEYS = {"kind", "sequence", "team", "user", "stage", "tag", "url", "secret_env", "message"}
_CONDITION_KEYS = {"field", "operator", "value"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
T = TypeVar("T")


def _longest(model: type[models.Model], name: str) -> int:
    """How many characters the column of ``model``'s field ``name`` holds: the file is
    checked against the columns when read, so a longer value is told at its place."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    assert field.max_length is not None
    return field.max_length


@dataclass(frozen=True)
class TeamSpec:
    key: str
    name: str
    assignment: str = Team.Assignment.ROUND_ROBIN.value
    sla_hours: int | None = None
    sla_action: str = Team.SlaAction.NOTIFY.value
    email: str = ""
    feedback_days: int | None = None
    # The key of the scorecard whose score orders the team's queue; "": the lead's score.
    scorecard: str = ""


@dataclass(frozen=True)
class ActionSpec:
    kind: str
    sequence: str = ""
    team: str = ""
    user: str = ""
    stage: str = ""
    tag: str = ""
    url: str = ""
    secret_env: str = ""
    message: str = ""


@dataclass(frozen=True)
class RuleSpec:
    key: str
    name: str
    trigger: str
    group: str = ""
    account_group: str = ""  # for the account group triggers
    threshold: int | None = None
    probability: int | None = None  # percent, for the predicted-probability triggers
    stage: str = ""
    conditions: tuple[scoring_file.ConditionSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class RoutingSpec:
    """None: the key is not in the file, and that part is left as it is."""

    teams: tuple[TeamSpec, ...] | None = None
    rules: tuple[RuleSpec, ...] | None = None


# --- reading the file: its form only, no database -------------------------------------


def parse(values: Mapping[str, Any], errors: list[str]) -> RoutingSpec:
    teams = _teams(values["teams"], errors) if "teams" in values else None
    rules = _rules(values["routing"], errors) if "routing" in values else None
    return RoutingSpec(teams=teams, rules=rules)


def _teams(data: object, errors: list[str]) -> tuple[TeamSpec, ...]:
    teams = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(checks.items(data, "teams", errors)):
        where = f"teams[{index}]"
        item = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with key, name and assignment")))
        if item is None:
            continue
        checks.unknown_keys(item, _TEAM_KEYS, where, errors)
        sla_hours = checks.whole_number(item, "sla_hours", where, errors, maximum=SLA_HOURS_MAX)
        if sla_hours is not None and sla_hours < 0:
            errors.append(Problem(gettext_noop("{place}: must be 0 or more"), place=f"{where}.sla_hours"))
        feedback_days = checks.whole_number(item, "feedback_days", where, errors, maximum=checks.SMALL_MAX)
        if feedback_days is not None and feedback_days < 1:
            message = gettext_noop("{place}: must be 1 or more (leave it out for no deadline)")
            errors.append(Problem(message, place=f"{where}.feedback_days"))
        teams.append(
            TeamSpec(
                key=checks.key(item, where, seen, errors, max_length=_longest(Team, "key")),
                name=checks.text(item, "name", where, errors, required=True, max_length=_longest(Team, "name")),
                assignment=checks.choice(item, "assignment", where, errors, Team.Assignment.values)
                or Team.Assignment.ROUND_ROBIN.value,
                sla_hours=sla_hours,
                sla_action=checks.choice(item, "sla_action", where, errors, Team.SlaAction.values)
                or Team.SlaAction.NOTIFY.value,
                email=checks.text(item, "email", where, errors, max_length=_longest(Team, "email")),
                feedback_days=feedback_days,
                scorecard=checks.text(item, "scorecard", where, errors),
            )
        )
    return tuple(teams)


def _rules(data: object, errors: list[str]) -> tuple[RuleSpec, ...]:
    rules = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(checks.items(data, "routing", errors)):
        where = f"routing[{index}]"
        item = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with key, name, trigger and actions")))
        if item is None:
            continue
        checks.unknown_keys(item, _RULE_KEYS, where, errors)
        active = checks.flag(item, "active", where, errors, default=True)
        trigger = checks.text(item, "trigger", where, errors, required=True)
        if trigger and trigger not in {t.value for t in Trigger}:
            triggers = ", ".join(t.value for t in Trigger)
            errors.append(Problem(NOT_ONE_OF, place=f"{where}.trigger", value=trigger, choices=triggers))
        rules.append(
            RuleSpec(
                key=checks.key(item, where, seen, errors, max_length=_longest(RoutingRule, "key")),
                name=checks.text(item, "name", where, errors, required=True, max_length=_longest(RoutingRule, "name")),
                trigger=trigger,
                group=checks.text(item, "group", where, errors),
                account_group=checks.text(item, "account_group", where, errors),
                threshold=checks.whole_number(item, "threshold", where, errors),
                probability=checks.whole_number(item, "probability", where, errors, maximum=checks.SMALL_MAX),
                stage=checks.choice(item, "stage", where, errors, LifecycleStage.values),
                conditions=_conditions(item.get("conditions"), where, errors),
                actions=_actions(item.get("actions"), where, errors),
                active=active,
            )
        )
    return tuple(rules)


def _conditions(data: object, where: str, errors: list[str]) -> tuple[scoring_file.ConditionSpec, ...]:
    conditions = []
    for index, raw in enumerate(checks.items(data, f"{where}.conditions", errors)):
        place = f"{where}.conditions[{index}]"
        item = checks.mapping(raw, place, errors, holding=Problem(gettext_noop("with field, operator and value")))
        if item is None:
            continue
        checks.unknown_keys(item, _CONDITION_KEYS, place, errors)
        if not checks.without_nul(item.get("value"), f"{place}.value", errors):
            continue
        # The check the admin makes of each condition (routing.models.check_conditions), by its part.
        field, operator = str(item.get("field", "")), str(item.get("operator", ""))
        for name, message in pure.check_condition(
            field, operator, item.get("value"), dimension=pure.Dimension.FIT, words=LATER
        ).items():
            errors.append(checks.at(f"{place}.{name}", message))
        conditions.append(
            scoring_file.ConditionSpec(str(item.get("field", "")), str(item.get("operator", "")), item.get("value"))
        )
    return tuple(conditions)


def _actions(data: object, where: str, errors: list[str]) -> tuple[ActionSpec, ...]:
    actions = []
    for index, raw in enumerate(checks.items(data, f"{where}.actions", errors)):
        place = f"{where}.actions[{index}]"
        item = checks.mapping(raw, place, errors, holding=Problem(gettext_noop("with kind and its settings")))
        if item is None:
            continue
        if "secret" in item:
            message = gettext_noop("{place}: secrets never go in the file: name an environment variable in secret_env")
            errors.append(Problem(message, place=f"{place}.secret"))
        checks.unknown_keys(item, _ACTION_KEYS | {"secret"}, place, errors)
        kind = checks.text(item, "kind", place, errors, required=True)
        if kind and kind not in RoutingAction.Kind.values:
            kinds = ", ".join(RoutingAction.Kind.values)
            errors.append(Problem(NOT_ONE_OF, place=f"{place}.kind", value=kind, choices=kinds))
        secret_env = checks.text(item, "secret_env", place, errors)
        if secret_env and not _ENV_NAME.match(secret_env):
            message = gettext_noop("{place}: '{value}' is not an environment variable name")
            errors.append(Problem(message, place=f"{place}.secret_env", value=secret_env))
        actions.append(
            ActionSpec(
                kind=kind,
                sequence=checks.text(item, "sequence", place, errors),
                team=checks.text(item, "team", place, errors),
                user=checks.text(item, "user", place, errors),
                stage=checks.choice(item, "stage", place, errors, LifecycleStage.values),
                tag=checks.text(item, "tag", place, errors, max_length=_longest(RoutingAction, "tag")),
                url=checks.text(item, "url", place, errors, max_length=_longest(RoutingAction, "url")),
                secret_env=secret_env,
                message=checks.text(item, "message", place, errors, max_length=_longest(RoutingAction, "message")),
            )
        )
    return tuple(actions)


# --- writing the file -------------------------------------------------------------------


def dump(spec: RoutingSpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if spec.teams:
        data["teams"] = [_team_data(t) for t in spec.teams]
    if spec.rules:
        data["routing"] = [_rule_data(r) for r in spec.rules]
    return data


def _team_data(team: TeamSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": team.key, "name": team.name, "assignment": team.assignment}
    if team.sla_hours is not None:
        data["sla_hours"] = team.sla_hours
    if team.sla_action != Team.SlaAction.NOTIFY.value:
        data["sla_action"] = team.sla_action
    if team.feedback_days is not None:
        data["feedback_days"] = team.feedback_days
    if team.email:
        data["email"] = team.email
    if team.scorecard:
        data["scorecard"] = team.scorecard
    return data


def _rule_data(rule: RuleSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": rule.key, "name": rule.name}
    if not rule.active:
        data["active"] = False
    data["trigger"] = rule.trigger
    if rule.group:
        data["group"] = rule.group
    if rule.account_group:
        data["account_group"] = rule.account_group
    if rule.threshold is not None:
        data["threshold"] = rule.threshold
    if rule.probability is not None:
        data["probability"] = rule.probability
    if rule.stage:
        data["stage"] = rule.stage
    if rule.conditions:
        data["conditions"] = [_condition_data(c) for c in rule.conditions]
    data["actions"] = [
        {"kind": a.kind, **{name: getattr(a, name) for name in _ACTION_FIELDS if getattr(a, name)}}
        for a in rule.actions
    ]
    return data


_ACTION_FIELDS = ("sequence", "team", "user", "stage", "tag", "url", "secret_env", "message")


def _condition_data(condition: scoring_file.ConditionSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"field": condition.field, "operator": condition.operator}
    if condition.value is not None:
        data["value"] = condition.value
    return data


# --- importing and exporting: the database ---------------------------------------------


def routing_model_import(spec: RoutingSpec) -> list[str]:
    """Make the database's teams and routing rules those of ``spec``; returns summary lines.

    Call inside the model import's transaction, after its score groups are
    written: on any problem this raises :class:`scoring.model_file.ModelFileError`
    listing them all, having saved nothing the caller's transaction keeps.
    """
    errors: list[str] = []
    lines: list[str] = []
    teams = {t.key: t for t in Team.objects.select_for_update()}
    if spec.teams is not None:
        lines.append(_teams_import(spec.teams, teams, errors))
    if spec.rules is not None:
        lines.extend(_rules_import(spec.rules, teams, errors))
    if errors:
        raise scoring_file.ModelFileError(errors)
    score_watches_sync()
    return lines


def _full_clean(
    obj: models.Model,
    where: str,
    errors: list[str],
    *,
    exclude: Iterable[str] = (),
    skip: Iterable[str] = (),
    names: Mapping[str, str] | None = None,
) -> None:
    """The admin's checks (field validation and the model's ``clean``), as located problems."""
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            if name in skip:
                continue
            place = where if name == NON_FIELD_ERRORS else f"{where}.{(names or {}).get(name, name)}"
            errors.extend(checks.at(place, message) for message in messages)


def _teams_import(specs: tuple[TeamSpec, ...], teams: dict[str, Team], errors: list[str]) -> str:
    created = updated = 0
    cards = {card.key: card for card in Scorecard.objects.filter(active=True)}
    for index, spec in enumerate(specs):
        team = teams.get(spec.key) or Team(key=spec.key)
        is_new = team.pk is None
        team.name, team.assignment, team.email = spec.name, spec.assignment, spec.email
        team.sla_hours, team.sla_action = spec.sla_hours, spec.sla_action
        team.feedback_days = spec.feedback_days
        before = len(errors)
        team.scorecard = cards.get(spec.scorecard) if spec.scorecard else None
        if spec.scorecard and team.scorecard is None:
            place = f"teams[{index}].scorecard"
            if cards:
                message = gettext_noop(
                    "{place}: '{value}' is not an active scorecard of the model (scorecards: {known})"
                )
                errors.append(Problem(message, place=place, value=spec.scorecard, known=", ".join(sorted(cards))))
            else:
                message = gettext_noop("{place}: '{value}' is not an active scorecard of the model (scorecards: none)")
                errors.append(Problem(message, place=place, value=spec.scorecard))
        _full_clean(team, f"teams[{index}]", errors, exclude=["team_lead", "last_rep"])
        teams[spec.key] = team  # known to the rules below even when it has problems
        if len(errors) == before:
            team.save()
            created += is_new
            updated += not is_new
    kept = sorted(set(teams) - {s.key for s in specs})
    line = f"Teams: {created} created, {updated} updated."
    if kept:
        line += f" Not in the file, kept (they have reps and history): {', '.join(kept)}"
    return line


def _rules_import(specs: tuple[RuleSpec, ...], teams: dict[str, Team], errors: list[str]) -> list[str]:
    # Any scorecard's group (keys are unique across scorecards), but not one the file leaves out.
    groups = {g.key: g for g in ScoreGroup.every_scorecard.exclude(pk__in=scoring_file.groups_left_out("score"))}
    account_groups = {g.key: g for g in AccountGroup.objects.exclude(pk__in=scoring_file.groups_left_out("account"))}
    sequences = {s.key: s for s in Sequence.objects.all()}
    user_model = get_user_model()
    wanted_users = {a.user for r in specs for a in r.actions if a.user}
    users = {
        u.get_username(): u for u in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": wanted_users})
    }
    existing = {r.key: r for r in RoutingRule.objects.select_for_update().prefetch_related("actions")}
    plans: list[tuple[RoutingRule, RuleSpec, list[RoutingAction], list[RoutingAction]]] = []
    for index, spec in enumerate(specs):
        where = f"routing[{index}]"
        rule = existing.get(spec.key) or RoutingRule(key=spec.key)
        rule.name, rule.active, rule.position, rule.trigger = spec.name, spec.active, index, spec.trigger
        rule.threshold, rule.probability, rule.stage = spec.threshold, spec.probability, spec.stage
        rule.group = _lookup(
            groups,
            spec.group,
            f"{where}.group",
            gettext_noop("{place}: no score group with key '{value}' (known: {known})"),
            errors,
            when_none=gettext_noop("none yet: import the scoring model first"),
        )
        rule.account_group = _lookup(
            account_groups,
            spec.account_group,
            f"{where}.account_group",
            gettext_noop("{place}: no account group with key '{value}' (known: {known})"),
            errors,
            when_none=gettext_noop("none yet: give them under account_groups"),
        )
        looked_up = (("group", spec.group, rule.group), ("account_group", spec.account_group, rule.account_group))
        unknown = [name for name, given, found in looked_up if given and found is None]
        _full_clean(rule, where, errors, skip=unknown)
        old_actions = list(rule.actions.all()) if rule.pk else []
        actions = [
            _action(spec_action, f"{where}.actions[{position}]", position, old_actions, sequences, teams, users, errors)
            for position, spec_action in enumerate(spec.actions)
        ]
        plans.append((rule, spec, actions, old_actions))
    if errors:
        return []
    created = updated = 0
    conditions: list[RoutingCondition] = []
    for rule, spec, actions, old_actions in plans:
        created += rule.pk is None
        updated += rule.pk is not None
        rule.save()
        _actions_save(rule, actions, old_actions)
        # Checked when the file was read (parse); nothing refers to a condition's row.
        conditions.extend(
            RoutingCondition(rule=rule, position=position, field=c.field, operator=c.operator, value=c.value)
            for position, c in enumerate(spec.conditions)
        )
    RoutingCondition.objects.filter(rule__in=[rule for rule, *_ in plans]).delete()
    RoutingCondition.objects.bulk_create(conditions)
    wanted = {s.key for s in specs}
    deactivate = sorted(key for key, rule in existing.items() if key not in wanted and rule.active)
    RoutingRule.objects.filter(key__in=deactivate).update(active=False)
    lines = [f"Routing rules: {created} created, {updated} updated."]
    if deactivate:
        lines.append(f"Routing rules deactivated (not in the file; their history stays): {', '.join(deactivate)}")
    return lines


def _lookup(
    known: Mapping[str, T], key: str, place: str, missing: str, errors: list[str], *, when_none: str = _NONE_YET
) -> T | None:
    """The row of ``known`` with ``key``; when none, ``missing`` (a phrase with the place,
    the value and the keys known, or ``when_none`` when there are none) is added to ``errors``."""
    if not key:
        return None
    found = known.get(key)
    if found is None:
        errors.append(Problem(missing, place=place, value=key, known=", ".join(sorted(known)) or Problem(when_none)))
    return found


def _action(
    spec: ActionSpec,
    place: str,
    position: int,
    old_actions: list[RoutingAction],
    sequences: Mapping[str, Sequence],
    teams: Mapping[str, Team],
    users: Mapping[str, Any],
    errors: list[str],
) -> RoutingAction:
    action = RoutingAction(
        position=position, kind=spec.kind, stage=spec.stage, tag=spec.tag, url=spec.url, message=spec.message
    )
    skip = []
    known_sequences = (
        Problem(gettext_noop("none yet: give them under sequences in this file, or import a sequence file first"))
        if not sequences
        else ", ".join(sorted(sequences))
    )
    if spec.sequence:
        action.sequence = sequences.get(spec.sequence)
        if action.sequence is None:
            # The file's sequences are not written when their part has problems (told already).
            failed = scoring_file.sections_failed().get("nurture")
            if failed is None or spec.sequence not in {sequence.key for sequence in failed.sequences}:
                message = gettext_noop("{place}: no sequence with key '{value}' (known: {known})")
                errors.append(Problem(message, place=f"{place}.sequence", value=spec.sequence, known=known_sequences))
            skip.append("sequence")
    missing_team = gettext_noop("{place}: no team with key '{value}' (known: {known})")
    action.team = _lookup(teams, spec.team, f"{place}.team", missing_team, errors)
    if spec.team and (action.team is None or action.team.pk is None):
        skip.append("team")  # reported already (unknown key, or the team's own problems)
    if spec.user:
        action.user = users.get(spec.user)
        if action.user is None:
            errors.append(Problem(gettext_noop("{place}: no user '{value}'"), place=f"{place}.user", value=spec.user))
            # "Choose a team or a user" (under team) would only repeat this.
            skip.extend(["user", "team"])
    if spec.secret_env:
        action.secret = os.environ.get(spec.secret_env, "")
        if not action.secret:
            message = gettext_noop("{place}: the environment variable {value} is not set (or empty)")
            errors.append(Problem(message, place=f"{place}.secret_env", value=spec.secret_env))
            skip.append("secret")
    else:
        # Export writes no secret: keep the one this rule's webhook to the same URL has.
        same = next((a for a in old_actions if a.kind == action.kind and a.url == action.url and a.secret), None)
        action.secret = same.secret if same is not None else ""
    _full_clean(
        action,
        place,
        errors,
        exclude=["rule"],
        skip=skip,
        names={"secret": "secret_env"},
    )
    return action


def _target(action: RoutingAction) -> tuple[object, ...]:
    return (
        action.kind,
        action.sequence_id,
        action.team_id,
        action.user_id,
        action.stage,
        action.tag,
        action.url,
    )


def _actions_save(rule: RoutingRule, actions: list[RoutingAction], old_actions: list[RoutingAction]) -> None:
    """Keep the rows of actions the file still has (their run history refers to them);
    create the new ones; delete the ones no longer in the file, as the admin does."""
    unused = list(old_actions)
    for action in actions:
        same = next((old for old in unused if _target(old) == _target(action)), None)
        if same is None:
            action.rule = rule
            action.save()
            continue
        unused.remove(same)
        same.position, same.message, same.secret = action.position, action.message, action.secret
        same.save(update_fields=["position", "message", "secret"])
    RoutingAction.objects.filter(pk__in=[old.pk for old in unused]).delete()


def routing_model_export() -> RoutingSpec:
    teams = tuple(
        TeamSpec(
            t.key,
            t.name,
            t.assignment,
            t.sla_hours,
            t.sla_action,
            t.email,
            t.feedback_days,
            t.scorecard.key if t.scorecard is not None else "",
        )
        for t in Team.objects.select_related("scorecard").order_by("key")
    )
    rules = []
    for rule in (
        RoutingRule.objects.select_related("group", "account_group")
        .prefetch_related("conditions", "actions__sequence", "actions__team", "actions__user")
        .order_by("position", "key")
    ):
        rules.append(
            RuleSpec(
                key=rule.key,
                name=rule.name,
                trigger=rule.trigger,
                group=rule.group.key if rule.group is not None else "",
                account_group=rule.account_group.key if rule.account_group is not None else "",
                threshold=rule.threshold,
                probability=rule.probability,
                stage=rule.stage,
                conditions=tuple(
                    scoring_file.ConditionSpec(c.field, c.operator, c.value) for c in rule.conditions.all()
                ),
                actions=tuple(
                    ActionSpec(
                        kind=a.kind,
                        sequence=a.sequence.key if a.sequence is not None else "",
                        team=a.team.key if a.team is not None else "",
                        user=a.user.get_username() if a.user is not None else "",
                        stage=a.stage,
                        tag=a.tag,
                        url=a.url,
                        message=a.message,
                    )
                    for a in rule.actions.all()
                ),
                active=rule.active,
            )
        )
    return RoutingSpec(teams=teams or None, rules=tuple(rules) or None)


def rules_groups_leaving(kind: scoring_file.GroupKind, ids: Collection[int]) -> list[scoring_file.GroupUse]:
    """The active rules that still watch groups the model file leaves out, once it is
    written (each refuses the file); the inactive ones watching them are emptied of the
    group instead, since they do nothing and keep their history (they need a group again
    to be turned on)."""
    field = "group" if kind == "score" else "account_group"
    watching = RoutingRule.objects.filter(**{f"{field}__in": ids})
    uses = [
        scoring_file.GroupUse(getattr(rule, f"{field}_id"), gettext_noop("routing rule"), rule.name, field)
        for rule in watching.filter(active=True)
    ]
    watching.filter(active=False).update(**{field: None})
    return uses


def routing_loaded() -> bool:
    return Team.objects.exists() or RoutingRule.objects.exists()


def register() -> None:
    scoring_file.register_section(
        scoring_file.Section(
            name="routing",
            title=gettext_noop("teams and routing rules"),
            keys=("teams", "routing"),
            parse=parse,
            dump=dump,
            import_=routing_model_import,
            export=routing_model_export,
            loaded=routing_loaded,
            groups_leaving=rules_groups_leaving,
            # Actions name nurture sequences: the file's are written first, whatever its order.
            after=("nurture",),
        )
    )
