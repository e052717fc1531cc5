"""How a write's custom attributes merge into those a lead or an account has
(scoring.lead_fields.attributes_merged): the one rule every write that merges attributes
follows, so an identify, an import, the API, a page key and a company's group call agree on
which attribute stays. Pure: no database."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import accounts, lead_fields
from scoring.lead_fields import KEPT_AS, attributes_merged


def test_a_given_attribute_replaces_the_one_known_and_a_new_one_comes_last() -> None:
    merged = attributes_merged({"plan": "free", "seats": 3}, [], {"goal": "gifts", "plan": "pro"}, kept_as=KEPT_AS)

    assert merged == {"plan": "pro", "seats": 3, "goal": "gifts"}
    assert list(merged) == ["plan", "seats", "goal"]


def test_filling_adds_only_the_attributes_missing_in_the_order_given() -> None:
    merged = attributes_merged(
        {"plan": "free"}, [], {"goal": "gifts", "plan": "pro", "seats": 3}, kept_as=KEPT_AS, fill_only=True
    )

    assert merged == {"plan": "free", "goal": "gifts", "seats": 3}
    assert list(merged) == ["plan", "goal", "seats"]


def test_a_field_given_a_value_drops_the_attribute_kept_for_it_but_the_write_s_own_stays() -> None:
    known = {"employees": "51-200", "title": ["CEO", "Founder"], "plan": "pro"}

    assert attributes_merged(known, ["company_size"], None, kept_as=KEPT_AS) == {
        "title": ["CEO", "Founder"],
        "plan": "pro",
    }
    # The same write says employees again in its attributes: that one stays.
    assert attributes_merged(known, ["company_size"], {"employees": "1k+"}, kept_as=KEPT_AS) == {
        "title": ["CEO", "Founder"],
        "plan": "pro",
        "employees": "1k+",
    }
    # Filling: the superseded attribute is gone before the write's own fill the gaps.
    assert attributes_merged(known, ["company_size"], {"employees": "1k+"}, kept_as=KEPT_AS, fill_only=True) == {
        "title": ["CEO", "Founder"],
        "plan": "pro",
        "employees": "1k+",
    }


def test_a_field_given_a_value_drops_its_part_of_the_address_and_the_address_once_empty() -> None:
    known = {"address": {"city": ["Madrid", "Getafe"], "postalCode": "28001"}, "plan": "pro"}

    assert attributes_merged(known, ["city"], None, kept_as=KEPT_AS) == {
        "address": {"postalCode": "28001"},
        "plan": "pro",
    }
    assert attributes_merged({"address": {"city": 7}, "plan": "pro"}, ["city"], None, kept_as=KEPT_AS) == {
        "plan": "pro"
    }
    # A field with no part kept (and one the accounts keep apart) leaves the address alone.
    assert attributes_merged(known, ["title"], None, kept_as=KEPT_AS) == known
    assert attributes_merged({"address": {"country": "ES"}}, ["country"], None, kept_as=accounts.KEPT_AS) == {}


def test_the_limit_stops_new_attributes_not_changes_to_known_ones() -> None:
    known = {"a": 1, "b": 2}

    assert attributes_merged(known, [], {"c": 3, "d": 4}, kept_as=KEPT_AS, fill_only=True, at_most=3) == {
        "a": 1,
        "b": 2,
        "c": 3,
    }
    assert attributes_merged(known, [], {"a": 9, "c": 3}, kept_as=KEPT_AS, at_most=2) == {"a": 9, "b": 2}
    # What a superseded attribute held is room again, in the same write.
    assert attributes_merged(
        {"employees": "51-200", "b": 2}, ["company_size"], {"c": 3, "d": 4}, kept_as=KEPT_AS, at_most=2
    ) == {"b": 2, "c": 3}


def test_nothing_known_and_nothing_given_is_no_attributes_and_the_inputs_stay_as_they_were() -> None:
    known = {"address": {"city": "Madrid", "postalCode": "28001"}}
    said = {"goal": "gifts"}

    assert attributes_merged(None, ["city"], None, kept_as=KEPT_AS) == {}
    attributes_merged(known, ["city"], said, kept_as=KEPT_AS)

    assert known == {"address": {"city": "Madrid", "postalCode": "28001"}}
    assert said == {"goal": "gifts"}


NAMES = st.sampled_from(["employees", "title", "city", "address", "plan", "goal", "country"])
VALUES = st.one_of(st.integers(), st.text(max_size=3), st.dictionaries(st.sampled_from(["city", "zip"]), st.integers()))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    known=st.dictionaries(NAMES, VALUES),
    said=st.dictionaries(NAMES, VALUES),
    filled=st.lists(st.sampled_from(sorted(KEPT_AS))),
    fill_only=st.booleans(),
)
def test_it_is_the_attributes_superseded_then_merged_in_the_order_known(
    known: dict[str, Any], said: dict[str, Any], filled: list[str], fill_only: bool
) -> None:
    kept = lead_fields.attributes_superseded(known, filled, kept_as=KEPT_AS)
    expected = {**kept, **{n: v for n, v in said.items() if n not in kept}} if fill_only else {**kept, **said}

    merged = attributes_merged(known, filled, said, kept_as=KEPT_AS, fill_only=fill_only)

    assert merged == expected
    assert list(merged) == list(expected)
