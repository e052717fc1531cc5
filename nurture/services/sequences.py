"""Sequences from a sequence file: created or updated by key, all or nothing."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_noop

from nurture import content, sequence_file
from nurture.models import Delivery, Sequence, Step
from scoring.file_checks import Problem
from scoring.models import ScoreGroup

# The languages a step may be written in are the site's (settings.LANGUAGES): the admin
# offers only those, and Leadflow's own words in an email (the unsubscribe link…) exist only
# in them.
LANGUAGE_NOT_OFFERED = gettext_noop(
    "{place}: {value!r} is not one of the languages a step may be written in: {choices}"
)
SITE_LANGUAGE_TRANSLATED = gettext_noop(
    "{place}: {value} is this step's own language (the site's, the step naming no `language`): "
    "write it in the step's subject, text and html"
)


@dataclass(frozen=True)
class ImportSummary:
    created: list[str]
    updated: list[str]
    untouched: list[str]  # in the database, not in the file: left as they are


class SequenceImportError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@transaction.atomic
def sequences_import(
    *, spec: sequence_file.FileSpec, groups_left_out: Collection[int] = (), dry_run: bool = False
) -> ImportSummary:
    """Create or update the file's sequences (matched by key), all or nothing.

    Steps are matched by position. A step no longer in the file is deleted,
    unless it was delivered (its figures are history): then nothing is
    imported and the error says which step. Sequences not in the file are
    left as they are. An exit goal may not name one of ``groups_left_out`` (ids): the
    groups a model file holding the sequences leaves out, deleted once it is written.
    ``dry_run`` does everything, then rolls it back: a check of the file against the database.
    """
    errors: list[str] = []
    groups = dict(ScoreGroup.objects.exclude(pk__in=groups_left_out).values_list("key", "pk"))
    # Exit goals follow the default score's group: another scorecard's group is named as its.
    scorecard_groups = dict(
        ScoreGroup.every_scorecard.exclude(pk__in=groups_left_out)
        .filter(scorecard__isnull=False)
        .values_list("key", "scorecard__key")
    )
    for s_index, seq in enumerate(spec.sequences):
        for name, key in (("reaches_group", seq.exit_reaches_group), ("leaves_group", seq.exit_leaves_group)):
            if key and key not in groups:
                known = ", ".join(sorted(groups)) or Problem(gettext_noop("none yet: import the scoring model first"))
                where = f"sequences[{s_index}].exit.{name}"
                if key in scorecard_groups:
                    message = gettext_noop(
                        "{place}: {value!r} is a group of the scorecard {scorecard!r}; an exit goal names a group of "
                        "the default score (known: {known})"
                    )
                    errors.append(
                        Problem(message, place=where, value=key, scorecard=scorecard_groups[key], known=known)
                    )
                else:
                    message = gettext_noop("{place}: no score group {value!r} (known: {known})")
                    errors.append(Problem(message, place=where, value=key, known=known))
    languages = {code for code, _name in settings.LANGUAGES}
    choices = ", ".join(sorted(languages))
    own = content.site_language()
    for s_index, seq in enumerate(spec.sequences):
        for t_index, step in enumerate(seq.steps):
            where = f"sequences[{s_index}].steps[{t_index}]"
            if step.language and step.language not in languages:
                errors.append(
                    Problem(LANGUAGE_NOT_OFFERED, place=f"{where}.language", value=step.language, choices=choices)
                )
            errors.extend(
                Problem(LANGUAGE_NOT_OFFERED, place=f"{where}.translations.{code}", value=code, choices=choices)
                for code, *_content in step.translations
                if code not in languages
            )
            # A step naming no language is in the site's: a version in it would never be sent
            # (Step.version_for gives a lead in it the step's own content). One naming its
            # language is refused so by the file's own check.
            if not step.language and own in {code for code, *_content in step.translations}:
                errors.append(Problem(SITE_LANGUAGE_TRANSLATED, place=f"{where}.translations.{own}", value=own))
    existing = {s.key: s for s in Sequence.objects.select_for_update().filter(key__in=[s.key for s in spec.sequences])}
    for s_index, seq in enumerate(spec.sequences):
        current = existing.get(seq.key)
        if current is None:
            continue
        kept = {step.position for step in seq.steps}
        delivered = sorted(
            set(
                Delivery.objects.filter(step__sequence=current)
                .exclude(step__position__in=kept)
                .values_list("step__position", flat=True)
            )
        )
        if delivered:
            message = gettext_noop(
                "{place}: step(s) {steps} of {value!r} were delivered and cannot be removed; keep them in the file "
                "(or change their content)"
            )
            errors.append(
                Problem(
                    message, place=f"sequences[{s_index}].steps", steps=", ".join(map(str, delivered)), value=seq.key
                )
            )
    if errors:
        raise SequenceImportError(errors)
    created: list[str] = []
    updated: list[str] = []
    for seq in spec.sequences:
        sequence, was_created = Sequence.objects.update_or_create(
            key=seq.key,
            defaults={
                "name": seq.name,
                "description": seq.description,
                "active": seq.active,
                "reenroll": seq.reenroll,
                "exit_on_group_reached_id": groups.get(seq.exit_reaches_group or ""),
                "exit_on_group_left_id": groups.get(seq.exit_leaves_group or ""),
                "exit_on_conversion": seq.exit_converted,
                "exit_on_sales": seq.exit_routed_to_sales,
            },
        )
        (created if was_created else updated).append(seq.key)
        sequence.steps.exclude(position__in=[s.position for s in seq.steps]).delete()
        for step in seq.steps:
            Step.objects.update_or_create(
                sequence=sequence,
                position=step.position,
                defaults={
                    "wait_days": step.wait_days,
                    "wait_hours": step.wait_hours,
                    "send_hour_start": step.send_hour_start,
                    "send_hour_end": step.send_hour_end,
                    "send_weekdays": sorted(step.weekdays),
                    "subject_template": step.subject,
                    "text_template": step.text,
                    "html_template": step.html,
                    "campaign": step.campaign,
                    "language": step.language,
                    "translations": {
                        code: {"subject": subject, "text": text, **({"html": html} if html else {})}
                        for code, subject, text, html in step.translations
                    },
                },
            )
    untouched = list(Sequence.objects.exclude(key__in=[s.key for s in spec.sequences]).values_list("key", flat=True))
    if dry_run:
        transaction.set_rollback(True)
    return ImportSummary(created, updated, untouched)
