"""An id typed into a page or a link is read once, the same everywhere: ASCII digits,
from 1 to the largest value a bigint id holds."""

from __future__ import annotations

import pytest

from scoring.typed import ID_MAX, id_from_text, page_from_text


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("42", 42), ("007", 7), ("9223372036854775807", ID_MAX)])
def test_an_id_is_its_ascii_digits(text: str, value: int) -> None:
    assert id_from_text(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "0", "-1", "+1", " 1", "1\n", "1.0", "1e3", "abc", "²", "١٢", "\uff11\uff12",
     "9223372036854775808", "9999999999999999999", "99999999999999999999", "0" * 19 + "1", "9" * 5000],
)  # fmt: skip
def test_anything_else_is_no_id(text: str) -> None:
    assert id_from_text(text) is None


def test_the_largest_id_is_the_largest_bigint() -> None:
    assert ID_MAX == 9223372036854775807


@pytest.mark.parametrize(
    ("text", "page"),
    [("1", 1), ("2", 2), ("007", 7), ("999999999", 999_999_999), ("", 1), ("0", 1), ("-3", 1), ("²", 1),
     ("two", 1), ("1000000000", 1), ("9" * 5000, 1)],
)  # fmt: skip
def test_a_page_number_is_at_most_nine_ascii_digits_else_the_first_page(text: str, page: int) -> None:
    assert page_from_text(text) == page
