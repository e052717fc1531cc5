"""Scorecards: several scores per lead, each with its own rules, groups and decay, in
the model file, the versions and the engine; the default scorecard is today's score."""

from pathlib import Path

import pytest

from scoring import model_file, services
from scoring.decay import Kind, Policy
from scoring.models import DecayPolicy, Scorecard, ScoreGroup, ScoringRule
from scoring.services import versions

ROOT = Path(__file__).resolve().parents[2]
TOY_STORE = ROOT / "examples" / "toy_store.yaml"

TWO_SCORECARDS = """
leadflow_model: 1
name: Toys and books
score_groups:
  - {key: warm, name: Warm, min_score: 20}
rules:
  - {key: any-form, name: Any form, dimension: engagement, points: 5, interaction_types: [form_submit]}
  - key: local
    name: Lives in San José
    dimension: fit
    points: 8
    conditions: [{field: city, operator: equals, value: San José}]
decay: {policy: linear, points_per_day: 1, after_days: 10}
scorecards:
  - key: toys
    name: Toys
    description: Parents and collectors.
    score_groups:
      - {key: toys-warm, name: Warm for toys, min_score: 20}
      - {key: toys-hot, name: Hot for toys, min_score: 40, leave_below: 35}
    rules:
      - key: toy-pages
        name: Toy pages
        dimension: engagement
        points: 4
        interaction_types: [page_view]
        conditions: [{field: url, operator: contains, value: /toys}]
        cap: {count: 3}
      - {key: parent, name: Parent, dimension: fit, points: 10,
         conditions: [{field: title, operator: equals, value: Parent}]}
    decay: {policy: half_life, half_life_days: 7.0, after_days: 3}
  - key: books
    name: Books
    score_groups:
      - {key: books-hot, name: Hot for books, min_score: 20}
    rules:
      - key: book-pages
        name: Book pages
        dimension: engagement
        points: 3
        interaction_types: [page_view]
        conditions: [{field: url, operator: contains, value: /books}]
"""


def two_scorecards() -> model_file.ModelSpec:
    return model_file.load_text(TWO_SCORECARDS)


@pytest.mark.django_db
def test_an_old_single_score_file_imports_unchanged_and_exports_without_scorecards() -> None:
    original = model_file.load_text(TOY_STORE.read_text())
    assert original.scorecards == ()
    services.scoring_model_import(spec=original)

    assert not Scorecard.all_versions.exists()
    assert not ScoreGroup.all_versions.filter(scorecard__isnull=False).exists()
    exported = services.scoring_model_export()
    assert "scorecards" not in model_file.dump_data(exported)
    assert exported.groups == original.groups
    assert sorted(exported.rules, key=lambda r: r.key) == sorted(original.rules, key=lambda r: r.key)
    assert exported.decay == original.decay


@pytest.mark.django_db
def test_a_two_scorecard_file_round_trips() -> None:
    original = two_scorecards()
    services.scoring_model_import(spec=original)

    toys, books = Scorecard.objects.order_by("-key")
    assert (toys.key, toys.name, toys.description, books.key) == ("toys", "Toys", "Parents and collectors.", "books")
    # The default scorecard's rows are what every existing reader sees, as before.
    assert list(ScoreGroup.objects.values_list("key", flat=True)) == ["warm"]
    assert set(ScoringRule.objects.values_list("key", flat=True)) == {"any-form", "local"}
    assert DecayPolicy.current() == Policy(Kind.LINEAR, points_per_day=1, after_days=10)
    assert set(ScoringRule.every_scorecard.filter(scorecard=toys).values_list("key", flat=True)) == {
        "toy-pages",
        "parent",
    }

    text = model_file.dump_text(services.scoring_model_export())
    exported = model_file.load_text(text)
    assert [s.key for s in exported.scorecards] == ["books", "toys"]
    for card in original.scorecards:
        again = next(s for s in exported.scorecards if s.key == card.key)
        assert (again.name, again.description, again.groups, again.decay) == (
            card.name,
            card.description,
            card.groups,
            card.decay,
        )
        assert sorted(again.rules, key=lambda r: r.key) == sorted(card.rules, key=lambda r: r.key)
    assert exported.groups == original.groups
    # Importing the export changes nothing and exports the same text again.
    services.scoring_model_import(spec=exported)
    assert model_file.dump_text(services.scoring_model_export()) == text


