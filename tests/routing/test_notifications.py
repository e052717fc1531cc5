"""Notification emails go out at most once, through a real SMTP server on loopback:
claimed and committed before sending, confirmed after, "unknown" (never re-sent)
when the sender stopped in between, and resolved by a person in the admin."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import Group
from django.core.mail.backends.smtp import EmailBackend
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from routing import services
from routing.models import Notification
from routing.services import notifications
from tests.conftest import at_once
from tests.nurture.conftest import Sink
from tests.routing.factories import marketer

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ADDRESSES = ["first@sales.example", "second@sales.example", "third@sales.example"]


def outbox(*addresses: str) -> list[Notification]:
    return [Notification.objects.create(to=[a], subject=f"Lead for {a}", body="Call them.") for a in addresses]


def statuses() -> dict[str, str]:
    return {note.to[0]: note.status for note in Notification.objects.all()}


def received(smtp: Sink) -> Counter[str]:
    return Counter(str(m["To"]) for m in smtp.messages)


def fail_on(monkeypatch: pytest.MonkeyPatch, address: str, error: BaseException) -> None:
    """The SMTP connection raises ``error`` when given the message to ``address``
    (after it was handed over: the server may or may not have it)."""
    real_send = EmailBackend.send_messages

    def send(self: EmailBackend, messages: Any) -> int:
        if messages[0].to == [address]:
            raise error
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send)


@pytest.mark.django_db
def test_each_notification_goes_once_and_is_recorded_sent(smtp: Sink) -> None:
    outbox(*ADDRESSES)

    assert services.notifications_send(now=T0) == 3
    assert services.notifications_send(now=T0) == 0
    assert services.notifications_send(now=T0 + timedelta(days=1)) == 0

    assert received(smtp) == dict.fromkeys(ADDRESSES, 1)
    for note in Notification.objects.all():
        assert (note.status, note.sent_at, note.claimed_at, note.attempts, note.error) == ("sent", T0, T0, 1, "")


@pytest.mark.django_db
def test_a_time_limit_mid_batch_never_sends_again_what_went_out(smtp: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error other than OSError stops the batch: what went out stays sent, the one in
    flight is left to the lease (then unknown), those not handed over go next time."""
    outbox(*ADDRESSES)
    fail_on(monkeypatch, "second@sales.example", SoftTimeLimitExceeded())

    with pytest.raises(SoftTimeLimitExceeded):
        services.notifications_send(now=T0)
    monkeypatch.undo()

    assert statuses() == {
        "first@sales.example": "sent",
        "second@sales.example": "sending",
        "third@sales.example": "pending",
    }
    assert services.notifications_send(now=T0 + MINUTE) == 1
    assert services.notifications_send(now=T0 + services.notification_lease() + MINUTE) == 0
    assert statuses() == {
        "first@sales.example": "sent",
        "second@sales.example": "unknown",
        "third@sales.example": "sent",
    }
    assert received(smtp) == {"first@sales.example": 1, "third@sales.example": 1}


