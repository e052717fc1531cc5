"""A rep hands a lead back to the team's queue: it waits unclaimed for any rep again, the
release is kept in the lead's story, its SLA clock keeps running from the hand-off, and
nothing routing did on the hand-off happens twice. Two tabs or a claim meanwhile: one
release wins, the other is told why, on PostgreSQL too."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing import sales, selectors, services, sla
from routing.models import ActionRun, Notification, Outcome, QueueItem, Rep, Team
from scoring import timeline
from scoring.models import GroupTransition, Lead, ScoreGroup
from tests.conftest import at_once
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory, adjust, marketer, rule
from tests.routing.test_sales import item_in, post, signed_in

Status = QueueItem.Status
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


def claimed_by(rep: Rep, **fields: object) -> QueueItem:
    item = item_in(rep)
    sales.item_claim(item_id=item.pk, user=rep.user)
    if fields:
        QueueItem.objects.filter(pk=item.pk).update(**fields)
    item.refresh_from_db()
    return item


def waiting_for_the_team(item: QueueItem) -> bool:
    """Unclaimed in its team's queue, as the queue page reads it (the lead's queue team)."""
    item.refresh_from_db()
    lead = Lead.objects.get(pk=item.lead_id)
    return (item.status, item.owner_id, item.claimed_at, lead.owner_id, lead.queue_team_id) == (
        Status.OPEN,
        None,
        None,
        None,
        item.team_id,
    )


@pytest.mark.django_db
def test_a_released_lead_waits_unclaimed_for_the_team_and_another_rep_claims_it() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    item = claimed_by(alice)

    sales.item_release(item_id=item.pk, user=alice.user, reason="  On holiday until the 20th ")

    assert waiting_for_the_team(item)
    released = Outcome.objects.get(item=item, kind=Outcome.Kind.RELEASED)
    assert (released.user_id, released.reason) == (alice.user_id, "On holiday until the 20th")
    bob_sees = selectors.queue_page(rep=bob).rows
    assert [(row.item.pk, row.actions) for row in bob_sees] == [(item.pk, ("claim",))]
    sales.item_claim(item_id=item.pk, user=bob.user)
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)


@pytest.mark.django_db
def test_a_lead_assigned_by_routing_can_be_handed_back_unclaimed() -> None:
    alice = RepFactory.create()
    item = item_in(alice, owner=alice.user)

    sales.item_release(item_id=item.pk, user=alice.user)

    assert waiting_for_the_team(item)
    assert Outcome.objects.get(item=item).kind == Outcome.Kind.RELEASED


@pytest.mark.django_db
def test_the_lead_timeline_says_who_released_it_when_and_why() -> None:
    alice = RepFactory.create(user__username="alice")
    item = claimed_by(alice)
    at = timezone.now()

    sales.item_release(item_id=item.pk, user=alice.user, reason="Wrong lead", now=at)

    events = timeline.lead_timeline(lead_id=item.lead_id).events
    released = [e for e in events if e.title == "Released to the queue"]
    assert [(e.at, e.detail) for e in released] == [(at, "Wrong lead · by alice")]


@pytest.mark.django_db
def test_the_lead_timeline_names_reps_by_full_name_else_user_name() -> None:
    alice = RepFactory.create(user__username="aball2", user__first_name="Alice", user__last_name="Ball")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    item = claimed_by(alice)
    sales.item_release(item_id=item.pk, user=alice.user, reason="Wrong lead")
    sales.item_claim(item_id=item.pk, user=bob.user)

    events = timeline.lead_timeline(lead_id=item.lead_id).events
    by_title = {(e.title, e.detail) for e in events}
    assert ("Released to the queue", "Wrong lead · by Alice Ball") in by_title
    assert ("Claimed", "by Alice Ball") in by_title
    assert ("Claimed", "by bob") in by_title
    assert [e.detail for e in events if e.source == "queue_item"] == ["now claimed, owner bob"]
    mine = claimed_by(alice)
    events = timeline.lead_timeline(lead_id=mine.lead_id).events
    assert [e.detail for e in events if e.source == "queue_item"] == ["now claimed, owner Alice Ball"]


@pytest.mark.django_db
def test_the_sla_clock_keeps_the_hand_off_time_and_an_escalated_lead_is_not_escalated_again() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.NOTIFY, email="inside@sales.example")
    alice = RepFactory.create(team=team)
    entered = timezone.now() - timedelta(hours=6)
    overdue = claimed_by(alice, entered_at=entered)
    escalated = claimed_by(alice, entered_at=entered, escalated_at=entered + timedelta(hours=4))

    for item in (overdue, escalated):
        sales.item_release(item_id=item.pk, user=alice.user)
        item.refresh_from_db()
        assert item.entered_at == entered

    assert sla.items_escalate_overdue() == 1
    assert list(Outcome.objects.filter(kind=Outcome.Kind.ESCALATED).values_list("item_id", flat=True)) == [overdue.pk]


def released_past_its_sla(*holders: Rep) -> QueueItem:
    """A lead each of ``holders`` claimed and released in turn, 6 hours after it entered a 4-hour SLA."""
    item = claimed_by(holders[0], entered_at=timezone.now() - timedelta(hours=6))
    for holder in holders:
        if holder != holders[0]:
            sales.item_claim(item_id=item.pk, user=holder.user)
        sales.item_release(item_id=item.pk, user=holder.user)
    return item


@pytest.mark.django_db
def test_an_overdue_released_lead_is_not_reassigned_to_the_rep_who_released_it() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN, email="inside@sales.example")
    alice = RepFactory.create(team=team)
    bob = RepFactory.create(team=team)
    Team.objects.filter(pk=team.pk).update(last_rep=bob)  # round robin's next: alice
    released = released_past_its_sla(alice)
    passed_on = released_past_its_sla(alice, bob)  # the last to release it counts

    assert sla.items_escalate_overdue() == 2

    released.refresh_from_db()
    passed_on.refresh_from_db()
    assert (released.owner_id, passed_on.owner_id) == (bob.user_id, alice.user_id)


@pytest.mark.django_db
def test_an_overdue_lead_released_from_the_admin_is_not_reassigned_to_the_rep_who_held_it() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN, email="inside@sales.example")
    alice = RepFactory.create(team=team)
    lena = team_lead_of(team)  # a rep of the team too, who releases alice's leads while she is away
    Rep.objects.filter(user=lena).update(available=False)
    bob = RepFactory.create(team=team)
    Team.objects.filter(pk=team.pk).update(last_rep=bob)  # round robin's next: alice
    item = claimed_by(alice, entered_at=timezone.now() - timedelta(hours=6))
    sales.items_release(held_by={item.pk: alice.user_id}, user=lena)

    assert sla.items_escalate_overdue() == 1

    item.refresh_from_db()
    assert item.owner_id == bob.user_id


@pytest.mark.django_db
def test_the_timeline_of_a_lead_released_from_the_admin_says_who_released_it_and_from_whom() -> None:
    maria = RepFactory.create(user__username="mrep", user__first_name="María", user__last_name="Rep")
    ana = UserFactory.create(username="ana", first_name="Ana", last_name="Admin", is_staff=True, is_superuser=True)
    item = claimed_by(maria)

    sales.items_release(held_by={item.pk: maria.user_id}, user=ana)

    events = timeline.lead_timeline(lead_id=item.lead_id).events
    released = [e.detail for e in events if e.title == "Released to the queue"]
    assert released == ["by Ana Admin from María Rep"]


@pytest.mark.django_db
def test_an_overdue_released_lead_is_not_handed_back_when_its_releaser_alone_has_room() -> None:
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN, email="inside@sales.example")
    alice = RepFactory.create(team=team)
    RepFactory.create(team=team, available=False)
    item = released_past_its_sla(alice)

    assert sla.items_escalate_overdue() == 1

    assert waiting_for_the_team(item)  # for the team lead to decide, not back with alice
    reasons = Outcome.objects.filter(item=item, kind=Outcome.Kind.ESCALATED).values_list("reason", flat=True)
    assert list(reasons) == ["notified inside@sales.example"]


@pytest.fixture
def hot() -> ScoreGroup:
    return ScoreGroupFactory.create(key="hot", name="Hot", min_score=80, leave_below=75)


@pytest.mark.django_db
def test_what_routing_did_on_the_hand_off_is_not_done_again(hot: ScoreGroup) -> None:
    team = TeamFactory.create(name="Inside", assignment=Team.Assignment.QUEUE, email="inside@sales.example")
    alice = RepFactory.create(team=team)
    rule(
        "enters_group",
        {"kind": "route_to_queue", "team": team},
        {"kind": "notify", "team": team, "message": "A hot lead."},
        group=hot,
    )
    lead = LeadFactory.create()
    adjust(lead, 85)
    services.transitions_route(now=T0)
    item = QueueItem.objects.get(lead=lead)
    before = (Notification.objects.count(), ActionRun.objects.count(), GroupTransition.objects.count())
    assert before == (1, 2, 1)

    sales.item_claim(item_id=item.pk, user=alice.user)
    sales.item_release(item_id=item.pk, user=alice.user, reason="Not mine")
    services.transitions_route(now=T0)

    assert (Notification.objects.count(), ActionRun.objects.count(), GroupTransition.objects.count()) == before
    assert QueueItem.objects.filter(lead=lead).count() == 1
    assert waiting_for_the_team(item)


@pytest.mark.django_db
def test_releasing_twice_or_what_is_not_yours_is_refused_with_the_reason_and_changes_nothing() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", user__first_name="Bob", user__last_name="Kahn", team=alice.team)
    item = claimed_by(alice)
    sales.item_release(item_id=item.pk, user=alice.user)

    team = alice.team.name
    with pytest.raises(sales.ActionRefused, match=rf"^This lead is already back in {team}'s queue\.$"):
        sales.item_release(item_id=item.pk, user=alice.user)
    sales.item_claim(item_id=item.pk, user=bob.user)
    with pytest.raises(sales.ActionRefused, match=r"^This lead is not yours: Bob Kahn has it now\.$"):
        sales.item_release(item_id=item.pk, user=alice.user)
    accepted = claimed_by(alice)
    sales.item_act(item_id=accepted.pk, user=alice.user, kind=Outcome.Kind.ACCEPTED)
    with pytest.raises(sales.ActionRefused, match=r"^This lead is accepted: it cannot go back to the queue now\.$"):
        sales.item_release(item_id=accepted.pk, user=alice.user)
    with pytest.raises(sales.InputRefused, match=r"^reason: at most 300 characters \(this has 301\)\.$"):
        sales.item_release(item_id=item.pk, user=bob.user, reason="x" * 301)

    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)
    assert Outcome.objects.filter(kind=Outcome.Kind.RELEASED).count() == 1


@pytest.mark.django_db
def test_a_rep_releases_through_the_page_in_spanish_and_a_second_tab_is_told() -> None:
    alice = RepFactory.create(user__username="alice")
    item = claimed_by(alice)
    client = signed_in(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    team = alice.team.name

    page = client.get(reverse("sales:queue")).content.decode()
    assert reverse("sales:act", args=[item.pk, "release"]) in page
    assert "Devolver a la cola" in page

    said = post(client, item, "release", reason="Me equivoqué de lead")[1]
    assert said == [f"Grace Hopper vuelve a la cola de {team}: cualquier vendedor puede tomarlo."]
    assert post(client, item, "release")[1] == [f"Grace Hopper: Este lead ya está de vuelta en la cola de {team}."]
    assert Outcome.objects.get(kind=Outcome.Kind.RELEASED).reason == "Me equivoqué de lead"


@pytest.mark.django_db
def test_a_reason_too_long_comes_back_in_its_form_and_changes_nothing() -> None:
    alice = RepFactory.create()
    item = claimed_by(alice)
    response, said = post(signed_in(alice), item, "release", reason="x" * 301)
    assert response.status_code == 400
    assert said == ["Grace Hopper: Reason: at most 300 characters (this has 301)."]
    item.refresh_from_db()
    assert item.status == Status.CLAIMED


@pytest.mark.django_db
def test_a_rep_of_another_team_or_without_the_lead_cannot_release_it() -> None:
    alice = RepFactory.create(user__username="alice")
    carol = RepFactory.create(user__username="carol")  # another team
    bob = RepFactory.create(user__username="bob", team=alice.team)
    item = claimed_by(alice)
    url = reverse("sales:act", args=[item.pk, "release"])

    assert signed_in(carol).post(url).status_code == 404
    assert post(signed_in(bob), item, "release")[1] == ["Grace Hopper: This lead is not yours: alice has it now."]
    assert signed_in(alice).get(url).status_code == 405
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.force_login(alice.user)
    assert csrf_checked.post(url).status_code == 403
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, alice.user_id)
    assert not Outcome.objects.filter(kind=Outcome.Kind.RELEASED).exists()


# --- races ---------------------------------------------------------------------------


def release(item: QueueItem, rep: Rep) -> str:
    """``rep`` releases ``item``: "done", or why not."""
    try:
        sales.item_release(item_id=item.pk, user=rep.user)
    except sales.ActionRefused as exc:
        return str(exc)
    return "done"


def claim(item: QueueItem, rep: Rep) -> str:
    try:
        sales.item_claim(item_id=item.pk, user=rep.user)
    except sales.ActionRefused as exc:
        return str(exc)
    return "done"


@pytest.mark.services
def test_two_tabs_releasing_at_once_release_once(postgres: None, transactional_db: None) -> None:
    alice = RepFactory.create(user__username="alice")
    for _ in range(5):
        item = claimed_by(alice)
        results = at_once(
            *[partial(release, item, alice) for _ in range(2)],
            timeout=30,
        )

        assert sorted(results) == sorted(["done", f"This lead is already back in {alice.team.name}'s queue."])
        assert waiting_for_the_team(item)
        assert Outcome.objects.filter(item=item, kind=Outcome.Kind.RELEASED).count() == 1


@pytest.mark.services
def test_a_release_racing_a_claim_leaves_one_story(postgres: None, transactional_db: None) -> None:
    """Alice releases while Bob claims the same lead: whatever the order, the item and its
    outcomes agree, and Bob is never told the lead is "waiting, not waiting" (his claim
    missed it, then read it released)."""
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    for _ in range(5):
        item = claimed_by(alice)
        released, claimed = at_once(
            partial(release, item, alice),
            partial(claim, item, bob),
            timeout=30,
        )

        assert released == "done"
        item.refresh_from_db()
        kinds = list(Outcome.objects.filter(item=item).order_by("pk").values_list("kind", flat=True))
        if claimed == "done":
            assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)
            assert kinds == ["claimed", "released", "claimed"]
        else:
            # Bob's claim came first; once Alice released it, it waits for him to claim again.
            assert claimed == "Already claimed by alice.", claimed
            assert waiting_for_the_team(item)
            assert kinds == ["claimed", "released"]


# --- for a rep who is away: the admin's queue items --------------------------------------


@pytest.mark.django_db
def test_an_administrator_releases_whoever_holds_the_selected_leads_and_leaves_the_rest() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    alices, bobs_assigned = claimed_by(alice), item_in(alice, owner=bob.user)
    accepted = claimed_by(bob)
    sales.item_act(item_id=accepted.pk, user=bob.user, kind=Outcome.Kind.ACCEPTED)
    waiting = item_in(alice)

    said = admin_release(boss, alices, bobs_assigned, accepted, waiting)

    assert said == [
        "2 leads left as they were: they wait for any rep, or are already accepted or closed.",  # on the page
        "2 leads back in their team's queue, for any rep to claim.",
    ]
    assert waiting_for_the_team(alices)
    assert waiting_for_the_team(bobs_assigned)
    accepted.refresh_from_db()
    assert (accepted.status, accepted.owner_id) == (Status.ACCEPTED, bob.user_id)
    released = Outcome.objects.filter(kind=Outcome.Kind.RELEASED)
    assert sorted(released.values_list("item_id", "user_id")) == sorted(
        [(alices.pk, boss.pk), (bobs_assigned.pk, boss.pk)]
    )


def team_lead_of(team: Team) -> User:
    """A rep of ``team`` who leads it, given staff access to read the queue items."""
    lead = RepFactory.create(user__username="lena", user__is_staff=True, team=team).user
    lead.user_permissions.add(Permission.objects.get(codename="view_queueitem"))
    Team.objects.filter(pk=team.pk).update(team_lead=lead)
    return User.objects.get(pk=lead.pk)


CHANGELIST = "admin:routing_queueitem_changelist"


def release_page(client: Client, *items: QueueItem) -> str:
    """The page the admin's release of ``items`` asks to confirm on ("" if it has none)."""
    chosen = [str(item.pk) for item in items]
    response = client.post(reverse(CHANGELIST), {"action": "release", "_selected_action": chosen})
    if response.status_code == 302:
        return ""
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="post" value="yes"' in page, "no confirmation: the list's action acted at once"
    return page


