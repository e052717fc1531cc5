"""API keys and tracked forms moved from scoring to intake: a database made before the move
keeps its keys (they still authenticate), its forms, and the permissions granted on them."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from intake.api_keys import api_key_verify
from intake.models import ApiKey, TrackedForm

BEFORE = [
    ("scoring", "0015_interaction_unscored_concurrently"),
    ("routing", "0007_marketing_set_aside_and_suppression"),
]
UNMOVED = [("intake", None), *BEFORE]  # intake's own migrations undone too
MOVED = ("intake", "0001_initial")
KEY = "lf_0dd0dd00_" + "k" * 43


@pytest.mark.migrations
def test_keys_forms_and_their_permissions_survive_the_move_to_intake(empty_database: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(UNMOVED)
    old = executor.loader.project_state(BEFORE).apps
    old.get_model("scoring", "ApiKey").objects.create(
        name="CRM", prefix="0dd0dd00", key_hash=hashlib.sha256(KEY.encode()).hexdigest(), scopes=["leads:read"]
    )
    old.get_model("scoring", "TrackedForm").objects.create(key="demo", name="Demo", lead_fields=["company"])
    # As routing's migrations grant it.
    marketing, _ = old.get_model("auth", "Group").objects.get_or_create(name="Marketing")
    marketing.permissions.add(
        old.get_model("auth", "Permission").objects.get(
            content_type__app_label="scoring", codename="change_trackedform"
        )
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert api_key_verify(KEY).scopes == ["leads:read"]  # the same row, under intake
    assert ApiKey._meta.db_table == "intake_apikey"
    assert TrackedForm.objects.get(key="demo").lead_fields == ["company"]
    assert not ContentType.objects.filter(app_label="scoring", model__in=["apikey", "trackedform"]).exists()
    marketer = User.objects.create_user("mia", password="pass-1234-word", is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketing"))
    assert User.objects.get(pk=marketer.pk).has_perm("intake.change_trackedform")
    web = Client()
    web.force_login(marketer)
    assert web.get("/admin/intake/trackedform/").status_code == 200


@pytest.mark.migrations
def test_the_move_goes_back_too(empty_database: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([MOVED])
    executor.loader.project_state([MOVED]).apps.get_model("intake", "ApiKey").objects.create(
        name="Web", prefix="beefbeef", key_hash="x" * 64
    )
    executor = MigrationExecutor(connection)
    executor.migrate(UNMOVED)
    old = executor.loader.project_state(BEFORE).apps
    assert old.get_model("scoring", "ApiKey").objects.get().prefix == "beefbeef"
    assert ContentType.objects.filter(app_label="scoring", model="apikey").exists()

    executor = MigrationExecutor(connection)
    executor.migrate([MOVED])
    again = executor.loader.project_state([MOVED]).apps.get_model("intake", "ApiKey")
    assert again.objects.get().prefix == "beefbeef"