@pytest.mark.django_db
def test_an_unforeseen_error_while_sending_marks_that_one_unknown_and_the_batch_goes_on(
    smtp: Sink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    outbox(*ADDRESSES)
    fail_on(monkeypatch, "second@sales.example", RuntimeError("the connection's state is broken"))

    with caplog.at_level(logging.ERROR, logger="routing.services"):
        assert services.notifications_send(now=T0) == 2
    monkeypatch.undo()

    assert statuses()["second@sales.example"] == "unknown"
    second = Notification.objects.get(status="unknown")
    assert second.error == "sending failed unexpectedly: RuntimeError: the connection's state is broken"
    assert "sending failed unexpectedly" in caplog.text
    assert services.notifications_send(now=T0 + timedelta(days=1)) == 0
    assert received(smtp) == {"first@sales.example": 1, "third@sales.example": 1}


@pytest.mark.django_db
def test_a_refused_notification_goes_back_to_the_outbox_with_the_servers_answer(smtp: Sink) -> None:
    outbox(*ADDRESSES)
    smtp.rcpt_replies["second@sales.example"] = "451 4.3.0 try again later"

    assert services.notifications_send(now=T0) == 2
    second = Notification.objects.get(to=["second@sales.example"])
    assert second.status == "pending"
    assert "451" in second.error

    smtp.rcpt_replies.clear()
    assert services.notifications_send(now=T0 + MINUTE) == 1
    second.refresh_from_db()
    assert (second.status, second.attempts, second.error) == ("sent", 2, "")
    assert received(smtp) == dict.fromkeys(ADDRESSES, 1)


@pytest.mark.django_db
def test_a_crash_after_sending_before_confirming_gives_unknown_not_a_second_mail(
    smtp: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    (note,) = outbox("ana@sales.example")
    # Claimed (committed) and sent; then the process dies before confirming.
    claimed = notifications.notifications_claim(now=T0, limit=10)
    notifications.notifications_deliver(claimed)
    assert received(smtp) == {"ana@sales.example": 1}
    lease = services.notification_lease()

    assert services.notifications_send(now=T0 + lease - MINUTE) == 0, "still the dead sender's"
    note.refresh_from_db()
    assert note.status == "sending"
    with caplog.at_level(logging.WARNING, logger="routing.services"):
        assert services.notifications_send(now=T0 + lease + MINUTE) == 0

    note.refresh_from_db()
    assert (note.status, note.sent_at) == ("unknown", None)
    assert "not sent again" in note.error
    assert "marked unknown, not re-sent" in caplog.text
    assert services.notifications_send(now=T0 + timedelta(days=1)) == 0
    assert received(smtp) == {"ana@sales.example": 1}, "never a second mail"


@pytest.mark.django_db
def test_a_marketer_finds_unknown_notifications_in_the_admin_and_resolves_them(smtp: Sink) -> None:
    delivered, lost = outbox("delivered@sales.example", "lost@sales.example")
    Notification.objects.filter(pk__in=[delivered.pk, lost.pk]).update(status="unknown", claimed_at=T0, attempts=1)
    Notification.objects.create(to=["done@sales.example"], subject="Done", body=".", status="sent", sent_at=T0)
    client = Client()
    client.force_login(marketer())
    changelist = reverse("admin:routing_notification_changelist")

    page = client.get(changelist, {"status__exact": "unknown"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "delivered@sales.example" in text
    assert "lost@sales.example" in text
    assert "done@sales.example" not in text
    assert "check the mail server&#x27;s log" in text

    # The mail server's log shows the first arrived and the second did not.
    client.post(changelist, {"action": "mark_sent", "_selected_action": [delivered.pk]})
    client.post(changelist, {"action": "send_again", "_selected_action": [lost.pk]})
    delivered.refresh_from_db()
    assert (delivered.status, delivered.sent_at) == ("sent", T0)
    assert Notification.objects.get(pk=lost.pk).status == "pending"

    assert services.notifications_send(now=T0 + timedelta(days=1)) == 1
    assert received(smtp) == {"lost@sales.example": 1}
    assert not Notification.objects.exclude(status="sent").exists()


def test_two_senders_at_once_send_each_notification_once(postgres: None, transactional_db: None, smtp: Sink) -> None:
    Notification.objects.bulk_create(
        Notification(to=[f"rep{n}@sales.example"], subject=f"Lead {n}", body="Call them.") for n in range(300)
    )

    def sender() -> int:
        total = 0
        while sent := services.notifications_send(now=T0, limit=7):
            total += sent
        return total

    a, b = at_once(sender, sender)

    assert a + b == 300
    assert a > 0
    assert b > 0, "both senders worked at the same time"
    counts = received(smtp)
    assert len(counts) == 300
    assert set(counts.values()) == {1}, "nobody got one twice"
    assert Notification.objects.filter(status="sent").count() == 300


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_notifications_sent_before_as_sent(smtp: Sink) -> None:
    """Upgrading must not send the whole history again: what had a sent_at is "sent"."""
    call_command("migrate", "routing", "0007", verbosity=0)
    try:
        with connection.cursor() as cursor:
            for address, sent_at in (("old@sales.example", T0), ("waiting@sales.example", None)):
                cursor.execute(
                    'INSERT INTO routing_notification ("to", subject, body, created_at, sent_at, error)'
                    " VALUES (%s, 'Lead', 'Call them.', %s, %s, '')",
                    [json.dumps([address]), T0, sent_at],
                )
        call_command("migrate", "routing", verbosity=0)

        assert statuses() == {"old@sales.example": "sent", "waiting@sales.example": "pending"}
        assert services.notifications_send(now=T0 + MINUTE) == 1
        assert received(smtp) == {"waiting@sales.example": 1}
        marketing = Group.objects.get(name="Marketing")
        assert marketing.permissions.filter(codename="change_notification").exists(), "marketers resolve unknowns"
    finally:
        # Every app's: undoing routing's migrations undid those that come after them.
        call_command("migrate", verbosity=0)
