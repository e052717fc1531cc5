"""Fit is never stale: whoever changes a field fit rules read (the API, a tracked form,
the admin, routing's add_tag and set_stage, a sales rep winning a lead, Segment's
identifies, scoring's own leads_stage_set), the lead's fit follows in the same
transaction, or at the next scoring batch for bulk identifies; and the cached fit
always equals the ledger's."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from routing import sales
from routing import services as routing
from scoring import services
from scoring.models import GroupTransition, Lead, PendingFit, ScoreEntry, ScoreGroup
from scoring.services import engagement as engagement_service
from scoring.services import leads as leads_service
from tests.factories import LeadFactory, ScoreGroupFactory, fit_rule
from tests.routing.factories import QueueItemFactory, RepFactory, adjust
from tests.routing.factories import rule as routing_rule

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


def fit_of(lead: Lead) -> int:
    """The lead's cached fit, checked against the ledger it must equal."""
    cached = Lead.objects.values_list("fit_score", flat=True).get(pk=lead.pk)
    ledger = ScoreEntry.objects.filter(lead_id=lead.pk, dimension="fit").aggregate(s=Sum("delta"))["s"] or 0
    assert cached == ledger
    return cached


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80, leave_below=75)


def test_the_api_rescores_fit_when_the_stage_changes() -> None:
    fit_rule(10, "lifecycle_stage", "equals", "sql")
    lead = LeadFactory.create(email="ana@example.com")
    key = api_key_issue(name="CRM", scopes=["leads:read", "leads:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.post(
        "/api/v1/leads", {"email": "ana@example.com", "lifecycle_stage": "sql"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["fit_score"] == 10
    assert fit_of(lead) == 10


def test_a_tracked_form_rescores_fit_when_a_custom_attribute_changes() -> None:
    fit_rule(6, "attributes.goal", "equals", "gifts")
    lead = LeadFactory.create(email="bea@example.com")
    TrackedForm.objects.create(key="newsletter", name="Newsletter", lead_fields=["attributes.goal"], success_url="")
    response = Client(HTTP_HOST="localhost").post(
        "/t/f/newsletter", {"email": "bea@example.com", "attributes.goal": "gifts"}
    )
    assert response.status_code == 200
    assert fit_of(lead) == 6


def test_the_admin_rescores_fit_and_records_the_stage_change(admin_user: Any) -> None:
    fit_rule(10, "lifecycle_stage", "equals", "mql")
    lead = LeadFactory.create()
    admin = Client(HTTP_HOST="localhost")
    admin.force_login(admin_user)
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"lifecycle_stage": "mql", "attributes": "{}", "email": lead.email})
    assert admin.post(url, data).status_code == 302
    assert fit_of(lead) == 10
    stage = GroupTransition.objects.get(lead=lead, kind=GroupTransition.Kind.STAGE)
    assert (stage.from_stage, stage.to_stage, stage.cause) == ("lead", "mql", "admin")


def test_routing_add_tag_rescores_fit_in_the_same_batch(hot: ScoreGroup) -> None:
    fit_rule(5, "attributes.tags", "contains", "vip")
    routing_rule("enters_group", {"kind": "add_tag", "tag": "vip"}, group=hot)
    lead = LeadFactory.create(attributes={"tags": ["newsletter"]})
    adjust(lead, 85)
    routing.transitions_route(now=T0)
    lead.refresh_from_db()
    assert lead.attributes == {"tags": ["newsletter", "vip"]}
    assert fit_of(lead) == 5
    # Tagging again changes nothing, and takes nothing back.
    services.leads_tag(lead_ids=[lead.pk], tag="vip")
    assert fit_of(lead) == 5


def test_routing_set_stage_rescores_fit_in_the_same_batch(hot: ScoreGroup) -> None:
    fit_rule(10, "lifecycle_stage", "equals", "sql")
    routing_rule("enters_group", {"kind": "set_stage", "stage": "sql"}, group=hot)
    lead = LeadFactory.create()
    adjust(lead, 85)
    routing.transitions_route(now=T0)
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "sql"
    assert fit_of(lead) == 10
    assert lead.total_score == 95


def test_a_lead_won_by_sales_becomes_a_customer_with_its_fit_rescored() -> None:
    fit_rule(20, "lifecycle_stage", "equals", "customer")
    fit_rule(3, "lifecycle_stage", "not_equals", "customer")
    rep = RepFactory.create()
    item = QueueItemFactory.create(team=rep.team)
    services.leads_rescore_fit(lead_ids=[item.lead_id])
    assert fit_of(item.lead) == 3
    sales.item_claim(item_id=item.pk, user=rep.user)
    sales.item_act(item_id=item.pk, user=rep.user, kind="accepted")
    sales.item_act(item_id=item.pk, user=rep.user, kind="won")
    assert Lead.objects.get(pk=item.lead_id).lifecycle_stage == "customer"
    assert fit_of(item.lead) == 20


def test_segment_identifies_queue_the_leads_fit_and_the_next_batch_evaluates_it() -> None:
    fit_rule(8, "city", "equals", "San José")
    fit_rule(4, "attributes.plan", "equals", "gold")
    lead = LeadFactory.create(email="p1@example.com", city="Lima")
    key = api_key_issue(name="Segment").key
    segment = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}")
    messages = [
        {"type": "identify", "messageId": f"i-{n}", "userId": f"p{n}@example.com", "traits": traits}
        for n, traits in [(1, {"city": "San José", "plan": "gold"}), (2, {"city": "San José"})]
    ]
    response = segment.post("/v1/batch", json.dumps({"batch": messages}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert set(PendingFit.objects.values_list("lead__email", flat=True)) == {"p1@example.com", "p2@example.com"}
    services.interactions_score_pending()
    assert not PendingFit.objects.exists()
    assert fit_of(lead) == 12
    assert fit_of(Lead.objects.get(email="p2@example.com")) == 8


def test_a_run_s_fit_batches_claim_forward_and_the_next_run_starts_over() -> None:
    """Each batch of a run starts after the last lead the one before took (not over the
    queue rows it deleted); a lead behind it is left to the next run, from the start."""
    fit_rule(3, "industry", "equals", "Toys")
    first, second, third = (LeadFactory.create(industry="Toys", fit_pending=True) for _ in range(3))

    assert engagement_service._fit_pending_batch(1, after=first.pk) == (1, second.pk)
    assert engagement_service._fit_pending_batch(5, after=third.pk) == (0, third.pk)
    assert set(PendingFit.objects.values_list("lead_id", flat=True)) == {first.pk, third.pk}
    assert [fit_of(lead) for lead in (first, second, third)] == [0, 3, 0]

    assert services.leads_rescore_fit_pending(batch_size=1) == 2
    assert not PendingFit.objects.exists()
    assert [fit_of(lead) for lead in (first, second, third)] == [3, 3, 3]


def test_leads_stage_set_rescores_fit_of_the_leads_it_moves_only() -> None:
    fit_rule(10, "lifecycle_stage", "equals", "opportunity")
    moved, already = LeadFactory.create(), LeadFactory.create(lifecycle_stage="opportunity")
    assert services.leads_stage_set(lead_ids=[moved.pk, already.pk], stage="opportunity", cause="api") == 1
    assert fit_of(moved) == 10
    # The lead already there was not touched: its fit waits for its own re-evaluation.
    assert fit_of(already) == 0
    assert GroupTransition.objects.filter(kind=GroupTransition.Kind.STAGE).count() == 1
    with pytest.raises(ValueError, match="stage: 'king' is not a lifecycle stage"):
        services.leads_stage_set(lead_ids=[moved.pk], stage="king", cause="api")


@pytest.mark.django_db(transaction=True)
def test_a_fit_evaluation_called_outside_a_transaction_runs_in_one_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin's "re-evaluate fit" and a model import call it outside any transaction: the
    leads' row locks must last until their ledger rows and cached fit are written, or two
    evaluations at once each write the rule's points."""
    fit_rule(5, "industry", "equals", "Toys")
    lead = LeadFactory.create(industry="Toys")
    inside: list[bool] = []
    evaluate = leads_service.leads_rescore_fit_locked

    def watched(**kwargs: Any) -> Any:
        inside.append(connection.in_atomic_block)
        return evaluate(**kwargs)

    monkeypatch.setattr(leads_service, "leads_rescore_fit_locked", watched)
    assert services.leads_rescore_fit(lead_ids=[lead.pk]) == 1
    assert inside == [True]
    assert fit_of(lead) == 5
