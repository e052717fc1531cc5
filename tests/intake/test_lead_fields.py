"""One list of lead fields (scoring.lead_fields): every door, the rules and the templates
take theirs from it, so a field is accepted, stored, tested and shown alike everywhere."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from intake import tracking
from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from nurture import content
from scoring import lead_fields, services
from scoring import rules as pure
from scoring.models import Lead
from scoring.rules import Dimension
from tests.factories import fit_rule

pytestmark = pytest.mark.django_db

# A value each field may hold, as a sender writes it, and as the lead then holds it.
SAMPLES: dict[str, tuple[object, object]] = {
    "external_id": ("crm-7", "crm-7"),
    "company_size": (50, 50),
    "annual_revenue": ("1200.50", Decimal("1200.50")),
    "time_zone": ("Europe/Madrid", "Europe/Madrid"),
    "lifecycle_stage": ("mql", "mql"),
    "attributes": ({"goal": "gifts"}, {"goal": "gifts"}),
}
WRITABLE = [f.name for f in lead_fields.FIELDS if f.writable]
FIT = [f.name for f in lead_fields.FIELDS if f.fit]


def sample(name: str) -> tuple[object, object]:
    return SAMPLES.get(name, ("Toys", "Toys"))


def test_the_list_names_lead_columns_once() -> None:
    names = [f.name for f in lead_fields.FIELDS]
    assert len(names) == len(set(names))
    for name in names:
        Lead._meta.get_field(name)  # raises for a field the lead does not have
    assert set(lead_fields.TRAITS.values()) <= lead_fields.WRITABLE
    assert lead_fields.ANONYMOUS <= lead_fields.WRITABLE


@pytest.mark.parametrize("name", WRITABLE)
def test_every_field_other_systems_may_write_is_accepted_by_the_api_and_stored(name: str) -> None:
    key = api_key_issue(name="CRM", scopes=["leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    sent, held = sample(name)
    response = api.post("/api/v1/leads", {"email": "ana@example.com", name: sent}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert getattr(Lead.objects.get(), name) == held


def test_the_api_refuses_a_field_not_in_the_list_by_name() -> None:
    key = api_key_issue(name="CRM", scopes=["leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"email": "ana@example.com", "fit_score": 100, "owner": "ana"}
    response = api.post("/api/v1/leads", body, content_type="application/json")
    assert (response.status_code, set(response.json())) == (400, {"fit_score", "owner", "error_codes"})
    assert response.json()["error_codes"] == {"fit_score": ["unknown_field"], "owner": ["unknown_field"]}


@pytest.mark.parametrize("name", FIT)
def test_every_fit_field_can_be_tested_by_a_fit_rule(name: str) -> None:
    assert pure.check_field(name, dimension=Dimension.FIT) is None
    held = sample(name)[1]
    fit_rule(7, name, "equals", float(held) if isinstance(held, Decimal) else held)
    lead = Lead.objects.create(email="ana@example.com", **{name: held})
    services.leads_rescore_fit(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.fit_score == 7


@pytest.mark.parametrize("name", [f.name for f in lead_fields.FIELDS])
def test_a_form_may_list_exactly_the_fields_an_anonymous_source_may_write(name: str) -> None:
    allowed = not tracking.form_lead_field_problems([name])
    assert allowed == (name in lead_fields.ANONYMOUS)


@pytest.mark.parametrize("name", sorted(lead_fields.RESERVED_ATTRIBUTES))
def test_no_form_lists_a_custom_attribute_named_as_the_leads_own_field(name: str) -> None:
    assert tracking.form_lead_field_problems([f"attributes.{name}"]) != []


@pytest.mark.parametrize("name", sorted(lead_fields.ANONYMOUS))
def test_a_form_post_sets_each_field_it_lists(name: str) -> None:
    TrackedForm.objects.create(key="contact", name="Contact", lead_fields=[name])
    sent, held = sample(name)
    response = Client().post(
        "/t/f/contact", {"email": "ana@example.com", name: str(sent)}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200, response.content
    assert getattr(Lead.objects.get(), name) == held


@pytest.mark.parametrize(("trait", "name"), sorted(lead_fields.TRAITS.items()))
def test_each_segment_trait_sets_its_field(trait: str, name: str) -> None:
    key = api_key_issue(name="Segment").key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    sent, held = sample(name)
    message = {"type": "identify", "messageId": "i-1", "userId": "ana@example.com", "traits": {trait: sent}}
    response = Client(HTTP_AUTHORIZATION=f"Basic {basic}").post(
        "/v1/identify", json.dumps(message), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert getattr(Lead.objects.get(), name) == held


def test_templates_see_the_template_fields() -> None:
    values: dict[str, Any] = {name: sample(name)[1] for name in lead_fields.TEMPLATE if name != "email"}
    lead = Lead(email="ana@example.com", **values)
    context = content.lead_context(lead)
    assert {name: context[name] for name in lead_fields.TEMPLATE} == {"email": "ana@example.com", **values}
