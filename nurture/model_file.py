"""Nurture sequences as part of the scoring model file (:mod:`scoring.model_file`).

Scoring imports no other app, so nurture adds its top-level key ``sequences`` to
the model file from :meth:`nurture.apps.NurtureConfig.ready`. The key holds the
same list as a sequence file (:mod:`nurture.sequence_file`), so one file can
hold the score groups, the sequences whose exit goals name them and the routing
rules that enroll leads in them::

    leadflow_model: 1
    score_groups:
      - {key: nurture, name: Nurture, min_score: 40}
      - {key: frequent, name: Frequent, min_score: 60}
    sequences:
      - key: nurture
        name: Nurture
        exit: {reaches_group: frequent}
        steps:
          - {subject: "Hello {{ lead.first_name }}", text: "…"}
    routing:
      - {key: start, name: Start, trigger: enters_group, group: nurture,
         actions: [{kind: enroll, sequence: nurture}]}

Whatever the order of the keys, the model import writes the score groups first,
then the sequences, then routing (which declares ``after=("nurture",)``), all in
one transaction. Sequences are matched by key; the ones not in the file are left
as they are (they have enrollments and deliveries). The groups the file leaves
out are deleted last: a sequence whose exit goal still names one then refuses
the file (:func:`sequences_groups_leaving`), so a file may rename a group and
move the goals to the new one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_noop

from nurture import content, sequence_file
from nurture.models import Sequence
from nurture.services import SequenceImportError, sequences_import
from scoring import model_file as scoring_file


def parse(values: Mapping[str, Any], errors: list[str]) -> sequence_file.FileSpec:
    sequences = sequence_file.parse_sequences(values["sequences"], errors, check_templates=content.check_templates)
    return sequence_file.FileSpec(sequences)


def dump(spec: sequence_file.FileSpec) -> dict[str, Any]:
    return {"sequences": sequence_file.dump_sequences(spec.sequences)} if spec.sequences else {}


def sequences_model_import(spec: sequence_file.FileSpec) -> list[str]:
    """Import the file's sequences inside the model import's transaction, after its
    score groups are written (the exit goals name them); returns summary lines. A group
    the file leaves out is not one a goal may name, though it is deleted only later."""
    try:
        summary = sequences_import(spec=spec, groups_left_out=scoring_file.groups_left_out("score"))
    except SequenceImportError as exc:
        raise scoring_file.ModelFileError(exc.errors) from None
    line = f"Nurture sequences: {len(summary.created)} created, {len(summary.updated)} updated."
    if summary.untouched:
        line += f" Not in the file, left as they are: {', '.join(sorted(summary.untouched))}"
    return [line]


def sequences_model_export() -> sequence_file.FileSpec:
    sequences = []
    for sequence in (
        Sequence.objects.select_related("exit_on_group_reached", "exit_on_group_left")
        .prefetch_related("steps")
        .order_by("key")
    ):
        reached, left = sequence.exit_on_group_reached, sequence.exit_on_group_left
        sequences.append(
            sequence_file.SequenceSpec(
                key=sequence.key,
                name=sequence.name,
                description=sequence.description,
                active=sequence.active,
                reenroll=sequence.reenroll,
                exit_reaches_group=reached.key if reached is not None else None,
                exit_leaves_group=left.key if left is not None else None,
                exit_converted=sequence.exit_on_conversion,
                exit_routed_to_sales=sequence.exit_on_sales,
                steps=tuple(
                    sequence_file.StepSpec(
                        position=step.position,
                        subject=step.subject_template,
                        text=step.text_template,
                        html=step.html_template,
                        wait_days=step.wait_days,
                        wait_hours=step.wait_hours,
                        send_hour_start=step.send_hour_start,
                        send_hour_end=step.send_hour_end,
                        weekdays=frozenset(step.send_weekdays or ()),
                        campaign=step.campaign,
                        language=step.language,
                        translations=tuple(
                            (code, version["subject"], version["text"], version.get("html") or "")
                            for code, version in sorted((step.translations or {}).items())
                            if isinstance(version, dict)
                        ),
                    )
                    for step in sequence.steps.all()
                ),
            )
        )
    return sequence_file.FileSpec(tuple(sequences))


def sequences_groups_leaving(kind: scoring_file.GroupKind, ids: Collection[int]) -> list[scoring_file.GroupUse]:
    """The exit goals that still name score groups the model file leaves out, once it is
    written: deleting the group would drop the goal silently (its foreign key sets null),
    and the sequence meant to end there would run on."""
    if kind != "score":
        return []
    uses = []
    for sequence in Sequence.objects.filter(Q(exit_on_group_reached__in=ids) | Q(exit_on_group_left__in=ids)):
        for group_id, field in (
            (sequence.exit_on_group_reached_id, "exit.reaches_group"),
            (sequence.exit_on_group_left_id, "exit.leaves_group"),
        ):
            if group_id is not None and group_id in ids:
                uses.append(scoring_file.GroupUse(group_id, gettext_noop("sequence"), sequence.name, field))
    return uses


def sequences_loaded() -> bool:
    return Sequence.objects.exists()


def register() -> None:
    scoring_file.register_section(
        scoring_file.Section(
            name="nurture",
            title=gettext_noop("nurture sequences"),
            keys=("sequences",),
            parse=parse,
            dump=dump,
            import_=sequences_model_import,
            export=sequences_model_export,
            loaded=sequences_loaded,
            groups_leaving=sequences_groups_leaving,
        )
    )
