"""Webhook secrets are encrypted at rest (a key derived from SECRET_KEY, which may
be rotated with SECRET_KEY_FALLBACKS), and write-only in the admin: never shown
back, a blank field keeps the stored one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from routing import encryption, services, webhooks
from routing.models import RoutingAction, RoutingRule, WebhookAttempt, WebhookDelivery
from scoring.database import database_url
from tests.conftest import ROOT
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.routing.conftest import WebhookReceiver
from tests.routing.factories import adjust, marketer, rule

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
SECRET = "s3cret-shared-with-the-crm"
OLD_KEY = "the-key-before-the-rotation-" + "x" * 30
NEW_KEY = "the-key-after-the-rotation-" + "y" * 30


def actions_formset(response: Any) -> Any:
    """The rule page's actions (beside its conditions)."""
    return next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "actions")


def stored(action: RoutingAction) -> str:
    """What the database holds in the secret column, read past the model."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM routing_routingaction WHERE id = %s", [action.pk])
        return str(cursor.fetchone()[0])


def webhook_action(**fields: Any) -> RoutingAction:
    made = RoutingRule.objects.create(key="crm", name="CRM", trigger="qualified")
    return RoutingAction.objects.create(
        rule=made, kind="webhook", url="https://crm.example/hook", secret=SECRET, **fields
    )


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted_and_read_back_plain() -> None:
    action = webhook_action()

    raw = stored(action)
    assert SECRET not in raw
    assert encryption.decrypt(raw) == SECRET
    assert RoutingAction.objects.get(pk=action.pk).secret == SECRET
    action.save()
    assert stored(action) != raw  # a fresh token on each save


@pytest.mark.django_db
def test_secrets_survive_a_key_rotation_with_the_old_key_as_a_fallback(settings: Any) -> None:
    settings.SECRET_KEY = OLD_KEY
    action = webhook_action()

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    reread = RoutingAction.objects.get(pk=action.pk)
    assert reread.secret == SECRET
    reread.save()  # saved again: encrypted with the new key

    settings.SECRET_KEY_FALLBACKS = []
    assert RoutingAction.objects.get(pk=action.pk).secret == SECRET


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_process_started_after_a_rotation_reads_the_secret_with_the_fallback_from_its_environment(
    postgres: None, settings: Any
) -> None:
    settings.SECRET_KEY = OLD_KEY
    webhook_action()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SECRET_KEY": NEW_KEY,
        "DJANGO_SECRET_KEY_FALLBACKS": f"another-old-key-{'z' * 40},{OLD_KEY}",
    }
    read = "from routing.models import RoutingAction; print(RoutingAction.objects.get().secret)"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", read],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == SECRET


@pytest.mark.django_db
def test_a_secret_no_key_can_read_fails_its_deliveries_for_good_with_the_reason(
    settings: Any, webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SECRET_KEY = OLD_KEY
    hot = ScoreGroupFactory.create(key="hot", name="Hot", min_score=80)
    rule("enters_group", {"kind": "webhook", "url": webhook_receiver.url, "secret": SECRET}, group=hot)
    adjust(LeadFactory.create(), 85)
    services.transitions_route(now=T0)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, []  # the old key was dropped

    with caplog.at_level(logging.ERROR, logger="routing.encryption"):
        summary = webhooks.webhooks_deliver_due(now=T0)

    assert (summary.delivered, summary.failed) == (0, 1)
    assert webhook_receiver.requests == []  # never signed with an empty secret
    assert WebhookAttempt.objects.get().error.startswith("No secret: ")
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.FAILED
    assert "cannot be decrypted" in caplog.text


# --- the admin ---------------------------------------------------------------------------------


def change_form(action: RoutingAction, secret: str, **changes: str) -> dict[str, str]:
    made = action.rule
    return {
        "name": made.name,
        "key": made.key,
        "active": "on",
        "position": "0",
        "trigger": made.trigger,
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "1",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-id": str(action.pk),
        "actions-0-rule": str(made.pk),
        "actions-0-position": "0",
        "actions-0-kind": "webhook",
        "actions-0-url": action.url,
        "actions-0-secret": secret,
        **changes,
    }


@pytest.mark.django_db
def test_the_admin_never_shows_the_secret_and_a_blank_field_keeps_it() -> None:
    action = webhook_action()
    client = Client()
    client.force_login(marketer())
    url = reverse("admin:routing_routingrule_change", args=[action.rule_id])

    page = client.get(url).content.decode()
    assert SECRET not in page
    assert stored(action) not in page
    assert 'name="actions-0-secret"' in page
    assert "A secret is set" in page

    # Another field changed, the secret left blank: kept.
    response = client.post(url, change_form(action, "", **{"actions-0-url": "https://crm.example/v2"}))
    assert response.status_code == 302
    action.refresh_from_db()
    assert (action.url, action.secret) == ("https://crm.example/v2", SECRET)

    # A new one typed in: replaced.
    assert client.post(url, change_form(action, "a-new-secret")).status_code == 302
    action.refresh_from_db()
    assert action.secret == "a-new-secret"
    assert "a-new-secret" not in client.get(url).content.decode()


@pytest.mark.django_db
def test_a_new_webhook_in_the_admin_needs_its_secret() -> None:
    client = Client()
    client.force_login(marketer())
    data = {
        "name": "CRM sync",
        "key": "crm-sync",
        "active": "on",
        "position": "0",
        "trigger": "qualified",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-position": "0",
        "actions-0-kind": "webhook",
        "actions-0-url": "https://crm.example/hook",
        "actions-0-secret": "",
    }
    response = client.post(reverse("admin:routing_routingrule_add"), data)
    assert response.status_code == 200
    [errors] = actions_formset(response).errors
    assert errors["secret"] == ["Give a secret: the receiver checks the signature with it."]
    assert not RoutingRule.objects.exists()


# --- the data migration -------------------------------------------------------------------------


@pytest.mark.migrations
def test_the_migration_encrypts_the_secrets_already_stored_and_undoing_it_decrypts_them(empty_database: None) -> None:
    call_command("migrate", "routing", "0005", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO routing_routingrule (key, name, active, position, trigger, stage, conditions)"
            " VALUES ('crm', 'CRM', true, 0, 'qualified', '', '[]') RETURNING id"
        )
        rule_id = cursor.fetchone()[0]
        for position, secret in enumerate([SECRET, ""]):
            cursor.execute(
                "INSERT INTO routing_routingaction (rule_id, position, kind, stage, tag, url, secret, message)"
                " VALUES (%s, %s, 'webhook', '', '', 'https://crm.example/hook', %s, '')",
                [rule_id, position, secret],
            )
    call_command("migrate", "routing", verbosity=0)

    first, second = RoutingAction.objects.order_by("position")
    assert (first.secret, second.secret) == (SECRET, "")
    assert SECRET not in stored(first)
    assert encryption.decrypt(stored(first)) == SECRET
    assert stored(second) == ""

    call_command("migrate", "routing", "0005", verbosity=0)
    assert stored(first) == SECRET
