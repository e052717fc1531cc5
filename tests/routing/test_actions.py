"""Each routing action, done once per event whatever runs twice, crashes or runs concurrently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nurture import services as nurture
from nurture.models import Enrollment, Sequence
from routing import services
from routing.models import ActionRun, Notification, QueueItem, RoutingRule, Team, WebhookDelivery
from scoring import services as scoring
from scoring.models import GroupTransition, Lead, ScoreGroup
from tests.conftest import at_once
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import RepFactory, TeamFactory, UserFactory, adjust, rule

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80, leave_below=75)


def sequence(key: str) -> Sequence:
    made = SequenceFactory.create(key=key, reenroll="always")
    StepFactory.create(sequence=made, position=1)
    return made


def heat(*leads: Lead) -> None:
    """Take the leads into ``hot`` and route."""
    for lead in leads:
        adjust(lead, 85)
    services.transitions_route(now=T0)


def active(lead: Lead) -> set[str]:
    return set(Enrollment.objects.filter(lead=lead, status="active").values_list("sequence__key", flat=True))


@pytest.mark.django_db
def test_enroll_exit_one_and_exit_all(hot: ScoreGroup) -> None:
    offers, webinars, onboarding = sequence("offers"), sequence("webinars"), sequence("onboarding")
    rule("enters_group", {"kind": "enroll", "sequence": offers}, {"kind": "enroll", "sequence": webinars}, group=hot)
    rule("leaves_group", {"kind": "exit_sequence", "sequence": offers}, group=hot)
    rule("qualified", {"kind": "exit_all"})
    lead = LeadFactory.create()

    heat(lead)
    assert active(lead) == {"offers", "webinars"}

    adjust(lead, -20)  # 65: leaves hot
    services.transitions_route(now=T0)
    assert active(lead) == {"webinars"}
    assert Enrollment.objects.get(lead=lead, sequence=offers).exit_reason == "manual"

    nurture.enrollments_start_many(sequence=onboarding, lead_ids=[lead.pk], now=T0)
    assert active(lead) == {"webinars", "onboarding"}
    scoring.lead_events_record(lead_ids=[lead.pk], kind="qualified", cause="sales")
    services.transitions_route(now=T0)
    assert active(lead) == set()


@pytest.mark.django_db
def test_route_to_a_sales_queue_and_assign_by_the_team(hot: ScoreGroup) -> None:
    team = TeamFactory.create(name="Inside", assignment=Team.Assignment.ROUND_ROBIN)
    ana, ben = RepFactory.create(team=team, user__username="ana"), RepFactory.create(team=team, user__username="ben")
    made = rule("enters_group", {"kind": "route_to_queue", "team": team}, group=hot)
    first, second = LeadFactory.create(), LeadFactory.create()

    heat(first, second)

    items = {item.lead_id: item for item in QueueItem.objects.all()}
    assert set(items) == {first.pk, second.pk}
    assert {items[first.pk].owner_id, items[second.pk].owner_id} == {ana.user_id, ben.user_id}
    for lead in (first, second):
        assert items[lead.pk].team_id == team.pk
        assert items[lead.pk].entered_at == T0
        assert items[lead.pk].transition_id == GroupTransition.objects.get(lead=lead).pk
        assert Lead.objects.get(pk=lead.pk).owner_id == items[lead.pk].owner_id
    outcomes = set(ActionRun.objects.filter(action__rule=made).values_list("outcome", flat=True))
    assert outcomes == {f"in Inside's queue, assigned to user {u}" for u in (ana.user_id, ben.user_id)}


@pytest.mark.django_db
def test_assign_owner_to_a_user_or_by_a_team(hot: ScoreGroup) -> None:
    queue_team = TeamFactory.create(assignment=Team.Assignment.QUEUE)
    boss = UserFactory.create(username="boss")
    rr_team = TeamFactory.create(assignment=Team.Assignment.ROUND_ROBIN)
    rep = RepFactory.create(team=rr_team)
    rule(
        "enters_group",
        {"kind": "route_to_queue", "team": queue_team},  # waits unassigned in the team queue
        {"kind": "assign_owner", "user": boss},
        group=hot,
    )
    rule("leaves_group", {"kind": "assign_owner", "team": rr_team}, group=hot)
    lead = LeadFactory.create()

    heat(lead)
    lead.refresh_from_db()
    assert lead.owner_id == boss.pk
    assert QueueItem.objects.get(lead=lead).owner_id == boss.pk  # the open item follows

    adjust(lead, -30)
    services.transitions_route(now=T0)
    lead.refresh_from_db()
    assert lead.owner_id == rep.user_id


@pytest.mark.django_db
def test_notify_the_owner_and_the_team_by_email(hot: ScoreGroup, smtp: Sink) -> None:
    owner = UserFactory.create(username="ana", email="ana@sales.example")
    team = TeamFactory.create(name="Inside", email="inside@sales.example")
    rule(
        "enters_group",
        {"kind": "assign_owner", "user": owner},
        {"kind": "notify", "message": "Call within the hour."},
        {"kind": "notify", "team": team},
        group=hot,
        name="Hot lead",
    )
    lead = LeadFactory.create(email="buyer@shop.example", company="Shop")

    heat(lead)
    # The team's is that team's (its team lead reads it in the admin); the owner's no team's.
    assert sorted((n.to, n.team_id) for n in Notification.objects.all()) == [
        (["ana@sales.example"], None),
        (["inside@sales.example"], team.pk),
    ]
    assert services.notifications_send() == 2
    assert services.notifications_send() == 0  # each once

    [to_owner] = smtp.to("ana@sales.example")
    assert "buyer@shop.example" in to_owner["Subject"]
    body = to_owner.get_content()
    assert "Hot lead" in body
    assert "Call within the hour." in body
    assert "Score 85" in body
    [to_team] = smtp.to("inside@sales.example")
    assert "Call within the hour." not in to_team.get_content()
    assert len(smtp.messages) == 2
    assert Notification.objects.filter(sent_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_lead_with_the_longest_email_is_notified_of_too(hot: ScoreGroup, smtp: Sink) -> None:
    # Anyone filling in a form makes a lead with an email of up to 254 characters: with the
    # rule's name the subject passed its column's 300, and the whole routing batch failed.
    owner = UserFactory.create(username="ana", email="ana@sales.example")
    rule("enters_group", {"kind": "assign_owner", "user": owner}, {"kind": "notify"}, group=hot, name="R" * 200)
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 53 + ".example"
    assert len(email) == 254
    lead = LeadFactory.create(email=email)

    heat(lead)

    assert services.notifications_send() == 1
    [note] = smtp.to("ana@sales.example")
    assert " ".join(str(note["Subject"]).split()).startswith(f"Lead {email}: RRR")
    assert email in note.get_content(), "the whole address in the body"


@pytest.mark.django_db
def test_a_lead_without_an_owner_notifies_nobody_and_says_so(hot: ScoreGroup, smtp: Sink) -> None:
    made = rule("enters_group", {"kind": "notify"}, group=hot)
    heat(LeadFactory.create())
    assert services.notifications_send() == 0
    assert smtp.messages == []
    assert ActionRun.objects.get(action__rule=made).outcome == "nobody to notify (no owner email, no team)"


@pytest.mark.django_db
def test_a_refused_notification_is_kept_and_sent_on_a_later_run(hot: ScoreGroup, smtp: Sink) -> None:
    team = TeamFactory.create(email="inside@sales.example")
    rule("enters_group", {"kind": "notify", "team": team}, group=hot)
    heat(LeadFactory.create())
    smtp.rcpt_replies["inside@sales.example"] = "451 4.3.0 try again later"

    assert services.notifications_send() == 0
    assert "451" in Notification.objects.get().error

    smtp.rcpt_replies.clear()
    assert services.notifications_send() == 1
    note = Notification.objects.get()
    assert (note.error, note.sent_at is not None) == ("", True)
    assert len(smtp.messages) == 1


@pytest.mark.django_db
def test_set_stage_and_add_tag(hot: ScoreGroup) -> None:
    rule(
        "enters_group",
        {"kind": "set_stage", "stage": "sql"},
        {"kind": "add_tag", "tag": "hot"},
        {"kind": "add_tag", "tag": "hot"},  # a tag the lead already has is not added twice
        group=hot,
    )
    lead = LeadFactory.create(attributes={"tags": ["newsletter"], "plan": "pro"})
    heat(lead)
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "sql"
    assert lead.attributes == {"tags": ["newsletter", "hot"], "plan": "pro"}


@pytest.mark.django_db
def test_actions_of_a_lead_run_in_rule_then_action_order(hot: ScoreGroup) -> None:
    # Created in the other order: position decides, then the actions' own order.
    late = rule("enters_group", {"kind": "add_tag", "tag": "b"}, group=hot, position=5)
    early = rule(
        "enters_group", {"kind": "add_tag", "tag": "a"}, {"kind": "add_tag", "tag": "a2"}, group=hot, position=1
    )
    lead = LeadFactory.create()
    heat(lead)
    lead.refresh_from_db()
    assert lead.attributes["tags"] == ["a", "a2", "b"]
    runs = list(ActionRun.objects.order_by("id").values_list("action__rule", flat=True))
    assert runs == [early.pk, early.pk, late.pk]


def every_action(hot: ScoreGroup, webhook_url: str) -> RoutingRule:
    owner = UserFactory.create(email="owner@sales.example")
    team = TeamFactory.create(assignment=Team.Assignment.QUEUE, email="team@sales.example")
    return rule(
        "enters_group",
        {"kind": "enroll", "sequence": sequence("offers")},
        {"kind": "route_to_queue", "team": team},
        {"kind": "assign_owner", "user": owner},
        {"kind": "notify"},
        {"kind": "notify", "team": team},
        {"kind": "add_tag", "tag": "hot"},
        {"kind": "webhook", "url": webhook_url, "secret": "s"},
        {"kind": "set_stage", "stage": "sql"},
        group=hot,
    )


def effects() -> dict[str, int]:
    return {
        "runs": ActionRun.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "items": QueueItem.objects.count(),
        "notifications": Notification.objects.count(),
        "webhooks": WebhookDelivery.objects.count(),
        "stage events": GroupTransition.objects.filter(kind="stage").count(),
    }


@pytest.mark.django_db
def test_every_action_runs_once_per_event_when_routing_runs_again_or_after_a_crash(hot: ScoreGroup) -> None:
    made = every_action(hot, "http://127.0.0.1:9/hook")
    leads = LeadFactory.create_batch(3)
    heat(*leads)
    first = effects()
    assert first == {
        "runs": 3 * made.actions.count(),
        "enrollments": 3,
        "items": 3,
        "notifications": 6,
        "webhooks": 3,
        "stage events": 3,
    }

    services.transitions_route(now=T0)
    assert effects() == first
    # A crash between acting and marking the events processed: they come round again.
    # What the actions changed is undone by hand, so a repeat would show.
    GroupTransition.objects.update(processed_at=None)
    Lead.objects.update(lifecycle_stage="lead", attributes={}, owner=None)
    Enrollment.objects.update(status="exited")
    services.transitions_route(now=T0)

    assert effects() == first
    assert set(Lead.objects.values_list("lifecycle_stage", flat=True)) == {"lead"}
    assert not Enrollment.objects.filter(status="active").exists()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_workers_routing_at_once_act_once_per_event(postgres: None, hot: ScoreGroup) -> None:
    made = every_action(hot, "http://127.0.0.1:9/hook")
    leads = LeadFactory.create_batch(40)
    for lead in leads:
        adjust(lead, 85)
    events = GroupTransition.objects.count()

    processed = at_once(*[lambda: services.transitions_route(batch_size=7, now=T0)] * 3)

    stage_events = GroupTransition.objects.filter(kind="stage").count()
    assert sum(processed) == events + stage_events
    assert effects() == {
        "runs": 40 * made.actions.count(),
        "enrollments": 40,
        "items": 40,
        "notifications": 80,
        "webhooks": 40,
        "stage events": 40,
    }
    assert all(lead.attributes["tags"] == ["hot"] for lead in Lead.objects.all())
    assert not GroupTransition.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_run_keeps_the_team_it_acted_for(hot: ScoreGroup) -> None:
    boss = UserFactory.create(username="boss")
    inside = TeamFactory.create(name="Inside", email="inside@sales.example", assignment=Team.Assignment.ROUND_ROBIN)
    RepFactory.create(team=inside)
    silent = TeamFactory.create(name="Silent")  # no address, no team lead: the lead's owner is told
    made = rule(
        "enters_group",
        {"kind": "assign_owner", "team": inside, "user": boss},  # the user named wins: no team picked them
        {"kind": "route_to_queue", "team": inside},
        {"kind": "route_to_queue", "team": silent},  # already in Inside's queue: Inside's item
        {"kind": "assign_owner", "team": inside},
        {"kind": "notify", "team": inside},
        {"kind": "notify", "team": silent},
        {"kind": "add_tag", "tag": "hot"},
        group=hot,
    )

    heat(LeadFactory.create())

    runs = ActionRun.objects.filter(action__rule=made).order_by("action__position")
    assert [(run.outcome.split(" ")[0], run.team_id) for run in runs] == [
        ("owner", None),
        ("in", inside.pk),
        ("already", inside.pk),
        ("owner", inside.pk),
        ("notified", inside.pk),
        ("notified", None),
        ("tagged", None),
    ]
