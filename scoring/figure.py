"""A figure of a table as a program reads it, keeping what a person needs to read it in
their language. Pure: no Django (``scoring.localized`` writes it for a page).

A table is written twice: on a page, in the reader's language ("1.234", "12,5 %",
"03/12/2026"), and in a CSV, the same in every language (a dot before the decimals, no
thousands separator, ISO dates) so a spreadsheet or a script reads either. A ``Figure``
*is* the CSV's text (a ``str``), so the code that writes CSVs or compares cells needs
no change, and carries its value, decimals and unit for the page."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

Unit = Literal["", "percent", "times"]
Value = int | float | Decimal | date


class Figure(str):
    value: Value
    decimals: int | None
    unit: Unit
    signed: bool

    def __new__(
        cls, text: str, value: Value, *, decimals: int | None = None, unit: Unit = "", signed: bool = False
    ) -> Figure:
        made = super().__new__(cls, text)
        made.value = value
        made.decimals = decimals
        made.unit = unit
        made.signed = signed
        return made


def count(value: int) -> Figure:
    """A whole number: "1234"."""
    return Figure(str(value), value, decimals=0)


def signed(value: int) -> Figure:
    """A whole number with its sign, zero without one: "+15", "-3", "0"."""
    return Figure(f"{value:+d}" if value else "0", value, decimals=0, signed=True)


def decimal(value: float | Decimal, decimals: int) -> Figure:
    """A number with ``decimals`` decimals: "1.5"."""
    return Figure(f"{value:.{decimals}f}", value, decimals=decimals)


def percentage(value: float, decimals: int = 1) -> Figure:
    """A percentage (``value`` already times 100): "33.3%"."""
    return Figure(f"{value:.{decimals}f}%", value, decimals=decimals, unit="percent")


def times(value: float) -> Figure:
    """A ratio: two decimals after the times sign, U+00D7 ("x1.25" with the real sign)."""
    return Figure(f"\u00d7{value:.2f}", value, decimals=2, unit="times")


def day(value: date) -> Figure:
    """A date: "2026-12-03"."""
    return Figure(value.isoformat(), value)


def moment(value: datetime) -> Figure:
    """A time, already in the reader's time zone, to the minute: "2026-12-03 14:05"."""
    return Figure(f"{value:%Y-%m-%d %H:%M}", value)
