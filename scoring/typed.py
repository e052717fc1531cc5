"""Numbers typed into a page or a link: a row's id, a page number. Pure: no Django.

``str.isdigit`` is no test for them: "²" is a digit to it that ``int`` refuses, and
``int`` of thousands of digits raises. Nor is a count of digits alone: 19 of them can
be past the largest id a bigint column holds."""

from __future__ import annotations

import re

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
