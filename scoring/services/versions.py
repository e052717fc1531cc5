"""Versions of the scoring model: drafts made from the live model, from an earlier
version or from a model file; publishing one (it becomes live, the live one joins the
history, leads are rescored); restoring an earlier one as a new draft.

A draft's score groups, rules (with their conditions) and decay policy are rows of the
same tables as the live model's, marked with the draft's version; the live rows have
none, and the tables' default managers read only those, so the engine never sees a draft.
Publishing writes the draft's content over the live rows by key (the live rows keep their
ids, so leads' groups, routing rules and the ledger still point at them), then drops the
draft's rows.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import model_file, score_bounds, sentences
from scoring import rules as pure
from scoring.file_checks import Problem
from scoring.models import (
    AttributeName,
    DecayPolicy,
    Lead,
    ModelVersion,
    RescoreJob,
    RuleCondition,
    Scorecard,
    ScoreGroup,
    ScoringRule,
)
from scoring.services.attribute_names import attribute_names_declare, fit_condition_fields
from scoring.services.event_types import event_types_declare, event_types_export
from scoring.services.model import ModelImportSummary, rule_spec, scorecard_specs, scoring_part_import
from scoring.services.model_groups import THE_VERSION, LeftOut, groups_left_out_delete
from scoring.services.rescore import rescore_job_start

PUBLISH_PERMISSION = "scoring.publish_modelversion"

User = AbstractBaseUser | AnonymousUser


class VersionError(Exception):
    """A version cannot be changed so (not a draft, or the draft does not fit the live model)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class VersionStale(VersionError):
    """The live model changed after the draft was made: publishing it would undo those changes."""


# --- reading ---------------------------------------------------------------------


def _scoring_spec(version: ModelVersion | None) -> model_file.ModelSpec:
    """The scoring part of the live model (``version`` None) or of a draft, from its rows,
    with its event types (the live ones for a draft made before they were versioned)."""
    groups = ScoreGroup.all_versions.filter(version=version, scorecard=None).order_by("min_score")
    rules = (
        ScoringRule.all_versions.filter(version=version, scorecard=None)
        .prefetch_related("conditions")
        .order_by("dimension", "key")
    )
    decay_row = DecayPolicy.all_versions.filter(version=version, scorecard=None).order_by("pk").first()
    return model_file.ModelSpec(
        scorecards=scorecard_specs(version),
        groups=tuple(
            model_file.GroupSpec(g.key, g.name, g.min_score, g.description, leave_below=g.leave_below) for g in groups
        ),
        rules=tuple(rule_spec(rule) for rule in rules),
        decay=decay_row.as_pure() if decay_row is not None else DecayPolicy().as_pure(),
        event_types=_event_types_of(version),
    )


def _event_types_of(version: ModelVersion | None) -> tuple[model_file.EventTypeSpec, ...]:
    if version is None or version.event_types is None:
        return event_types_export()
    declared = model_file.load_data(
        {"leadflow_model": model_file.FORMAT_VERSION, "event_types": version.event_types}
    ).event_types
    return declared or ()


def live_spec() -> dict[str, Any]:
    """The live model's scoring part as model-file data."""
    return _spec_data(_scoring_spec(None))


def _spec_data(spec: model_file.ModelSpec) -> dict[str, Any]:
    """``spec`` as model-file data, with its event types even when there are none: a version
    kept so says it declared none (restoring it undeclares today's), where one kept before
    event types were versioned has no key (restoring it keeps today's)."""
    data = model_file.dump_data(spec)
    data.setdefault("event_types", [])
    return data


def version_spec(version: ModelVersion) -> dict[str, Any]:
    """A version as model-file data (its scoring part): a draft's and the live one's
    from their rows, an earlier one's as it was frozen when it was replaced."""
    if version.status == ModelVersion.Status.DRAFT:
        return _spec_data(_scoring_spec(version))
    if version.status == ModelVersion.Status.LIVE:
        return live_spec()
    return dict(version.spec or {})


def version_rules_pure(version: ModelVersion | None) -> list[pure.Rule]:
    """A draft's rules (``version`` None: the live ones) as the engine's plain data, in two
    queries: the default scorecard's only."""
    rules = ScoringRule.all_versions.filter(version=version, scorecard=None).prefetch_related("conditions")
    return [rule.as_pure(list(rule.conditions.all())) for rule in rules]


def version_bands(version: ModelVersion | None) -> list[pure.Band]:
    """A draft's score groups (``version`` None: the live ones) as the engine's thresholds."""
    rows = ScoreGroup.all_versions.filter(version=version, scorecard=None).values_list("id", "min_score", "leave_below")
    return [pure.Band(*row) for row in rows]