def confirm(client: Client, page: str, reason: str = "") -> Any:
    """Confirm the release on ``page`` as a browser would send its form."""
    form = re.search(r'<form method="post">(.*?)</form>', page, re.S)
    assert form is not None
    sent: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)):
        sent.setdefault(name, []).append(value)
    return client.post(reverse(CHANGELIST), {**sent, "reason": reason}, follow=True)


def said(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def page_notes(page: str) -> list[str]:
    """What the confirmation page says of the selected leads it leaves as they are."""
    return [html.unescape(note) for note in re.findall(r"<p>(\d+ leads? left as (?:it|they) w[^<]*)</p>", page)]


def admin_release(user: User, *items: QueueItem, reason: str = "") -> list[str]:
    """``user`` releases ``items`` from the admin's queue items, confirming the page it asks
    on: what the page and the admin then tell them."""
    client = Client()
    client.force_login(user)
    page = release_page(client, *items)
    if not page:
        response = client.get(reverse(CHANGELIST))
        return said(response)
    response = confirm(client, page, reason)
    assert response.status_code == 200
    return page_notes(page) + said(response)


def release_rows(page: str) -> list[list[str]]:
    """The confirmation page's rows: lead, team, held by, since."""
    table = re.search(r'<table id="release-list">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    ]


@pytest.mark.django_db
def test_the_admin_release_asks_first_showing_each_lead_who_holds_it_and_since_when() -> None:
    alice = RepFactory.create(user__username="aball2", user__first_name="Alice", user__last_name="Ball")
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    claimed = claimed_by(alice, claimed_at=datetime(2027, 3, 1, 9, 30, tzinfo=UTC))
    assigned = item_in(alice, owner=alice.user)
    client = Client()
    client.force_login(boss)

    page = release_page(client, claimed, assigned)

    team = alice.team.name
    assert release_rows(page) == [
        ["Grace Hopper (" + str(claimed.lead) + ")", team, "Alice Ball", "claimed March 1, 2027, 9:30 a.m."],
        ["Grace Hopper (" + str(assigned.lead) + ")", team, "Alice Ball", "assigned by routing, not claimed yet"],
    ]
    claimed.refresh_from_db()
    assigned.refresh_from_db()
    assert (claimed.owner_id, assigned.owner_id) == (alice.user_id, alice.user_id), "nothing released yet"
    assert not Outcome.objects.filter(kind=Outcome.Kind.RELEASED).exists()

    assert said(confirm(client, page, reason="  Alice is on leave until May ")) == [
        "2 leads back in their team's queue, for any rep to claim."
    ]
    assert waiting_for_the_team(claimed)
    assert waiting_for_the_team(assigned)
    kept = Outcome.objects.filter(kind=Outcome.Kind.RELEASED).values_list("user_id", "holder_id", "reason")
    assert list(kept) == [(boss.pk, alice.user_id, "Alice is on leave until May")] * 2


@pytest.mark.django_db
def test_a_lead_whose_holder_changed_after_the_page_was_shown_is_not_released_and_is_named() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", user__first_name="Bob", user__last_name="Kahn", team=alice.team)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    stale = QueueItemFactory.create(lead__first_name="Ada", lead__last_name="Lovelace", team=alice.team)
    sales.item_claim(item_id=stale.pk, user=alice.user)
    still_alices = claimed_by(alice)
    client = Client()
    client.force_login(boss)
    page = release_page(client, stale, still_alices)

    sales.item_release(item_id=stale.pk, user=alice.user)  # alice hands it back and bob claims it
    sales.item_claim(item_id=stale.pk, user=bob.user)
    response = confirm(client, page)

    assert said(response) == [
        "1 lead back in its team's queue, for any rep to claim.",
        "1 lead left as it was: who holds it changed after the page you confirmed (Ada Lovelace, now held by "
        "Bob Kahn). Look at it again before releasing it.",
    ]
    stale.refresh_from_db()
    assert (stale.status, stale.owner_id) == (Status.CLAIMED, bob.user_id)
    assert waiting_for_the_team(still_alices)
    assert list(Outcome.objects.filter(kind=Outcome.Kind.RELEASED, user=boss).values_list("item_id", flat=True)) == [
        still_alices.pk
    ]


@pytest.mark.django_db
def test_the_admin_release_refuses_a_reason_it_cannot_keep_on_its_page_and_releases_nothing() -> None:
    alice = RepFactory.create(user__username="alice")
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    item = claimed_by(alice)
    client = Client()
    client.force_login(boss)

    response = confirm(client, release_page(client, item), reason="x" * 301)

    assert response.status_code == 200
    page = response.content.decode()
    assert "at most 300 characters (this has 301)." in page
    assert 'name="post" value="yes"' in page  # the page again, to say why briefly
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, alice.user_id)
    assert not Outcome.objects.filter(kind=Outcome.Kind.RELEASED).exists()


@pytest.mark.django_db
def test_a_team_lead_releases_their_own_teams_leads_and_not_another_teams() -> None:
    alice = RepFactory.create(user__username="alice")
    carol = RepFactory.create(user__username="carol")  # another team
    lena = team_lead_of(alice.team)
    ours, theirs = claimed_by(alice), claimed_by(carol)
    other_team_lead = UserFactory.create(username="otto", is_staff=True)
    other_team_lead.user_permissions.add(*Permission.objects.filter(codename__in=["view_queueitem", "work_queue"]))
    Team.objects.filter(pk=carol.team_id).update(team_lead=other_team_lead)

    # Another team's lead is not in their list; sent all the same, it is left as it is.
    assert admin_release(lena, ours, theirs) == ["1 lead back in its team's queue, for any rep to claim."]
    assert waiting_for_the_team(ours)
    theirs.refresh_from_db()
    assert (theirs.status, theirs.owner_id) == (Status.CLAIMED, carol.user_id)
    assert list(Outcome.objects.filter(kind=Outcome.Kind.RELEASED).values_list("item_id", flat=True)) == [ours.pk]

    # The team they lead, not being a rep in it, is theirs to release as well.
    assert admin_release(User.objects.get(pk=other_team_lead.pk), theirs)[0] == (
        "1 lead back in its team's queue, for any rep to claim."
    )
    assert waiting_for_the_team(theirs)


@pytest.mark.django_db
def test_who_reads_every_teams_queue_items_releases_only_those_of_their_teams() -> None:
    alice = RepFactory.create(user__username="alice")
    item = claimed_by(alice)
    designer = marketer(username="mara")  # reads every team's items; also works the queue, in no team
    designer.user_permissions.add(Permission.objects.get(codename="work_queue"))

    assert admin_release(User.objects.get(pk=designer.pk), item) == [
        "1 lead left as it was: it is in another team's queue, not one you belong to or lead."
    ]
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, alice.user_id)


