"""The sales side of the admin: people named as the queue and the timelines name them (full
name, else user name), and a team lead given admin access sees their own teams' queue
items, outcomes, action runs and notifications only."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from routing import sales, services
from routing.models import ActionRun, Notification, Outcome, RoutingAction, Team
from scoring import timeline
from scoring.models import GroupTransition, Lead
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory, adjust, marketer, rule

pytestmark = pytest.mark.django_db


def admin_page(user: User, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def rows(page: str) -> str:
    """The text of the list's rows, tags removed."""
    table = re.search(r'<table id="result_list">.*?</table>', page, re.S)
    assert table is not None
    return html.unescape(re.sub(r"<[^>]+>", " ", table.group(0)))


def test_a_rep_is_named_by_full_name_else_user_name() -> None:
    ana = RepFactory.create(user__username="aball2", user__first_name="Ana", user__last_name="Ball")
    bob = RepFactory.create(user__username="bob")

    assert (str(ana), str(bob)) == ("Ana Ball", "bob")


def test_the_routing_admin_lists_name_people_by_full_name_else_user_name() -> None:
    ana = RepFactory.create(user__username="aball2", user__first_name="Ana", user__last_name="Ball")
    Team.objects.filter(pk=ana.team_id).update(team_lead=ana.user)
    item = QueueItemFactory.create(team=ana.team)
    sales.item_claim(item_id=item.pk, user=ana.user)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)

    for listed in ("queueitem", "outcome", "rep", "team"):
        shown = rows(admin_page(boss, reverse(f"admin:routing_{listed}_changelist")))
        assert ("Ana Ball" in shown, "aball2" in shown) == (True, False), listed


def test_a_team_lead_given_admin_access_sees_only_the_queue_items_of_their_teams() -> None:
    alice = RepFactory.create(user__username="alice")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")  # another team
    lena = RepFactory.create(user__username="lena", user__is_staff=True, team=alice.team).user
    lena.user_permissions.add(Permission.objects.get(codename="view_queueitem"))
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    led_elsewhere = TeamFactory.create(team_lead=lena)
    ours = QueueItemFactory.create(lead__email="ours@buyer.example", team=alice.team)
    led = QueueItemFactory.create(lead__email="led@buyer.example", team=led_elsewhere)
    theirs = QueueItemFactory.create(lead__email="theirs@buyer.example", team=carol.team)
    changelist = reverse("admin:routing_queueitem_changelist")
    everyone = ["led@buyer.example", "ours@buyer.example", "theirs@buyer.example"]

    assert listed(lena, changelist, everyone) == ["led@buyer.example", "ours@buyer.example"]
    assert "Outsiders" not in admin_page(lena, changelist)  # nor offered as a filter
    client = Client()
    client.force_login(lena)
    assert client.get(reverse("admin:routing_queueitem_change", args=[ours.pk])).status_code == 200
    assert client.get(reverse("admin:routing_queueitem_change", args=[led.pk])).status_code == 200
    other = client.get(reverse("admin:routing_queueitem_change", args=[theirs.pk]), follow=True)
    assert "theirs@buyer.example" not in other.content.decode()
    history = client.get(reverse("admin:routing_queueitem_history", args=[theirs.pk]), follow=True)
    assert "theirs@buyer.example" not in history.content.decode()

    superuser = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    assert listed(superuser, changelist, everyone) == everyone
    assert listed(marketer(), changelist, everyone) == everyone


def listed(user: User, url: str, leads: list[str]) -> list[str]:
    """Which of ``leads`` the list at ``url`` shows ``user``."""
    shown = rows(admin_page(user, url))
    return [lead for lead in leads if lead in shown]