def live_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.LIVE).first()


def draft_is_stale(draft: ModelVersion) -> bool:
    """Whether the live model changed after the draft was made (published over, or edited)."""
    return draft.base_spec is not None and draft.base_spec != live_spec()


# --- drafts ----------------------------------------------------------------------


def _user_id(user: User | None) -> int | None:
    return user.pk if user is not None and user.is_authenticated else None


def _rows_write(version: ModelVersion, spec: model_file.ModelSpec) -> None:
    """A draft's rows for ``spec`` (scorecards; groups, rules with their conditions and decay
    of each): a few bulk inserts."""
    cards = {
        s.key: Scorecard.all_versions.create(version=version, key=s.key, name=s.name, description=s.description)
        for s in spec.scorecards
    }
    parts: list[tuple[Scorecard | None, model_file.ModelSpec | model_file.ScorecardSpec]] = [(None, spec)]
    parts += [(cards[s.key], s) for s in spec.scorecards]
    # Known as the live model's are: a key used in web pages may write what a draft tests.
    attribute_names_declare(fit_condition_fields(part for _, part in parts), origin=AttributeName.Origin.RULE)
    ScoreGroup.all_versions.bulk_create(
        ScoreGroup(
            version=version,
            scorecard=card,
            key=g.key,
            name=g.name,
            min_score=g.min_score,
            leave_below=g.leave_below,
            description=g.description,
        )
        for card, part in parts
        for g in part.groups
    )
    rules = ScoringRule.all_versions.bulk_create(
        ScoringRule(
            version=version,
            scorecard=card,
            key=r.key,
            name=r.name,
            description=r.description,
            dimension=r.dimension,
            points=r.points,
            match=r.match,
            interaction_types=list(r.interaction_types),
            cap_count=r.cap_count,
            cap_points=r.cap_points,
            cap_window_days=r.cap_window_days,
            active=r.active,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
        )
        for card, part in parts
        for r in part.rules
    )
    if any(rule.pk is None for rule in rules):  # backends that do not return ids from a bulk insert
        rules = list(ScoringRule.all_versions.filter(version=version).order_by("pk"))
    by_key = {rule.key: rule for rule in rules}
    RuleCondition.objects.bulk_create(
        RuleCondition(rule=by_key[r.key], position=i, field=c.field, operator=c.operator, value=c.value)
        for _, part in parts
        for r in part.rules
        for i, c in enumerate(r.conditions)
    )
    DecayPolicy.all_versions.bulk_create(
        DecayPolicy(
            version=version,
            scorecard=card,
            kind=part.decay.kind.value,
            points_per_day=part.decay.points_per_day,
            after_days=part.decay.after_days,
            half_life_days=part.decay.half_life_days,
            window_days=part.decay.window_days,
            floor=part.decay.floor,
        )
        for card, part in parts
    )


def _draft_new(
    *, spec: model_file.ModelSpec, user: User | None, based_on: ModelVersion | None, name: str
) -> ModelVersion:
    draft = ModelVersion.objects.create(
        status=ModelVersion.Status.DRAFT,
        name=name,
        based_on=based_on,
        created_by_id=_user_id(user),
        base_spec=live_spec(),
        # A file without event_types keeps the live ones, as importing it live would.
        event_types=[
            model_file.event_type_data(t)
            for t in (spec.event_types if spec.event_types is not None else event_types_export())
        ],
    )
    _rows_write(draft, spec)
    return draft


@transaction.atomic
def draft_create(*, user: User | None, based_on: ModelVersion | None = None, name: str = "") -> ModelVersion:
    """A new draft: a copy of the live model, or of ``based_on`` (an earlier version: a restore)."""
    if based_on is None or based_on.status == ModelVersion.Status.LIVE:
        return _draft_new(spec=_scoring_spec(None), user=user, based_on=live_version(), name=name)
    spec = model_file.load_data(version_spec(based_on))
    return _draft_new(spec=spec, user=user, based_on=based_on, name=name or f"Restore of {based_on.english_name()}")


def _named(version: ModelVersion) -> Problem:
    """The version's name as ``str(version)`` gives it, said in the reader's language."""
    if version.number is not None:
        if version.name:
            return Problem(gettext_noop("Version {number}: {name}"), number=version.number, name=version.name)
        return Problem(gettext_noop("Version {number}"), number=version.number)
    if version.name:
        return Problem(gettext_noop("Draft: {name}"), name=version.name)
    return Problem(gettext_noop("Draft #{id}"), id=version.pk)


