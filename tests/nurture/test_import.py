"""Sequence files: the toy store's, errors by place, all or nothing; and the beat schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from nurture import content, sequence_file, services
from nurture.models import Delivery, Enrollment, Sequence, Step
from scoring import model_file
from scoring import services as scoring
from scoring.models import ScoreGroup
from scoring.services import versions

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOY_STORE = ROOT / "examples" / "toy_store.yaml"
TOY_STORE_NURTURE = ROOT / "examples" / "toy_store_nurture.yaml"

MINIMAL = """
leadflow_nurture: 1
sequences:
  - key: welcome
    name: Welcome
    steps:
      - subject: "Hi {{ lead.first_name }}"
        text: "Hello"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sequences.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_toy_store_sequences_import_with_their_templates(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    call_command("nurture_sequences_import", str(TOY_STORE_NURTURE))

    assert "4 sequence(s) created" in capsys.readouterr().out
    sequences = {s.key: s for s in Sequence.objects.select_related("exit_on_group_reached", "exit_on_group_left")}
    assert set(sequences) == {"nurture", "frequent", "preferential", "long-term"}
    assert sequences["nurture"].exit_on_group_reached is not None
    assert sequences["nurture"].exit_on_group_reached.key == "frequent"
    assert sequences["frequent"].exit_on_group_reached is not None
    assert sequences["frequent"].exit_on_group_reached.key == "preferential"
    assert sequences["preferential"].exit_on_group_left is not None
    assert sequences["preferential"].exit_on_group_left.key == "preferential"
    first = Step.objects.get(sequence=sequences["nurture"], position=1)
    assert (first.send_hour_start, first.send_hour_end, first.send_weekdays) == (9, 18, [0, 1, 2, 3, 4])
    assert Step.objects.filter(sequence=sequences["nurture"]).count() == 4
    for step in Step.objects.all():
        assert (
            content.template_problems(
                subject=step.subject_template, text=step.text_template, html_body=step.html_template
            )
            == {}
        )
        assert "<a href=" in step.html_template

    # Again: updated in place, nothing duplicated.
    call_command("nurture_sequences_import", str(TOY_STORE_NURTURE))
    assert "4 updated" in capsys.readouterr().out
    assert Step.objects.count() == 13


def test_every_problem_is_reported_with_its_place_and_nothing_is_imported(tmp_path: Path) -> None:
    text = """
leadflow_nurture: 1
sequences:
  - key: bad key
    name: Broken
    reenroll: sometimes
    colour: blue
    exit: {reaches_group: frequent}
    send_window: {hours: [9, 9], weekdays: [funday]}
    steps:
      - subject: "Hi {% endif %}"
        text: "{% for x in y %}no end"
        html: "<p>{{ lead|nosuchfilter }}</p>"
        wait: {days: -1}
  - key: welcome
    name: Welcome
    steps: []
"""
    with pytest.raises(CommandError) as raised:
        call_command("nurture_sequences_import", str(write(tmp_path, text)))

    message = str(raised.value)
    assert "nothing was imported" in message
    for expected in (
        "sequences[0].key: 'bad key' may hold only ASCII letters (a-z, A-Z), digits, - and _ (at most 80)",
        "sequences[0].reenroll: 'sometimes' is not one of never, after_ended, always",
        "sequences[0].colour: unknown key",
        "sequences[0].send_window.hours: end hour must differ from the start hour",
        "sequences[0].send_window.weekdays: must be a list of days",
        "sequences[0].steps[0].wait.days: must be a whole number, 0 or more",
        "sequences[0].steps[0].subject: Invalid block tag on line 1: 'endif'",
        "sequences[0].steps[0].text: Unclosed tag on line 1: 'for'",
        "sequences[0].steps[0].html: line 1: Invalid filter: 'nosuchfilter'",
        "sequences[1].steps: must be a non-empty list",
    ):
        assert expected in message, f"{expected!r} not in:\n{message}"
    assert not Sequence.objects.exists()


def test_unknown_score_groups_are_reported_before_anything_changes(tmp_path: Path) -> None:
    text = MINIMAL + "    exit: {reaches_group: frequent}\n"
    with pytest.raises(CommandError, match=r"sequences\[0\]\.exit\.reaches_group: no score group 'frequent'"):
        call_command("nurture_sequences_import", str(write(tmp_path, text)))
    assert not Sequence.objects.exists()


def test_the_readmes_sequence_file_is_one_the_import_reads() -> None:
    # The README's sequence file is how a marketer learns the format: every key it shows is read.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\nleadflow_nurture: 1", 1)[1].split("```", 1)[0]
    spec = sequence_file.load_text("leadflow_nurture: 1" + block, check_templates=content.check_templates)
    (sequence,) = spec.sequences
    assert (sequence.reenroll, sequence.exit_reaches_group, sequence.exit_leaves_group) == (
        "after_ended",
        "frequent",
        "nurture",
    )
    assert sequence.exit_converted
    assert sequence.exit_routed_to_sales
    (step,) = sequence.steps
    assert (step.wait_hours, step.send_hour_start, step.send_hour_end, step.campaign) == (1, 10, 12, "nurture-welcome")
    assert [code for code, *_content in step.translations] == ["es"]


def test_check_refuses_what_the_import_refuses(tmp_path: Path) -> None:
    # --check is what an operator runs before importing: "valid" must mean it imports.
    path = write(tmp_path, MINIMAL + "    exit: {reaches_group: frequent}\n")
    with pytest.raises(CommandError, match=r"sequences\[0\]\.exit\.reaches_group: no score group 'frequent'"):
        call_command("nurture_sequences_import", str(path), "--check")
    ScoreGroup.objects.create(key="frequent", name="Frequent", min_score=60)
    call_command("nurture_sequences_import", str(path), "--check")
    assert not Sequence.objects.exists()


def test_check_only_and_if_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL)
    call_command("nurture_sequences_import", str(path), "--check")
    assert "valid (1 sequences, 1 steps)" in capsys.readouterr().out
    assert not Sequence.objects.exists()

    call_command("nurture_sequences_import", str(path), "--if-empty")
    call_command("nurture_sequences_import", str(path), "--if-empty")
    assert "already loaded" in capsys.readouterr().out
    assert Sequence.objects.count() == 1


