"""Logins are throttled per user name and address, on the sales login and the admin's:
after the limit, even the right password is refused for the cool-off, with a page that
says why; other people and other addresses are not affected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.routing.factories import PASSWORD, RepFactory, marketer

pytestmark = pytest.mark.django_db
LIMIT = 3

# (login page, where a successful login lands, a user of that login)
LOGINS = {
    "sales": ("/accounts/login/", "/sales/", lambda name: RepFactory.create(user__username=name).user),
    "admin": ("/admin/login/", "/admin/", lambda name: marketer(username=name)),
}


@pytest.fixture(autouse=True)
def _limit(settings: SettingsWrapper) -> None:
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def log_in(url: str, username: str, password: str, address: str = "198.51.100.7") -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password, "next": ""})
    return client, response


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("login", LOGINS)
def test_after_the_limit_even_the_right_password_is_refused_with_a_page_that_says_why(login: str) -> None:
    url, _, make_user = LOGINS[login]
    make_user("ana")
    for _ in range(LIMIT):
        client, response = log_in(url, "ana", "wrong")
        assert not logged_in(client)
    client, response = log_in(url, "ana", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "paused for 15 minutes" in page
    assert "<strong>ana</strong>" in page


@pytest.mark.parametrize("login", LOGINS)
def test_other_users_and_other_addresses_still_log_in(login: str) -> None:
    url, _, make_user = LOGINS[login]
    make_user("ana")
    make_user("bob")
    for _ in range(LIMIT):
        log_in(url, "ana", "wrong")
    assert logged_in(log_in(url, "bob", PASSWORD)[0])  # same address, another user
    assert logged_in(log_in(url, "ana", PASSWORD, address="203.0.113.9")[0])  # ana elsewhere


@pytest.mark.parametrize("login", LOGINS)
def test_below_the_limit_the_right_password_logs_in_and_starts_the_count_afresh(login: str) -> None:
    url, _, make_user = LOGINS[login]
    make_user("ana")
    for _ in range(LIMIT - 1):
        log_in(url, "ana", "wrong")
    client, response = log_in(url, "ana", PASSWORD)
    assert logged_in(client)
    assert response.status_code == 302
    for _ in range(LIMIT - 1):
        log_in(url, "ana", "wrong")
    assert logged_in(log_in(url, "ana", PASSWORD)[0])


@pytest.mark.parametrize("login", LOGINS)
def test_after_the_cool_off_the_user_logs_in_again(login: str) -> None:
    url, _, make_user = LOGINS[login]
    make_user("ana")
    for _ in range(LIMIT):
        log_in(url, "ana", "wrong")
    assert not logged_in(log_in(url, "ana", PASSWORD)[0])
    # Sixteen minutes pass.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(log_in(url, "ana", PASSWORD)[0])
