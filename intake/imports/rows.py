"""One CSV record into what is stored of it: the lead's key, fields and typed attributes,
and its outcome; or the errors that set it aside, each naming its column. Lead fields
are checked as the API checks them (their column's length and type, the email's
format, the external id's)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext

from intake import events as checks
from intake.imports.mapping import OPEN, Attribute, Mapping
from scoring import numbers
from scoring.models import Account, Lead
from scoring.models.leads import validate_time_zone
from scoring.outcomes import REASON_MAX_LENGTH

# The file's decimal mark, found from its number cells (re-exported for the import's callers).
decimal_mark_find = numbers.decimal_mark_find

MAX_INT_COLUMN = 2_147_483_647
ACCOUNT_ID_MAX_LENGTH: int = Account._meta.get_field("external_id").max_length or 0
_TRUE = frozenset({"true", "yes", "y", "1", "t", "on", "si", "sí", "oui", "ja"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "non", "nein"})
# What the export puts before a cell a spreadsheet would run as a formula: taken off again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str
    value: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason, "value": self.value}

    def __str__(self) -> str:
        shown = f" ({self.value!r})" if self.value else ""
        return (
            gettext("row {row}, column '{column}': {reason}").format(
                row=self.row, column=self.column, reason=self.reason
            )
            + shown
        )


@dataclass
class ParsedRow:
    row: int
    key: str
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None  # "won", "lost" or None
    outcome_reason: str = ""  # a lost outcome's reason, from the mapping's reason column
    account_id: str | None = None  # the company's id in another system
    # What the row does not bring but that leaves its lead to be imported (an outcome the
    # mapping does not list): reported on the row, not counted as set aside.
    reports: list[RowError] = field(default_factory=list)


def number_parse(text: str, *, decimal: str | None = None) -> float | int:
    """The number a cell holds, with the stray text around it ignored (see
    :func:`scoring.numbers.number_parse`); ValueError saying why in the reader's language."""
    try:
        return numbers.number_parse(text, decimal=decimal)
    except numbers.Unread as exc:
        raise ValueError(_unread_reason(exc)) from None


def _unread_reason(exc: numbers.Unread) -> str:
    if exc.why == numbers.SEVERAL:
        return gettext("holds more than one number")
    if exc.why == numbers.TWO_DECIMAL_MARKS:
        return gettext("is not a number (more than one decimal mark)")
    if exc.why == numbers.NOT_FINITE:
        return gettext("must be a finite number")
    if exc.why == numbers.OTHER_MARKS:
        decimal = exc.decimal or ""
        other = "." if decimal == "," else ","
        return gettext(
            "is not a number as the file writes them ('{decimal}' before the decimals, '{other}' between thousands)"
        ).format(decimal=decimal, other=other)
    if exc.why == numbers.AMBIGUOUS:
        thousands, decimals = exc.readings
        return gettext(
            "could be {thousands} or {decimals}: the file does not show whether it writes decimals "
            "after a comma or a point (say which with decimal: in the mapping)"
        ).format(thousands=_written(thousands), decimals=_written(decimals))
    return gettext("is not a number")