# Why a version that is not a draft cannot be published, by its status.
_NOT_A_DRAFT = {
    ModelVersion.Status.LIVE: gettext_noop("{version} is not a draft (it is live)"),
    ModelVersion.Status.RETIRED: gettext_noop("{version} is not a draft (it is published earlier)"),
}


def version_restore(*, version: ModelVersion, user: User | None) -> ModelVersion:
    """An earlier (or the live) version as a new draft, to publish again."""
    if version.status == ModelVersion.Status.DRAFT:
        raise VersionError(
            [Problem(gettext_noop("{version} is a draft already: edit it, or publish it"), version=_named(version))]
        )
    return draft_create(user=user, based_on=version)


def parts_not_in_drafts(spec: model_file.ModelSpec) -> list[str]:
    """What a model file holds that drafts do not keep (written live only), in English marked
    for the catalogue (a section's title is too)."""
    parts = [gettext_noop("account groups")] if spec.account_groups is not None else []
    if spec.accounts is not None:
        parts.append(gettext_noop("account scoring (accounts)"))
    return parts + [s.title for s in model_file.sections() if s.name in spec.sections]


def scoring_part_only(spec: model_file.ModelSpec) -> model_file.ModelSpec:
    """``spec`` without what drafts do not keep (:func:`parts_not_in_drafts`)."""
    return dataclasses.replace(spec, sections=MappingProxyType({}), account_groups=None, accounts=None)


@transaction.atomic
def draft_import(*, spec: model_file.ModelSpec, user: User | None, name: str = "") -> ModelVersion:
    """A model file's scoring part as a new draft (the live model is not touched). Event
    types are kept in the draft (declared when it is published); a file holding parts a
    draft does not keep (:func:`parts_not_in_drafts`) is refused: give it
    :func:`scoring_part_only` to leave them out. Fit rules that may pass the score
    columns (:func:`score_bounds.fit_past_columns`) are refused."""
    if not spec.scoring:
        raise VersionError(
            [Problem(gettext_noop("the file has no scoring part (score_groups, rules or decay) to make a draft of"))]
        )
    if past := score_bounds.fit_past_columns(spec, words=sentences.WORDS):
        raise VersionError(past)
    live_only = parts_not_in_drafts(spec)
    if live_only:
        message = gettext_noop(
            "the file also holds {parts}, which are not kept in drafts: import it live (manage.py "
            "scoring_model_import --publish), or keep only the scoring part (score_groups, rules, decay) in it"
        )
        # "a, b, c", each part said in the reader's language (a phrase no catalogue holds, kept as it is).
        parts = functools.reduce(
            lambda said, part: Problem("{said}, {part}", said=said, part=part), [Problem(p) for p in live_only]
        )
        raise VersionError([Problem(message, parts=parts)])
    return _draft_new(spec=spec, user=user, based_on=live_version(), name=name or (spec.name or ""))


@transaction.atomic
def draft_discard(*, draft: ModelVersion) -> None:
    """Delete a draft and its rows."""
    locked = ModelVersion.objects.select_for_update().get(pk=draft.pk)
    if locked.status != ModelVersion.Status.DRAFT:
        raise VersionError(
            [Problem(gettext_noop("{version} is not a draft: the history keeps it"), version=_named(locked))]
        )
    locked.delete()


# --- publishing ----------------------------------------------------------------------


def may_publish(user: User) -> bool:
    has_perm = getattr(user, "has_perm", None)  # AbstractBaseUser alone has no permissions
    return bool(has_perm is not None and has_perm(PUBLISH_PERMISSION))


@dataclass(frozen=True)
class Published:
    version: ModelVersion
    job: RescoreJob | None  # the rescore started (none when the caller rescores itself)
    retired: ModelVersion | None
    summary: ModelImportSummary | None = None  # what changed in the live rows
    # The groups the draft leaves out, not yet deleted (``groups_deleted_later``): the caller's.
    left_out: tuple[LeftOut, ...] = ()


