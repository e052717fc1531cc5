"""The lead API shows the lead's predicted probability with its model version and reasons."""

from __future__ import annotations

import pytest
from django.test import Client

from intake.api_keys import api_key_issue
from scoring.models import Lead
from scoring.services import predictive
from tests.scoring.test_predictive_service import history

pytestmark = pytest.mark.django_db


def test_the_lead_api_gives_the_prediction_or_null_before_any_model() -> None:
    key = api_key_issue(name="CRM", scopes=["leads:read"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    leads = history()
    lead = next(lead for lead in leads if lead.attributes["plan"] == "enterprise")
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["prediction"] is None

    version = predictive.model_train(excluded=["after_call"])
    shown = api.get(f"/api/v1/leads/{lead.pk}").json()["prediction"]
    stored = Lead.objects.get(pk=lead.pk).prediction
    assert shown["probability"] == stored.probability
    assert shown["model_version"] == version.number
    assert shown["reasons"][0]["text"] == "+ plan: enterprise"
    assert api.get(f"/api/v1/leads?email={lead.email}").json()[0]["prediction"]["model_version"] == version.number
