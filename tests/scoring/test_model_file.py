"""The scoring model as a file: the toy store, round trips, broken files rejected whole."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.utils import timezone

from scoring import model_file, services
from scoring.decay import Kind, Policy
from scoring.models import (
    AccountGroup,
    AccountRule,
    AccountSettings,
    EventType,
    Lead,
    ScoreGroup,
    ScoringRule,
    SegmentEvent,
)
from tests.factories import InteractionFactory

ROOT = Path(__file__).resolve().parents[2]
TOY_STORE = ROOT / "examples" / "toy_store.yaml"
MODEL_FILES = [
    path for path in sorted(ROOT.glob("examples/**/*.yaml")) if "leadflow_model" in path.read_text(encoding="utf-8")
]
# What anyone may send for any lead: a tracked form's post with its email, the beacon's page
# views (a visitor's, the lead's once that visitor posts a form with the email), and the open
# pixel and clicks of an email one holds.
ANONYMOUS_TYPES = {"form_submit", "page_view", "email_open", "email_click"}


@pytest.mark.django_db
def test_toy_store_loads_and_scores_as_described() -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    assert list(ScoreGroup.objects.values_list("key", "min_score")) == [
        ("nurture", 40),
        ("frequent", 60),
        ("preferential", 80),
    ]
    assert ScoringRule.objects.filter(dimension="fit").count() == 5
    # A local persona match: +8 (San José) +5 +5 +5 (interests, goals, spend).
    lead, _ = services.lead_upsert(
        email="parent@example.com",
        fields={
            "city": "Oakland",
            "attributes": {
                "work_city": "San Jose",
                "interests": ["puzzles"],
                "goal": "classroom",
                "monthly_toy_spend": 75,
            },
        },
    )
    assert lead.fit_score == 23
    far, _ = services.lead_upsert(email="far@example.com", fields={"attributes": {"distance_km": 300}})
    assert far.fit_score == -5
    # Engagement: landing page, email and form interactions are +2 each; a blog page is not.
    for kind, props in [
        ("page_view", {"url": "https://toys.example/landing/spring"}),
        ("page_view", {"url": "https://toys.example/blog/1"}),
        ("email_open", {}),
        ("email_click", {}),
        ("form_submit", {"form": "newsletter"}),
    ]:
        InteractionFactory.create(lead=lead, type=kind, properties=props)
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.engagement_score == 8
    # 8 more form submissions count once: anyone may post a form, 2 in 30 days count.
    InteractionFactory.create_batch(8, lead=lead, type="form_submit")
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert (lead.total_score, lead.score_group) == (33, None)
    # 6 more landing pages the same day count 4 (5 a day) and take the lead to 41: Nurture.
    landing = {"url": "https://toys.example/landing/spring"}
    InteractionFactory.create_batch(6, lead=lead, type="page_view", properties=landing)
    services.interactions_score_pending()
    lead.refresh_from_db()
    assert lead.score_group is not None
    assert (lead.total_score, lead.score_group.key) == (41, "nurture")


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_example_models_cap_every_rule_anyone_can_feed(path: Path) -> None:
    """As the README tells (What an anonymous source can do): a bot posting a form in a loop,
    or its page views, would otherwise buy a lead a group a routing rule sends to sales."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules = [*spec.get("rules", []), *(rule for card in spec.get("scorecards", []) for rule in card.get("rules", []))]

    uncapped = [
        rule["key"] for rule in rules if ANONYMOUS_TYPES & {*rule.get("interaction_types", [])} and not rule.get("cap")
    ]

    assert uncapped == []


@pytest.mark.django_db
def test_export_import_round_trip() -> None:
    original = model_file.load_text(TOY_STORE.read_text())
    services.scoring_model_import(spec=original)
    exported_text = model_file.dump_text(services.scoring_model_export())
    exported = model_file.load_text(exported_text)
    assert sorted(exported.groups, key=lambda g: g.key) == sorted(original.groups, key=lambda g: g.key)
    assert sorted(exported.rules, key=lambda r: r.key) == sorted(original.rules, key=lambda r: r.key)
    assert exported.decay == original.decay == Policy(Kind.LINEAR, points_per_day=2, after_days=14)
    assert {g.key: g.leave_below for g in exported.groups} == {"nurture": None, "frequent": 55, "preferential": 75}
    # Importing the export changes nothing and exports the same text again.
    services.scoring_model_import(spec=exported)
    assert model_file.dump_text(services.scoring_model_export()) == exported_text


