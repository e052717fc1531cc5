"""A draft rule's "matches N leads now": the SQL count agrees with the engine's own test
of every lead, whichever way it is counted."""

from decimal import Decimal
from typing import Any

import pytest

from scoring import rule_matching
from scoring import rules as pure
from scoring.models import Lead, RuleCondition, ScoringRule
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LEADS: list[dict[str, Any]] = [
    {"industry": "Toys", "city": "San José", "company_size": 12, "annual_revenue": Decimal("50000")},
    {"industry": " toys ", "city": "Oakland", "company_size": 250, "annual_revenue": None},
    {"industry": "", "city": "", "company_size": None, "annual_revenue": Decimal("1200000.50")},
    {"industry": "Retail", "city": "san josé", "company_size": 50, "attributes": {"interests": ["puzzles"]}},
    {"industry": "Retail Toys", "city": "Fresno", "company_size": 0, "attributes": {"interests": "board games"}},
]

CONDITIONS = [
    ("industry", "equals", "toys"),
    ("industry", "not_equals", "Toys"),
    ("industry", "one_of", ["Retail", "Toys"]),
    ("industry", "not_one_of", ["Retail"]),
    ("industry", "contains", "toy"),
    ("industry", "is_set", None),
    ("industry", "is_empty", None),
    ("city", "equals", "San José"),
    ("company_size", "gte", 50),
    ("company_size", "lt", 50),
    ("company_size", "between", [10, 100]),
    ("annual_revenue", "gt", 60000),
    ("company_size", "equals", 50),
    ("industry", "matches", "ret*"),  # not said in SQL: the engine's code counts it
    ("attributes.interests", "one_of", ["puzzles", "board games"]),  # a custom attribute: likewise
]


def engine_count(rule: ScoringRule) -> int:
    plain = rule.as_pure()
    return sum(pure.conditions_hold(plain, lead.rule_values()) for lead in Lead.objects.all())


@pytest.mark.parametrize(("field", "operator", "value"), CONDITIONS)
def test_the_count_is_the_engines(field: str, operator: str, value: object) -> None:
    for n, fields in enumerate(LEADS):
        LeadFactory.create(email=f"l{n}@example.com", **fields)
    rule = ScoringRule.objects.create(key="r", name="R", dimension="fit", points=5)
    RuleCondition.objects.create(rule=rule, field=field, operator=operator, value=value)
    expected = engine_count(rule)
    assert rule_matching.rule_matches(rule).leads == expected


def test_conditions_combine_with_all_and_any() -> None:
    for n, fields in enumerate(LEADS):
        LeadFactory.create(email=f"l{n}@example.com", **fields)
    for match in ("all", "any"):
        rule = ScoringRule.objects.create(key=f"r-{match}", name="R", dimension="fit", points=5, match=match)
        RuleCondition.objects.create(rule=rule, field="industry", operator="one_of", value=["Toys", "Retail"])
        RuleCondition.objects.create(rule=rule, field="company_size", operator="gte", value=50)
        assert rule_matching.rule_matches(rule).leads == engine_count(rule)
    assert engine_count(ScoringRule.objects.get(key="r-all")) != engine_count(ScoringRule.objects.get(key="r-any"))
