"""The sales side of the admin: people named as the queue and the timelines name them (full
name, else user name), and a team lead given admin access sees their own teams' queue
items only."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from routing import sales
from routing.models import Team
from tests.routing.factories import QueueItemFactory, RepFactory, TeamFactory, UserFactory, marketer

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
    return re.sub(r"<[^>]+>", " ", table.group(0))


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
