"""The "forgotten your password" form is open to anyone and each post emails the address
it names: posts are counted per address and per email, so nobody can flood a colleague's
inbox (or the mail server) from it."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from tests.routing.factories import RepFactory

pytestmark = pytest.mark.django_db


def ask(email: str, address: str = "198.51.100.7") -> int:
    return Client(REMOTE_ADDR=address).post("/accounts/password_reset/", {"email": email}).status_code


def test_resets_for_one_email_stop_after_the_limit_and_say_when_to_try_again() -> None:
    rep = RepFactory.create(user__email="ana@toys.example")

    answers = [ask("ana@toys.example", address=f"198.51.100.{n}") for n in range(1, 7)]

    assert answers == [302, 302, 302, 429, 429, 429], "3 an hour per email by default, whatever the address"
    assert [m.to for m in mail.outbox] == [[rep.user.email]] * 3
    refused = Client(REMOTE_ADDR="198.51.100.9").post("/accounts/password_reset/", {"email": "ANA@toys.example"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many password resets asked for from here or for this address: try again in" in refused.content.decode()


def test_resets_from_one_address_stop_after_the_limit() -> None:
    emails = [RepFactory.create(user__email=f"rep{n}@toys.example").user.email for n in range(12)]

    answers = [ask(email) for email in emails]

    assert answers == [302] * 10 + [429] * 2, "10 an hour per address by default"
    assert len(mail.outbox) == 10
    assert ask("rep0@toys.example", address="203.0.113.5") == 302, "another address is not affected"


def test_a_rep_invited_who_never_set_a_password_can_ask_for_a_new_link() -> None:
    """A new rep gets a link to set a password; once it is too old, "forgotten your
    password" is the way to a new one. Django's form leaves out people without a password
    (for sites where some sign in another way), so the rep was told to look in an inbox
    that got nothing."""
    user = RepFactory.create(user__email="nuevo@toys.example").user
    user.set_unusable_password()
    user.save(update_fields=["password"])
    gone = RepFactory.create(user__email="ido@toys.example", user__is_active=False).user

    assert ask("Nuevo@toys.example") == 302
    assert ask(gone.email) == 302

    assert [m.to for m in mail.outbox] == [["nuevo@toys.example"]]
    assert "/accounts/reset/" in mail.outbox[0].body
