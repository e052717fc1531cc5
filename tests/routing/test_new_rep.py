"""A rep made in one step in the admin: the person's account (name, email, a password now
or an invitation by email), the Sales group, the team and the capacity; then the rep
signs in to the sales queue."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from routing.models import Rep, Team
from tests.nurture.conftest import Sink
from tests.routing.factories import UserFactory, group, marketer

pytestmark = pytest.mark.django_db

ADD = "admin:routing_rep_add"
STRONG = "Blue-Kite-Harbour-42"


@pytest.fixture
def team() -> Team:
    group("Sales")  # as the migrations make it (a transactional test's flush removes it)
    return Team.objects.create(key="shoppers", name="Personal shoppers")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def new_rep(team: Team, /, **changes: str) -> dict[str, str]:
    data = {
        "username": "rosa",
        "first_name": "Rosa",
        "last_name": "Quirós",
        "email": "rosa@toys.example",
        "access": "password",
        "password1": STRONG,
        "password2": STRONG,
        "team": str(team.pk),
        "capacity": "12",
        "available": "on",
    }
    data.update(changes)
    return data


def test_one_form_makes_the_account_the_group_and_the_rep(admin_client: Client, team: Team) -> None:
    response = admin_client.post(reverse(ADD), new_rep(team))
    assert response.status_code == 302, response.context and response.context["errors"]

    rep = Rep.objects.select_related("user", "team").get()
    user = rep.user
    assert (user.username, user.get_full_name(), user.email) == ("rosa", "Rosa Quirós", "rosa@toys.example")
    assert (rep.team, rep.capacity, rep.available) == (team, 12, True)
    assert list(user.groups.values_list("name", flat=True)) == ["Sales"]
    assert not user.is_staff
    assert not user.is_superuser

    # The rep signs in with that password and works the queue; the admin stays closed.
    rep_client = Client()
    login = rep_client.post(reverse("login"), {"username": "rosa", "password": STRONG})
    assert login.status_code == 302
    assert rep_client.get(reverse("sales:queue")).status_code == 200
    assert rep_client.get(reverse("admin:index")).status_code == 302


def test_every_problem_is_shown_at_once_and_nothing_is_made(admin_client: Client, team: Team) -> None:
    UserFactory.create(username="Rosa")
    data = new_rep(team, email="not-an-email", password1="rosa", password2="rosa", capacity="-1", team="")
    response = admin_client.post(reverse(ADD), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["username"] == ["There is already a user named rosa."]
    assert errors["email"] == ["Enter a valid email address."]
    assert errors["team"] == ["This field is required."]
    assert errors["capacity"] == ["Ensure this value is greater than or equal to 0."]
    assert "This password is too short. It must contain at least 8 characters." in errors["password1"]
    assert "The password is too similar to the username." in errors["password1"]
    assert not Rep.objects.exists()
    assert not User.objects.filter(email="not-an-email").exists()

    response = admin_client.post(reverse(ADD), new_rep(team, username="rosa2", password2="something-else-1"))
    assert response.context["adminform"].form.errors == {"password2": ["The two passwords differ."]}
    response = admin_client.post(reverse(ADD), new_rep(team, username="rosa2", password1="", password2=""))
    assert response.context["adminform"].form.errors == {
        "password1": ["Give the password, or choose to send an invitation."]
    }
    assert not Rep.objects.exists()


def test_an_invitation_lets_the_rep_set_a_password(admin_client: Client, team: Team, smtp: Sink, settings: Any) -> None:
    settings.LEADFLOW_PUBLIC_URL = "https://leadflow.example"
    response = admin_client.post(reverse(ADD), new_rep(team, access="invite", password1="", password2=""), follow=True)
    assert "An invitation to set a password went to rosa@toys.example." in response.content.decode()
    user = User.objects.get(username="rosa")
    assert not user.has_usable_password()
    assert Rep.objects.filter(user=user, team=team).exists()

    [message] = smtp.to("rosa@toys.example")
    assert message["Subject"] == "Your Leadflow sales queue account"
    body = message.get_content()
    assert "Personal shoppers" in body
    assert "Your user name is rosa." in body
    link = re.search(r"https://leadflow\.example(/accounts/reset/\S+/)", body)
    assert link is not None, body

    # The person follows the link and sets a password, then signs in.
    person = Client()
    form_page = person.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1)
    done = person.post(set_url, {"new_password1": STRONG, "new_password2": STRONG})
    assert done.status_code == 302
    assert person.post(reverse("login"), {"username": "rosa", "password": STRONG}).status_code == 302
    assert person.get(reverse("sales:queue")).status_code == 200
    # The link works once.
    assert "invalid" in Client().get(link.group(1), follow=True).content.decode().lower()


def test_a_refused_invitation_leaves_the_rep_and_says_how_to_send_it_again(
    admin_client: Client, team: Team, smtp: Sink
) -> None:
    smtp.rcpt_replies["rosa@toys.example"] = "450 mailbox busy"
    response = admin_client.post(reverse(ADD), new_rep(team, access="invite", password1="", password2=""), follow=True)
    page = response.content.decode()
    assert "The rep rosa was added, but the invitation was not sent" in page
    assert "the mail server refused rosa@toys.example: 450 mailbox busy" in page
    assert "Send an invitation to set a password" in page
    rep = Rep.objects.get()
    assert smtp.to("rosa@toys.example") == []

    del smtp.rcpt_replies["rosa@toys.example"]
    response = admin_client.post(
        reverse("admin:routing_rep_changelist"),
        {"action": "send_invitation", "_selected_action": [str(rep.pk)]},
        follow=True,
    )
    assert "Invitation sent to rosa." in response.content.decode()
    assert len(smtp.to("rosa@toys.example")) == 1


def test_someone_who_may_not_add_users_adds_reps_for_existing_users_only(team: Team) -> None:
    person = marketer(username="mia")
    client = Client()
    client.force_login(person)
    page = client.get(reverse(ADD)).content.decode()
    assert 'name="user"' in page
    assert 'name="username"' not in page
    # The account fields sent anyway make no account.
    response = client.post(reverse(ADD), new_rep(team))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["user"] == ["This field is required."]
    assert not User.objects.filter(username="rosa").exists()

    # Given the right to add users, the same person gets the one-step form.
    person.user_permissions.add(Permission.objects.get(codename="add_user", content_type__app_label="auth"))
    client.force_login(User.objects.get(pk=person.pk))
    assert 'name="username"' in client.get(reverse(ADD)).content.decode()
    assert client.post(reverse(ADD), new_rep(team)).status_code == 302
    assert Rep.objects.get().user.username == "rosa"