@pytest.mark.django_db
def test_reimport_updates_by_key_and_deactivates_missing_rules(tmp_path: Path) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    lead, _ = services.lead_upsert(email="x@example.com", fields={"city": "San José"})
    assert lead.fit_score == 8
    spec = model_file.load_text(TOY_STORE.read_text())
    smaller = model_file.ModelSpec(
        groups=spec.groups[:2],
        rules=tuple(r for r in spec.rules if r.key != "lives-or-works-in-san-jose"),
    )
    path = tmp_path / "smaller.yaml"
    path.write_text(model_file.dump_text(smaller))
    call_command("scoring_model_import", "--publish", str(path))
    assert not ScoringRule.objects.get(key="lives-or-works-in-san-jose").active
    assert not ScoreGroup.objects.filter(key="preferential").exists()
    lead.refresh_from_db()
    assert lead.fit_score == 0  # the deactivated rule's points were taken back


BROKEN = """\
leadflow_model: 1
score_groups:
  - {key: nurture, name: Nurture, min_score: 40}
  - {key: nurture, name: Again, min_score: 40}
rules:
  - key: ok
    name: Fine rule
    dimension: fit
    points: 5
    conditions: [{field: industry, operator: equals, value: Toys}]
  - key: bad-field
    name: Typo
    dimension: fit
    points: 5
    conditions: [{field: industy, operator: equals, value: Toys}]
  - key: bad-value
    name: Not a number
    dimension: fit
    points: 3
    conditions: [{field: company_size, operator: gt, value: big}]
  - key: bad-cap
    name: Capped fit
    dimension: fit
    points: 2
    conditions: [{field: city, operator: is_set}]
    cap: {count: 5}
  - key: no-types
    name: Engagement without types
    dimension: engagement
    points: 1
    colour: blue
decay: {policy: linear, after_days: 3}
"""


@pytest.mark.django_db
def test_a_broken_file_is_rejected_whole_with_every_error_located(tmp_path: Path) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE))
    before = model_file.dump_text(services.scoring_model_export())
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(path))
    message = str(raised.value)
    for expected in [
        "score_groups[1].key: 'nurture' is also the key of score_groups[0]",
        "score_groups[1].min_score: 40 is already the threshold of nurture",
        "rules[1].conditions[0].field: Unknown lead field 'industy'",
        "rules[2].conditions[0].value: 'gt' needs a number",
        "rules[3].cap: Caps apply to engagement rules only",
        "rules[4].colour: unknown key",
        "rules[4].interaction_types: Choose at least one interaction type",
        "decay.points_per_day: a linear decay needs a positive number of points per day",
        "nothing was imported",
    ]:
        assert expected in message
    assert model_file.dump_text(services.scoring_model_export()) == before
    assert not ScoringRule.objects.filter(key="ok").exists()


@pytest.mark.django_db
def test_the_command_says_the_file_s_problems_in_the_site_s_language(tmp_path: Path, settings: Any) -> None:
    """As Django's commands do, the import speaks LEADFLOW_LANGUAGE (LANGUAGE_CODE)."""
    settings.LANGUAGE_CODE = "es"
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", "--publish", str(path))
    message = str(raised.value)
    for expected in [
        "problema(s); no se importó nada:",
        "score_groups[1].key: 'nurture' ya es la clave de score_groups[0]",
        "score_groups[1].min_score: 40 ya es el umbral de nurture",
        "rules[1].conditions[0].field: Campo del lead desconocido: 'industy'",
        "rules[2].conditions[0].value: 'gt' necesita un número.",
        "rules[3].cap: Los topes solo aplican a las reglas de interacción",
        "rules[4].colour: clave desconocida (se admiten: active, cap, conditions,",
        "rules[4].interaction_types: Elige al menos un tipo de interacción.",
        "decay.points_per_day: un decaimiento lineal necesita un número positivo de puntos por día",
    ]:
        assert expected in message
    assert not ScoringRule.objects.exists()


def test_yaml_syntax_errors_give_the_line() -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text("leadflow_model: 1\nrules: [\n  - key: x\n")
    assert raised.value.errors[0].startswith("line ")