def test_a_delivered_step_cannot_be_removed_by_an_import(tmp_path: Path) -> None:
    two_steps = MINIMAL + '      - {subject: "Second", text: "Two", wait: {days: 1}}\n'
    call_command("nurture_sequences_import", str(write(tmp_path, two_steps)))
    step = Step.objects.get(position=2)
    from tests.factories import LeadFactory

    now = datetime(2026, 11, 2, tzinfo=UTC)
    enrollment = Enrollment.objects.create(lead=LeadFactory.create(), sequence=step.sequence, enrolled_at=now)
    Delivery.objects.create(enrollment=enrollment, step=step, message_id="<x@y>", created_at=now, updated_at=now)

    with pytest.raises(services.SequenceImportError, match=r"step\(s\) 2 of 'welcome' were delivered"):
        services.sequences_import(spec=sequence_file.load_text(MINIMAL))
    assert Step.objects.filter(position=2).exists()


def test_the_beat_schedule_sends_due_steps_every_minute_with_an_expiry() -> None:
    task = PeriodicTask.objects.get(task="nurture.send_due")
    assert task.interval is not None
    assert (task.interval.every, task.interval.period) == (60, "seconds")
    assert task.expire_seconds == 55
    assert task.enabled


def test_sequences_written_out_read_back_the_same() -> None:
    """What the model file's export writes for sequences: every setting, a window all steps
    share written once on the sequence, a step's own window on the step."""
    text = """
leadflow_nurture: 1
sequences:
  - key: welcome
    name: Welcome
    description: For new leads.
    active: false
    reenroll: never
    exit: {reaches_group: frequent, leaves_group: nurture, converted: false, routed_to_sales: false}
    send_window: {hours: [9, 18], weekdays: [mon, tue, wed, thu, fri]}
    steps:
      - {wait: {days: 1, hours: 2}, campaign: welcome-1, subject: "Hi {{ lead.first_name }}", text: Hello}
      - {send_window: {hours: [22, 6]}, subject: Later, text: Again, html: "<p>Again</p>"}
  - key: plain
    name: Plain
    steps:
      - {subject: One, text: One}
      - {subject: Two, text: Two}
"""
    spec = sequence_file.load_text(text)
    written = sequence_file.dump_sequences(spec.sequences)
    assert sequence_file.load_data({"leadflow_nurture": 1, "sequences": written}) == spec
    assert written[1] == {
        "key": "plain",
        "name": "Plain",
        "steps": [{"subject": "One", "text": "One"}, {"subject": "Two", "text": "Two"}],
    }
    shared = {
        "key": "x",
        "name": "X",
        "send_window": {"weekdays": ["sat", "sun"]},
        "steps": [{"subject": "A", "text": "A"}],
    }
    again = sequence_file.dump_sequences(
        sequence_file.load_data({"leadflow_nurture": 1, "sequences": [shared]}).sequences
    )
    assert again == [shared]


