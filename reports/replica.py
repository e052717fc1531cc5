"""Reports read from a replica of the database when one is configured
(``LEADFLOW_REPORTS_DATABASE_URL``, which names the alias in
``settings.LEADFLOW_REPORTS_DATABASE``).

The report views run inside :func:`reading`; while it lasts, the router sends every read
of the ORM to the replica and :func:`alias` names it for the reports' own SQL. Writes go
to ``default`` always, inside a report view or not, so a row read from the replica and
saved goes to the primary. Outside a report view (the nightly roll-ups, scoring, the
admin) nothing changes. With no replica configured, :func:`alias` is ``default`` and the
router is not installed."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models

_reading: ContextVar[bool] = ContextVar("leadflow_reports_reading", default=False)

F = TypeVar("F", bound=Callable[..., Any])


def replica() -> str | None:
    """The replica's alias, or None when reports read the primary."""
    found: str | None = getattr(settings, "LEADFLOW_REPORTS_DATABASE", None)
    return found


def alias() -> str:
    """The database the reports' own SQL reads: the replica inside a report view when one
    is configured, else ``default`` (the nightly roll-ups call the same queries)."""
    return (replica() or DEFAULT_DB_ALIAS) if _reading.get() else DEFAULT_DB_ALIAS


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Reads inside go to the replica (when there is one)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_replica(view: F) -> F:
    """Run the view inside :func:`reading`."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with reading():
            return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


class ReportsReplicaRouter:
    """Installed only when a replica is configured (project/settings.py)."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return replica() if _reading.get() else None

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str | None:
        # Explicitly: without it Django writes an instance back where it was read from.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: a row read there may point at one read here.
        same = {DEFAULT_DB_ALIAS, replica()}
        return True if obj1._state.db in same and obj2._state.db in same else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        # The replica follows the primary's schema; it is never migrated itself.
        return False if db == replica() else None