def test_check_only_changes_nothing(tmp_path: Path, db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("scoring_model_import", "--publish", str(TOY_STORE), "--check")
    assert "valid (3 groups, 8 rules)" in capsys.readouterr().out
    assert not ScoringRule.objects.exists()
    assert not Lead.objects.exists()


def _section(name: str, after: tuple[str, ...] = ()) -> model_file.Section:
    return model_file.Section(
        name=name,
        title=name,
        keys=(f"{name}_items",),
        parse=lambda values, errors: values,
        dump=lambda spec: {},
        import_=lambda spec: [],
        export=lambda: None,
        loaded=lambda: False,
        after=after,
    )


def test_sections_import_after_the_ones_they_refer_to_whatever_their_registration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model_file, "_SECTIONS", {})
    model_file.register_section(_section("routing", after=("nurture", "not-installed")))
    model_file.register_section(_section("extra"))
    model_file.register_section(_section("nurture"))
    assert [s.name for s in model_file.sections()] == ["extra", "nurture", "routing"]
    with pytest.raises(ValueError, match="makes a cycle"):
        model_file.register_section(_section("nurture", after=("routing",)))
    assert [s.name for s in model_file.sections()] == ["extra", "nurture", "routing"]


def test_the_name_and_description_must_be_text_and_the_name_fit_its_column() -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text(f"leadflow_model: 1\nname: {'x' * 201}\ndescription: [a]\nrules: []\n")
    assert raised.value.errors == ["name: at most 200 characters, not 201", "description: must be text, not list"]
    spec = model_file.load_text("leadflow_model: 1\nrules: []\n")
    assert (spec.name, spec.description) == (None, None)  # not given: see scoring_model_import


def test_a_key_given_twice_is_refused_with_its_line_and_nothing_is_imported(db: None) -> None:
    # The plain YAML loader kept the last value: a typo'd second points: won silently.
    text = (
        "leadflow_model: 1\nrules:\n  - key: director\n    name: Director\n    dimension: fit\n"
        "    points: 15\n    points: 150\n    conditions: [{field: title, operator: contains, value: director}]\n"
    )
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text(text)
    assert raised.value.errors == [
        "line 7, column 5: not valid YAML (the key 'points' is given twice, first on line 6)"
    ]
    with pytest.raises(model_file.ModelFileError):
        model_file.load_text("leadflow_model: 1\nname: A\nname: B\nrules: []\n")
    # A merge may still be overridden by the mapping's own keys, as YAML means it.
    merged = model_file.load_text(
        "leadflow_model: 1\nrules:\n"
        "  - &director {key: director, name: Director, dimension: fit, points: 15,\n"
        "      conditions: [{field: title, operator: contains, value: director}]}\n"
        "  - <<: *director\n    key: cfo\n    points: 20\n"
    )
    assert [(rule.key, rule.name, rule.points) for rule in merged.rules] == [
        ("director", "Director", 15),
        ("cfo", "Director", 20),
    ]


@pytest.mark.parametrize(
    ("decay", "refused"),
    [
        ("{policy: linear, points_per_day: 2, after_days: 10, half_life_days: 3, window_days: 45}",
         ["decay.half_life_days: not used by the linear policy (its settings: after_days, floor, points_per_day)",
          "decay.window_days: not used by the linear policy (its settings: after_days, floor, points_per_day)"]),
        ("{policy: window, window_days: 30, after_days: 3}",
         ["decay.after_days: not used by the window policy (its settings: floor, window_days)"]),
        ("{policy: none, floor: 5}", ["decay.floor: not used by the none policy (its settings: none)"]),
    ],
)  # fmt: skip
def test_a_decay_setting_its_policy_does_not_use_is_refused_rather_than_dropped(decay: str, refused: list[str]) -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text(f"leadflow_model: 1\nrules: []\ndecay: {decay}\n")
    assert raised.value.errors == refused
    spec = model_file.load_text(
        "leadflow_model: 1\nrules: []\ndecay: {policy: half_life, half_life_days: 7, floor: 2}\n"
    )
    assert (spec.decay.kind, spec.decay.half_life_days, spec.decay.floor) == (Kind.HALF_LIFE, 7.0, 2)


@pytest.mark.parametrize(
    ("when", "said"),
    [("0001-01-01T00:00:00+14:00", "before the first"), ("9999-12-31T23:00:00-05:00", "after the last")],
)
def test_a_rule_time_past_the_years_a_date_can_have_says_which_end(when: str, said: str) -> None:
    text = (
        "leadflow_model: 1\nrules:\n  - {key: fair, name: Fair, dimension: engagement, points: 3,"
        f" interaction_types: [form_submit], valid_from: '{when}'}}\n"
    )
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text(text)
    assert f"rules[0].valid_from: '{when}' is {said} year a date can have" in refused.value.errors