@pytest.mark.django_db
def test_a_lead_whose_reps_account_was_deleted_goes_back_to_the_queue_and_can_be_claimed() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    item = claimed_by(alice)
    alice.user.delete()
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, None)
    with pytest.raises(sales.ActionRefused):
        sales.item_claim(item_id=item.pk, user=bob.user)

    assert admin_release(boss, item) == ["1 lead back in its team's queue, for any rep to claim."]

    assert waiting_for_the_team(item)
    sales.item_claim(item_id=item.pk, user=bob.user)
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)


@pytest.mark.django_db
def test_a_claim_that_misses_a_lead_released_in_between_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bob's claim finds the lead still Alice's; she releases it before his claim reads it
    again: he gets it rather than being told it is "waiting, not waiting"."""
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    item = claimed_by(alice)
    real_update = QuerySet.update
    released_in_between: list[int] = []

    def update_then_release(self: QuerySet[Any], **fields: Any) -> int:
        changed = real_update(self, **fields)
        if self.model is QueueItem and fields.get("owner_id") == bob.user_id and not released_in_between:
            released_in_between.append(changed)
            sales.item_release(item_id=item.pk, user=alice.user)
        return changed

    monkeypatch.setattr(QuerySet, "update", update_then_release)
    sales.item_claim(item_id=item.pk, user=bob.user)

    assert released_in_between == [0]
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)
    kinds = list(Outcome.objects.filter(item=item).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["claimed", "released", "claimed"]


@pytest.mark.django_db
def test_a_marketer_reads_the_queue_items_but_cannot_release_them() -> None:
    alice = RepFactory.create()
    item = claimed_by(alice)
    client = Client()
    client.force_login(marketer())

    changelist = reverse("admin:routing_queueitem_changelist")
    assert client.get(changelist).status_code == 200
    assert 'value="release"' not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "release", "_selected_action": [str(item.pk)]})
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, alice.user_id)


def release_for(item: QueueItem, rep: Rep, user: User) -> str:
    """``user`` releases ``item`` for ``rep``, as the admin's page confirmed: "done", or what happened."""
    done = sales.items_release(held_by={item.pk: rep.user_id}, user=user)
    return "done" if done.released == [item.pk] else repr(done)