# --- a model file's score groups and the sequences' exit goals ------------------------------

EXITS = """leadflow_model: 1
score_groups:
  - {key: nurture, name: Nurture, min_score: 40}
  - {key: vip, name: VIP, min_score: 80}
rules: []
sequences:
  - key: welcome
    name: Welcome
    exit: {reaches_group: vip}
    steps: [{subject: Hi, text: Hello}]
  - key: nurturing
    name: Nurturing
    exit: {leaves_group: nurture}
    steps: [{subject: Hi, text: Hello}]
"""


def exits() -> dict[str, tuple[str | None, str | None]]:
    return {
        s.key: (
            s.exit_on_group_reached.key if s.exit_on_group_reached else None,
            s.exit_on_group_left.key if s.exit_on_group_left else None,
        )
        for s in Sequence.objects.select_related("exit_on_group_reached", "exit_on_group_left")
    }


def test_a_model_file_leaving_out_a_group_a_sequence_exits_on_is_refused_whole() -> None:
    # The group was deleted and with it, silently, the sequence's exit goal: it ran on past the group.

    scoring.scoring_model_import(spec=model_file.load_text(EXITS))
    renamed = "leadflow_model: 1\nscore_groups:\n  - {key: warm, name: Warm, min_score: 40}\nrules: []\n"
    with pytest.raises(model_file.ModelFileError) as refused:
        scoring.scoring_model_import(spec=model_file.load_text(renamed))
    keep = "keep the group or change that first"
    assert refused.value.errors == [
        f"score_groups: nurture not in the file, but sequence 'Nurturing' uses it in exit.leaves_group: {keep}",
        f"score_groups: vip not in the file, but sequence 'Welcome' uses it in exit.reaches_group: {keep}",
    ]
    # Nothing of the file is applied: not its new group either.
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]
    assert exits() == {"welcome": ("vip", None), "nurturing": (None, "nurture")}


def test_a_model_file_renaming_a_group_may_move_the_exit_goals_to_the_new_one() -> None:
    # The groups are written before the sequences: deleting the old ones then refused the file or dropped the goal.

    scoring.scoring_model_import(spec=model_file.load_text(EXITS))
    moved = (
        EXITS.replace("{key: vip, name: VIP", "{key: preferential, name: Preferential")
        .replace("{key: nurture, name: Nurture", "{key: warm, name: Warm")
        .replace("reaches_group: vip", "reaches_group: preferential")
        .replace("exit: {leaves_group: nurture}", "exit: {converted: true}")  # its goal removed
    )
    summary = scoring.scoring_model_import(spec=model_file.load_text(moved))
    assert (summary.groups_created, summary.groups_deleted) == (2, 2)
    assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["preferential", "warm"]
    assert exits() == {"welcome": ("preferential", None), "nurturing": (None, None)}


def test_publishing_a_draft_without_a_group_a_sequence_exits_on_is_refused() -> None:

    scoring.scoring_model_import(spec=model_file.load_text(EXITS))
    draft = versions.draft_import(
        spec=model_file.load_text("leadflow_model: 1\nscore_groups:\n  - {key: vip, name: VIP, min_score: 80}\n"),
        user=None,
    )
    with pytest.raises(versions.VersionError) as refused:
        versions.version_publish(draft=draft, user=None, rescore=False)
    # The version is no file: the refusal says what lacks the group.
    assert refused.value.errors == [
        "score_groups: nurture not in the version, but sequence 'Nurturing' uses it in exit.leaves_group: "
        "keep the group or change that first"
    ]
    assert exits()["nurturing"] == (None, "nurture")


def test_an_exit_goal_naming_a_group_its_own_file_leaves_out_is_refused_the_first_time() -> None:
    # The group was still in the database (parked) while the sequences were written: the
    # goal was taken, then the group's deletion refused the file with a misleading reason.
    scoring.scoring_model_import(spec=model_file.load_text(EXITS))
    renamed = EXITS.replace("{key: vip, name: VIP", "{key: preferential, name: Preferential")
    for _ in range(2):
        with pytest.raises(model_file.ModelFileError) as refused:
            scoring.scoring_model_import(spec=model_file.load_text(renamed))
        assert refused.value.errors == [
            "sequences[0].exit.reaches_group: no score group 'vip' (known: nurture, preferential)"
        ]
        assert sorted(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "vip"]
        assert exits() == {"welcome": ("vip", None), "nurturing": (None, "nurture")}
