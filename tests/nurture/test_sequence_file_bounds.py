"""Sequences, in a sequence file or a model file: every value going to a bounded column is
checked against that column when the file is read, and told at its place, instead of
failing in the database (PostgreSQL holds to the bounds; SQLite keeps what it is given)."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from nurture import sequence_file
from nurture.models import Sequence, Step
from scoring import model_file
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN


def sequence(name: str = "Welcome", subject: str = "Hi", step: str = "", translation: str = "") -> str:
    translations = f"\n        translations: {{es: {{subject: {translation}, text: Hola}}}}" if translation else ""
    return (
        "sequences:\n"
        "  - key: welcome\n"
        f"    name: {name}\n"
        "    steps:\n"
        f"      - subject: {subject}\n"
        f"        text: Hello{step}{translations}\n"
    )


SEQUENCE_BOUNDS = [
    pytest.param(sequence(name="W" * 201), "sequences[0].name: at most 200 characters, not 201", id="name"),
    pytest.param(
        sequence(subject="S" * 501), "sequences[0].steps[0].subject: at most 500 characters, not 501", id="subject"
    ),
    pytest.param(
        sequence(translation="S" * 501),
        "sequences[0].steps[0].translations.es.subject: at most 500 characters, not 501",
        id="translated subject",
    ),
    pytest.param(
        sequence(step="\n        campaign: " + "c" * 81),
        "sequences[0].steps[0].campaign: at most 80 characters, not 81",
        id="campaign",
    ),
    pytest.param(
        sequence(step=f"\n        wait: {{days: {WHOLE_MAX + 1}}}"),
        f"sequences[0].steps[0].wait.days: must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}",
        id="wait days",
    ),
    pytest.param(
        sequence(step=f"\n        wait: {{hours: {WHOLE_MAX + 1}}}"),
        f"sequences[0].steps[0].wait.hours: must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}",
        id="wait hours",
    ),
    pytest.param(sequence(name='"W\\0lcome"'), "sequences[0].name: must not contain the NUL character", id="name NUL"),
    pytest.param(
        sequence(translation='"H\\0la"'),
        "sequences[0].steps[0].translations.es.subject: must not contain the NUL character",
        id="translated subject NUL",
    ),
]


@pytest.mark.parametrize(("body", "told"), SEQUENCE_BOUNDS)
def test_a_value_past_its_column_is_told_at_its_place(body: str, told: str) -> None:
    with pytest.raises(model_file.ModelFileError) as in_a_model_file:
        model_file.load_text("leadflow_model: 1\n" + body)
    with pytest.raises(sequence_file.SequenceFileError) as in_a_sequence_file:
        sequence_file.load_text("leadflow_nurture: 1\n" + body)

    for errors in (in_a_model_file.value.errors, in_a_sequence_file.value.errors):
        assert any(error.startswith(told) for error in errors), errors
        assert len(errors) == 1, errors  # one problem, told once


@pytest.mark.parametrize("command", ["scoring_model_import", "nurture_sequences_import"])
@pytest.mark.parametrize(("body", "told"), SEQUENCE_BOUNDS)
def test_importing_a_value_past_its_column_reports_it_and_writes_nothing(
    body: str, told: str, command: str, postgres: None, db: None, tmp_path: Path
) -> None:
    path = tmp_path / "sequences.yaml"
    top = "leadflow_model: 1\n" if command == "scoring_model_import" else "leadflow_nurture: 1\n"
    path.write_text(top + body, encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        call_command(command, str(path))

    assert told in str(raised.value)
    assert not Sequence.objects.exists()
    assert not Step.objects.exists()
