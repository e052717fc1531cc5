"""Figures and dates written for a person, in the active language: "1,234.5" and
"12.5%" in English, "1.234,5" and "12,5 %" in Spanish; dates by the language's short
formats (project/formats). Templates use it through ``{% load numbers %}``
(``{{ value|figure }}``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import formats, numberformat, timezone
from django.utils.translation import pgettext

from scoring.figure import Figure


def number(value: int | float | Decimal, decimals: int | None = None) -> str:
    """A number with the language's separators, thousands grouped (1234 -> "1.234" in Spanish),
    rounded to ``decimals`` as Python's ``format`` rounds (Django's would cut a float short)."""
    if isinstance(value, float) and decimals is not None:
        value = round(value, decimals)
    return formats.number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def site_decimal_mark() -> str:
    """The decimal mark of the site's language (``LEADFLOW_LANGUAGE``), from its number
    formats: "." in English, "," in Spanish; what the site's numbers written as text are
    read with (:mod:`scoring.numbers`)."""
    mark = str(formats.get_format("DECIMAL_SEPARATOR", lang=settings.LANGUAGE_CODE))
    return mark if mark in (",", ".") else "."


def site_number_example() -> str:
    """A number as the site's language writes it, to show the format expected: "1,250.50"
    in English, "1.250,50" in Spanish."""
    language = settings.LANGUAGE_CODE
    return numberformat.format(
        Decimal("1250.50"),
        decimal_sep=site_decimal_mark(),
        decimal_pos=2,
        grouping=formats.get_format("NUMBER_GROUPING", lang=language),
        thousand_sep=formats.get_format("THOUSAND_SEPARATOR", lang=language),
        force_grouping=True,
    )


def signed(value: int) -> str:
    """A whole number with its sign, zero without one: "+1,234", "-3", "0"."""
    return _with_sign(value, number(value))


def _with_sign(value: int | float | Decimal, written: str) -> str:
    return "+" + written if value > 0 else written


def when(value: date) -> str:
    """A date ("2026-12-03", "03/12/2026"), or a time to the minute in the current time zone."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return formats.date_format(value, "SHORT_DATETIME_FORMAT", use_l10n=True)
    return formats.date_format(value, "SHORT_DATE_FORMAT", use_l10n=True)


def percent(value: float | Decimal, decimals: int = 1) -> str:
    """A percentage (already times 100): "12.5%" in English, "12,5 %" in Spanish."""
    return _as_percent(number(value, decimals))


def _as_percent(written: str) -> str:
    return pgettext("a percentage; {number} is written already", "{number}%").format(number=written)


def figure(value: object) -> object:
    """Any value a table holds, as its reader writes it: a ``Figure`` by its unit, a bare
    number or date by the language; anything else (text, None) unchanged."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Figure):
        if isinstance(value.value, date):
            return when(value.value)
        written = number(value.value, value.decimals)
        if value.signed:
            written = _with_sign(value.value, written)
        if value.unit == "percent":
            return _as_percent(written)
        if value.unit == "times":
            return "\u00d7" + written
        return written
    if isinstance(value, int | float | Decimal):
        return number(value)
    if isinstance(value, date):
        return when(value)
    return value
