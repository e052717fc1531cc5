"""The score and account groups of a model file: written by key, and the ones it leaves
out deleted once the rest of the file is written (other apps' rows may move off them)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import F, ProtectedError
from django.utils import translation
from django.utils.translation import gettext_noop

from scoring import model_file
from scoring.file_checks import Problem
from scoring.models import AccountGroup, Scorecard, ScoreGroup

# What lacks the groups left out, in a refusal: a model file, or a version being published.
THE_FILE = gettext_noop("the file")
THE_VERSION = gettext_noop("the version")


@dataclass(frozen=True)
class LeftOut:
    """Groups a file leaves out, kept (their thresholds parked) until the rest of the file
    is written, then deleted by :func:`groups_left_out_delete`: a sequence or routing rule
    the same file moves to another group does not keep them, one it does not move refuses
    the file."""

    kind: model_file.GroupKind
    groups: dict[int, tuple[str, str]]  # id -> (the file's place, for the refusal; the group's key)


def groups_write(
    model: type[ScoreGroup] | type[AccountGroup],
    specs: Sequence[model_file.GroupSpec],
    *,
    section: str,
    scorecard: Scorecard | None = None,
) -> tuple[int, int, dict[int, tuple[str, str]]]:
    """Make the groups of ``model`` (leads' score groups of ``scorecard``, the default one
    when None, or account groups) those of ``specs``, by key: created or updated. Returns
    how many of each and the groups missing from the file (id -> ``section``, key), which
    stay, their thresholds parked out of the way, until :func:`groups_left_out_delete`.
    Call in a transaction."""
    if model is ScoreGroup:
        # Keys are unique across scorecards: a key is looked up among them all.
        manager: Any = ScoreGroup.every_scorecard
        scope = manager.filter(scorecard=scorecard)
        extra: dict[str, Any] = {"scorecard": scorecard}
    else:
        manager, extra = model.objects, {}
        scope = manager.all()
    existing = {g.key: g for g in scope.select_for_update()}
    wanted = {g.key for g in specs}
    # Thresholds are unique: park every group out of the way (the left-out ones until they
    # are deleted) before moving the kept ones.
    scope.update(min_score=-F("id") - 10**9, leave_below=None)
    created = updated = 0
    for group in specs:
        _, made = manager.update_or_create(
            key=group.key,
            defaults={
                "name": group.name,
                "min_score": group.min_score,
                "leave_below": group.leave_below,
                "description": group.description,
                **extra,
            },
        )
        created += made
        updated += not made
    return created, updated, {g.pk: (section, key) for key, g in existing.items() if key not in wanted}


def groups_left_out_uses(
    left_out: Iterable[LeftOut], *, skip: Collection[str] = (), missing_from: str = THE_FILE
) -> list[str]:
    """The refusals of the groups a model file left out that rows of other apps still use
    (a sequence's exit goal, an active routing rule: :attr:`model_file.Section.groups_leaving`),
    each naming the row, where the file names the group, and the group; the sections named
    in ``skip`` are not asked (their part of the file failed and was not written, so their
    rows are not what the file makes them). ``missing_from`` is what lacks the groups, for
    the refusal (a model version published has no file). Lets go of the uses that need not
    keep a group."""
    errors: list[str] = []
    for part in left_out:
        if not part.groups:
            continue
        for section in model_file.sections():
            if section.groups_leaving is None or section.name in skip:
                continue
            for use in section.groups_leaving(part.kind, set(part.groups)):
                where, key = part.groups[use.group_id]
                message = gettext_noop(
                    "{place}: {value} not in {missing_from}, but {kind} '{name}' uses it in {field}: keep the group "
                    "or change that first"
                )
                errors.append(
                    Problem(
                        message,
                        place=where,
                        value=key,
                        missing_from=Problem(missing_from),
                        kind=Problem(use.kind),
                        name=use.name,
                        field=use.field,
                    )
                )
    return sorted(errors)


def groups_left_out_delete(
    left_out: Iterable[LeftOut], *, uses_checked: bool = False, missing_from: str = THE_FILE
) -> None:
    """Delete the groups a model file left out, once the rest of it is written (call in its
    transaction). A row of another app still using one of them refuses the file with
    :class:`model_file.ModelFileError` (:func:`groups_left_out_uses`, unless ``uses_checked``:
    the caller reported them already); deleting the group would drop the sequence's goal
    silently."""
    left_out = list(left_out)
    errors = [] if uses_checked else groups_left_out_uses(left_out, missing_from=missing_from)
    if errors:
        raise model_file.ModelFileError(errors)
    for part in left_out:
        model: type[ScoreGroup] | type[AccountGroup] = ScoreGroup if part.kind == "score" else AccountGroup
        manager: Any = ScoreGroup.every_scorecard if model is ScoreGroup else AccountGroup.objects
        try:
            manager.filter(pk__in=part.groups).delete()
        except ProtectedError as exc:
            # A row of an app that says nothing of its uses keeps the group: say which row keeps which.
            errors.extend(_protected(model, part, exc, missing_from))
    if errors:
        raise model_file.ModelFileError(sorted(errors))


def _protected(
    model: type[ScoreGroup] | type[AccountGroup], part: LeftOut, exc: ProtectedError, missing_from: str
) -> list[str]:
    errors: list[str] = []
    for obj in exc.protected_objects:
        used = sorted(
            part.groups[value]
            for f in obj._meta.concrete_fields
            if f.is_relation and f.related_model is model and (value := getattr(obj, f.attname)) in part.groups
        )
        with translation.override("en"):  # the English name, said in the reader's language with the rest
            kind = str(obj._meta.verbose_name)
        message = gettext_noop(
            "{place}: {value} not in {missing_from}, but {kind} '{name}' uses it: keep the group or change that first"
        )
        for where, key in used or sorted(part.groups.values()):
            errors.append(
                Problem(
                    message,
                    place=where,
                    value=key,
                    missing_from=Problem(missing_from),
                    kind=Problem(kind),
                    name=str(obj),
                )
            )
    return errors
