"""Rows a batch cannot process are set aside with their error; the rest of the batch goes on.

Every batch (scoring, fit, rescore, decay, routing, nurture) first runs as it
always did: one transaction, no savepoint, no extra statement (:func:`batch_run`).
Only when that raises does it call :func:`rows_isolate` in a new transaction, on rows claimed
again (``SKIP LOCKED``, so two workers never both take one): they are
processed in parts, each in a savepoint, and a part that fails is split in two
until the rows that fail alone are found. Those are recorded
(:class:`~scoring.models.SetAside`, written only here) and leave their batch's
way, each batch saying how (an interaction is flagged, an event marked
processed, an enrollment stops being due…); every other row is processed as if
they were not there.

Errors that may pass (the database went away, a deadlock, a lock or statement
timeout, a task's time limit) are nobody's row's fault: they are raised, and
the batch runs again whole later.

Each kind of row registers how to retry it (:func:`register_kind`, from the
module that owns the batch); the admin's "Retry" calls :func:`rows_retry`,
which puts the rows back into their batch's way and records what happened: as a
sentence (:mod:`scoring.said`) where the kind says it so, shown in the reader's language.
"""

from __future__ import annotations

import logging
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from scoring import sentences
from scoring.models import SetAside
from scoring.said import Said, said

logger = logging.getLogger(__name__)

R = TypeVar("R")

# Errors that say nothing about the rows being processed: retried whole, never set aside.
# Django's database errors cover scoring.bulk's statements too (they run in Django's cursor wrapper).
_TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,  # connection lost, deadlock, serialization failure, lock or statement timeout
    InterfaceError,
    SoftTimeLimitExceeded,
    TimeLimitExceeded,
)

_MESSAGE_CHARS = 2000
_TRACEBACK_CHARS = 4000


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may pass by itself, so the batch should be retried rather than split."""
    return isinstance(exc, _TRANSIENT)


# --- kinds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of row some batch may set aside.

    ``retry`` gets row ids, puts them back into their batch's way (processing
    them at once where the batch is cheap) and says per row what it did (a
    :class:`~scoring.said.Said`, shown in the reader's language; English text is
    shown as it is); a row that fails again is set aside again by the batch itself.
    """

    name: str
    label: str  # marked with gettext_noop, shown in the reader's language
    retry: Callable[[list[int]], Mapping[int, str | Said]]
    row_admin: str = ""  # admin URL name of the row's change page, if it has one


_KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> None:
    """Register a kind (from the module that owns its batch, at import)."""
    _KINDS[kind.name] = kind


def kinds() -> dict[str, Kind]:
    return dict(_KINDS)


# --- setting rows aside ----------------------------------------------------------------


def _text(value: str, limit: int, *, keep_end: bool = False) -> str:
    """``value`` as PostgreSQL text takes it (no NUL, no lone surrogate), at most ``limit`` characters."""
    text = value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1) :] if keep_end else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Failure:
    """Why one row could not be processed."""

    row_id: int
    lead_id: int | None
    error_type: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, row_id: int, lead_id: int | None, exc: BaseException) -> Failure:
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        return cls(
            row_id,
            lead_id,
            _text(name, 200),
            _text(str(exc) or repr(exc), _MESSAGE_CHARS),
            _text("".join(traceback.format_exception(exc)), _TRACEBACK_CHARS, keep_end=True),
        )