ACCOUNTS_ONLY = """\
leadflow_model: 1
account_groups:
  - {key: big-buyers, name: Big buyers, min_score: 100}
accounts:
  rollup: max
  rules:
    - key: toy-makers
      name: Toy makers
      points: 15
      conditions:
        - {field: industry, operator: equals, value: Toys}
"""


@pytest.mark.parametrize(
    ("file", "loaded"),
    [
        (ACCOUNTS_ONLY, "account groups, account scoring"),
        (ACCOUNTS_ONLY.split("accounts:")[0], "account groups"),
        ("leadflow_model: 1\naccounts:" + ACCOUNTS_ONLY.split("accounts:")[1], "account scoring"),
    ],
    ids=["both", "account groups", "account scoring"],
)
def test_if_empty_leaves_account_groups_and_account_scoring_once_loaded(
    file: str, loaded: str, db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(file)
    call_command("scoring_model_import", "--if-empty", str(path))
    # The marketer then changes them in the admin; the next first-run import leaves them be.
    AccountGroup.objects.update(min_score=120)
    AccountRule.objects.update(points=20)
    AccountSettings.objects.update(rollup="top_average", top_n=5)
    capsys.readouterr()

    call_command("scoring_model_import", "--if-empty", str(path))

    assert f"Already loaded: {loaded}; left them as they are" in capsys.readouterr().out
    assert set(AccountGroup.objects.values_list("min_score", flat=True)) <= {120}
    assert set(AccountRule.objects.values_list("points", flat=True)) <= {20}
    assert set(AccountSettings.objects.values_list("rollup", "top_n")) <= {("top_average", 5)}


def test_if_empty_past_the_first_run_warns_of_a_file_gone_or_broken_and_goes_on(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bin/run passes LEADFLOW_MODEL on every run: a file moved or broken since the first
    must not keep Leadflow from starting, while on a first run it is an error."""
    gone, broken = tmp_path / "moved.yaml", tmp_path / "broken.yaml"
    broken.write_text("leadflow_model: 1\nrules: [{key: x}]\n")
    for path in (gone, broken):
        with pytest.raises(CommandError):
            call_command("scoring_model_import", "--if-empty", "--publish", str(path))
    model = tmp_path / "model.yaml"
    model.write_text("leadflow_model: 1\nscore_groups:\n  - {key: warm, name: Warm, min_score: 20}\n")
    call_command("scoring_model_import", "--if-empty", "--publish", str(model))
    capsys.readouterr()

    for path, why in ((gone, "cannot read (No such file or directory)"), (broken, "it has problems")):
        call_command("scoring_model_import", "--if-empty", "--publish", str(path))
        warning = capsys.readouterr().err
        assert f"{path}: not imported, {why}" in warning
        assert "a scoring model is loaded already, left as it is" in warning
    assert list(ScoreGroup.objects.values_list("key", flat=True)) == ["warm"]
    with pytest.raises(CommandError):  # without --if-empty a broken file is still an error
        call_command("scoring_model_import", "--publish", str(broken))


EVENT_TYPES_ONLY = """\
leadflow_model: 1
event_types:
  - {key: trial_started, label: Trial started, segment_events: [Trial Started]}
"""


def test_if_empty_leaves_event_types_once_declared(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event_types.yaml"
    path.write_text(EVENT_TYPES_ONLY)
    call_command("scoring_model_import", "--if-empty", str(path))
    # The marketer then changes them in the admin; the next first-run import leaves them be.
    EventType.objects.filter(key="trial_started").update(label="Trial begun")
    SegmentEvent.objects.update(name="Trial Begun")
    capsys.readouterr()

    call_command("scoring_model_import", "--if-empty", str(path))

    assert "Already loaded: event types; left them as they are" in capsys.readouterr().out
    assert EventType.objects.get(key="trial_started").label == "Trial begun"
    assert list(SegmentEvent.objects.values_list("name", flat=True)) == ["Trial Begun"]


def test_if_empty_declares_event_types_where_types_were_only_seen(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Interactions came in before any model: their types are counted, not declared.
    services.event_types_seen(seen=[("trial_started", timezone.now()), ("page_view", timezone.now())])
    path = tmp_path / "event_types.yaml"
    path.write_text(EVENT_TYPES_ONLY)

    call_command("scoring_model_import", "--if-empty", str(path))

    assert "Already loaded" not in capsys.readouterr().out
    declared = EventType.objects.get(key="trial_started")
    assert (declared.declared, declared.label) == (True, "Trial started")
    assert list(SegmentEvent.objects.values_list("name", flat=True)) == ["Trial Started"]