@pytest.mark.services
def test_an_administrator_and_the_holder_releasing_at_once_release_once(postgres: None, transactional_db: None) -> None:
    alice = RepFactory.create(user__username="alice")
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    for _ in range(5):
        item = claimed_by(alice)
        by_alice, by_boss = at_once(
            partial(release, item, alice),
            partial(release_for, item, alice, boss),
            timeout=30,
        )

        assert (by_alice == "done") != (by_boss == "done"), (by_alice, by_boss)
        assert waiting_for_the_team(item)
        assert Outcome.objects.filter(item=item, kind=Outcome.Kind.RELEASED).count() == 1


@pytest.mark.services
def test_a_confirmed_release_racing_a_new_claim_never_releases_the_new_claim(
    postgres: None, transactional_db: None
) -> None:
    """The page showed Alice holding the lead; she hands it back and Bob claims it while the
    administrator confirms: whatever the order, Bob's claim is never what gets released."""
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)

    def hand_over(item: QueueItem) -> str:
        release(item, alice)  # refused if the administrator's release came first
        return claim(item, bob)

    for _ in range(5):
        item = claimed_by(alice)
        by_boss, by_bob = at_once(partial(release_for, item, alice, boss), partial(hand_over, item), timeout=30)

        item.refresh_from_db()
        holders = set(
            Outcome.objects.filter(item=item, kind=Outcome.Kind.RELEASED, user=boss).values_list("holder_id", flat=True)
        )
        assert holders <= {alice.user_id}, "the administrator released someone else's claim"
        if by_boss == "done":
            assert by_bob != "done" or (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)
        else:
            assert "holder_changed" in by_boss
            assert (item.status, item.owner_id) == (Status.CLAIMED, bob.user_id)