@pytest.mark.django_db
def test_a_scorecard_left_out_is_retired_and_comes_back_by_key() -> None:
    services.scoring_model_import(spec=two_scorecards())
    books = Scorecard.objects.get(key="books")
    data = model_file.dump_data(services.scoring_model_export())
    data["scorecards"] = [card for card in data["scorecards"] if card["key"] == "toys"]

    summary = services.scoring_model_import(spec=model_file.load_data(data))

    books.refresh_from_db()
    assert not books.active
    assert "book-pages" in summary.rules_deactivated
    assert not ScoringRule.every_scorecard.get(key="book-pages").active
    assert not ScoreGroup.every_scorecard.filter(key="books-hot").exists()
    assert [s.key for s in services.scoring_model_export().scorecards] == ["toys"]

    services.scoring_model_import(spec=two_scorecards())
    books.refresh_from_db()
    assert books.active
    assert ScoringRule.every_scorecard.get(key="book-pages").active


@pytest.mark.django_db
def test_a_rule_or_group_moved_to_another_scorecard_moves() -> None:
    services.scoring_model_import(spec=two_scorecards())
    data = model_file.dump_data(services.scoring_model_export())
    books = next(card for card in data["scorecards"] if card["key"] == "books")
    toys = next(card for card in data["scorecards"] if card["key"] == "toys")
    books["rules"].append(toys["rules"].pop())
    books["score_groups"].append(toys["score_groups"].pop())

    services.scoring_model_import(spec=model_file.load_data(data))

    moved = ScoringRule.every_scorecard.select_related("scorecard").get(key=books["rules"][-1]["key"])
    assert moved.scorecard is not None
    assert moved.scorecard.key == "books"
    group = ScoreGroup.every_scorecard.select_related("scorecard").get(key="toys-hot")
    assert group.scorecard is not None
    assert group.scorecard.key == "books"


def test_scorecard_problems_are_reported_with_their_place() -> None:
    text = TWO_SCORECARDS.replace("key: books\n", "key: default\n").replace(
        "{key: books-hot, name: Hot for books, min_score: 20}", "{key: warm, name: Hot for books, min_score: 20}"
    )
    text = text.replace("key: book-pages", "key: any-form")
    text += "  - {key: toys, name: Toys again, rules: [{key: x, name: X, dimension: fit, points: 1}], colour: red}\n"
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load_text(text)
    errors = caught.value.errors
    assert any(e.startswith("scorecards[1].key: 'default' is also the key of the default scorecard") for e in errors)
    assert "scorecards[1].score_groups[0].key: 'warm' is also the key of score_groups[0]" in errors
    assert "scorecards[1].rules[0].key: 'any-form' is also the key of rules[0]" in errors
    assert "scorecards[2].key: 'toys' is also the key of scorecards[0]" in errors
    assert any(e.startswith("scorecards[2].colour: unknown key") for e in errors)
    assert any(e.startswith("scorecards[2].rules[0]") for e in errors)  # a fit rule without conditions


def test_thresholds_repeat_across_scorecards_but_not_within_one() -> None:
    # toys-warm has the default's warm threshold (20): allowed.
    assert two_scorecards().scorecards[0].groups[0].min_score == 20
    text = TWO_SCORECARDS.replace(
        "{key: toys-hot, name: Hot for toys, min_score: 40", "{key: toys-hot, name: H, min_score: 20"
    ).replace("leave_below: 35}", "leave_below: 15}")
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load_text(text)
    assert caught.value.errors == ["scorecards[0].score_groups[1].min_score: 20 is already the threshold of toys-warm"]


@pytest.mark.django_db
def test_a_draft_holds_its_scorecards_and_publishing_makes_them_live() -> None:
    services.scoring_model_import(spec=model_file.load_text(TOY_STORE.read_text()))
    draft = versions.draft_import(spec=two_scorecards(), user=None)

    # The draft's rows are apart from the live model's.
    assert not Scorecard.objects.exists()
    assert [s["key"] for s in versions.version_spec(draft)["scorecards"]] == ["books", "toys"]

    versions.version_publish(draft=draft, user=None, rescore=False)

    assert sorted(Scorecard.objects.values_list("key", flat=True)) == ["books", "toys"]
    assert not Scorecard.all_versions.filter(version__isnull=False).exists()
    assert ScoreGroup.every_scorecard.get(key="toys-hot").leave_below == 35
    # A new draft from the live model carries them again.
    again = versions.draft_create(user=None)
    assert (
        versions.version_spec(again)["scorecards"]
        == model_file.dump_data(services.scoring_model_export())["scorecards"]
    )
