"""Every change of a lead's lifecycle stage is kept with its time, whoever makes it: the
API (create and update), the admin (add and change), routing's set_stage action (one
statement for many leads), and sales marking a deal won. The reports' funnel reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing import sales
from routing import services as routing
from scoring import services
from scoring.models import GroupTransition, Lead, ScoreGroup, StageChange
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import QueueItemFactory, RepFactory, adjust, rule

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


def history(lead: Lead) -> list[tuple[str, str, str]]:
    return list(
        StageChange.objects.filter(lead=lead).order_by("at", "id").values_list("from_stage", "to_stage", "cause")
    )


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


def test_the_api_records_a_lead_created_at_a_later_stage_and_each_change() -> None:
    before = timezone.now()
    lead, _ = services.lead_upsert(email="ada@example.com", fields={"lifecycle_stage": "mql"})
    services.lead_upsert(email="ada@example.com", fields={"lifecycle_stage": "sql"})
    services.lead_upsert(email="ada@example.com", fields={"first_name": "Ada"})  # no change of stage
    assert history(lead) == [("", "mql", "create"), ("mql", "sql", "update")]
    assert all(before <= at <= timezone.now() for at in StageChange.objects.values_list("at", flat=True))
    # A lead created at the default stage records nothing: its creation says when it became a lead.
    plain, _ = services.lead_upsert(email="plain@example.com", fields={"first_name": "Plain"})
    assert history(plain) == []


def test_the_admin_records_a_change_and_a_lead_added_at_a_later_stage(admin: Client) -> None:
    lead = LeadFactory.create(lifecycle_stage="lead")
    url = reverse("admin:scoring_lead_change", args=[lead.pk])
    form = admin.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update({"lifecycle_stage": "opportunity", "attributes": "{}", "email": lead.email})
    response = admin.post(url, data)
    assert response.status_code == 302
    assert history(lead) == [("lead", "opportunity", "admin")]

    add = reverse("admin:scoring_lead_add")
    form = admin.get(add).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    for stage, email in (("mql", "added@example.com"), ("lead", "default@example.com")):
        data.update({"lifecycle_stage": stage, "attributes": "{}", "email": email})
        assert admin.post(add, data).status_code == 302
    assert history(Lead.objects.get(email="added@example.com")) == [("", "mql", "admin")]
    assert history(Lead.objects.get(email="default@example.com")) == []


def test_routing_sets_the_stage_of_many_leads_at_once_and_records_each_change() -> None:
    hot: ScoreGroup = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)
    rule("enters_group", {"kind": "set_stage", "stage": "sql"}, group=hot)
    leads = [LeadFactory.create(lifecycle_stage=stage) for stage in ("lead", "mql", "sql")]
    for lead in leads:
        adjust(lead, 85)
    routing.transitions_route(now=T0)
    assert [history(lead) for lead in leads] == [
        [("lead", "sql", "routing")],
        [("mql", "sql", "routing")],
        [],  # already SQL: no change, nothing recorded
    ]
    assert set(StageChange.objects.values_list("at", flat=True)) == {T0}
    # Routing again changes nothing and records nothing more.
    routing.transitions_route(now=T0)
    assert StageChange.objects.count() == 2


def test_a_deal_won_in_the_sales_queue_records_the_lead_becoming_a_customer() -> None:
    rep = RepFactory.create()
    lead = LeadFactory.create(lifecycle_stage="sql")
    item = QueueItemFactory.create(lead=lead, team=rep.team)
    sales.item_claim(item_id=item.pk, user=rep.user, now=T0)
    sales.item_act(item_id=item.pk, user=rep.user, kind="accepted", now=T0)
    sales.item_act(item_id=item.pk, user=rep.user, kind="won", now=T0)
    assert history(lead) == [("sql", "customer", "sales")]
    assert StageChange.objects.get(lead=lead).at == T0


def test_the_history_and_the_outbox_agree_and_erasure_takes_the_history() -> None:
    lead, _ = services.lead_upsert(email="ada@example.com", fields={"lifecycle_stage": "mql"})
    services.leads_stage_set(lead_ids=[lead.pk], stage="customer", cause="sales", at=T0)
    outbox = GroupTransition.objects.filter(lead=lead, kind="stage").order_by("id")
    assert [(t.from_stage, t.to_stage, t.cause) for t in outbox] == history(lead)
    from scoring.erasure import lead_erase

    assert lead_erase(lead_id=lead.pk).removed["stage_changes"] == 2
    assert not StageChange.objects.exists()
