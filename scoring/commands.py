"""What Leadflow's management commands share."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils.translation import gettext


class LeadflowCommand(BaseCommand):
    """A command of Leadflow's. Run on a database never migrated (a newcomer's first try,
    before `migrate`), it says what to do instead of failing with the database's own
    "no such table" and a traceback."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except DatabaseError:
            if _migrated():
                raise
            # In the site's language (LEADFLOW_LANGUAGE), as a command's gettext speaks.
            raise CommandError(
                gettext("The database has no tables yet: run `python manage.py migrate` first.")
            ) from None


def _migrated() -> bool:
    """Whether `migrate` ever ran on the database (its record of migrations exists); a
    database that cannot be asked counts as migrated, so its own error is the one shown."""
    try:
        return MigrationRecorder(connection).has_table()
    except DatabaseError:
        return True
