"""Numbers typed into a page or a link: a row's id, a page number, an amount. Pure: no Django.

``str.isdigit`` is no test for them: "²" is a digit to it that ``int`` refuses, and
``int`` of thousands of digits raises. Nor is a count of digits alone: 19 of them can
be past the largest id a bigint column holds."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import pycountry

ID_MAX = 2**63 - 1  # the largest value of a bigint column, so of every table's id
_ID = re.compile(r"[0-9]{1,19}")  # [0-9], not \d: \d is any script's digits
# At most nine digits: no list has a page past that, and the offset of a longer one is
# past what the database counts in (a server error).
_PAGE = re.compile(r"[0-9]{1,9}")


def id_from_text(text: str) -> int | None:
    """The whole number ``text`` writes in ASCII digits if it is one an id can be,
    from 1 to ``ID_MAX``; else None."""
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= ID_MAX else None


def page_from_text(text: str) -> int:
    """The page number ``text`` writes in ASCII digits, at most nine of them; else
    (nothing, "0", "-3", "²", a word) the first page."""
    return max(1, int(text)) if _PAGE.fullmatch(text) else 1


# The currency written with an amount, which Leadflow does not keep: a sign (€, ₡, and with
# letters before it US$, R$), one of the signs of letters and a mark below, or an ISO 4217
# code (PEN, USD) in the standard's current list: "12 mil", "12k", "ABC1" and "No.5" are no
# price. ``sign`` is any one mark; only a currency sign (Unicode's Sc) passes; ``code`` is any
# three capitals, only a code of the list passes.
_CURRENCY = r"{letter_signs}|(?P<{code}>[A-Z]{{3}})|(?:[A-Z][A-Za-z]{{0,2}})?(?P<{sign}>[^\w\s.,/])"
# Currencies written with letters (and a mark), which Unicode has no sign for: the sol (S/,
# and S/. as before 2015), the balboa (B/.), the bolívar and the boliviano (Bs.), the guaraní
# (Gs.), the quetzal (Q.), the lempira (L.), the rupee (Rs.), the Swiss franc (Fr., SFr.),
# the Nordic crowns (kr., Kr.), the rupiah (Rp.), the taka (Tk.), the dirhams (Dhs., DH), the
# forint (Ft), the Czech crown (Kč), the złoty (zł), the leu (lei), the shilling (KSh) and
# the rand (R). Each exactly as written here, the mark optional where it is shown: "No.", "Ca."
# and "Nr." are no currency.
LETTER_SIGNS = (
    *("S/.", "S/", "B/.", "Bs.", "Gs.", "Q.", "L.", "Rs.", "Rs", "SFr.", "Fr.", "Kr.", "Kr", "kr.", "kr"),
    *("Rp.", "Rp", "Tk.", "Tk", "Dhs.", "Dh", "DH", "Ft", "Kč", "zł", "lei", "Lei", "KSh", "R"),
)
_LETTER_SIGNS = "|".join(re.escape(sign) for sign in LETTER_SIGNS)
# The codes of ISO 4217's current list, as pycountry keeps it (from Debian's iso-codes).
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_PRICED = re.compile(
    rf"(?P<before>{_CURRENCY.format(letter_signs=_LETTER_SIGNS, code='code_before', sign='sign_before')})?"
    rf"(?P<figure>[0-9.,]+)"
    rf"(?P<after>{_CURRENCY.format(letter_signs=_LETTER_SIGNS, code='code_after', sign='sign_after')})?"
)
# An amount written without grouping: digits, then up to 2 decimals after a dot or a comma
# (a thousands group has 3 digits, so either reads the same in every language).
_AMOUNT = re.compile(r"(?P<units>[0-9]{1,15})(?:[.,](?P<cents>[0-9]{1,2}))?")


def amount_from_text(text: str, *, thousands: str, decimal: str) -> Decimal | None:
    """The amount ``text`` writes, grouped as a language writes figures (``thousands`` and
    ``decimal``: "12,500.50" in English, "12.500,50" in Spanish) or not grouped ("12500.50",
    "12500,50"); None for blank text (not known). Its currency, before or after it, with or
    without a space, is no part of the figure ("$24,000", "18.500,50 €", "S/ 24.500,00",
    "PEN 100"); two, or one inside the figure, are no price written so, nor is a word no
    currency is written with ("ABC 1", "No. 5"). ValueError for anything else, never
    guessed: "1.500" in English is neither 1500 nor 1.5."""
    text = text.strip().replace("\N{NO-BREAK SPACE}", "").replace(" ", "")
    if not text:
        return None
    priced = _PRICED.fullmatch(text)
    if (
        priced is None
        or (priced["before"] and priced["after"])
        or any(priced[sign] and unicodedata.category(priced[sign]) != "Sc" for sign in ("sign_before", "sign_after"))
        or any(priced[code] and priced[code] not in CURRENCY_CODES for code in ("code_before", "code_after"))
    ):
        raise ValueError(text)
    thousands, decimal = re.escape(thousands), re.escape(decimal)
    groups = rf"(?P<units>[1-9][0-9]{{0,2}}(?:{thousands}[0-9]{{3}})+)"
    grouped = re.compile(rf"{groups}(?:{decimal}(?P<cents>[0-9]{{1,2}}))?")
    found = _AMOUNT.fullmatch(priced["figure"]) or grouped.fullmatch(priced["figure"])
    if found is None:
        raise ValueError(text)
    units = re.sub(r"[^0-9]", "", found["units"])
    return Decimal(f"{units}.{found['cents'] or 0}")
