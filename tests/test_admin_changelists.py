"""Every admin list reads its page in a fixed number of queries: a list of many rows
costs what a list of a few costs (no query per row for a related object or a count)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from intake.api_keys import api_key_issue
from intake.models import TrackedForm
from nurture.models import Delivery, Enrollment
from reports.models import MqlTarget
from routing.models import ActionRun, Notification, Outcome, WebhookDelivery
from scoring.models import Account, DecayRun, GroupTransition, RescoreJob, ScoreEntry, SetAside, Visitor
from scoring.suppression import Reason, leads_suppress
from tests.factories import InteractionFactory, LeadFactory, ScoreGroupFactory, ScoringRuleFactory, fit_rule
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory
from tests.routing.factories import rule as routing_rule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
# Other projects' pages (Celery beat's schedules, login attempts): not Leadflow's to change.
THEIRS = {"django_celery_beat", "axes"}


def add_rows(n: int) -> None:
    """One more row (with its related rows) on every list of Leadflow's admin."""
    group = ScoreGroupFactory.create(min_score=1000 + n)
    account = Account.objects.create(name=f"Account {n}", domain=f"a{n}.example")
    lead = LeadFactory.create(account=account, score_group=group)
    InteractionFactory.create(lead=lead)
    rule = ScoringRuleFactory.create()
    fit_rule(3, "city", "equals", f"City {n}")
    ScoreEntry.objects.create(lead=lead, dimension="engagement", delta=1, cause="rule", rule=rule, occurred_at=T0)
    Visitor.objects.create(key=f"visitor-{n}", lead=lead)
    transition = GroupTransition.objects.create(
        lead=lead, to_group=group, direction="up", previous_total=0, total_score=1, cause="rule", occurred_at=T0
    )
    DecayRun.objects.create(day=date(2026, 1, 1) + timedelta(days=n), started_at=T0)
    RescoreJob.objects.create(group=group, kind=RescoreJob.Kind.REGROUP if n % 2 else RescoreJob.Kind.RESCORE)
    SetAside.objects.create(
        kind="fit", row_id=lead.pk, lead_id=lead.pk, error_type="ValueError", error="bad",
        first_failed_at=T0, last_failed_at=T0,
    )  # fmt: skip
    leads_suppress(lead_ids=[lead.pk], reason=Reason.UNSUBSCRIBED, at=T0)
    api_key_issue(name=f"Key {n}")
    TrackedForm.objects.create(key=f"form-{n}", name=f"Form {n}")
    step = StepFactory.create(sequence=SequenceFactory.create())
    enrollment = Enrollment.objects.create(lead=lead, sequence=step.sequence, enrolled_at=T0, next_run_at=T0)
    Delivery.objects.create(enrollment=enrollment, step=step, message_id=f"m-{n}", created_at=T0, updated_at=T0)
    team = TeamFactory.create(team_lead=UserFactory.create())
    rep = RepFactory.create(team=team)
    routing = routing_rule("enters_group", {"kind": "webhook", "url": "https://crm.example/hook"}, group=group)
    item = QueueItemFactory.create(lead=lead, team=team, owner=rep.user)
    Outcome.objects.create(item=item, lead=lead, kind="claimed", total_score=1, user=rep.user, at=T0)
    run = ActionRun.objects.create(transition=transition, action=routing.actions.get(), outcome="queued")
    WebhookDelivery.objects.create(run=run, url="https://crm.example/hook", payload={}, next_attempt_at=T0)
    Notification.objects.create(to=["team@example.com"], lead=lead, subject=f"Lead {n}", body="")
    MqlTarget.objects.create(month=date(2026 + n // 12, n % 12 + 1, 1), target=n)


def changelists() -> list[tuple[str, str]]:
    return [
        (model._meta.label, reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        for model in django_admin.site._registry
        if model._meta.app_label not in THEIRS
    ]


def queries_per_list(client: Client) -> dict[str, int]:
    counts = {}
    for label, url in changelists():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (label, response.status_code)
        counts[label] = len(captured)
    return counts


def test_no_admin_list_makes_a_query_per_row(admin_user: Any) -> None:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    for n in range(2):
        add_rows(n)
    few = queries_per_list(client)
    for n in range(2, 12):
        add_rows(n)
    many = queries_per_list(client)
    grew = {label: (few[label], many[label]) for label in few if many[label] != few[label]}
    assert not grew, f"queries (2 rows, 12 rows) per list: {grew}"
