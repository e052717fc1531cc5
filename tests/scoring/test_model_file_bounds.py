"""Every value a model file writes to a bounded column is checked against that column:
a key too long, a number past the database's integers, a NUL character are told at their
place, before anything is written, instead of failing in the database (PostgreSQL holds
to the bounds; SQLite keeps what it is given)."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scoring import model_file
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN
from scoring.models import AccountGroup, Campaign, EventType, ModelVersion, ScoreGroup, ScoringRule

TOO_BIG = WHOLE_MAX + 1
RANGE = f"must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}"


def fit_rule(key: str = "local", points: int = 5, value: str = "San José") -> str:
    return (
        f"rules:\n  - {{key: {key}, name: Local, dimension: fit, points: {points},"
        f" conditions: [{{field: city, operator: equals, value: {value}}}]}}\n"
    )


def campaign(**settings: object) -> str:
    fields = {"key": "spring-sale", "name": "Spring sale", **settings}
    return "campaigns:\n  - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}\n"


def engaged_rule(cap: str) -> str:
    return (
        "rules:\n  - {key: reads, name: Reads, dimension: engagement, points: 2,"
        f" interaction_types: [page_view], cap: {cap}}}\n"
    )


# Values the database refuses but SQLite would keep: each told at its place.
DATABASE_BOUNDS = [
    pytest.param(fit_rule(key="k" * 81), "rules[0].key: '" + "k" * 81, id="rule key"),
    pytest.param(fit_rule(points=TOO_BIG), f"rules[0].points: {RANGE}", id="rule points above"),
    pytest.param(fit_rule(points=WHOLE_MIN - 1), f"rules[0].points: {RANGE}", id="rule points below"),
    pytest.param(engaged_rule(f"{{count: {TOO_BIG}}}"), f"rules[0].cap.count: {RANGE}", id="cap count"),
    pytest.param(engaged_rule(f"{{points: {TOO_BIG}}}"), f"rules[0].cap.points: {RANGE}", id="cap points"),
    pytest.param(
        engaged_rule(f"{{count: 3, window_days: {TOO_BIG}}}"),
        "rules[0].cap.window_days: The window is at most 3650 days (ten years).",
        id="cap window",
    ),
    pytest.param(
        "score_groups:\n  - {key: " + "g" * 61 + ", name: Hot, min_score: 80}\n",
        "score_groups[0].key: '" + "g" * 61,
        id="score group key",
    ),
    pytest.param(
        "account_groups:\n  - {key: " + "g" * 61 + ", name: Big, min_score: 80}\n",
        "account_groups[0].key: '" + "g" * 61,
        id="account group key",
    ),
    pytest.param(
        "scorecards:\n  - key: books\n    name: Books\n    " + fit_rule(key="b" * 81).replace("\n  ", "\n      "),
        "scorecards[0].rules[0].key: '" + "b" * 81,
        id="scorecard rule key",
    ),
    pytest.param(
        fit_rule(value='"San\\0José"'),
        "rules[0].conditions[0].value: must not contain the NUL character",
        id="condition value NUL",
    ),
    pytest.param(
        "accounts:\n  rules:\n    - {key: toys, name: Toys, points: 5,"
        ' conditions: [{field: industry, operator: in, value: [Toys, "Ga\\0mes"]}]}\n',
        "accounts.rules[0].conditions[0].value: must not contain the NUL character",
        id="account condition value NUL",
    ),
    pytest.param(
        'event_types:\n  - {key: trial_started, label: Trial started, segment_events: ["Trial\\0Started"]}\n',
        "event_types[0].segment_events[0]: must not contain the NUL character",
        id="segment event NUL",
    ),
    pytest.param(campaign(key="c" * 81), "campaigns[0].key: '" + "c" * 81, id="campaign key"),
    pytest.param(campaign(name="S" * 201), "campaigns[0].name: at most 200 characters, not 201", id="campaign name"),
    pytest.param(
        campaign(channel="e" * 61), "campaigns[0].channel: at most 60 characters, not 61", id="campaign channel"
    ),
    pytest.param(campaign(cost=10**12), "campaigns[0].cost: at most 12 digits before the point", id="campaign cost"),
    pytest.param(
        campaign(name='"Spring\\0sale"'), "campaigns[0].name: must not contain the NUL character", id="campaign NUL"
    ),
]

# Bounds every database holds (or Python itself): told at their place as well.
OTHER_BOUNDS = [
    pytest.param(
        f"decay: {{policy: half_life, half_life_days: {10**400}}}\n",
        f"decay.half_life_days: at most {WHOLE_MAX} days",
        id="half-life past a float",
    ),
    pytest.param(
        f"score_groups:\n  - {{key: hot, name: Hot, min_score: {TOO_BIG}}}\n",
        f"score_groups[0].min_score: {RANGE}",
        id="group threshold",
    ),
    pytest.param(
        f"score_groups:\n  - {{key: hot, name: Hot, min_score: 80, leave_below: {WHOLE_MIN - 1}}}\n",
        f"score_groups[0].leave_below: {RANGE}",
        id="group leave below",
    ),
    pytest.param(
        "score_groups:\n  - {key: hot, name: " + "H" * 101 + ", min_score: 80}\n",
        "score_groups[0].name: at most 100 characters, not 101",
        id="group name",
    ),
    pytest.param(
        fit_rule().replace("name: Local", "name: " + "L" * 201),
        "rules[0].name: at most 200 characters, not 201",
        id="rule name",
    ),
    pytest.param(
        f"decay: {{policy: linear, points_per_day: {TOO_BIG}}}\n", f"decay.points_per_day: {RANGE}", id="decay points"
    ),
    pytest.param(
        f"decay: {{policy: linear, points_per_day: 1, after_days: {TOO_BIG}}}\n",
        f"decay.after_days: {RANGE}",
        id="decay after days",
    ),
    pytest.param(f"decay: {{policy: window, window_days: {TOO_BIG}}}\n", f"decay.window_days: {RANGE}", id="window"),
    pytest.param(
        f"decay: {{policy: linear, points_per_day: 1, floor: {TOO_BIG}}}\n", f"decay.floor: {RANGE}", id="floor"
    ),
    pytest.param(
        "scorecards:\n  - {key: " + "s" * 61 + ", name: Books}\n", "scorecards[0].key: '" + "s" * 61, id="scorecard key"
    ),
    pytest.param(
        "scorecards:\n  - {key: books, name: " + "B" * 101 + "}\n",
        "scorecards[0].name: at most 100 characters, not 101",
        id="scorecard name",
    ),
    pytest.param("event_types:\n  - {key: " + "t" * 41 + "}\n", "event_types[0].key: '" + "t" * 41, id="type key"),
    pytest.param(
        "event_types:\n  - {key: trial, label: " + "T" * 101 + "}\n",
        "event_types[0].label: at most 100 characters",
        id="type label",
    ),
    pytest.param(
        "accounts:\n  rules:\n    - {key: " + "a" * 81 + ", name: Toys, points: 5,"
        " conditions: [{field: industry, operator: equals, value: Toys}]}\n",
        "accounts.rules[0].key: '" + "a" * 81,
        id="account rule key",
    ),
    pytest.param(
        "accounts:\n  rules:\n    - {key: toys, name: " + "T" * 201 + ", points: 5,"
        " conditions: [{field: industry, operator: equals, value: Toys}]}\n",
        "accounts.rules[0].name: at most 200 characters, not 201",
        id="account rule name",
    ),
    pytest.param(
        f"accounts:\n  rules:\n    - {{key: toys, name: Toys, points: {TOO_BIG},"
        " conditions: [{field: industry, operator: equals, value: Toys}]}\n",
        f"accounts.rules[0].points: {RANGE}",
        id="account rule points",
    ),
    pytest.param(
        "accounts: {rollup: top_average, top_n: 1001}\n", "accounts.top_n: at most 1000, not 1001", id="top n"
    ),
    pytest.param("name: " + "M" * 201 + "\nrules: []\n", "name: at most 200 characters, not 201", id="model name"),
    pytest.param(
        fit_rule().replace("field: city", "field: attributes." + "c" * 101),
        "rules[0].conditions[0].field: The custom attribute name '" + "c" * 101 + "' is too long: at most 100",
        id="custom attribute name",
    ),
]


@pytest.mark.parametrize(("body", "told"), DATABASE_BOUNDS + OTHER_BOUNDS)
def test_a_value_past_its_column_is_told_at_its_place(body: str, told: str) -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text("leadflow_model: 1\n" + body)
    assert any(error.startswith(told) for error in raised.value.errors), raised.value.errors
    assert len(raised.value.errors) == 1, raised.value.errors  # one problem, told once


@pytest.mark.parametrize("publish", [False, True], ids=["as a draft", "published"])
@pytest.mark.parametrize(("body", "told"), DATABASE_BOUNDS)
def test_importing_a_value_past_its_column_reports_it_and_writes_nothing(
    body: str, told: str, publish: bool, postgres: None, db: None, tmp_path: Path
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("leadflow_model: 1\n" + body)

    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", str(path), *(["--publish"] if publish else []))

    assert f"  {path}: {told}" in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert not ScoringRule.all_versions.exists()
    assert not ScoreGroup.all_versions.exists()
    assert not AccountGroup.objects.exists()
    assert not EventType.objects.filter(key="trial_started").exists()
    assert not ModelVersion.objects.exists()
    assert not Campaign.objects.exists()