def rows_set_aside(*, kind: str, failures: Sequence[Failure], now: datetime | None = None) -> None:
    """Record ``failures`` as set-aside rows of ``kind``; a row set aside before is
    opened again and counts one more failure. Call in the transaction that takes the
    rows out of their batch's way."""
    if not failures:
        return
    now = now or timezone.now()
    for failure in failures:
        # The message stays in the table, which erasure cleans: it may quote the person's data.
        logger.error(
            "set aside %s %s (lead %s): %s; see Set-aside rows",
            kind,
            failure.row_id,
            failure.lead_id,
            failure.error_type,
        )
    by_row = {f.row_id: f for f in failures}
    known = set(
        SetAside.objects.select_for_update().filter(kind=kind, row_id__in=list(by_row)).values_list("row_id", flat=True)
    )
    for row_id in known:
        f = by_row[row_id]
        SetAside.objects.filter(kind=kind, row_id=row_id).update(
            lead_id=f.lead_id,
            error_type=f.error_type,
            error=f.message,
            traceback=f.traceback,
            last_failed_at=now,
            failures=F("failures") + 1,
            resolved_at=None,
        )
    SetAside.objects.bulk_create(
        [
            SetAside(
                kind=kind,
                row_id=f.row_id,
                lead_id=f.lead_id,
                error_type=f.error_type,
                error=f.message,
                traceback=f.traceback,
                first_failed_at=now,
                last_failed_at=now,
            )
            for row_id, f in by_row.items()
            if row_id not in known
        ],
        # Set aside by someone else meanwhile (a retry and a batch at once): this error wins.
        update_conflicts=True,
        unique_fields=["kind", "row_id"],
        update_fields=["lead_id", "error_type", "error", "traceback", "last_failed_at", "resolved_at"],
    )


@dataclass
class Isolated(Generic[R]):
    """What :func:`rows_isolate` did: the results of the parts that went through,
    and the ids of the rows set aside."""

    results: list[R] = field(default_factory=list)
    set_aside: list[int] = field(default_factory=list)


def rows_isolate(
    *,
    kind: str,
    rows: Sequence[tuple[int, int] | tuple[int, None]] | Sequence[tuple[int, int | None]],
    process: Callable[[list[int]], R],
    leave: Callable[[list[int]], object] | None = None,
) -> Isolated[R]:
    """Process ``rows`` ((row id, lead id) pairs, in batch order) with ``process``
    in parts, each in a savepoint; split a failing part in two until the rows that
    fail alone are found, call ``leave`` with their ids (to take them out of the
    batch's way) and set them aside with their errors.

    Parts run in the rows' order, so per-lead order within a batch holds. An error
    that may pass (:func:`is_transient`) is raised at once.

    Precondition: inside the batch's transaction, holding the rows' locks.
    """
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError("rows_isolate needs the batch's transaction")
    lead_of = dict(rows)
    done: Isolated[R] = Isolated()
    failures: list[Failure] = []

    def attempt(part: list[int]) -> None:
        try:
            with transaction.atomic():
                result = process(part)
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(part) == 1:
                failures.append(Failure.of(part[0], lead_of.get(part[0]), exc))
                return
            middle = len(part) // 2
            attempt(part[:middle])
            attempt(part[middle:])
        else:
            done.results.append(result)

    ids = list(lead_of)
    if ids:
        attempt(ids)
    if failures:
        done.set_aside = [f.row_id for f in failures]
        if leave is not None:
            leave(done.set_aside)
        rows_set_aside(kind=kind, failures=failures)
    return done


def batch_run(*, kind: str, run: Callable[[], R], isolated: Callable[[], R]) -> R:
    """Run a batch as it always runs, ``run``, in a transaction of its own; if it
    raises, run ``isolated`` in a new one: the batch claimed again and processed
    through :func:`rows_isolate`. An error that may pass is raised instead."""
    try:
        with transaction.atomic():
            return run()
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.warning("%s batch failed (%s); processing it in parts", kind, type(exc).__name__)
    with transaction.atomic():
        return isolated()


# --- retrying -----------------------------------------------------------------------


@dataclass(frozen=True)
class Retried:
    """What a retry did to one set-aside row."""

    set_aside_id: int
    kind: str
    row_id: int
    ok: bool
    result: str  # in English
    said: Said | None = None  # the result as a sentence, when it is one

    def shown(self) -> str:
        """The result in the active language."""
        return self.result if self.said is None else sentences.translated(self.said)


PROCESSED = said(gettext_noop("processed"))
_RESULT_CHARS = 500