def _written(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def boolean_parse(text: str) -> bool:
    folded = text.strip().casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(gettext("is not yes or no (true/false, 1/0)"))


def cell_clean(text: str) -> str:
    """The cell without surrounding spaces, and without the quote the export puts before
    a value a spreadsheet would run as a formula."""
    text = text.strip()
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_STARTS:
        return text[1:]
    return text


def attribute_value(attribute: Attribute, text: str, *, decimal: str | None = None) -> Any:
    if attribute.type == "number":
        return number_parse(text, decimal=decimal)
    if attribute.type == "boolean":
        return boolean_parse(text)
    if attribute.type == "category" and attribute.values:
        for allowed in attribute.values:
            if allowed.casefold() == text.casefold():
                return allowed
        raise ValueError(gettext("is not one of {values}").format(values=", ".join(attribute.values)))
    problem = checks.text_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def activity_value(text: str, *, decimal: str | None = None) -> int:
    number = number_parse(text, decimal=decimal)
    if number < 0:
        raise ValueError(gettext("a count cannot be negative"))
    if number > MAX_INT_COLUMN:
        raise ValueError(gettext("at most {maximum}").format(maximum=MAX_INT_COLUMN))
    # Half up (Python's round() takes halves to the even neighbour: 2.5 → 2).
    return math.floor(number + 0.5)


def field_value(name: str, text: str, *, decimal: str | None = None) -> Any:
    """A lead field's value from a cell, checked as the API checks it."""
    if name == "email":
        return checks.email_normalize(text)
    if name == "external_id":
        return checks.lead_id_check(text)
    column = Lead._meta.get_field(name)
    if isinstance(column, models.PositiveIntegerField):
        number = number_parse(text, decimal=decimal)
        if not float(number).is_integer() or not 0 <= number <= MAX_INT_COLUMN:
            raise ValueError(gettext("must be a whole number from 0 to {maximum}").format(maximum=MAX_INT_COLUMN))
        return int(number)
    if isinstance(column, models.DecimalField):
        number = number_parse(text, decimal=decimal)
        try:
            value = Decimal(str(number)).quantize(Decimal(1).scaleb(-column.decimal_places))
        except InvalidOperation:
            raise ValueError(gettext("is too large")) from None
        if len(value.as_tuple().digits) > column.max_digits:
            raise ValueError(
                gettext("at most {count} digits before the decimals").format(
                    count=column.max_digits - column.decimal_places
                )
            )
        return value
    assert isinstance(column, models.CharField)
    problem = checks.text_problem(text)
    if problem:
        raise ValueError(problem)
    if column.max_length and len(text) > column.max_length:
        raise ValueError(
            gettext("at most {maximum} characters (this has {count})").format(
                maximum=column.max_length, count=len(text)
            )
        )
    if name == "time_zone":
        try:
            validate_time_zone(text)
        except ValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from None
    return text


def row_parse(
    mapping: Mapping, index: dict[str, int], width: int, line: int, cells: list[str], *, decimal: str | None = None
) -> ParsedRow | list[RowError]:
    """The record on ``line`` as its lead, or every error it has (each naming its column).
    ``index``: each mapped column's position in the header, of ``width`` columns;
    ``decimal``: the file's decimal mark if known (:func:`number_parse`)."""
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        reason = gettext(
            "has {cells} cells but the header has {columns} columns (a quote or a delimiter too many?)"
        ).format(cells=len(cells), columns=width)
        return [RowError(line, gettext("(whole row)"), reason)]
    errors: list[RowError] = []

    def cell(column: str) -> str | None:
        position = index[column]
        text = cell_clean(cells[position]) if position < len(cells) else ""
        return None if mapping.is_missing(text) else text

    key = cell(mapping.key_column)
    if key is None:
        return [RowError(line, mapping.key_column, gettext("the key is missing: every row needs one"))]
    try:
        key = field_value(mapping.key_field, key)
    except ValueError as exc:
        return [RowError(line, mapping.key_column, str(exc), key)]
    parsed = ParsedRow(row=line, key=key)
    for column, name in mapping.fields.items():
        text = cell(column)
        if text is None:
            continue
        try:
            parsed.fields[name] = field_value(name, text, decimal=decimal)
        except ValueError as exc:
            errors.append(RowError(line, column, str(exc), text))
    for attribute in mapping.attributes:
        text = cell(attribute.column)
        if text is None:
            continue
        try:
            parsed.attributes[attribute.name] = attribute_value(attribute, text, decimal=decimal)
        except ValueError as exc:
            errors.append(RowError(line, attribute.column, str(exc), text))
    for column, name in mapping.activity.items():
        text = cell(column)
        if text is None:
            continue
        try:
            parsed.attributes[name] = activity_value(text, decimal=decimal)
        except ValueError as exc:
            errors.append(RowError(line, column, str(exc), text))
    if mapping.account_column is not None:
        text = cell(mapping.account_column)
        if text is not None and len(text) > ACCOUNT_ID_MAX_LENGTH:
            reason = gettext("at most {maximum} characters").format(maximum=ACCOUNT_ID_MAX_LENGTH)
            errors.append(RowError(line, mapping.account_column, reason, text))
        else:
            parsed.account_id = text
    if mapping.outcome is not None:
        parsed.outcome, report = _outcome_parse(mapping, line, cell)
        if report is not None:
            parsed.reports.append(report)
        elif parsed.outcome == "lost" and mapping.outcome.reason_column is not None:
            lost_reason = cell(mapping.outcome.reason_column) or ""
            problem = _reason_problem(lost_reason)
            if problem:  # recorded with another reason, it would read as the file's
                parsed.outcome = None
                parsed.reports.append(RowError(line, mapping.outcome.reason_column, problem, lost_reason))
            else:
                parsed.outcome_reason = lost_reason
    return (errors + parsed.reports) if errors else parsed


def _outcome_parse(
    mapping: Mapping, line: int, cell: Callable[[str], str | None]
) -> tuple[str | None, RowError | None]:
    """The row's outcome ("won", "lost" or None: missing or open), or why the value in its
    column is not taken: the lead is imported all the same, without an outcome."""
    assert mapping.outcome is not None
    outcome = mapping.outcome
    text = cell(outcome.column)
    if text is None:
        return None, None
    kind = outcome.kind(text)
    if kind == OPEN:
        return None, None
    if kind is not None:
        return kind, None
    none = gettext("none")
    reason = gettext(
        "outcome not recorded: not one of the mapping's outcome values: won ({won}), lost ({lost}) "
        "or open, no outcome yet ({open})"
    ).format(won=", ".join(outcome.won), lost=", ".join(outcome.lost), open=", ".join(outcome.open) or none)
    return None, RowError(line, outcome.column, reason, text)


def _reason_problem(text: str) -> str | None:
    """Why a lost reason cannot be recorded as the cell has it; None when it can."""
    problem = checks.text_problem(text)
    if not problem and len(text) > REASON_MAX_LENGTH:
        problem = gettext("at most {maximum} characters (this has {count})").format(
            maximum=REASON_MAX_LENGTH, count=len(text)
        )
    return gettext("outcome not recorded: {reason}").format(reason=problem) if problem else None


def number_columns(mapping: Mapping) -> list[str]:
    """The mapped columns read as numbers: number attributes, activity counts, and lead
    fields that are numbers (company size, annual revenue)."""
    columns = [a.column for a in mapping.attributes if a.type == "number"] + list(mapping.activity)
    for column, name in mapping.fields.items():
        if name in {"email", "external_id"}:
            continue
        if isinstance(Lead._meta.get_field(name), models.PositiveIntegerField | models.DecimalField):
            columns.append(column)
    return columns
