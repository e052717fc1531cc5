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
    # The way to a new password, as on the sign-in page.
    assert '<a href="/accounts/password_reset/">Forgotten your password?</a>' in page


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


PROXY = "10.0.0.2"


def via_proxy(url: str, username: str, password: str, forwarded_for: str) -> tuple[Client, Any]:
    """A login through one reverse proxy: it connects itself and appends the client's address."""
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)
    response = client.post(url, {"username": username, "password": password, "next": ""})
    return client, response


@pytest.mark.parametrize("login", LOGINS)
def test_behind_a_proxy_logins_are_counted_by_the_address_the_proxy_saw(login: str, settings: SettingsWrapper) -> None:
    settings.LEADFLOW_TRUSTED_PROXY_COUNT = 1
    url, _, make_user = LOGINS[login]
    make_user("ana")
    # Whatever the client puts in front of the header, the proxy's entry is the one counted.
    for n in range(LIMIT):
        via_proxy(url, "ana", "wrong", f"192.0.2.{n}, 198.51.100.7")

    assert not logged_in(via_proxy(url, "ana", PASSWORD, "203.0.113.50, 198.51.100.7")[0])
    # Ana from another address, through the same proxy, is not locked out with the guesser.
    assert logged_in(via_proxy(url, "ana", PASSWORD, "203.0.113.9")[0])
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


@pytest.mark.parametrize("login", LOGINS)
def test_an_ipv6_client_is_counted_by_its_64_as_tracking_counts_it(login: str) -> None:
    url, _, make_user = LOGINS[login]
    make_user("ana")
    # One subscriber's /64 holds more addresses than anyone could try: they count as one.
    for n in range(LIMIT):
        log_in(url, "ana", "wrong", address=f"2001:db8:1:2::{n + 1}")

    assert not logged_in(log_in(url, "ana", PASSWORD, address="2001:db8:1:2:ffff::9")[0])
    assert logged_in(log_in(url, "ana", PASSWORD, address="2001:db8:1:3::1")[0])


@pytest.mark.parametrize("login", LOGINS)
def test_ipv4_clients_of_a_dual_stack_server_are_counted_each_by_its_own_address(
    login: str, settings: SettingsWrapper
) -> None:
    # A server listening on IPv6 and IPv4 at once (gunicorn -b [::]:8000) sees an IPv4
    # client as ::ffff:198.51.100.7; the /64 of that is "::" for every IPv4 client, so one
    # guesser paused every IPv4 address's logins (and forms, pixels and beacons).
    settings.LEADFLOW_RATE_LIMITS = {**settings.LEADFLOW_RATE_LIMITS, "login": {"ip": ["4/h"]}}
    url, _, make_user = LOGINS[login]
    make_user("ana")
    for name in ["bo", "cy", "di", "ed"]:
        log_in(url, name, "Summer2026!", address="::ffff:198.51.100.7")

    assert log_in(url, "ana", PASSWORD, address="::ffff:198.51.100.7")[1].status_code == 429
    assert log_in(url, "ana", PASSWORD, address="198.51.100.7")[1].status_code == 429, "the same client either way"
    assert logged_in(log_in(url, "ana", PASSWORD, address="::ffff:203.0.113.9")[0])


@pytest.mark.parametrize("login", LOGINS)
def test_an_address_trying_a_password_on_many_names_is_paused(login: str, settings: SettingsWrapper) -> None:
    """Password spraying: one failure per name stays under each name's limit, so the
    address's failures are counted too, whatever the names."""
    settings.LEADFLOW_RATE_LIMITS = {**settings.LEADFLOW_RATE_LIMITS, "login": {"ip": ["4/h"]}}
    url, _, make_user = LOGINS[login]
    make_user("ana")
    for name in ["bo", "cy", "di", "ed"]:
        assert log_in(url, name, "Summer2026!")[1].status_code == 200

    client, response = log_in(url, "ana", PASSWORD)

    assert response.status_code == 429
    assert not logged_in(client)
    assert int(response["Retry-After"]) > 0
    assert "Too many logins failed from your address lately" in response.content.decode()
    # Another address logs in; the paused one's right password did not clear its count.
    client, response = log_in(url, "ana", PASSWORD, address="203.0.113.9")
    assert logged_in(client)
    assert log_in(url, "ana", PASSWORD)[1].status_code == 429