def _next_number() -> int:
    return (ModelVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def version_publish(
    *,
    draft: ModelVersion,
    user: User | None,
    note: str = "",
    stale_ok: bool = False,
    rescore: bool = True,
    groups_deleted_later: bool = False,
) -> Published:
    """Make a draft the live model, in one transaction: its groups, rules and decay are
    written over the live rows by key (a live rule the draft lacks is deactivated, a
    group it lacks deleted), the live version joins the history with its content frozen,
    and the draft becomes live with the next number. Then (``rescore``) a rescore job of
    every lead starts in the background once committed.

    ``user`` None is the command line (trusted); a person needs the publish permission
    (:class:`PermissionDenied`). When the live model changed after the draft was made,
    :class:`VersionStale` unless ``stale_ok``. A draft that does not fit (an active routing
    rule watches a group the draft lacks, or a nurture sequence exits on one):
    :class:`VersionError` listing why, nothing changes.

    ``groups_deleted_later`` leaves the groups the draft lacks in place (parked) and hands
    them back in :attr:`Published.left_out`, for a caller that writes more of the model in
    the same transaction (a model file's sequences and routing rules, which may move off
    them) and then deletes them with :func:`groups_left_out_delete`, which checks their uses.
    """
    if user is not None and not may_publish(user):
        raise PermissionDenied("Publishing a model version needs the permission to publish model versions.")
    with transaction.atomic():
        # One publish at a time: the live version's row (or, before the first, the draft's) is the lock.
        live = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.LIVE).first()
        locked = ModelVersion.objects.select_for_update().get(pk=draft.pk)
        if locked.status != ModelVersion.Status.DRAFT:
            raise VersionError([Problem(_NOT_A_DRAFT[ModelVersion.Status(locked.status)], version=_named(locked))])
        current = live_spec()
        if not stale_ok and locked.base_spec is not None and locked.base_spec != current:
            raise VersionStale(
                [
                    Problem(
                        gettext_noop(
                            "The live model changed after this draft was made; publishing it would undo those "
                            "changes. Start a new draft from the live model, or publish anyway."
                        )
                    )
                ]
            )
        content = version_spec(locked)
        now = timezone.now()
        retired = live
        if live is not None:
            live.status, live.spec = ModelVersion.Status.RETIRED, current
            live.save(update_fields=["status", "spec"])
        elif ScoreGroup.objects.exists() or ScoringRule.objects.exists():
            # The model from before versions were kept: it joins the history, so it can be restored.
            retired = ModelVersion.objects.create(
                status=ModelVersion.Status.RETIRED,
                number=_next_number(),
                name="The model before versions",
                spec=current,
            )
        spec = model_file.load_data(content)
        try:
            with transaction.atomic():
                # The draft's event types first (its rules may score a type it declares), then its scoring part.
                event_types_declare(specs=spec.event_types or ())
                summary, left_out = scoring_part_import(spec)
                if not groups_deleted_later:
                    groups_left_out_delete(left_out, missing_from=THE_VERSION)
        except model_file.ModelFileError as exc:
            raise VersionError(exc.errors) from None
        for versioned in (ScoringRule, ScoreGroup, DecayPolicy, Scorecard):
            versioned.all_versions.filter(version=locked).delete()
        locked.status, locked.number, locked.spec, locked.base_spec, locked.event_types = (
            ModelVersion.Status.LIVE,
            _next_number(),
            content,
            None,
            None,
        )
        locked.note, locked.published_at, locked.published_by_id = note, now, _user_id(user)
        locked.save()
        job = None
        if rescore:
            job = rescore_job_start(user=user if isinstance(user, AbstractBaseUser) else None)
    return Published(locked, job, retired, summary, tuple(left_out) if groups_deleted_later else ())


# --- what a publish would do ------------------------------------------------------------


@dataclass(frozen=True)
class GroupMove:
    from_group: str  # a group's name, or "no group"
    to_group: str
    leads: int


def publish_crossings(*, draft: ModelVersion) -> list[GroupMove]:
    """How many leads would change group, from which to which, if the draft's groups
    were live now (their scores as they are, hysteresis kept; what its rules change
    shows after the rescore). One GROUP BY over the leads, then per distinct
    (group, score) pair, not per lead."""
    live_groups = {g.pk: g for g in ScoreGroup.objects.all()}
    draft_groups = list(ScoreGroup.all_versions.filter(version=draft, scorecard=None))
    by_key = {g.key: g for g in draft_groups}
    bands = version_bands(draft)
    moves: dict[tuple[str, str], int] = {}
    pairs = (
        Lead.objects.values("score_group_id", "total_score")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("score_group_id", "total_score", "n")
    )
    for group_id, total, count in pairs:
        now = live_groups.get(group_id) if group_id is not None else None
        same = by_key.get(now.key) if now is not None else None
        new_id = pure.group_for(total, bands, current=same.pk if same is not None else None)
        before = now.key if now is not None else None
        after = next((g.key for g in draft_groups if g.pk == new_id), None)
        if before == after:
            continue
        names = (now.name if now is not None else "no group", by_key[after].name if after else "no group")
        moves[names] = moves.get(names, 0) + count
    return [GroupMove(a, b, n) for (a, b), n in sorted(moves.items(), key=lambda item: -item[1])]