@pytest.mark.django_db(transaction=True)
def test_releases_recorded_before_the_holder_was_kept_still_keep_the_lead_from_who_released_it() -> None:
    """Before an outcome kept who held a released lead, the one who released it is all
    that was known: whenever a rep released their own lead, the holder."""
    team = TeamFactory.create(sla_hours=4, sla_action=Team.SlaAction.REASSIGN)
    alice = RepFactory.create(team=team)
    bob = RepFactory.create(team=team)
    Team.objects.filter(pk=team.pk).update(last_rep=bob)  # round robin's next: alice
    item = item_in(alice, entered_at=timezone.now() - timedelta(hours=6))
    call_command("migrate", "routing", "0019", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO routing_outcome (item_id, lead_id, kind, reason, total_score, user_id, source, at)"
                " VALUES (%s, %s, 'released', '', 0, %s, '', %s)",
                [item.pk, item.lead_id, alice.user_id, timezone.now() - timedelta(hours=1)],
            )
        call_command("migrate", "routing", verbosity=0)

        assert list(Outcome.objects.values_list("user_id", "holder_id")) == [(alice.user_id, alice.user_id)]
        assert sla.items_escalate_overdue() == 1
        item.refresh_from_db()
        assert item.owner_id == bob.user_id
    finally:
        call_command("migrate", verbosity=0)


