"""Importing a CSV file of leads: in batches, each one transaction of a few statements
(scoring writes the leads: :mod:`scoring.services.lead_rows`), outcomes recorded through
the recorder routing registers (:mod:`scoring.outcomes`), with a client id per lead and
kind so a second import records nothing again. A row that cannot be imported is set
aside with its row, column and reason; it never stops the rows after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from intake.imports.mapping import Mapping, MappingError, mapping_load
from intake.imports.reading import FileError, Table, table_read
from intake.imports.rows import ParsedRow, RowError, decimal_mark_find, number_columns, row_parse
from intake.models import LeadImport
from scoring import localized, outcomes
from scoring.said import said
from scoring.services import enqueue
from scoring.services.lead_rows import LeadRow, RowWritten, leads_write_rows

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
SOURCE = "csv-import"
# A running import whose worker died (the task is delivered again: acks late) may be
# taken over after this long without progress.
STALE_AFTER = timedelta(minutes=10)


@dataclass
class ImportResult:
    total: int = 0  # the file's records (blank lines not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    set_aside: int = 0
    outcomes_recorded: int = 0
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""
    decimal: str = ""  # the decimal mark numbers were read with; empty: the file did not tell

    @property
    def done(self) -> int:
        return self.created + self.updated + self.unchanged + self.set_aside

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "set_aside": self.set_aside,
            "outcomes_recorded": self.outcomes_recorded,
        }


Progress = Callable[[ImportResult], None]


def columns_check(mapping: Mapping, header: list[str]) -> dict[str, int]:
    """Each mapped column's position in the header; :class:`MappingError` naming the
    mapping's field of a column the file does not have."""
    positions: dict[str, int] = {}
    for n, name in enumerate(header):
        positions.setdefault(name, n)
    folded = {name.casefold(): n for name, n in reversed(list(positions.items()))}
    index: dict[str, int] = {}
    for column, where in mapping.columns():
        position = positions.get(column, folded.get(column.casefold()))
        if position is None:
            shown = ", ".join(header[:30]) + (", …" if len(header) > 30 else "")
            raise MappingError(
                where,
                said(
                    gettext_noop("the file has no column '{column}' (its columns: {columns})"),
                    column=column,
                    columns=shown,
                ),
            )
        index[column] = position
    return index


def decimal_mark_of(*, table: Table, mapping: Mapping, index: dict[str, int]) -> str:
    """The decimal mark the import reads the file's numbers with: the mapping's, else the
    one the cells of its number columns show, else the site language's (``LEADFLOW_LANGUAGE``:
    "." in English, "," in Spanish), as a person of the company would read "1,250"."""
    return (
        mapping.decimal
        or decimal_mark_find(
            cells[index[column]]
            for column in number_columns(mapping)
            for _, cells in table.rows
            if index[column] < len(cells)
        )
        or site_decimal_mark()
    )


def site_decimal_mark() -> str:
    """The decimal mark of the installation's language, from its number formats."""
    return localized.site_decimal_mark()


def leads_import(
    *, data: bytes, mapping: Mapping, progress: Progress | None = None, batch_size: int = BATCH_SIZE
) -> ImportResult:
    """Import the leads of a CSV file as ``mapping`` says; safe to run again (the same
    file twice changes nothing the second time). Raises :class:`FileError` or
    :class:`MappingError` when the file as a whole cannot be read or lacks a mapped
    column (nothing imported); otherwise every row that cannot be imported is in the
    result's errors and set-aside count. ``progress`` is called after each batch."""
    table = table_read(data, encoding=mapping.encoding, delimiter=mapping.delimiter)
    return table_import(table=table, mapping=mapping, progress=progress, batch_size=batch_size)


