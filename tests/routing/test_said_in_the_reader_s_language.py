"""What routing says it did (an action's outcome, why a notification or a webhook call
failed, what an SLA escalation did) reads in the language of whoever reads it, on the
lead's timeline and in the admin; the database keeps the English beside it, and rows
written before are shown as they were stored."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from routing import services, sla, webhooks
from routing.models import ActionRun, Notification, Outcome, Team, WebhookAttempt, WebhookDelivery
from scoring.models import GroupTransition, Lead, ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.conftest import WebhookReceiver
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, adjust, rule

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80, leave_below=75)


def reader(user: User, language: str) -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


def text_of(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def lead_page(lead: Lead) -> str:
    return reverse("admin:scoring_lead_change", args=[lead.pk])


@pytest.mark.django_db
def test_an_action_s_outcome_reads_in_spanish_on_the_lead_s_timeline_and_in_the_admin(
    hot: ScoreGroup, admin_user: User
) -> None:
    team = TeamFactory.create(name="North", assignment=Team.Assignment.ROUND_ROBIN)
    ana = RepFactory.create(team=team, user__username="ana")
    rule("enters_group", {"kind": "add_tag", "tag": "vip"}, {"kind": "route_to_queue", "team": team}, group=hot)
    lead = LeadFactory.create()
    adjust(lead, 85)
    services.transitions_route(now=T0)

    spanish = reader(admin_user, "es")
    timeline = text_of(spanish, lead_page(lead))
    assert "etiquetado vip" in timeline
    assert f"en la cola de North, asignado al usuario {ana.user_id}" in timeline
    assert "tagged vip" not in timeline
    runs = text_of(spanish, reverse("admin:routing_actionrun_changelist"))
    assert "etiquetado vip" in runs
    assert f"en la cola de North, asignado al usuario {ana.user_id}" in runs
    tagged = ActionRun.objects.get(action__kind="add_tag")
    run_page = text_of(spanish, reverse("admin:routing_actionrun_change", args=[tagged.pk]))
    assert "etiquetado vip" in run_page
    assert "tagged vip" not in run_page  # nor in the run's name, its title

    english = text_of(reader(admin_user, "en"), lead_page(lead))
    assert "tagged vip" in english
    assert f"in North's queue, assigned to user {ana.user_id}" in english
    assert tagged.outcome == "tagged vip"  # the column keeps the English


@pytest.mark.django_db
def test_an_outcome_stored_before_reads_as_stored(hot: ScoreGroup, admin_user: User) -> None:
    made = rule("enters_group", {"kind": "add_tag", "tag": "gold"}, group=hot)
    lead = LeadFactory.create()
    adjust(lead, 85)
    crossing = GroupTransition.objects.get(lead=lead, kind="score")
    ActionRun.objects.create(transition=crossing, action=made.actions.get(), outcome="tagged gold, the old way")

    spanish = reader(admin_user, "es")
    assert "tagged gold, the old way" in text_of(spanish, lead_page(lead))
    assert "tagged gold, the old way" in text_of(spanish, reverse("admin:routing_actionrun_changelist"))


@pytest.mark.django_db
def test_why_a_lead_was_not_enrolled_reads_in_spanish(hot: ScoreGroup) -> None:
    sequence = SequenceFactory.create(key="offers", active=False)
    StepFactory.create(sequence=sequence, position=1)
    rule("enters_group", {"kind": "enroll", "sequence": sequence}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)

    run = ActionRun.objects.get()
    assert run.outcome == "not enrolled: sequence inactive"
    with translation.override("es"):
        assert run.outcome_shown() == "no inscrito: secuencia inactiva"


@pytest.mark.django_db
def test_a_notification_s_error_reads_in_spanish_and_the_mail_server_s_answer_as_it_came(
    hot: ScoreGroup, smtp: Sink, admin_user: User
) -> None:
    rule("enters_group", {"kind": "notify", "team": TeamFactory.create(email="inside@sales.example")}, group=hot)
    rule("enters_group", {"kind": "notify", "team": TeamFactory.create(email="north@sales.example")}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)
    smtp.rcpt_replies["inside@sales.example"] = "451 4.3.0 try again later"
    services.notifications_send(now=T0)
    lapsed = Notification.objects.get(to=["north@sales.example"])
    Notification.objects.filter(pk=lapsed.pk).update(status="sending", claimed_at=T0)
    services.notifications_send(now=T0 + timedelta(days=1))  # north's sender never confirmed: unknown

    page = text_of(reader(admin_user, "es"), reverse("admin:routing_notification_changelist"))
    assert "el remitente se detuvo antes de confirmarlo" in page
    assert "4.3.0 try again later" in page  # the server's own words
    english = text_of(reader(admin_user, "en"), reverse("admin:routing_notification_changelist"))
    assert "the sender stopped before confirming it" in english
    assert Notification.objects.get(pk=lapsed.pk).error.startswith("the sender stopped before confirming it")


@pytest.mark.django_db
def test_a_webhook_call_s_error_reads_in_spanish(
    hot: ScoreGroup, webhook_receiver: WebhookReceiver, admin_user: User, settings: Any
) -> None:
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 30
    webhook_receiver.answer(307)
    webhook_receiver.location = "https://elsewhere.example/hook"
    rule("enters_group", {"kind": "webhook", "url": "https://crm.example/hook", "secret": "s" * 32}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)
    WebhookDelivery.objects.update(url=webhook_receiver.url)

    webhooks.webhooks_deliver_due(now=T0)

    delivery = WebhookDelivery.objects.get()
    url = reverse("admin:routing_webhookdelivery_change", args=[delivery.pk])
    page = text_of(reader(admin_user, "es"), url)
    assert "HTTP 307: redirección a https://elsewhere.example/hook no seguida" in page
    assert "HTTP 307: redirect to https://elsewhere.example/hook not followed" in text_of(reader(admin_user, "en"), url)
    assert WebhookAttempt.objects.get().error == "HTTP 307: redirect to https://elsewhere.example/hook not followed"


@pytest.mark.django_db
def test_what_an_escalation_did_reads_in_spanish_on_the_lead_s_timeline(admin_user: User) -> None:
    team = TeamFactory.create(name="North", sla_hours=2, sla_action=Team.SlaAction.REASSIGN)
    ana, ben = RepFactory.create(team=team, user__username="ana"), RepFactory.create(team=team, user__username="ben")
    item = QueueItemFactory.create(team=team, owner=ana.user, entered_at=T0 - timedelta(hours=3))

    assert sla.items_escalate_overdue(now=T0) == 1

    timeline = text_of(reader(admin_user, "es"), lead_page(item.lead))
    assert f"reasignado al usuario {ben.user_id}" in timeline
    assert f"reassigned to user {ben.user_id}" in text_of(reader(admin_user, "en"), lead_page(item.lead))
    escalated = Outcome.objects.get(item=item, kind=Outcome.Kind.ESCALATED)
    assert escalated.reason == f"reassigned to user {ben.user_id}"
    page = text_of(reader(admin_user, "es"), reverse("admin:routing_outcome_changelist"))
    assert f"reasignado al usuario {ben.user_id}" in page