@pytest.mark.django_db
def test_a_forged_holder_on_the_confirmation_releases_nothing_and_is_no_server_error() -> None:
    """A holder id that is no number ("²" passes str.isdigit) is one the page did not show."""
    alice = RepFactory.create(user__username="alice")
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    item = claimed_by(alice)
    client = Client(raise_request_exception=False)
    client.force_login(boss)
    release_page(client, item)

    form = {"action": "release", "_selected_action": [str(item.pk)], "post": "yes", f"holder_{item.pk}": "²"}
    response = client.post(reverse(CHANGELIST), form, follow=True)

    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.CLAIMED, alice.user_id)


@pytest.mark.django_db
def test_a_name_turning_right_to_left_turns_only_itself_in_the_admin_s_release_message() -> None:
    alice = RepFactory.create(user__username="alice")
    bob = RepFactory.create(user__username="bob", team=alice.team)
    boss = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    item = QueueItemFactory.create(lead__first_name="\u202eadnarF", lead__last_name="", team=alice.team)
    sales.item_claim(item_id=item.pk, user=alice.user)
    client = Client()
    client.force_login(boss)
    page = release_page(client, item)
    sales.item_release(item_id=item.pk, user=alice.user)
    sales.item_claim(item_id=item.pk, user=bob.user)

    [message] = said(confirm(client, page))

    assert "(\u2068\u202eadnarF\u2069, now held by bob)" in message
