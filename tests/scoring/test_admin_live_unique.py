"""The live model's rules, groups and scorecards refuse a clash on the field it is on, as a draft's do."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from scoring.models import Scorecard, ScoreGroup, ScoringRule
from tests.factories import ScoreGroupFactory, fit_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    client.force_login(admin_user)
    return client


def text(response: HttpResponseBase) -> str:
    return html.unescape(getattr(response, "content", b"").decode())


def rule_form(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Cafés",
        "key": "gastro",
        "description": "",
        "dimension": "fit",
        "points": "5",
        "match": "all",
        "active": "on",
        "conditions-TOTAL_FORMS": "1",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "conditions-0-position": "0",
        "conditions-0-field": "industry",
        "conditions-0-operator": "equals",
        "conditions-0-value_text": "Gastronomie",
    }
    data.update(fields)
    return data


@pytest.fixture
def machines() -> Scorecard:
    return Scorecard.objects.create(key="machines", name="Machines")


@pytest.mark.parametrize("on_card", [False, True], ids=["default scorecard", "another scorecard"])
def test_a_live_rule_with_a_key_another_live_rule_has_is_refused_on_its_key(
    admin: Client, machines: Scorecard, on_card: bool
) -> None:
    fit_rule(5, "industry", "equals", "Bäckerei", key="gastro", scorecard=machines if on_card else None)
    response = admin.post(reverse("admin:scoring_scoringrule_add"), rule_form())
    assert response.status_code == 200, text(response)[:2000]
    assert "A rule with this key already exists." in text(response)
    assert ScoringRule.every_scorecard.filter(key="gastro").count() == 1


def test_a_live_group_with_a_taken_key_or_minimum_is_refused_on_its_field(admin: Client, machines: Scorecard) -> None:
    ScoreGroupFactory.create(key="mql", min_score=50)
    ScoreGroupFactory.create(key="machines-hot", min_score=80, scorecard=machines)
    add = reverse("admin:scoring_scoregroup_add")
    for fields, message in [
        ({"key": "mql", "min_score": "60"}, "A score group with this key already exists."),
        ({"key": "machines-hot", "min_score": "60"}, "A score group with this key already exists."),
        ({"key": "sql", "min_score": "50"}, "Another score group has this minimum score."),
        (
            {"key": "sql", "min_score": "80", "scorecard": str(machines.pk)},
            "Another score group of this scorecard has this minimum score.",
        ),
    ]:
        response = admin.post(add, {"name": "Hot", "description": "", **fields})
        assert response.status_code == 200, (fields, text(response)[:2000])
        assert message in text(response), fields
    assert ScoreGroup.every_scorecard.count() == 2


def test_a_live_scorecard_with_a_taken_key_is_refused_on_its_key(admin: Client, machines: Scorecard) -> None:
    response = admin.post(reverse("admin:scoring_scorecard_add"), {"key": "machines", "name": "Maschinen"})
    assert response.status_code == 200, text(response)[:2000]
    assert "A scorecard with this key already exists." in text(response)
    assert Scorecard.objects.filter(key="machines").count() == 1


def test_a_spanish_marketer_reads_the_clash_in_spanish(admin_user: Any) -> None:
    ScoreGroupFactory.create(key="mql", min_score=50)
    client = Client(HTTP_HOST="localhost", headers={"accept-language": "es"}, raise_request_exception=False)
    client.force_login(admin_user)
    response = client.post(reverse("admin:scoring_scoregroup_add"), {"name": "MQL", "key": "mql", "min_score": "50"})
    assert response.status_code == 200
    page = text(response)
    assert "Ya hay un grupo de puntuación con esta clave." in page
    assert "A score group with this key already exists." not in page


def test_a_live_group_saved_again_does_not_clash_with_itself(admin: Client) -> None:
    group = ScoreGroupFactory.create(key="mql", min_score=50)
    response = admin.post(
        reverse("admin:scoring_scoregroup_change", args=[group.pk]),
        {"name": "Marketing qualified", "key": "mql", "min_score": "50", "description": ""},
    )
    assert response.status_code == 302, text(response)[:2000]
    assert ScoreGroup.objects.get().name == "Marketing qualified"
