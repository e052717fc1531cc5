"""Giving a group (Marketing, Sales) permissions from a data migration. Django makes a
model's permissions only after the last migration has run, so a migration that grants
them makes them first. Used by the migrations of every app (historical models: ``apps``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

Codenames = list[tuple[str, str]]  # (app label, codename)


def _permissions(apps: Any, codenames: Codenames) -> list[Any]:
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    permission_model = apps.get_model("auth", "Permission")
    found = []
    for app, codename in codenames:
        permission = permission_model.objects.filter(content_type__app_label=app, codename=codename).first()
        if permission is None:
            raise RuntimeError(f"permission {app}.{codename} is missing")
        found.append(permission)
    return found


def grant(apps: Any, group: str, codenames: Codenames) -> None:
    """Give ``group`` (made if missing) the permissions ``codenames``."""
    row, _ = apps.get_model("auth", "Group").objects.get_or_create(name=group)
    row.permissions.add(*_permissions(apps, codenames))


def revoke(apps: Any, group: str, codenames: Codenames) -> None:
    """Take the permissions ``codenames`` back from ``group``, if it exists."""
    row = apps.get_model("auth", "Group").objects.filter(name=group).first()
    if row is not None:
        row.permissions.remove(*_permissions(apps, codenames))


def granting(grants: dict[str, Codenames]) -> migrations.RunPython:
    """The migration operation that gives each group its permissions, and takes them
    back when the migration is undone."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        for group, codenames in grants.items():
            grant(apps, group, codenames)

    def backwards(apps: Any, schema_editor: Any) -> None:
        for group, codenames in grants.items():
            revoke(apps, group, codenames)

    return migrations.RunPython(forwards, backwards)