def table_import(
    *, table: Table, mapping: Mapping, progress: Progress | None = None, batch_size: int = BATCH_SIZE
) -> ImportResult:
    index = columns_check(mapping, table.header)
    decimal = decimal_mark_of(table=table, mapping=mapping, index=index)
    result = ImportResult(
        total=len(table.rows), encoding=table.encoding, delimiter=table.delimiter, decimal=decimal or ""
    )
    seen: dict[str, int] = {}
    for start in range(0, len(table.rows), batch_size):
        parsed: list[ParsedRow] = []
        for line, cells in table.rows[start : start + batch_size]:
            row = row_parse(mapping, index, len(table.header), line, cells, decimal=decimal)
            if isinstance(row, list):
                _set_aside(result, row)
                continue
            first = seen.setdefault(row.key, row.row)
            if first != row.row:
                _set_aside(
                    result,
                    [
                        RowError(
                            row.row, mapping.key_column, gettext("the same key as row {row}").format(row=first), row.key
                        )
                    ],
                )
                continue
            result.errors.extend(row.reports)
            parsed.append(row)
        _batch_write(result, mapping, parsed)
        if progress is not None:
            progress(result)
    return result


def _set_aside(result: ImportResult, errors: list[RowError]) -> None:
    result.set_aside += 1
    result.errors.extend(errors)


def _batch_write(result: ImportResult, mapping: Mapping, parsed: list[ParsedRow]) -> None:
    """Write the batch's leads and record their outcomes in one transaction: a won lead's
    stage, and the fit it brings, commit with the lead, so its cached scores equal the
    ledger once the batch is done."""
    if not parsed:
        return
    rows = [
        LeadRow(key=row.key, fields=row.fields, attributes=row.attributes, account_id=row.account_id) for row in parsed
    ]
    try:
        with transaction.atomic():
            written = leads_write_rows(key_field=mapping.key_field, rows=rows)  # type: ignore[arg-type]
            reported = _outcomes_reported(mapping, parsed, written)
            answers = outcomes.batch_recorder()([one for _, one in reported]) if reported else []
    except DatabaseError as exc:  # a row the database refuses: find it, keep the others
        if len(parsed) == 1:
            logger.warning("import row %s refused", parsed[0].row, exc_info=True)
            _set_aside(
                result,
                [
                    RowError(
                        parsed[0].row, mapping.key_column, gettext("could not be stored: {error}").format(error=exc)
                    )
                ],
            )
            return
        # Halves until the row the database refuses is alone: the others are written.
        middle = len(parsed) // 2
        _batch_write(result, mapping, parsed[:middle])
        _batch_write(result, mapping, parsed[middle:])
        return
    for row, done in zip(parsed, written, strict=True):
        if done.lead_id is None:
            column = next((c for c, f in mapping.fields.items() if f == done.field), mapping.key_column)
            _set_aside(result, [RowError(row.row, column, done.reason, str(row.fields.get(done.field, "")))])
            continue
        setattr(result, done.status, getattr(result, done.status) + 1)
    for (row, _), answer in zip(reported, answers, strict=True):
        assert mapping.outcome is not None
        if isinstance(answer, outcomes.OutcomeRefused):
            # The lead is imported; its outcome is not: the row is reported, not counted as set aside.
            result.errors.append(
                RowError(
                    row.row, mapping.outcome.column, gettext("outcome not recorded: {reason}").format(reason=answer)
                )
            )
        elif answer.created:
            result.outcomes_recorded += 1


def _outcomes_reported(
    mapping: Mapping, parsed: list[ParsedRow], written: list[RowWritten]
) -> list[tuple[ParsedRow, outcomes.ReportedOutcome]]:
    """The outcomes of the written rows still to record: leads already closed as the file
    says are left alone, so a second import records nothing."""
    if mapping.outcome is None:
        return []
    ids = [w.lead_id for w, row in zip(written, parsed, strict=True) if w.lead_id is not None and row.outcome]
    closed = outcomes.closed_outcomes(lead_ids=ids) if ids else {}
    return [
        (row, _outcome(mapping, row, done.lead_id))
        for row, done in zip(parsed, written, strict=True)
        if done.lead_id is not None
        and row.outcome is not None
        and closed.get(done.lead_id) != (row.outcome == outcomes.WON)
    ]


