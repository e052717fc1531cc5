"""The sales side of the admin: people named as the queue and the timelines name them (full
name, else user name), and a team lead given admin access sees their own teams' queue
items only."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from routing import sales
from routing.models import Team
from tests.routing.factories import QueueItemFactory, RepFactory, UserFactory

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
