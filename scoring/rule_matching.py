"""How many leads a rule matches now, for the marketer editing it in a draft.

A fit rule's conditions on the lead's own columns become one SQL COUNT (text trimmed and
compared without case, as the engine does; numbers by value). A condition SQL cannot say
as the engine means it (custom attributes, patterns, a number compared with a text column,
text with letters beyond ASCII, whose case each database folds its own way) makes the
count read the leads' values and test them with the engine's own code. An engagement rule counts the leads with
an interaction it would score in the last :data:`ENGAGEMENT_DAYS` days.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext

from scoring import rules as pure
from scoring.models import Interaction, Lead, ScoringRule

ENGAGEMENT_DAYS = 90
# A count that needs the engine's code on every lead stops being exact past this many leads.
PYTHON_LIMIT = 200_000

_NUMBER_FIELDS = (models.IntegerField, models.FloatField, models.DecimalField)


@dataclass(frozen=True)
class RuleMatches:
    leads: int
    sentence: str  # what was counted, in words


def _condition_q(condition: pure.Condition) -> Q | None:
    """The condition as a filter on leads, or None when SQL cannot say it as the engine does."""
    name, op, value = condition.field, condition.operator, condition.value
    if name not in Lead.FIT_FIELDS:
        return None
    field = Lead._meta.get_field(name)
    number = isinstance(field, _NUMBER_FIELDS)
    empty = Q(**{f"{name}__isnull": True})
    if not number:
        empty |= Q(**{name: ""})

    def same(expected: pure.Value) -> Q | None:
        if isinstance(expected, bool):
            return None
        if number:
            return Q(**{name: expected}) if isinstance(expected, int | float) else None
        if not isinstance(expected, str) or not expected.isascii():
            return None  # databases fold the case of other letters each their own way
        # As the engine compares: both sides trimmed, case-blind.
        return Q(Exact(Lower(Trim(name)), expected.strip().lower()))

    if op is pure.Operator.IS_SET:
        return ~empty
    if op is pure.Operator.IS_EMPTY:
        return empty
    if op in (pure.Operator.EQUALS, pure.Operator.NOT_EQUALS, pure.Operator.ONE_OF, pure.Operator.NOT_ONE_OF):
        wanted = value if isinstance(value, list) else [value]
        parts = [same(v) for v in wanted]
        if not parts or any(p is None for p in parts):
            return None
        either = reduce(operator.or_, [p for p in parts if p is not None])
        if op in (pure.Operator.EQUALS, pure.Operator.ONE_OF):
            return either & ~empty
        return empty | ~either
    if op is pure.Operator.CONTAINS and not number and isinstance(value, str) and value.isascii():
        return Q(**{f"{name}__icontains": value}) & ~empty
    if number and op in pure.NUMERIC_OPERATORS and isinstance(value, int | float):
        lookup = {pure.Operator.GT: "gt", pure.Operator.GTE: "gte", pure.Operator.LT: "lt", pure.Operator.LTE: "lte"}
        return Q(**{f"{name}__{lookup[op]}": value})
    if number and op is pure.Operator.BETWEEN and isinstance(value, list) and len(value) == 2:
        return Q(**{f"{name}__gte": value[0], f"{name}__lte": value[1]})
    return None


def _fit_matches(rule: pure.Rule) -> RuleMatches:
    parts = [_condition_q(c) for c in rule.conditions]
    if all(p is not None for p in parts):
        joined = operator.and_ if rule.match is pure.Match.ALL else operator.or_
        where = reduce(joined, [p for p in parts if p is not None]) if parts else Q()
        return RuleMatches(Lead.objects.filter(where).count(), gettext("leads whose fields match its conditions now"))
    leads = Lead.objects.only(*Lead.FIT_FIELDS, "attributes").order_by()[:PYTHON_LIMIT]
    count = sum(1 for lead in leads.iterator(chunk_size=2000) if pure.conditions_hold(rule, lead.rule_values()))
    words = gettext("leads whose fields match its conditions now")
    if Lead.objects.count() > PYTHON_LIMIT:
        words = gettext("leads whose fields match its conditions now (among the first {count} leads)").format(
            count=PYTHON_LIMIT
        )
    return RuleMatches(count, words)


def _engagement_matches(rule: pure.Rule) -> RuleMatches:
    since = timezone.now() - timedelta(days=ENGAGEMENT_DAYS)
    interactions = Interaction.objects.filter(
        type__in=sorted(rule.interaction_types), occurred_at__gte=since, lead__isnull=False
    )
    words = gettext("leads with an interaction it scores in the last {days} days").format(days=ENGAGEMENT_DAYS)
    if not rule.conditions:
        return RuleMatches(interactions.values("lead_id").distinct().count(), words)
    leads: set[int] = set()
    rows = interactions.values_list("pk", "lead_id", "type", "occurred_at", "properties").order_by()
    for pk, lead_id, kind, occurred_at, properties in rows.iterator(chunk_size=5000):
        if lead_id in leads:
            continue
        facts = pure.InteractionFacts(pk, lead_id, kind, occurred_at, properties or {})
        if pure.rule_matches_interaction(rule, facts):
            leads.add(lead_id)
    return RuleMatches(len(leads), words)


def rule_matches(rule: ScoringRule) -> RuleMatches:
    """How many leads ``rule`` (live or a draft's, as saved) matches now."""
    plain = rule.as_pure()
    if plain.dimension is pure.Dimension.FIT:
        return _fit_matches(plain)
    return _engagement_matches(plain)
