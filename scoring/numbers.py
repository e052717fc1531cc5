"""Numbers written as text, read as a language writes them: "1,250.50" in English,
"1.250,50" in Spanish or German. One reader for every door: a CSV import's cells (which
may carry stray text, "12 visits"), the API's number fields and rule matching on the
custom attributes a form, the API or an identify call stored as text. Pure: no Django.

``decimal`` is the mark before the decimals, "," or "."; the other one groups thousands
(a no-break space or "_" may too). A text whose marks do not fit it is no number, never
guessed at: "2.5" on a site writing "2,5" could be two and a half or a typing slip.

The site's mark is set by the scoring app from the site's language (LEADFLOW_LANGUAGE),
so rule matching, which runs per event and is pure, reads with it through
:func:`site_number_text` and :func:`site_number`."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUMBER = re.compile(r"[-+]?\d[\d,.]*")
_DIGIT = re.compile(r"\d")
# Thousands grouped by a comma or a point: 1,234 or 1.234.567 (a sign allowed). Nobody
# writes a group of thousands after a 0, so 0.125 and 0,500 are decimals.
_GROUPS = {mark: re.compile(rf"[-+]?[1-9]\d{{0,2}}(?:\{mark}\d{{3}})+") for mark in ",."}

# Why a text is no number (Unread.why): each door says it in its own words.
NOT_A_NUMBER = "not_a_number"
SEVERAL = "several"  # "12-15": more than one number
TWO_DECIMAL_MARKS = "two_decimal_marks"  # "1.2.3" read with a decimal point
OTHER_MARKS = "other_marks"  # "2.5" where "," is the decimal mark
AMBIGUOUS = "ambiguous"  # "1.250" with no decimal mark known: 1250 or 1.25
NOT_FINITE = "not_finite"  # "1e400", "nan"


class Unread(ValueError):
    """Why a text is no number, as one of the reasons above; ``readings`` are the two numbers
    an ambiguous text could be, ``decimal`` the mark it was read with."""

    def __init__(self, why: str, *, decimal: str | None = None, readings: tuple[float, float] = (0, 0)) -> None:
        super().__init__(why)
        self.why = why
        self.decimal = decimal
        self.readings = readings


def number_parse(text: str, *, decimal: str | None = None) -> float | int:
    """The number a cell holds, with the stray text around it ignored: "12 visits" → 12,
    "1,234.5" → 1234.5, "$1 200"? no: one number only. ``decimal``: the decimal mark,
    None when not known, and a number it alone would tell ("1.250": 1250 or 1.25?) is
    refused with both readings. :class:`Unread` saying why otherwise."""
    cleaned = _cleaned(text)
    if _NUMBER.fullmatch(cleaned) is None and _float(cleaned) is None:
        tokens = _NUMBER.findall(cleaned)
        if not tokens:
            raise Unread(NOT_A_NUMBER, decimal=decimal)
        if len(tokens) > 1:
            raise Unread(SEVERAL, decimal=decimal)
        cleaned = tokens[0]
    return _value(number_text(cleaned, decimal=decimal))


def number_text(text: str, *, decimal: str | None) -> str:
    """The number ``text`` writes, nothing else around it, as Python and SQL write one
    ("1.250,50" with decimal "," → "1250.50"), every digit kept (for a Decimal).
    :class:`Unread` when it is none, or not one finite number."""
    cleaned = _cleaned(text)
    if _NUMBER.fullmatch(cleaned):
        plain = _separators_read(cleaned, decimal)
        if _float(plain) is None:
            raise Unread(NOT_A_NUMBER, decimal=decimal)
    elif _float(cleaned) is None:  # "1e3", ".5"
        raise Unread(NOT_A_NUMBER, decimal=decimal)
    else:
        plain = cleaned
    if not math.isfinite(float(plain)):
        raise Unread(NOT_FINITE, decimal=decimal)
    return plain


def _cleaned(text: str) -> str:
    return text.strip().replace("\u00a0", "").replace("_", "")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _value(plain: str) -> float | int:
    value = float(plain)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _separators_read(token: str, decimal: str | None) -> str:
    token = token.rstrip(".,")
    if "," in token and "." in token:
        # The last of the two is the decimal mark: 1,234.5 or 1.234,5.
        mark = "." if token.rfind(".") > token.rfind(",") else ","
        if decimal is not None and mark != decimal:
            raise Unread(OTHER_MARKS, decimal=decimal)
        group = "," if mark == "." else "."
        if token.count(mark) > 1 or not _GROUPS[group].fullmatch(token.split(mark)[0]):
            raise Unread(NOT_A_NUMBER, decimal=decimal)
        return token.replace(group, "").replace(mark, ".")
    for mark in (",", "."):
        if mark not in token:
            continue
        grouped = _GROUPS[mark].fullmatch(token) is not None
        if decimal == mark or (decimal is None and not grouped):
            if token.count(mark) > 1:
                raise Unread(TWO_DECIMAL_MARKS, decimal=decimal)
            return token.replace(mark, ".")
        if not grouped:  # the decimal mark is the other one: this one groups thousands
            raise Unread(OTHER_MARKS, decimal=decimal)
        if decimal is None and token.count(mark) == 1:
            thousands, decimals = float(token.replace(mark, "")), float(token.replace(mark, "."))
            raise Unread(AMBIGUOUS, readings=(thousands, decimals))
        return token.replace(mark, "")
    return token


def decimal_mark_find(texts: Iterable[str]) -> str | None:
    """The decimal mark the numbers ``texts`` show, "," or "."; None when none tells
    (whole numbers, groups of three such as "1.250" alone) or they disagree. A comma
    before one, two or four or more digits, a point between thousands then a comma
    ("1.234,5"), or two groups of points ("1.234.567") show a comma; and the other way."""
    shown: set[str] = set()
    for text in texts:
        for token in _NUMBER.findall(text.replace("\u00a0", "")):
            token = token.rstrip(".,")
            if "," in token and "." in token:
                shown.add("." if token.rfind(".") > token.rfind(",") else ",")
                continue
            for mark, other in ((",", "."), (".", ",")):
                if mark not in token:
                    continue
                if token.count(mark) > 1:
                    shown.add(other)
                elif not _GROUPS[mark].fullmatch(token):
                    shown.add(mark)
    return shown.pop() if len(shown) == 1 else None


# --- the site's language, for rule matching ----------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Numbers as one decimal mark writes them, for the hot path: a number written plainly
    ("25", "2.5" or "2,5" as the mark says) is read by one compiled pattern; the rest goes
    through :func:`number_text`."""

    decimal: str
    plain: re.Pattern[str]

    def text(self, text: str) -> str | None:
        """The number ``text`` writes as Python writes one, or None when it writes none."""
        stripped = text.strip()
        if self.plain.fullmatch(stripped):
            plain = stripped.replace(self.decimal, ".")
            return plain if math.isfinite(float(plain)) else None
        if _DIGIT.search(stripped) is None:  # a word ("Retail"): no number, and no need to say why
            return None
        try:
            return number_text(stripped, decimal=self.decimal)
        except Unread as unread:
            if unread.why != OTHER_MARKS:
                return None
        # Marks the site's language does not write, but that read only one way: "2.5" or
        # "1200000.50" on a site writing "2,5" (no thousands are grouped so), "1,250.50" there
        # (the last mark is the decimal one). A program's "1200000.50" and a CRM's English
        # figures keep their value; "1.250" on a site writing "1.250,5" is still 1250.
        try:
            return number_text(stripped, decimal=None)
        except Unread:
            return None

    def number(self, text: str) -> float | None:
        stripped = text.strip()
        if self.plain.fullmatch(stripped):  # most attributes a rule compares: "25", "2.5"
            value = float(stripped.replace(self.decimal, "."))
            return value if math.isfinite(value) else None
        plain = self.text(stripped)
        return None if plain is None else float(plain)


@functools.cache
def reader(decimal: str) -> Reader:
    """The reader of numbers written with ``decimal`` before the decimals, compiled once."""
    if decimal not in (",", "."):
        raise ValueError(f"decimal mark {decimal!r}: '.' or ','")
    return Reader(decimal, re.compile(rf"[-+]?[0-9]+(?:{re.escape(decimal)}[0-9]+)?"))


_site = [reader(".")]


def site_decimal_set(decimal: str) -> None:
    """Read the site's numbers with ``decimal`` from now on (the scoring app calls it with the
    site language's mark when it starts and when the setting changes)."""
    _site[0] = reader(decimal)


def site_decimal() -> str:
    return _site[0].decimal


def site_number_text(text: str) -> str | None:
    """The number ``text`` writes in the site's language, as Python writes one; None when it
    writes none (or could be two)."""
    return _site[0].text(text)


def site_number(text: str) -> float | None:
    return _site[0].number(text)
