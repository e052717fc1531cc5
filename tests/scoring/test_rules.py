"""The pure rule evaluation: operators, caps, negative points, general vs specific."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from django.utils import translation
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from scoring import localized, numbers
from scoring import rules as pure
from scoring.rules import Cap, Condition, Dimension, InteractionFacts, Operator, Rule

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def holds(field: str, operator: str, value: object, actual: object) -> bool:
    return pure.condition_holds(Condition(field, Operator(operator), value), {field: actual})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "value", "actual", "expected"),
    [
        ("equals", "Toys", "toys ", True),
        ("equals", "Toys", "Retail", False),
        ("equals", 50, "50", True),
        ("equals", 50, 50.0, True),
        ("equals", "Toys", None, False),
        ("equals", "puzzles", ["dolls", "Puzzles"], True),
        ("not_equals", "Toys", "Retail", True),
        ("not_equals", "Toys", "TOYS", False),
        ("not_equals", "Toys", None, True),
        ("one_of", ["Toys", "Retail"], "retail", True),
        ("one_of", ["Toys", "Retail"], "Banking", False),
        ("one_of", ["Toys"], ["board games", "toys"], True),
        ("not_one_of", ["Toys", "Retail"], "Banking", True),
        ("not_one_of", ["Toys", "Retail"], "Toys", False),
        ("contains", "buyer", "Senior Toy Buyer", True),
        ("contains", "buyer", "Engineer", False),
        ("contains", "stem kits", ["Puzzles", "STEM kits"], True),
        ("gt", 100, 101, True),
        ("gt", 100, 100, False),
        ("gt", 100, "250", True),
        ("gt", 100, "lots", False),
        ("gte", 100, 100, True),
        ("gte", 100, 99.5, False),
        ("lt", 10, 9, True),
        ("lt", 10, 10, False),
        ("lte", 10, 10, True),
        ("lte", 10, 11, False),
        ("between", [10, 50], 10, True),
        ("between", [10, 50], 50, True),
        ("between", [10, 50], 51, False),
        ("between", [10, 50], None, False),
        ("is_set", None, "x", True),
        ("is_set", None, "", False),
        ("is_set", None, [], False),
        ("is_empty", None, None, True),
        ("is_empty", None, "x", False),
        ("matches", "*/landing/*", "https://toys.example/landing/spring", True),
        ("matches", "*/landing/*", "https://toys.example/blog/spring", False),
        ("matches", "*/PRICING", "https://x.example/pricing", True),
    ],
)
def test_each_operator(operator: str, value: object, actual: object, expected: bool) -> None:
    assert holds("f", operator, value, actual) is expected


def test_match_all_and_any() -> None:
    conditions = (
        Condition("city", Operator.EQUALS, "San José"),
        Condition("attributes.work_city", Operator.EQUALS, "San José"),
    )
    values = {"city": "Oakland", "attributes.work_city": "San José"}
    any_rule = Rule(id=1, dimension=Dimension.FIT, points=8, conditions=conditions, match=pure.Match.ANY)
    all_rule = Rule(id=2, dimension=Dimension.FIT, points=8, conditions=conditions, match=pure.Match.ALL)
    assert pure.conditions_hold(any_rule, values)
    assert not pure.conditions_hold(all_rule, values)


def test_lead_values_expose_custom_attributes_and_email_domain() -> None:
    values = pure.lead_values({"email": "Ana@Toys.Example", "city": "San José"}, {"interests": ["puzzles"]})
    assert values["attributes.interests"] == ["puzzles"]
    assert values["email_domain"] == "toys.example"


# --- fit ----------------------------------------------------------------------


def test_fit_targets_and_deltas_with_negative_points() -> None:
    near = Rule(id=1, dimension=Dimension.FIT, points=8, conditions=(Condition("city", Operator.EQUALS, "San José"),))
    far = Rule(
        id=2, dimension=Dimension.FIT, points=-5, conditions=(Condition("attributes.distance_km", Operator.GT, 80),)
    )
    targets = pure.fit_targets([near, far], {"city": "Fresno", "attributes.distance_km": 240}, at=T0)
    assert targets == {2: -5}
    # The lead used to live in San José: its +8 is taken back, the -5 added.
    assert pure.fit_deltas(targets, {1: 8}) == {1: -8, 2: -5}
    assert pure.fit_deltas(targets, {2: -5}) == {}


def test_inactive_or_out_of_date_rules_give_nothing() -> None:
    condition = (Condition("industry", Operator.EQUALS, "Toys"),)
    values = {"industry": "Toys"}
    inactive = Rule(id=1, dimension=Dimension.FIT, points=5, conditions=condition, active=False)
    future = Rule(id=2, dimension=Dimension.FIT, points=5, conditions=condition, valid_from=T0 + timedelta(days=1))
    expired = Rule(id=3, dimension=Dimension.FIT, points=5, conditions=condition, valid_until=T0)
    current = Rule(
        id=4,
        dimension=Dimension.FIT,
        points=5,
        conditions=condition,
        valid_from=T0 - timedelta(days=1),
        valid_until=T0 + timedelta(days=1),
    )
    assert pure.fit_targets([inactive, future, expired, current], values, at=T0) == {4: 5}


# --- engagement -----------------------------------------------------------------


def interaction(
    n: int, type: str = "email_open", days: float = 0, lead_id: int = 1, **props: object
) -> InteractionFacts:
    return InteractionFacts(id=n, lead_id=lead_id, type=type, occurred_at=T0 + timedelta(days=days), properties=props)


def engagement(rule_id: int, points: int, types: set[str], *conditions: Condition, cap: Cap | None = None) -> Rule:
    return Rule(
        id=rule_id,
        dimension=Dimension.ENGAGEMENT,
        points=points,
        interaction_types=frozenset(types),
        conditions=conditions,
        cap=cap,
    )


def test_general_and_specific_rules() -> None:
    any_open = engagement(1, 1, {"email_open"})
    spring_open = engagement(2, 5, {"email_open"}, Condition("campaign", Operator.EQUALS, "spring"))
    pricing = engagement(3, 3, {"page_view"}, Condition("url", Operator.MATCHES, "*/pricing*"))
    survey = engagement(4, 4, {"survey_answer"}, Condition("answer", Operator.ONE_OF, ["Weekly", "Daily"]))
    awards = pure.score_interactions(
        [any_open, spring_open, pricing, survey],
        [
            interaction(1, campaign="spring"),
            interaction(2, campaign="winter"),
            interaction(3, "page_view", url="https://x.example/pricing"),
            interaction(4, "page_view", url="https://x.example/blog"),
            interaction(5, "survey_answer", question="How often?", answer="weekly"),
            interaction(6, "survey_answer", answer="Never"),
        ],
        {},
    )
    assert sorted((a.interaction_id, a.rule_id, a.points) for a in awards) == [
        (1, 1, 1),
        (1, 2, 5),
        (2, 1, 1),
        (3, 3, 3),
        (5, 4, 4),
    ]


def test_negative_engagement_points() -> None:
    unsubscribe_page = engagement(1, -10, {"page_view"}, Condition("url", Operator.MATCHES, "*/unsubscribe*"))
    awards = pure.score_interactions([unsubscribe_page], [interaction(1, "page_view", url="/unsubscribe?x=1")], {})
    assert [a.points for a in awards] == [-10]


def test_cap_on_times_for_ever() -> None:
    rule = engagement(1, 2, {"email_open"}, cap=Cap(count=3))
    awards = pure.score_interactions([rule], [interaction(n, days=n) for n in range(1, 6)], {})
    assert [a.interaction_id for a in awards] == [1, 2, 3]


def test_cap_on_times_counts_earlier_awards() -> None:
    rule = engagement(1, 2, {"email_open"}, cap=Cap(count=3))
    history = {(1, 1): [pure.Award(1, 1, 99, T0 - timedelta(days=400), 2)] * 2}
    awards = pure.score_interactions([rule], [interaction(n, days=n) for n in range(1, 4)], history)
    assert [a.interaction_id for a in awards] == [1]


def test_cap_on_times_per_rolling_window() -> None:
    # Email opens count at most 5 times per 30 days.
    rule = engagement(1, 1, {"email_open"}, cap=Cap(count=5, window_days=30))
    opens = [interaction(n, days=n) for n in range(10)]  # days 0..9: only 5 count
    later = [interaction(100 + n, days=40 + n) for n in range(3)]  # 31+ days after day 9: all count
    awards = pure.score_interactions([rule], opens + later, {})
    assert [a.interaction_id for a in awards] == [0, 1, 2, 3, 4, 100, 101, 102]


def test_cap_on_points_gives_the_remainder_then_nothing() -> None:
    rule = engagement(1, 4, {"download"}, cap=Cap(points=10))
    awards = pure.score_interactions([rule], [interaction(n, "download", days=n) for n in range(4)], {})
    assert [a.points for a in awards] == [4, 4, 2]


def test_cap_on_negative_points_limits_the_loss() -> None:
    rule = engagement(1, -4, {"page_view"}, cap=Cap(points=6))
    awards = pure.score_interactions([rule], [interaction(n, "page_view", days=n) for n in range(3)], {})
    assert [a.points for a in awards] == [-4, -2]


def test_cap_on_points_per_window() -> None:
    rule = engagement(1, 5, {"webinar"}, cap=Cap(points=5, window_days=7))
    awards = pure.score_interactions(
        [rule],
        [interaction(1, "webinar", days=0), interaction(2, "webinar", days=3), interaction(3, "webinar", days=8)],
        {},
    )
    assert [a.interaction_id for a in awards] == [1, 3]


def test_out_of_order_arrival_never_breaks_a_window_cap() -> None:
    rule = engagement(1, 1, {"email_open"}, cap=Cap(count=1, window_days=30))
    first = pure.score_interactions([rule], [interaction(2, days=20)], {})
    # An older open arrives later: 20 days before an award, inside the window.
    second = pure.score_interactions([rule], [interaction(1, days=0)], {(1, 1): first})
    assert len(first) == 1
    assert second == []


def test_engagement_rules_respect_validity_at_the_interaction_time() -> None:
    rule = Rule(
        id=1,
        dimension=Dimension.ENGAGEMENT,
        points=3,
        interaction_types=frozenset({"webinar"}),
        valid_from=T0,
        valid_until=T0 + timedelta(days=7),
    )
    awards = pure.score_interactions(
        [rule],
        [interaction(1, "webinar", days=-1), interaction(2, "webinar", days=1), interaction(3, "webinar", days=8)],
        {},
    )
    assert [a.interaction_id for a in awards] == [2]


def test_group_for_picks_the_highest_reached_threshold() -> None:
    thresholds = [(3, 80), (1, 40), (2, 60)]
    assert pure.group_for(39, thresholds) is None
    assert pure.group_for(40, thresholds) == 1
    assert pure.group_for(79, thresholds) == 2
    assert pure.group_for(500, thresholds) == 3
    assert pure.group_for(50, []) is None


# --- checks and words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "operator", "value", "where", "says"),
    [
        ("industy", "equals", "Toys", "field", "Unknown lead field 'industy'"),
        ("attributes.bad key", "equals", "x", "field", "not a valid custom attribute"),
        ("industry", "resembles", "Toys", "operator", "Unknown operator 'resembles'"),
        ("industry", "equals", "", "value", "needs one value"),
        ("industry", "one_of", [], "value", "list of at least one value"),
        ("company_size", "gt", "big", "value", "needs a number"),
        ("company_size", "between", [50, 10], "value", "range 50 to 10 is empty"),
        ("company_size", "between", [10], "value", "two numbers"),
        ("city", "is_set", "x", "value", "takes no value"),
        ("city", "matches", "", "value", "needs a pattern"),
    ],
)
def test_check_condition_names_the_field_and_the_reason(
    field: str, operator: str, value: object, where: str, says: str
) -> None:
    errors = pure.check_condition(field, operator, value, dimension=Dimension.FIT)
    assert says in errors[where]


@pytest.mark.parametrize(
    ("field", "dimension", "says"),
    [
        (
            "attributes." + "k" * 101,
            Dimension.FIT,
            f"The custom attribute name '{'k' * 101}' is too long: at most 100 characters, not 101.",
        ),
        (
            "p" * 101,
            Dimension.ENGAGEMENT,
            f"The interaction property name '{'p' * 101}' is too long: at most 100 characters, not 101.",
        ),
    ],
    ids=["custom attribute", "interaction property"],
)
def test_a_name_too_long_is_told_so_with_the_limit(field: str, dimension: Dimension, says: str) -> None:
    assert pure.check_condition(field, "is_set", None, dimension=dimension) == {"field": says}
    assert pure.check_condition(field[:-1], "is_set", None, dimension=dimension) == {}  # 100 is fine


def test_check_condition_accepts_a_valid_one() -> None:
    assert pure.check_condition("industry", "one_of", ["Toys", "Retail"], dimension=Dimension.FIT) == {}
    assert pure.check_condition("campaign", "equals", "spring", dimension=Dimension.ENGAGEMENT) == {}


def test_check_rule() -> None:
    base = dict(
        points=5,
        interaction_types=[],
        condition_count=1,
        cap_count=None,
        cap_points=None,
        cap_window_days=None,
        valid_from=None,
        valid_until=None,
    )
    assert pure.check_rule(dimension="fit", **base) == {}  # type: ignore[arg-type]
    assert "interaction_types" in pure.check_rule(dimension="engagement", **base)  # type: ignore[arg-type]
    assert "conditions" in pure.check_rule(dimension="fit", **{**base, "condition_count": 0})  # type: ignore[arg-type]
    assert "cap" in pure.check_rule(dimension="fit", **{**base, "cap_count": 3})  # type: ignore[arg-type]
    assert "points" in pure.check_rule(dimension="fit", **{**base, "points": 0})  # type: ignore[arg-type]
    window_only = {**base, "interaction_types": ["email_open"], "cap_window_days": 30}
    assert "cap_window_days" in pure.check_rule(dimension="engagement", **window_only)  # type: ignore[arg-type]
    own = {**base, "interaction_types": ["trial_started", "demo-booked"]}
    assert pure.check_rule(dimension="engagement", **own) == {}  # type: ignore[arg-type]
    malformed = {**base, "interaction_types": ["Trial Started"]}
    errors = pure.check_rule(dimension="engagement", **malformed)  # type: ignore[arg-type]
    assert "'Trial Started' is not a type name" in errors["interaction_types"]
    backwards = {**base, "valid_from": T0, "valid_until": T0}
    assert "valid_until" in pure.check_rule(dimension="fit", **backwards)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "text", "value"),
    [
        (Operator.ONE_OF, "Toys, Retail", ["Toys", "Retail"]),
        (Operator.BETWEEN, "10-50", [10, 50]),
        (Operator.BETWEEN, "10 to 50.5", [10, 50.5]),
        (Operator.GT, "1,000", 1000),
        (Operator.EQUALS, "Toys", "Toys"),
        (Operator.EQUALS, "42", 42),
        (Operator.IS_SET, "", None),
        (Operator.MATCHES, "*/landing/*", "*/landing/*"),
    ],
)
def test_values_typed_in_a_form(operator: Operator, text: str, value: object) -> None:
    assert pure.parse_value_text(operator, text) == value
    assert pure.parse_value_text(operator, pure.format_value_text(operator, value)) == value  # type: ignore[arg-type]


def test_a_yes_or_no_attribute_is_tested_with_true_or_false_typed_in_a_form() -> None:
    # Imports store a boolean attribute as true or false (a CSV's boolean column, the API's
    # JSON): a marketer types the word, the rule reads it back the same, and the lead matches.
    typed = pure.parse_value_text(Operator.EQUALS, "false")
    rule = Rule(
        id=1,
        dimension=Dimension.FIT,
        points=5,
        conditions=(Condition("attributes.needs_scholarship", Operator.EQUALS, typed),),
    )
    assert pure.conditions_hold(rule, {"attributes.needs_scholarship": False})
    assert not pure.conditions_hold(rule, {"attributes.needs_scholarship": True})
    assert pure.describe_rule(rule) == "+5 when needs scholarship is false"
    assert pure.format_value_text(Operator.EQUALS, typed) == "false"
    # A file's `value: true` and a text "TRUE" sent by a form mean the same yes.
    yes = Condition("attributes.newsletter", Operator.ONE_OF, [True])
    assert pure.condition_holds(yes, {"attributes.newsletter": "TRUE"})
    assert pure.condition_holds(
        Condition("attributes.newsletter", Operator.EQUALS, "True"), {"attributes.newsletter": True}
    )
    # A rule written with 1 or 0 for a yes or no (a number typed in the form) matches as it always did.
    assert pure.condition_holds(Condition("attributes.newsletter", Operator.EQUALS, 1), {"attributes.newsletter": True})
    assert pure.condition_holds(
        Condition("attributes.newsletter", Operator.ONE_OF, [0, 2]), {"attributes.newsletter": False}
    )
    assert not pure.condition_holds(
        Condition("attributes.newsletter", Operator.NOT_EQUALS, 1), {"attributes.newsletter": True}
    )
    assert not pure.condition_holds(
        Condition("attributes.newsletter", Operator.EQUALS, 2), {"attributes.newsletter": True}
    )


def test_unreadable_values_typed_in_a_form_say_why() -> None:
    with pytest.raises(ValueError, match="not a number"):
        pure.parse_value_text(Operator.GT, "many")
    with pytest.raises(ValueError, match="not a range"):
        pure.parse_value_text(Operator.BETWEEN, "ten to fifty")


def test_rules_read_as_sentences() -> None:
    fit = Rule(
        id=1,
        dimension=Dimension.FIT,
        points=5,
        conditions=(Condition("industry", Operator.ONE_OF, ["Toys", "Retail"]),),
    )
    assert pure.describe_rule(fit) == "+5 when industry is one of Toys, Retail"
    capped = engagement(2, 2, {"email_open", "email_click"}, cap=Cap(count=5, window_days=30))
    assert pure.describe_rule(capped) == "+2 for each email click or email open (at most 5 times per 30 days)"
    far = Rule(
        id=3, dimension=Dimension.FIT, points=-5, conditions=(Condition("attributes.distance_km", Operator.GT, 80),)
    )
    assert pure.describe_rule(far) == "-5 when distance km is more than 80"


# --- numbers written as text, read in the site's language ----------------------------------------

SITE_NUMBERS = [
    # An English site reads as it always did: a point before the decimals, commas between thousands.
    ("en", "25", 25),
    ("en", "2.5", 2.5),
    ("en", "1,000", 1000),
    ("en", "1,250.50", 1250.5),
    ("en", "1.500", 1.5),
    ("en", "1e3", 1000),
    # Marks the site does not write are read when they read only one way.
    ("en", "2,5", 2.5),
    ("en", "1.250,50", 1250.5),
    # A German or a Spanish site writes a comma before the decimals and points between thousands.
    ("de", "2,5", 2.5),
    ("de", "5.000", 5000),
    ("de", "1.250,50", 1250.5),
    ("de", "2.5", 2.5),
    ("de", "1,250.50", 1250.5),
    ("de", "1200000.50", 1200000.5),
    ("es", "2,5", 2.5),
    ("es", "5.000", 5000),
    ("es", "1.250,50", 1250.5),
    ("es", "1\u00a0250,50", 1250.5),
    ("es", "1,250.50", 1250.5),
    ("es", "1,500", 1.5),
    # No number in any language.
    ("en", "lots", None),
    ("es", "12 visits", None),
    ("de", "1e400", None),
    ("es", "nan", None),
    ("en", "1,2,3", None),
]


@pytest.mark.parametrize(("language", "text", "number"), SITE_NUMBERS)
def test_a_number_written_as_text_is_read_as_the_site_s_language_writes_it(
    settings: Any, language: str, text: str, number: float | None
) -> None:
    settings.LANGUAGE_CODE = language
    if number is None:
        # Neither above nor below anything: a numeric rule never holds for it.
        assert not holds("attributes.x", "gte", -(10**12), text)
        assert not holds("attributes.x", "lt", 10**12, text)
        assert not holds("attributes.x", "between", [-(10**12), 10**12], text)
    else:
        assert holds("attributes.x", "equals", number, text)
        assert holds("attributes.x", "between", [number, number], text)
        assert not holds("attributes.x", "gt", number, text)


def test_the_tryout_s_german_attributes_match_the_rules_they_should(settings: Any) -> None:
    settings.LANGUAGE_CODE = "de"
    values = {"attributes.kg_monat": "2,5", "attributes.budget": "5.000"}
    assert not pure.condition_holds(Condition("attributes.kg_monat", Operator.GTE, 20), values)
    assert pure.condition_holds(Condition("attributes.kg_monat", Operator.LTE, 3), values)
    assert pure.condition_holds(Condition("attributes.budget", Operator.GTE, 5000), values)


@given(
    language=st.sampled_from(["en", "es", "de"]),
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_a_number_formatted_in_the_site_s_language_reads_back_to_itself(language: str, value: Decimal) -> None:
    with override_settings(LANGUAGE_CODE=language), translation.override(language):
        written = localized.number(value, 2)
        assert numbers.site_number_text(written) is not None
        assert Decimal(numbers.site_number_text(written) or "") == value
        assert holds("attributes.x", "equals", float(value), written)


def test_a_value_typed_in_the_admin_is_read_as_the_model_file_writes_it_whatever_the_site_s_language(
    settings: Any,
) -> None:
    settings.LANGUAGE_CODE = "es"
    assert pure.parse_value_text(Operator.GTE, "2.5") == 2.5
    assert pure.parse_value_text(Operator.GT, "1,000") == 1000
    assert pure.parse_value_text(Operator.BETWEEN, "10 to 50.5") == [10, 50.5]
    assert pure.parse_value_text(Operator.EQUALS, "2.5") == 2.5
