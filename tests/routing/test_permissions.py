"""Who may use the sales queue and the admin's rule pages: Sales reps the queue
(their team's leads only), Marketing the admin and no sales actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing.models import QueueItem, Rep, RoutingRule
from scoring import setaside, suppression
from scoring.models import SetAside, SuppressedAddress
from tests.factories import LeadFactory
from tests.routing.factories import PASSWORD, QueueItemFactory, RepFactory, UserFactory, group, marketer

pytestmark = pytest.mark.django_db
Status = QueueItem.Status
ACTIONS = ["accept", "reject", "qualify", "disqualify", "win", "lose"]


def action_urls(item: QueueItem) -> list[str]:
    return [reverse("sales:claim", args=[item.pk])] + [reverse("sales:act", args=[item.pk, v]) for v in ACTIONS]


def waiting(rep: Rep, **kwargs: object) -> QueueItem:
    return QueueItemFactory.create(team=rep.team, entered_at=timezone.now() - timedelta(hours=1), **kwargs)


def test_the_migration_gives_sales_the_queue_and_marketing_the_model() -> None:
    sales, marketing = Group.objects.get(name="Sales"), Group.objects.get(name="Marketing")
    assert list(sales.permissions.values_list("codename", flat=True)) == ["work_queue"]
    codes = set(marketing.permissions.values_list("codename", flat=True))
    assert {"change_routingrule", "view_queueitem", "view_outcome"} <= codes
    assert "work_queue" not in codes
    assert "change_queueitem" not in codes
    # Set-aside rows to look at and retry; the suppression list to keep (never edited).
    assert {"view_setaside", "change_setaside", "delete_setaside"} & codes == {"view_setaside", "change_setaside"}
    suppressed = {"view_suppressedaddress", "add_suppressedaddress", "delete_suppressedaddress"}
    assert suppressed <= codes
    assert "change_suppressedaddress" not in codes


def test_anonymous_visitors_are_sent_to_log_in() -> None:
    rep = RepFactory.create()
    item = waiting(rep)
    client = Client()
    response = client.get(reverse("sales:queue"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/sales/"
    for url in action_urls(item):
        assert client.post(url, {"reason": "x"}).status_code == 302
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.OPEN, None)


def test_a_rep_logs_in_on_the_login_page_and_lands_on_the_queue() -> None:
    rep = RepFactory.create(user__username="alice")
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "Log in" in page.content.decode()
    wrong = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert "Please enter a correct username and password" in wrong.content.decode()
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("sales:queue")
    assert response.context["rep"] == rep


def test_marketers_cannot_see_the_queue_or_act_on_it() -> None:
    rep = RepFactory.create()
    item = waiting(rep)
    client = Client()
    client.force_login(marketer())
    assert client.get(reverse("sales:queue")).status_code == 403
    for url in action_urls(item):
        data = {"reason": "x", **dict.fromkeys(["budget", "authority", "need", "timeline"], "x")}
        assert client.post(url, data).status_code == 403, url
    item.refresh_from_db()
    assert (item.status, item.owner_id) == (Status.OPEN, None)


def test_marketers_edit_routing_rules_in_the_admin() -> None:
    rule = RoutingRule.objects.create(key="r", name="Rule", trigger="disqualified")
    client = Client()
    client.force_login(marketer())
    assert client.get(reverse("admin:routing_routingrule_changelist")).status_code == 200
    assert client.get(reverse("admin:routing_routingrule_change", args=[rule.pk])).status_code == 200


def test_reps_cannot_open_the_admin_rule_pages() -> None:
    rule = RoutingRule.objects.create(key="r", name="Rule", trigger="disqualified")
    client = Client()
    client.force_login(RepFactory.create().user)
    for url in [
        reverse("admin:index"),
        reverse("admin:routing_routingrule_changelist"),
        reverse("admin:routing_routingrule_change", args=[rule.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_a_sales_user_who_is_not_a_rep_is_refused() -> None:
    user = UserFactory.create()
    user.groups.add(group("Sales"))
    client = Client()
    client.force_login(user)
    assert client.get(reverse("sales:queue")).status_code == 403


def test_a_rep_without_the_sales_group_is_refused() -> None:
    rep = RepFactory.create()
    rep.user.groups.clear()
    client = Client()
    client.force_login(rep.user)
    assert client.get(reverse("sales:queue")).status_code == 403


def test_a_rep_sees_and_acts_only_on_their_own_team() -> None:
    alice = RepFactory.create()
    other = RepFactory.create()  # another team
    theirs = waiting(other)
    theirs_assigned_to_alice = waiting(other, owner=alice.user, status=Status.ACCEPTED)
    client = Client()
    client.force_login(alice.user)

    assert client.get(reverse("sales:queue")).context["queue"].rows == []
    for item in (theirs, theirs_assigned_to_alice):
        for url in action_urls(item):
            response = client.post(url, {"reason": "x"})
            assert response.status_code == 404, url
    theirs.refresh_from_db()
    theirs_assigned_to_alice.refresh_from_db()
    assert (theirs.status, theirs.owner_id) == (Status.OPEN, None)
    assert theirs_assigned_to_alice.status == Status.ACCEPTED


def test_the_front_page_sends_reps_to_the_queue_marketers_to_the_overview_and_others_to_the_admin() -> None:
    client = Client()
    assert client.get("/")["Location"] == f"{reverse('login')}?next=/"
    client.force_login(RepFactory.create().user)
    assert client.get("/")["Location"] == reverse("sales:queue")
    client.force_login(marketer())
    assert client.get("/")["Location"] == reverse("reports:overview")


def set_aside_lead_row() -> SetAside:
    """A lead its fit evaluation failed on, set aside as the batch does; the cause is gone."""
    lead = LeadFactory.create(industry="Toys")
    setaside.rows_set_aside(kind="fit", failures=[setaside.Failure(lead.pk, lead.pk, "ValueError", "bad attributes")])
    return SetAside.objects.get(kind="fit", row_id=lead.pk)


def test_marketers_see_and_retry_set_aside_rows() -> None:
    row = set_aside_lead_row()
    client = Client()
    client.force_login(marketer())
    url = reverse("admin:scoring_setaside_changelist")

    listed = client.get(url)
    assert listed.status_code == 200
    assert "ValueError: bad attributes" in listed.content.decode()
    assert 'value="retry"' in listed.content.decode()
    assert client.get(reverse("admin:scoring_setaside_change", args=[row.pk])).status_code == 200
    response = client.post(url, {"action": "retry", "_selected_action": [row.pk]}, follow=True)

    assert "1 row back in its batch: fit evaluated." in response.content.decode()
    row.refresh_from_db()
    assert (row.resolved_at is not None, row.retry_result) == (True, "fit evaluated")


def test_marketers_add_look_up_and_delete_suppressed_addresses() -> None:
    client = Client()
    client.force_login(marketer())

    added = client.post(
        reverse("admin:scoring_suppressedaddress_add"), {"address": "ana@example.com", "reason": "manual"}
    )
    assert added.status_code == 302
    entry = SuppressedAddress.objects.get()
    assert entry.address_hash == suppression.address_hash("ana@example.com")
    found = client.get(reverse("admin:scoring_suppressedaddress_changelist"), {"q": "Ana@Example.com"})
    assert found.status_code == 200
    assert entry.address_hash[:16] in found.content.decode()
    deleted = client.post(reverse("admin:scoring_suppressedaddress_delete", args=[entry.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert not SuppressedAddress.objects.exists()


def test_sales_users_cannot_see_or_retry_set_aside_rows_nor_touch_the_suppression_list() -> None:
    row = set_aside_lead_row()
    suppression.addresses_suppress(addresses=["ana@example.com"], reason=suppression.Reason.MANUAL)
    entry = SuppressedAddress.objects.get()
    rep = RepFactory.create().user
    # A rep given staff by mistake still has only the Sales group's permissions.
    staff_rep = RepFactory.create(user__is_staff=True).user
    pages = [
        reverse("admin:scoring_setaside_changelist"),
        reverse("admin:scoring_setaside_change", args=[row.pk]),
        reverse("admin:scoring_suppressedaddress_changelist"),
        reverse("admin:scoring_suppressedaddress_add"),
        reverse("admin:scoring_suppressedaddress_delete", args=[entry.pk]),
    ]
    for user, refused in [(rep, 302), (staff_rep, 403)]:
        client = Client()
        client.force_login(user)
        for url in pages:
            assert client.get(url).status_code == refused, (user, url)
        client.post(pages[0], {"action": "retry", "_selected_action": [row.pk]})
        client.post(pages[3], {"address": "bo@example.com", "reason": "manual"})
        client.post(pages[4], {"post": "yes"})

    row.refresh_from_db()
    assert row.resolved_at is None
    assert list(SuppressedAddress.objects.values_list("pk", flat=True)) == [entry.pk]


def test_signing_in_from_the_front_page_lands_each_on_their_first_page() -> None:
    # The front page sent everyone not signed in to the admin, and back there after signing in
    # (a rep, not staff, could not even sign in there).
    marketer(username="mia")
    RepFactory.create(user__username="rafa")
    for username, first_page in (("mia", reverse("reports:overview")), ("rafa", reverse("sales:queue"))):
        client = Client()
        sign_in = client.get("/")["Location"]
        landed = client.post(sign_in, {"username": username, "password": PASSWORD}, follow=True)
        assert landed.redirect_chain[-1][0] == first_page, username


def test_the_links_at_the_top_of_a_page_lead_only_where_the_reader_may_go() -> None:
    """A rep sent to a page they may not read (a report's address) is offered their queue at the
    top of it, not the overview and reports that answer them 403 again."""
    rep = RepFactory.create()
    client = Client()
    client.force_login(rep.user)
    page = client.get(reverse("reports:overview"))
    assert page.status_code == 403
    links = re.findall(r'<nav class="topnav">(.*?)</nav>', page.content.decode())[0]
    assert reverse("sales:queue") in links
    assert reverse("reports:overview") not in links
    assert reverse("reports:all") not in links

    reader = marketer()
    client.force_login(reader)
    links = re.findall(r'<nav class="topnav">(.*?)</nav>', client.get(reverse("reports:overview")).content.decode())[0]
    assert reverse("reports:overview") in links
    assert reverse("reports:all") in links
    assert reverse("sales:queue") not in links  # Marketing does not work the queue
