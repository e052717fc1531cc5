"""One model file holding the whole model: score groups, rules and decay, nurture sequences
whose exit goals name the groups, teams and routing rules that name the sequences. It
imports on a fresh database whatever the order of its keys, all or nothing, and its name
and description are kept and exported."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from nurture.models import Enrollment, Sequence
from routing import services
from routing.models import RoutingAction, RoutingRule, Team
from scoring import model_file
from scoring import services as scoring
from scoring.models import ModelInfo, ScoreGroup, ScoringRule
from scoring.rules import Dimension
from tests.factories import LeadFactory
from tests.routing.factories import marketer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PARTS = ["toy_store.yaml", "toy_store_nurture.yaml", "toy_store_routing.yaml"]
DEPENDENCY_ORDER = ["score_groups", "rules", "decay", "sequences", "teams", "routing"]


def whole_toy_store() -> dict[str, Any]:
    """The toy store's three files as one model file's data."""
    data: dict[str, Any] = {}
    for part in PARTS:
        data.update(yaml.safe_load((EXAMPLES / part).read_text(encoding="utf-8")))
    del data["leadflow_nurture"]  # the sequence file's own header
    return data


def file_text(data: dict[str, Any], order: list[str]) -> str:
    header = {key: data[key] for key in ("leadflow_model", "name", "description") if key in data}
    return yaml.safe_dump({**header, **{key: data[key] for key in order}}, sort_keys=False, allow_unicode=True)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def shuffled(seed: int) -> list[str]:
    order = list(DEPENDENCY_ORDER)
    random.Random(seed).shuffle(order)
    return order


ORDERS = {
    "dependency order": DEPENDENCY_ORDER,
    "reversed": DEPENDENCY_ORDER[::-1],
    "routing, then sequences, then groups": ["routing", "teams", "sequences", "decay", "rules", "score_groups"],
    **{f"shuffled {seed}": shuffled(seed) for seed in (1, 2, 3)},
}


@pytest.mark.django_db
@pytest.mark.parametrize("order", list(ORDERS.values()), ids=list(ORDERS))
def test_the_whole_model_imports_on_a_fresh_database_in_any_order(tmp_path: Path, order: list[str]) -> None:
    path = write(tmp_path, file_text(whole_toy_store(), order))
    assert list(yaml.safe_load(path.read_text()))[3:] == order
    call_command("scoring_model_import", "--publish", str(path))

    assert list(ScoreGroup.objects.values_list("key", flat=True)) == ["nurture", "frequent", "preferential"]
    assert ScoringRule.objects.count() == 8
    goals = {
        s.key: (s.exit_on_group_reached.key if s.exit_on_group_reached else None)
        for s in Sequence.objects.select_related("exit_on_group_reached")
    }
    assert goals == {"nurture": "frequent", "frequent": "preferential", "preferential": None, "long-term": None}
    assert RoutingRule.objects.count() == 6
    assert Team.objects.filter(key="sales").exists()
    enrolls = RoutingAction.objects.filter(rule__key="nurture-start", kind="enroll").select_related("sequence")
    assert [a.sequence.key for a in enrolls if a.sequence is not None] == ["nurture"]
    assert ModelInfo.current().name == "Toy store"
    # And it works as one model: a lead entering Nurture is enrolled in the nurture sequence.
    lead = LeadFactory.create()
    scoring.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=45, note="test")
    services.transitions_route()
    assert list(Enrollment.objects.filter(lead=lead).values_list("sequence__key", flat=True)) == ["nurture"]


@pytest.mark.django_db
def test_export_then_import_keeps_the_name_the_description_and_everything_else(tmp_path: Path) -> None:
    data = whole_toy_store()
    call_command("scoring_model_import", "--publish", str(write(tmp_path, file_text(data, DEPENDENCY_ORDER))))
    exported_text = model_file.dump_text(scoring.scoring_model_export())
    exported = model_file.load_text(exported_text)
    assert (exported.name, exported.description) == (data["name"], data["description"])
    assert exported_text.startswith(f"leadflow_model: 1\nname: {data['name']}\ndescription: ")
    assert [key for key in yaml.safe_load(exported_text)] == [
        "leadflow_model",
        "name",
        "description",
        *DEPENDENCY_ORDER,
    ]

    # Another model's file replaces the name (one without a name empties it, as the file is the model)…
    other = "leadflow_model: 1\nname: Other\nscore_groups: []\nrules: []\n"
    with pytest.raises(CommandError):  # (routing still watches the toy store's groups)
        call_command("scoring_model_import", "--publish", str(write(tmp_path, other)))
    assert ModelInfo.current().name == "Toy store"  # and a refused file changes nothing
    scoring.model_info_set(name="Renamed in the admin", description="")
    # …and importing the export brings everything back as it was, the same text again.
    scoring.scoring_model_import(spec=exported)
    assert (ModelInfo.current().name, ModelInfo.current().description) == (data["name"], data["description"])
    assert model_file.dump_text(scoring.scoring_model_export()) == exported_text


@pytest.mark.django_db
def test_name_and_description_follow_the_file_that_holds_the_scoring_model(tmp_path: Path) -> None:
    call_command("scoring_model_import", "--publish", str(EXAMPLES / "toy_store.yaml"))
    assert ModelInfo.current().name == "Toy store"
    # A file holding only other parts (here the routing) leaves them as they are…
    call_command("nurture_sequences_import", str(EXAMPLES / "toy_store_nurture.yaml"))
    call_command("scoring_model_import", "--publish", str(EXAMPLES / "toy_store_routing.yaml"))
    assert ModelInfo.current().name == "Toy store"
    assert ModelInfo.current().description.startswith("Fit from where the lead lives")
    # …unless it names them.
    text = (
        (EXAMPLES / "toy_store_routing.yaml")
        .read_text()
        .replace("leadflow_model: 1\n", "leadflow_model: 1\nname: Toy store routing\n")
    )
    call_command("scoring_model_import", "--publish", str(write(tmp_path, text)))
    assert (ModelInfo.current().name, ModelInfo.current().description) == ("Toy store routing", "")
    # A scoring model without a name empties them: the file is the model.
    unnamed = yaml.safe_load((EXAMPLES / "toy_store.yaml").read_text())
    del unnamed["name"], unnamed["description"]
    call_command("scoring_model_import", "--publish", str(write(tmp_path, yaml.safe_dump(unnamed))))
    assert (ModelInfo.current().name, ModelInfo.current().description) == ("", "")
    assert "name:" not in model_file.dump_text(scoring.scoring_model_export()).split("score_groups:")[0]


@pytest.mark.django_db
def test_a_broken_routing_section_leaves_nothing_imported(tmp_path: Path) -> None:
    data = whole_toy_store()
    data["routing"][0]["actions"][1]["sequence"] = "nurture-typo"
    data["routing"][0]["group"] = "vip"
    path = write(tmp_path, file_text(data, DEPENDENCY_ORDER[::-1]))
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(path))
    message = str(raised.value)
    assert "2 problem(s); nothing was imported" in message
    assert "routing[0].group: no score group with key 'vip' (known: frequent, nurture, preferential)" in message
    assert (
        "routing[0].actions[1].sequence: no sequence with key 'nurture-typo' (known: frequent, long-term, nurture, "
        "preferential)" in message
    )
    # The groups, rules, sequences and team the file holds were written, then undone with the rest.
    for model in (ScoreGroup, ScoringRule, Sequence, Team, RoutingRule, ModelInfo):
        assert not model.objects.exists(), model.__name__


@pytest.mark.django_db
def test_a_broken_sequence_names_its_place_and_leaves_nothing_imported(tmp_path: Path) -> None:
    data = whole_toy_store()
    data["sequences"][0]["exit"]["reaches_group"] = "frequnet"
    data["sequences"][1]["steps"][0]["subject"] = "Hi {% if %}"
    path = write(tmp_path, file_text(data, DEPENDENCY_ORDER))
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(path))
    message = str(raised.value)
    assert "sequences[1].steps[0].subject: " in message  # the form, found before anything is written
    assert not ScoreGroup.objects.exists()
    data["sequences"][1]["steps"][0]["subject"] = "Hi"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, file_text(data, DEPENDENCY_ORDER))))
    message = str(raised.value)
    assert (
        "sequences[0].exit.reaches_group: no score group 'frequnet' (known: frequent, nurture, preferential)" in message
    )
    for model in (ScoreGroup, ScoringRule, Sequence, Team, RoutingRule, ModelInfo):
        assert not model.objects.exists(), model.__name__


@pytest.mark.django_db
def test_a_broken_sequence_is_told_once_not_again_by_every_routing_action_naming_a_sequence(tmp_path: Path) -> None:
    """The file's sequences are not written when one has a problem: the routing actions
    naming them are not told they name no sequence (every one of them did)."""
    data = whole_toy_store()
    data["sequences"][0]["exit"]["reaches_group"] = "frequnet"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, file_text(data, DEPENDENCY_ORDER))))
    message = str(raised.value)
    assert "1 problem(s); nothing was imported" in message
    assert "sequences[0].exit.reaches_group: no score group 'frequnet'" in message
    assert "no sequence with key" not in message


@pytest.mark.django_db
def test_a_routing_action_naming_no_sequence_of_the_file_is_told_beside_a_broken_sequence(tmp_path: Path) -> None:
    """Only the actions naming the file's own sequences are spared: a typo in another's
    key is a problem of its own."""
    data = whole_toy_store()
    data["sequences"][0]["exit"]["reaches_group"] = "frequnet"
    action = next(a for rule in data["routing"] for a in rule["actions"] if a.get("sequence"))
    action["sequence"] = "no-such-seq"
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(write(tmp_path, file_text(data, DEPENDENCY_ORDER))))
    message = str(raised.value)
    assert "2 problem(s); nothing was imported" in message
    assert "no sequence with key 'no-such-seq'" in message


@pytest.mark.django_db
def test_an_exit_goal_naming_a_scorecards_group_says_it_is_the_scorecards(tmp_path: Path) -> None:
    """A sequence's exit goal follows the default score's groups: a group of another
    scorecard in the same file is named as that scorecard's, not as no group at all."""
    data = whole_toy_store()
    data["scorecards"] = [
        {
            "key": "books",
            "name": "Books",
            "score_groups": [{"key": "books-hot", "name": "Hot for books", "min_score": 30}],
            "rules": [],
        }
    ]
    data["sequences"][0]["exit"]["reaches_group"] = "books-hot"
    path = write(tmp_path, file_text(data, ["scorecards", *DEPENDENCY_ORDER]))
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(path))
    assert (
        "sequences[0].exit.reaches_group: 'books-hot' is a group of the scorecard 'books'; an exit goal names "
        "a group of the default score (known: frequent, nurture, preferential)"
    ) in str(raised.value)


@pytest.mark.django_db
def test_marketing_names_the_model_in_the_admin_and_the_export_carries_it() -> None:
    client = Client()
    client.force_login(marketer())
    add = reverse("admin:scoring_modelinfo_add")
    response = client.post(add, {"name": "B2B software", "description": "Trials and demos."})
    assert response.status_code == 302
    assert client.get(add).status_code == 403  # one row: change it, never a second
    info = ModelInfo.objects.get()
    change = reverse("admin:scoring_modelinfo_change", args=[info.pk])
    assert client.post(change, {"name": "B2B software 2", "description": ""}).status_code == 302
    assert client.post(reverse("admin:scoring_modelinfo_delete", args=[info.pk]), {"post": "yes"}).status_code == 403
    exported = model_file.dump_text(scoring.scoring_model_export())
    assert exported.startswith("leadflow_model: 1\nname: B2B software 2\nscore_groups: []\n")
