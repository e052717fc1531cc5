"""The teams and routing rules of a model file: every value going to a bounded column is
checked against that column when the file is read, and told at its place, instead of
failing in the database (PostgreSQL holds to the bounds; SQLite keeps what it is given)."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing.models import RoutingAction, RoutingCondition, RoutingRule, Team
from scoring import model_file
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN

TOO_BIG = WHOLE_MAX + 1
RANGE = f"must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}"


def team(**settings: object) -> str:
    fields = {"key": "sales", "name": "Sales", "assignment": "queue", **settings}
    return "teams:\n  - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}\n"


def rule(action: str = "{kind: add_tag, tag: hot}", conditions: str = "[]", **settings: object) -> str:
    fields = {"key": "hot", "name": "Hot", "trigger": "score_rises_to", "threshold": 50, **settings}
    return (
        "routing:\n  - {"
        + ", ".join(f"{k}: {v}" for k, v in fields.items())
        + f", conditions: {conditions}, actions: [{action}]}}\n"
    )


ROUTING_BOUNDS = [
    pytest.param(team(key="t" * 61), "teams[0].key: '" + "t" * 61, id="team key"),
    pytest.param(team(name="T" * 101), "teams[0].name: at most 100 characters, not 101", id="team name"),
    pytest.param(
        team(email="a" * 250 + "@b.example"), "teams[0].email: at most 254 characters, not 260", id="team email"
    ),
    pytest.param(team(sla_hours=TOO_BIG), f"teams[0].sla_hours: {RANGE}", id="SLA hours"),
    pytest.param(team(feedback_days=32768), "teams[0].feedback_days: at most 32767, not 32768", id="feedback days"),
    pytest.param(rule(key="r" * 101), "routing[0].key: '" + "r" * 101, id="rule key"),
    pytest.param(rule(name="R" * 201), "routing[0].name: at most 200 characters, not 201", id="rule name"),
    pytest.param(rule(threshold=TOO_BIG), f"routing[0].threshold: {RANGE}", id="threshold"),
    pytest.param(
        rule(trigger="probability_rises", threshold="null", probability=32768),
        "routing[0].probability: at most 32767, not 32768",
        id="probability",
    ),
    pytest.param(
        rule(conditions='[{field: country, operator: equals, value: "U\\0S"}]'),
        "routing[0].conditions[0].value: must not contain the NUL character",
        id="condition value NUL",
    ),
    pytest.param(
        rule(conditions='[{field: country, operator: one_of, value: [US, "Can\\0ada"]}]'),
        "routing[0].conditions[0].value: must not contain the NUL character",
        id="condition list value NUL",
    ),
    pytest.param(
        rule(conditions="[{field: attributes." + "c" * 101 + ", operator: is_set}]"),
        "routing[0].conditions[0].field: The custom attribute name '" + "c" * 101 + "' is too long: at most 100",
        id="custom attribute name",
    ),
    pytest.param(
        rule(action="{kind: add_tag, tag: " + "t" * 61 + "}"),
        "routing[0].actions[0].tag: at most 60 characters, not 61",
        id="tag",
    ),
    pytest.param(
        rule(action="{kind: notify, team: sales, message: " + "m" * 301 + "}"),
        "routing[0].actions[0].message: at most 300 characters, not 301",
        id="message",
    ),
    pytest.param(
        rule(action="{kind: webhook, url: https://crm.example/" + "h" * 200 + ", secret_env: HOOK_SECRET}"),
        "routing[0].actions[0].url: at most 200 characters, not 220",
        id="webhook URL",
    ),
    pytest.param(
        rule(action='{kind: add_tag, tag: "h\\0t"}'),
        "routing[0].actions[0].tag: must not contain the NUL character",
        id="tag NUL",
    ),
]


@pytest.mark.parametrize(("body", "told"), ROUTING_BOUNDS)
def test_a_value_past_its_column_is_told_at_its_place(body: str, told: str) -> None:
    with pytest.raises(model_file.ModelFileError) as raised:
        model_file.load_text("leadflow_model: 1\n" + body)
    assert any(error.startswith(told) for error in raised.value.errors), raised.value.errors
    assert len(raised.value.errors) == 1, raised.value.errors  # one problem, told once


@pytest.mark.parametrize(("body", "told"), ROUTING_BOUNDS)
def test_importing_a_value_past_its_column_reports_it_and_writes_nothing(
    body: str, told: str, postgres: None, db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    path = tmp_path / "model.yaml"
    path.write_text("leadflow_model: 1\n" + body, encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        call_command("scoring_model_import", str(path))

    assert f"  {path}: {told}" in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert not Team.objects.exists()
    assert not RoutingRule.objects.exists()
    assert not RoutingCondition.objects.exists()
    assert not RoutingAction.objects.exists()
