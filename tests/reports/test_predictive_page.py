"""The predictive report page: who may read it, what it says before and after training."""

from __future__ import annotations

import pytest
from django.test import Client

from scoring.models import PredictiveSettings, TrainedModel
from scoring.services import predictive
from tests.factories import ScoringRuleFactory, fit_rule
from tests.routing.factories import RepFactory, TeamFactory, marketer
from tests.scoring.test_predictive_service import history

pytestmark = pytest.mark.django_db
URL = "/reports/predictive/"


def test_anonymous_users_log_in_and_reps_are_refused() -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    rep = RepFactory.create(team=TeamFactory.create())
    client = Client()
    client.force_login(rep.user)
    assert client.get(URL).status_code == 403


def test_before_any_training_the_page_says_how_many_outcomes_are_missing() -> None:
    history(30)
    PredictiveSettings.objects.update_or_create(pk=1, defaults={"min_new_outcomes": 50})
    client = Client()
    client.force_login(marketer())
    page = client.get(URL).content.decode()
    assert "30 leads won or lost so far; the next training needs 20 more (minimum 50)." in page
    assert "No model is trained yet" in page


def test_a_marketer_sees_the_models_quality_signals_and_suggested_points() -> None:
    history()
    fit_rule(5, "attributes.plan", "equals", "enterprise", name="Enterprise plan")
    ScoringRuleFactory.create(name="Opened an email", interaction_types=["email_open"])
    version = predictive.model_train(excluded=["after_call"])
    client = Client()
    client.force_login(marketer())
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Version {version.number}" in page
    assert f"{version.metrics['cv_auc']:.3f}" in page
    charts = response.context["charts"]
    assert charts["importance"]["labels"][0] == "plan"
    assert sum(charts["distribution"]["values"]) == 120
    suggestions = {s["rule"]: s for s in response.context["suggestions"]}
    assert suggestions["Enterprise plan"]["suggested"] > 10  # enterprise leads convert far more often
    assert suggestions["Opened an email"]["suggested"] is None  # nobody opened one: nothing to say
    assert "/static/reports/vendor/chart.umd.min.js" in page
    # How many leads it learned from reads grouped, as every figure on the page does.
    TrainedModel.objects.filter(pk=version.pk).update(leads=12345)
    assert "12,345 leads (" in client.get(URL).content.decode()