def _result(value: str | Said) -> tuple[str, Said | None]:
    """A retry's result as its row keeps it: the English (at most the column's length), and
    the sentence if it is one."""
    if isinstance(value, Said):
        return _text(value.english(), _RESULT_CHARS), value
    return _text(value, _RESULT_CHARS), None


def _results_record(pks: Iterable[int], value: str | Said, *, now: datetime) -> tuple[str, Said | None]:
    text, sentence = _result(value)
    SetAside.objects.filter(pk__in=list(pks)).update(
        retried_at=now, retry_result=text, retry_result_said=None if sentence is None else sentence.stored()
    )
    return text, sentence


def rows_retry(*, ids: Iterable[int], now: datetime | None = None) -> list[Retried]:
    """Put these set-aside rows (those still open) back into their batches' way,
    kind by kind, each kind in one transaction: the row is marked resolved and its
    kind's retry runs; a row that fails again is set aside again (failures + 1).
    Each row's ``retry_result`` says what happened."""
    now = now or timezone.now()
    rows: dict[str, dict[int, int]] = defaultdict(dict)  # kind -> row id -> set-aside id
    for pk, kind, row_id in (
        SetAside.objects.filter(pk__in=list(ids), resolved_at__isnull=True)
        .order_by("kind", "row_id")
        .values_list("pk", "kind", "row_id")
    ):
        rows[kind][row_id] = pk
    done: list[Retried] = []
    for name, by_row in rows.items():
        registered = _KINDS.get(name)
        if registered is None:
            nothing = said(gettext_noop("no retry is registered for kind '{kind}'"), kind=name)
            text, sentence = _results_record(by_row.values(), nothing, now=now)
            done.extend(Retried(pk, name, row_id, False, text, sentence) for row_id, pk in by_row.items())
            continue
        try:
            done.extend(_kind_retry(registered, by_row, now))
        except Exception as exc:
            if is_transient(exc):
                raise
            logger.error("retry of set-aside %s rows %s failed: %s", name, sorted(by_row), type(exc).__name__)
            failed = said(
                gettext_noop("retry failed: {error}"), error=_text(f"{type(exc).__name__}: {exc}", _RESULT_CHARS)
            )
            text, sentence = _results_record(by_row.values(), failed, now=now)
            done.extend(Retried(pk, name, row_id, False, text, sentence) for row_id, pk in by_row.items())
    return done


@transaction.atomic
def _kind_retry(kind: Kind, by_row: Mapping[int, int], now: datetime) -> list[Retried]:
    # Another person retrying the same rows at once: one of them does it.
    mine = dict(
        SetAside.objects.select_for_update(skip_locked=True)
        .filter(pk__in=list(by_row.values()), resolved_at__isnull=True)
        .values_list("row_id", "pk")
    )
    if not mine:
        return []
    SetAside.objects.filter(pk__in=mine.values()).update(
        resolved_at=now, retried_at=now, retry_result="", retry_result_said=None
    )
    outcomes = kind.retry(sorted(mine))
    again = {
        row_id: said(gettext_noop("failed again: {error}"), error=_text(f"{error_type}: {error}", _RESULT_CHARS))
        for row_id, error_type, error in SetAside.objects.filter(
            pk__in=mine.values(), resolved_at__isnull=True
        ).values_list("row_id", "error_type", "error")
    }
    done = []
    for row_id, pk in mine.items():
        ok = row_id not in again
        text, sentence = _results_record([pk], (outcomes.get(row_id) or PROCESSED) if ok else again[row_id], now=now)
        done.append(Retried(pk, kind.name, row_id, ok, text, sentence))
    return done


# --- erasure --------------------------------------------------------------------------


def rows_erase(*, lead_ids: Iterable[int]) -> int:
    """Delete the set-aside rows about these leads (their errors may quote the
    person's data). Returns how many were deleted."""
    return SetAside.objects.filter(lead_id__in=list(lead_ids)).delete()[0]