def staff(username: str, *codenames: str) -> User:
    user = UserFactory.create(username=username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # no permission cache from before


def refused(user: User, url: str) -> None:
    """``url`` answers ``user`` as the admin answers an id it does not have: back to the
    admin's index saying so, no page of the object, no server error."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302, url
    assert response["Location"] == reverse("admin:index")


def test_a_staff_user_in_no_team_reads_no_teams_queue_items_or_outcomes() -> None:
    alice = RepFactory.create(user__username="alice")
    item = QueueItemFactory.create(lead__email="theirs@buyer.example", team=alice.team)
    outcome = Outcome.objects.create(
        item=item, lead=item.lead, kind=Outcome.Kind.REJECTED, reason="No budget", total_score=5, at=item.entered_at
    )
    viewer = staff("viewer", "view_queueitem", "view_outcome")

    assert sales.teams_seen_by(viewer) == set()
    assert sales.teams_seen_by(AnonymousUser()) == set()
    for listed_here in ("queueitem", "outcome"):
        page = admin_page(viewer, reverse(f"admin:routing_{listed_here}_changelist"))
        assert "theirs@buyer.example" not in page, listed_here
        assert 'id="result_list"' not in page, listed_here  # no rows at all
    for name, pk in (("queueitem", item.pk), ("outcome", outcome.pk)):
        for view in ("change", "history"):
            refused(viewer, reverse(f"admin:routing_{name}_{view}", args=[pk]))


def test_a_team_lead_given_admin_access_reads_only_the_outcomes_of_their_teams() -> None:
    alice = RepFactory.create(user__username="alice")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena = staff("lena", "view_outcome", "view_queueitem")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    ours = QueueItemFactory.create(lead__email="ours@buyer.example", team=alice.team)
    theirs = QueueItemFactory.create(lead__email="theirs@buyer.example", team=carol.team)
    reported = LeadFactory.create(email="crm@buyer.example")  # a CRM's deal, through no queue
    at = ours.entered_at
    mine = Outcome.objects.create(
        item=ours, lead=ours.lead, kind=Outcome.Kind.REJECTED, reason="Budget ours", total_score=5, at=at
    )
    other = Outcome.objects.create(
        item=theirs, lead=theirs.lead, kind=Outcome.Kind.REJECTED, reason="Budget theirs", total_score=5, at=at
    )
    crm = Outcome.objects.create(lead=reported, kind=Outcome.Kind.WON, total_score=5, at=at, source="api:crm1")
    everyone = ["crm@buyer.example", "ours@buyer.example", "theirs@buyer.example"]
    changelist = reverse("admin:routing_outcome_changelist")

    assert listed(lena, changelist, everyone) == ["ours@buyer.example"]
    assert listed(lena, f"{changelist}?q=Budget", everyone) == ["ours@buyer.example"]
    assert listed(lena, f"{changelist}?kind__exact=rejected", everyone) == ["ours@buyer.example"]
    assert "Budget ours" in admin_page(lena, reverse("admin:routing_outcome_change", args=[mine.pk]))
    assert admin_page(lena, reverse("admin:routing_outcome_history", args=[mine.pk]))
    for forged in (other.pk, crm.pk, "abc", "99999999999999999999999"):
        for view in ("change", "history"):
            refused(lena, reverse(f"admin:routing_outcome_{view}", args=[forged]))

    superuser = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    assert listed(superuser, changelist, everyone) == everyone
    assert listed(marketer(), changelist, everyone) == everyone


def test_a_lead_s_timeline_shows_a_team_lead_only_their_teams_queue_items_and_outcomes() -> None:
    alice = RepFactory.create(user__username="alice", team__name="Insiders")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena = staff("lena", "view_lead")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    lead = LeadFactory.create(email="shared@buyer.example")
    ours = QueueItemFactory.create(lead=lead, team=alice.team, status="rejected")
    theirs = QueueItemFactory.create(lead=lead, team=carol.team, status="rejected")
    for item, reason in ((ours, "Budget ours"), (theirs, "Budget theirs")):
        Outcome.objects.create(
            item=item, lead=lead, kind=Outcome.Kind.REJECTED, reason=reason, total_score=5, at=item.entered_at
        )
    Outcome.objects.create(lead=lead, kind=Outcome.Kind.WON, total_score=5, at=ours.entered_at, source="api:crm1")
    page = reverse("admin:scoring_lead_change", args=[lead.pk])

    def timeline(user: User) -> str:
        return re.sub(r"<[^>]+>", " ", admin_page(user, page).split('id="timeline"')[1])

    shown = timeline(lena)
    assert ("Insiders" in shown, "Budget ours" in shown) == (True, True)
    assert ("Outsiders" in shown, "Budget theirs" in shown, "api:crm1" in shown) == (False, False, False)
    assert "Budget theirs" not in timeline(staff("nobody", "view_lead"))
    for everything in (marketer(), UserFactory.create(username="boss", is_staff=True, is_superuser=True)):
        shown = timeline(everything)
        assert all(text in shown for text in ("Insiders", "Outsiders", "Budget ours", "Budget theirs", "api:crm1"))


def test_a_team_lead_s_timeline_reads_in_as_many_queries_as_the_whole_one_however_many_entries() -> None:
    alice = RepFactory.create(user__username="alice", team__name="Insiders")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena = staff("lena", "view_actionrun", "view_lead")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    lead = LeadFactory.create(email="shared@buyer.example")
    handed = rule("enters_group")
    actions = {
        team: RoutingAction.objects.create(rule=handed, kind="route_to_queue", team=team)
        for team in (alice.team, carol.team)
    }

    def more(count: int) -> None:
        """``count`` more action runs, queue items and outcomes for each team."""
        for team, action in actions.items():
            for _ in range(count):
                ran(lead, action, f"queued in {team.name}")
                item = QueueItemFactory.create(lead=lead, team=team, status="rejected")
                Outcome.objects.create(
                    item=item,
                    lead=lead,
                    kind=Outcome.Kind.REJECTED,
                    reason=team.name,
                    total_score=5,
                    at=item.entered_at,
                )

    def queries(reader: User | None) -> tuple[int, set[str]]:
        with CaptureQueriesContext(connection) as captured:
            events = timeline.lead_timeline(lead_id=lead.pk, per_page=200, reader=reader).events
        return len(captured), {event.source for event in events if "Outsiders" in f"{event.title} {event.detail}"}

    lena.has_perm("routing.change_team")  # the admin has read her permissions before the page
    more(2)
    two = queries(lena)
    more(18)
    twenty = queries(lena)

    # Her teams are part of each routing source's query, not read again by each source.
    assert two == twenty == (queries(None)[0], set())
    assert queries(None)[1] == {"action_run", "queue_item", "outcome"}


def ran(lead: Lead, action: RoutingAction, outcome: str) -> ActionRun:
    """A run of ``action`` for a crossing of ``lead``'s, saying ``outcome``, for its action's team."""
    crossing = GroupTransition.objects.create(
        lead=lead, direction="up", previous_total=0, total_score=80, cause="rule", occurred_at=lead.created_at
    )
    return ActionRun.objects.create(transition=crossing, action=action, outcome=outcome, team=action.team)


def test_a_team_lead_given_admin_access_reads_only_the_action_runs_of_their_teams() -> None:
    alice = RepFactory.create(user__username="alice", team__name="Insiders")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena = staff("lena", "view_actionrun", "view_lead")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    handed = rule("enters_group")
    to_ours = RoutingAction.objects.create(rule=handed, kind="route_to_queue", team=alice.team)
    to_theirs = RoutingAction.objects.create(rule=handed, kind="notify", team=carol.team)
    tag = RoutingAction.objects.create(rule=handed, kind="add_tag", tag="hot")  # marketing's, no team's
    lead = LeadFactory.create(email="shared@buyer.example")
    mine = ran(lead, to_ours, "queued in Insiders")
    other = ran(lead, to_theirs, "notified outsiders@team.example")
    tagged = ran(lead, tag, "tagged hot")
    everyone = ["notified outsiders@team.example", "queued in Insiders", "tagged hot"]
    changelist = reverse("admin:routing_actionrun_changelist")

    assert listed(lena, changelist, everyone) == ["queued in Insiders"]
    assert "queued in Insiders" in admin_page(lena, reverse("admin:routing_actionrun_change", args=[mine.pk]))
    assert admin_page(lena, reverse("admin:routing_actionrun_history", args=[mine.pk]))
    for forged in (other.pk, tagged.pk, "abc", "99999999999999999999999"):
        for view in ("change", "history"):
            refused(lena, reverse(f"admin:routing_actionrun_{view}", args=[forged]))
    nobody = staff("nobody", "view_actionrun", "view_lead")
    assert 'id="result_list"' not in admin_page(nobody, changelist)
    refused(nobody, reverse("admin:routing_actionrun_change", args=[mine.pk]))

    def timeline(user: User) -> str:
        page = admin_page(user, reverse("admin:scoring_lead_change", args=[lead.pk]))
        return re.sub(r"<[^>]+>", " ", page.split('id="timeline"')[1])

    assert [text for text in everyone if text in timeline(lena)] == ["queued in Insiders"]
    assert not any(text in timeline(nobody) for text in everyone)
    for everything in (marketer(), UserFactory.create(username="boss", is_staff=True, is_superuser=True)):
        assert listed(everything, changelist, everyone) == everyone
        assert all(text in timeline(everything) for text in everyone)


def test_a_team_lead_given_admin_access_reads_only_the_notifications_of_their_teams() -> None:
    alice = RepFactory.create(user__username="alice")
    carol = RepFactory.create(user__username="carol")
    lena = staff("lena", "view_notification")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)

    def told(team: Team | None, to: str) -> Notification:
        lead = LeadFactory.create(email=f"lead-of-{to}")
        return Notification.objects.create(team=team, to=[to], lead=lead, subject=f"Lead {lead.email}", body="Hot")

    mine = told(alice.team, "ours@team.example")
    other = told(carol.team, "theirs@team.example")
    owners = told(None, "owner@sales.example")  # a lead's owner told, through no team
    everyone = ["owner@sales.example", "ours@team.example", "theirs@team.example"]
    changelist = reverse("admin:routing_notification_changelist")

    assert listed(lena, changelist, everyone) == ["ours@team.example"]
    assert listed(lena, f"{changelist}?q=Lead", everyone) == ["ours@team.example"]
    assert listed(lena, f"{changelist}?status__exact=pending", everyone) == ["ours@team.example"]
    assert "ours@team.example" in admin_page(lena, reverse("admin:routing_notification_change", args=[mine.pk]))
    assert admin_page(lena, reverse("admin:routing_notification_history", args=[mine.pk]))
    for forged in (other.pk, owners.pk, "abc", "99999999999999999999999"):
        for view in ("change", "history"):
            refused(lena, reverse(f"admin:routing_notification_{view}", args=[forged]))
    nobody = staff("nobody", "view_notification")
    assert 'id="result_list"' not in admin_page(nobody, changelist)
    refused(nobody, reverse("admin:routing_notification_change", args=[mine.pk]))

    superuser = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    assert listed(superuser, changelist, everyone) == everyone
    assert listed(marketer(), changelist, everyone) == everyone


def routed(lead: Lead, *actions: dict[str, object]) -> list[str]:
    """Run ``actions`` for ``lead`` entering a hot group, as routing does: their outcomes, in order."""
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80, leave_below=75)
    made = rule("enters_group", *actions, group=hot)
    adjust(lead, 85)
    services.transitions_route(now=datetime(2027, 3, 1, 9, tzinfo=UTC))
    runs = ActionRun.objects.filter(action__rule=made).order_by("action__position")
    return list(runs.values_list("outcome", flat=True))


def test_a_run_stays_with_the_team_it_ran_for_when_its_action_changes_team() -> None:
    alice = RepFactory.create(
        user__username="alice",
        team__name="Insiders",
        team__email="insiders@team.example",
        team__assignment="round_robin",
    )
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena, olga = staff("lena", "view_actionrun", "view_lead"), staff("olga", "view_actionrun", "view_lead")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    Team.objects.filter(pk=carol.team_id).update(team_lead=olga)
    lead = LeadFactory.create(email="a@buyer.example")
    queued, told = routed(lead, {"kind": "route_to_queue", "team": alice.team}, {"kind": "notify", "team": alice.team})
    assert queued == f"in Insiders's queue, assigned to user {alice.user_id}"
    assert told == "notified insiders@team.example"
    # Marketing points the actions at Outsiders afterwards: what was done for Insiders stays theirs.
    RoutingAction.objects.update(team=carol.team)
    changelist = reverse("admin:routing_actionrun_changelist")
    page = reverse("admin:scoring_lead_change", args=[lead.pk])

    assert listed(lena, changelist, [queued, told]) == [queued, told]
    assert 'id="result_list"' not in admin_page(olga, changelist)  # no run of Outsiders'
    assert queued in html.unescape(admin_page(lena, page).split('id="timeline"')[1])
    theirs_now = admin_page(olga, page).split('id="timeline"')[1]
    assert ("assigned to user" in theirs_now, "notified insiders" in theirs_now) == (False, False)
    # As the notification sent keeps the team it was sent for.
    assert Notification.objects.get().team_id == alice.team_id


def test_assign_owner_naming_a_user_is_no_team_s_run() -> None:
    alice = RepFactory.create(user__username="alice", team__name="Insiders")
    carol = RepFactory.create(user__username="carol", team__name="Outsiders")
    lena = staff("lena", "view_actionrun", "view_lead")
    Team.objects.filter(pk=alice.team_id).update(team_lead=lena)
    # The user named wins over the team (routing.services.actions): no team picked the owner.
    [assigned] = routed(
        LeadFactory.create(email="b@buyer.example"), {"kind": "assign_owner", "team": alice.team, "user": carol.user}
    )
    assert assigned == f"owner user {carol.user_id}"
    changelist = reverse("admin:routing_actionrun_changelist")

    assert 'id="result_list"' not in admin_page(lena, changelist)  # no run of Insiders'

    assert listed(marketer(), changelist, [assigned]) == [assigned]
