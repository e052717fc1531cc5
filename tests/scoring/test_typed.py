"""An id typed into a page or a link is read once, the same everywhere: ASCII digits,
from 1 to the largest value a bigint id holds. An amount's currency, written with it, is
a real one's code or sign."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from scoring.typed import CURRENCY_CODES, ID_MAX, amount_from_text, id_from_text, page_from_text


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


def english(text: str) -> Decimal | None:
    return amount_from_text(text, thousands=",", decimal=".")


@pytest.mark.parametrize(
    ("text", "amount"),
    [("PEN 100", "100"), ("100 USD", "100"), ("MXN1,250.50", "1250.50"), ("EUR 9", "9"), ("XCG 5", "5"),
     ("S/ 24,500", "24500"), ("S/. 7,250", "7250"), ("B/. 10", "10"), ("Bs. 900", "900"), ("Gs. 150,000", "150000"),
     ("Q. 1,000.00", "1000.00"), ("L. 500", "500"), ("Rs. 20", "20"), ("US$ 24,000", "24000"), ("€900", "900"),
     ("Fr. 1,500", "1500"), ("SFr. 80", "80"), ("Rp.1,500", "1500"), ("Tk. 1,500", "1500"), ("Kr. 1,500", "1500"),
     ("1,500 kr", "1500"), ("Dhs. 1,500", "1500"), ("1,500 DH", "1500"), ("1,500 Ft", "1500"), ("1,500 Kč", "1500"),
     ("100 zł", "100"), ("250 lei", "250"), ("KSh 900", "900"), ("R 1,500", "1500")],
)  # fmt: skip
def test_an_amount_may_carry_a_real_currency(text: str, amount: str) -> None:
    assert english(text) == Decimal(amount)


@pytest.mark.parametrize(
    "text",
    # Three capitals that are no ISO 4217 code of today, nor a code once (DEM: marks), and a
    # word of letters and a mark that is no currency's sign.
    ["ABC1", "ABC 1", "1 ABC", "XYZ100", "DEM 100", "No.5", "No. 5", "Nr.5", "Ca. 5", "Ab/ 5", "5 No."],
)
def test_an_amount_with_a_word_no_currency_is_written_with_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text.replace(" ", ""))):
        english(text)


def test_every_code_read_is_one_of_iso_4217s_current_list() -> None:
    assert {"PEN", "USD", "EUR", "MXN", "BOB", "PYG", "GTQ"} <= CURRENCY_CODES
    assert not {"ABC", "DEM", "ESP", "VEF"} & CURRENCY_CODES