def _outcome(mapping: Mapping, row: ParsedRow, lead_id: int) -> outcomes.ReportedOutcome:
    """The row's outcome as reported to routing, with a client id per lead and kind: a
    second import of the file records it once; a file that now says otherwise adds the new one."""
    assert mapping.outcome is not None
    assert row.outcome is not None
    return outcomes.ReportedOutcome(
        lead_id=lead_id,
        kind=row.outcome,
        reason=(row.outcome_reason or mapping.outcome.reason) if row.outcome == outcomes.LOST else "",
        client_id=f"{SOURCE}:{row.outcome}:{row.key}"[: outcomes.CLIENT_ID_MAX_LENGTH],
        source=SOURCE,
    )


# --- imports started from the admin, run by a worker ---------------------------------


def lead_import_start(
    *, data: bytes, file_name: str, mapping_text: str, user: AbstractBaseUser | None = None
) -> LeadImport:
    """Record an import of ``data`` and hand it to a worker when the transaction commits.
    The mapping is checked first (:class:`MappingError` naming its field)."""
    mapping_load(mapping_text)
    record = LeadImport.objects.create(
        file_name=file_name[:255],
        data=data,
        mapping=mapping_text,
        created_by_id=user.pk if user is not None else None,
    )
    transaction.on_commit(
        lambda: enqueue("intake.lead_import", record.pk, fallback=f"lead import {record.pk} waits for a worker")
    )
    return record


def lead_import_run(*, import_id: int) -> bool:
    """Run the import ``import_id`` unless another worker has it (or it is finished);
    returns whether it ran. Running again what a dead worker left half done is safe:
    the import is idempotent."""
    now = timezone.now()
    claimed = LeadImport.objects.filter(pk=import_id, status=LeadImport.Status.QUEUED).update(
        status=LeadImport.Status.RUNNING, started_at=now
    ) or LeadImport.objects.filter(
        pk=import_id, status=LeadImport.Status.RUNNING, started_at__lt=now - STALE_AFTER
    ).update(started_at=now)
    if not claimed:
        return False
    record = LeadImport.objects.get(pk=import_id)
    try:
        mapping = mapping_load(record.mapping)
        table = table_read(bytes(record.data), encoding=mapping.encoding, delimiter=mapping.delimiter)
    except (MappingError, FileError) as exc:
        _failed(import_id, exc)
        return True
    LeadImport.objects.filter(pk=import_id).update(total_rows=len(table.rows))

    def progress(result: ImportResult) -> None:
        LeadImport.objects.filter(pk=import_id).update(started_at=timezone.now(), **_fields(result))

    try:
        result = table_import(table=table, mapping=mapping, progress=progress)
    except (MappingError, FileError) as exc:
        _failed(import_id, exc)
        return True
    _finish(import_id, status=LeadImport.Status.DONE, **_fields(result))
    return True


def _fields(result: ImportResult) -> dict[str, Any]:
    return {
        "done_rows": result.done,
        "created_count": result.created,
        "updated_count": result.updated,
        "unchanged_count": result.unchanged,
        "set_aside_count": result.set_aside,
        "outcomes_count": result.outcomes_recorded,
        "errors": [e.as_dict() for e in result.errors[: LeadImport.ERRORS_KEPT]],
    }


def _failed(import_id: int, exc: MappingError | FileError) -> None:
    """The import refused whole: why, in English and as the sentence its page shows."""
    sentence = exc.sentence() if isinstance(exc, MappingError) else exc.said
    _finish(import_id, status=LeadImport.Status.FAILED, failure=sentence.english(), failure_said=sentence.stored())


def _finish(import_id: int, *, status: str, **values: Any) -> None:
    LeadImport.objects.filter(pk=import_id).update(status=status, finished_at=timezone.now(), **values)


def upload_max_bytes() -> int:
    return int(getattr(settings, "LEADFLOW_IMPORT_MAX_BYTES", 100 * 1024 * 1024))
