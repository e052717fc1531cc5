"""Routing's migration 0025: an action run keeps the team it ran for. The runs recorded before
take their action's team where the kind acts for a team (its queue, its assignment, its
address), the best known of then; an owner named, and the other kinds, are no team's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("routing", "0024_durations_at_most_ten_years")
AFTER = ("routing", "0025_action_run_team")
AT = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.mark.migrations
def test_the_runs_recorded_before_take_their_team_bound_action_s_team_and_going_back_keeps_them(
    empty_database: None,
) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    team = old.get_model("routing", "Team").objects.create(key="inside", name="Inside")
    user = old.get_model("auth", "User").objects.create(username="ana")
    made = old.get_model("routing", "RoutingRule").objects.create(key="hot", name="Hot", trigger="enters_group")
    lead = old.get_model("scoring", "Lead").objects.create(email="buyer@shop.example")
    Action, Run = old.get_model("routing", "RoutingAction"), old.get_model("routing", "ActionRun")
    kinds = {
        "route_to_queue": {"team": team},
        "assign_owner": {"team": team},
        "notify": {"team": team},
        "named": {"team": team, "user": user},  # an assign_owner whose user won
        "add_tag": {"team": team, "tag": "hot"},  # a team left on a kind that has no use for it
        "told_owner": {},  # a notify to the lead's owner
    }
    runs = {}
    for position, (name, fields) in enumerate(kinds.items()):
        kind = {"named": "assign_owner", "told_owner": "notify"}.get(name, name)
        action = Action.objects.create(rule=made, position=position, kind=kind, **fields)
        crossing = old.get_model("scoring", "GroupTransition").objects.create(
            lead=lead, direction="up", previous_total=0, total_score=80, cause="rule", occurred_at=AT
        )
        runs[name] = Run.objects.create(transition=crossing, action=action, outcome=name).pk

    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    new = executor.loader.project_state([AFTER]).apps.get_model("routing", "ActionRun")
    teams = dict(new.objects.values_list("outcome", "team_id"))
    assert teams == {
        "route_to_queue": team.pk,
        "assign_owner": team.pk,
        "notify": team.pk,
        "named": None,
        "add_tag": None,
        "told_owner": None,
    }

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    back = executor.loader.project_state([BEFORE]).apps.get_model("routing", "ActionRun")
    assert set(back.objects.values_list("pk", flat=True)) == set(runs.values())
