"""Scoring rules as plain data, and the pure decisions made with them.

Nothing here touches the database: services load rows, turn them into the
dataclasses below, ask these functions what to award, and write the answer.
The clock is always passed in.
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import NamedTuple, Protocol

from scoring import event_types, lead_fields, numbers
from scoring.event_types import gettext_noop


class Dimension(StrEnum):
    FIT = "fit"
    ENGAGEMENT = "engagement"


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    ONE_OF = "one_of"
    NOT_ONE_OF = "not_one_of"
    CONTAINS = "contains"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IS_SET = "is_set"
    IS_EMPTY = "is_empty"
    MATCHES = "matches"


OPERATOR_PHRASES: dict[Operator, str] = {
    Operator.EQUALS: gettext_noop("is"),
    Operator.NOT_EQUALS: gettext_noop("is not"),
    Operator.ONE_OF: gettext_noop("is one of"),
    Operator.NOT_ONE_OF: gettext_noop("is none of"),
    Operator.CONTAINS: gettext_noop("contains"),
    Operator.GT: gettext_noop("is more than"),
    Operator.GTE: gettext_noop("is at least"),
    Operator.LT: gettext_noop("is less than"),
    Operator.LTE: gettext_noop("is at most"),
    Operator.BETWEEN: gettext_noop("is between"),
    Operator.IS_SET: gettext_noop("is set"),
    Operator.IS_EMPTY: gettext_noop("is empty"),
    Operator.MATCHES: gettext_noop("matches"),
}

SCALAR_OPERATORS = {Operator.EQUALS, Operator.NOT_EQUALS, Operator.CONTAINS}
LIST_OPERATORS = {Operator.ONE_OF, Operator.NOT_ONE_OF}
NUMERIC_OPERATORS = {Operator.GT, Operator.GTE, Operator.LT, Operator.LTE}
VALUELESS_OPERATORS = {Operator.IS_SET, Operator.IS_EMPTY}
# Negative tests hold when the field or property is empty (missing, "", [] or {}): "industry is
# not Retail" holds for a lead whose industry is unknown. Combine with is_set to leave those out.
EMPTY_HOLDS = {Operator.NOT_EQUALS, Operator.NOT_ONE_OF}

# Lead fields a fit rule may test, with their words; custom attributes are named "attributes.<key>".
LEAD_FIELDS: dict[str, str] = lead_fields.FIT_LABELS
CUSTOM_PREFIX = "attributes."


# A custom attribute's or a property's name: its length is checked apart, to be told as such.
NAME_MAX_LENGTH = 100
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

Value = str | int | float | bool | None | list["Value"]


@dataclass(frozen=True)
class Condition:
    field: str
    operator: Operator
    value: Value = None


# The longest window a cap may have (ten years): a longer one caps for ever anyway.
CAP_WINDOW_DAYS_MAX = 3650


@dataclass(frozen=True)
class Cap:
    """At most ``count`` awards and/or ``points`` points, per lead.

    With ``window_days`` the limit holds in every period of that many days
    rather than over the lead's whole history. A window is elapsed time
    (24 hours times ``window_days``, between the instants the interactions
    happened), the same in every time zone and across daylight-saving
    changes: two awards count together when they are less than that apart,
    not when they are exactly that apart. A points cap clips the award that
    reaches it (cap 25, +10 a time: 10, 10, 5).
    """

    count: int | None = None
    points: int | None = None
    window_days: int | None = None

    @property
    def window(self) -> timedelta | None:
        if not self.window_days:
            return None
        try:
            return timedelta(days=self.window_days)
        except OverflowError:  # stored before CAP_WINDOW_DAYS_MAX: longer than the calendar
            return timedelta.max


@dataclass(frozen=True)
class Rule:
    id: int
    dimension: Dimension
    points: int
    conditions: tuple[Condition, ...] = ()
    match: Match = Match.ALL
    interaction_types: frozenset[str] = frozenset()
    cap: Cap | None = None
    active: bool = True
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        """Whether the rule counts at ``at``: from ``valid_from`` (included) until ``valid_until``
        (excluded). Engagement rules ask it at the interaction's ``occurred_at``, whenever it
        arrives; fit rules at the moment the lead's fit is evaluated."""
        if not self.active:
            return False
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


# InteractionFacts, Award, Change and Scores are named tuples, not frozen dataclasses: a
# rescore or a replay builds millions of them, a scoring batch one per award and per lead
# and scorecard it moves, and a frozen dataclass's __init__ (one object.__setattr__ per
# field) took 2.6 times a tuple's time.
_NO_PROPERTIES: Mapping[str, object] = MappingProxyType({})


class InteractionFacts(NamedTuple):
    id: int
    lead_id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, object] = _NO_PROPERTIES


class Award(NamedTuple):
    """Points a rule gave a lead for one interaction (a ledger row); or ``awards`` awards
    whose ledger rows retention compacted (``interaction_id`` 0, ``points`` the sum of
    theirs taken as positive), which count against caps as they did."""

    lead_id: int
    rule_id: int
    interaction_id: int
    occurred_at: datetime
    points: int
    awards: int = 1


# --- words -------------------------------------------------------------------


class Words(Protocol):
    """The language a sentence is made in: ``phrase`` translates one of the phrases
    marked here (English in, the reader's language out), ``subject`` names a lead field
    as the subject of a condition ("industry"; in Spanish "la industria")."""

    def phrase(self, message: str) -> str: ...

    def subject(self, field: str, label: str) -> str: ...


class English:
    def phrase(self, message: str) -> str:
        return message

    def subject(self, field: str, label: str) -> str:
        return label


ENGLISH = English()


# --- checking rules (what the admin form and the model file both ask) ---------


def check_field(field_name: str, *, dimension: Dimension, words: Words = ENGLISH) -> str | None:
    """The reason ``field_name`` cannot be tested by a rule of ``dimension``, or None."""
    phrase = words.phrase
    if not field_name:
        return phrase(gettext_noop("This field is required."))
    if dimension is Dimension.FIT:
        if field_name in LEAD_FIELDS:
            return None
        if field_name.startswith(CUSTOM_PREFIX):
            key = field_name[len(CUSTOM_PREFIX) :]
            if not _CUSTOM_KEY.match(key):
                return phrase(
                    gettext_noop("'{key}' is not a valid custom attribute name (letters, digits, _ and -).")
                ).format(key=key)
            if len(key) > NAME_MAX_LENGTH:
                return phrase(
                    gettext_noop(
                        "The custom attribute name '{key}' is too long: at most {limit} characters, not {length}."
                    )
                ).format(key=key, limit=NAME_MAX_LENGTH, length=len(key))
            return None
        known = ", ".join(LEAD_FIELDS)
        return phrase(
            gettext_noop("Unknown lead field '{field}'. Use one of {known}, or {prefix}<name> for a custom attribute.")
        ).format(field=field_name, known=known, prefix=CUSTOM_PREFIX)
    if not _PROPERTY_NAME.match(field_name):
        return phrase(
            gettext_noop("'{field}' is not a valid interaction property name (letters, digits, _ . -).")
        ).format(field=field_name)
    if len(field_name) > NAME_MAX_LENGTH:
        return phrase(
            gettext_noop(
                "The interaction property name '{field}' is too long: at most {limit} characters, not {length}."
            )
        ).format(field=field_name, limit=NAME_MAX_LENGTH, length=len(field_name))
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def check_value(operator: Operator, value: object, *, words: Words = ENGLISH) -> str | None:
    """The reason ``value`` does not fit ``operator``, or None."""
    phrase = words.phrase
    if operator in VALUELESS_OPERATORS:
        if value is None:
            return None
        return phrase(gettext_noop("'{operator}' takes no value; leave it empty.")).format(operator=operator)
    if operator in SCALAR_OPERATORS:
        if not _is_scalar(value) or value == "":
            return phrase(gettext_noop("'{operator}' needs one value (text or a number).")).format(operator=operator)
        return None
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            return phrase(gettext_noop("'{operator}' needs a list of at least one value.")).format(operator=operator)
        if not all(_is_scalar(item) and item != "" for item in value):
            return phrase(gettext_noop("Every item of '{operator}' must be text or a number.")).format(
                operator=operator
            )
        return None
    if operator in NUMERIC_OPERATORS:
        if not _is_number(value):
            return phrase(gettext_noop("'{operator}' needs a number.")).format(operator=operator)
        return None
    if operator is Operator.BETWEEN:
        if not isinstance(value, list) or len(value) != 2 or not all(_is_number(item) for item in value):
            return phrase(gettext_noop("'between' needs two numbers: the lowest and the highest."))
        low, high = value
        if low > high:
            return phrase(
                gettext_noop("The range {low} to {high} is empty: the first number must not exceed the second.")
            ).format(low=low, high=high)
        return None
    if operator is Operator.MATCHES:
        if not isinstance(value, str) or not value:
            return phrase(gettext_noop("'matches' needs a pattern, for example */pricing*."))
        return None
    raise AssertionError(f"unhandled operator {operator!r}")  # pragma: no cover


def check_condition(
    field_name: str, operator: str, value: object, *, dimension: Dimension, words: Words = ENGLISH
) -> dict[str, str]:
    """Errors by attribute name ("field", "operator", "value"); empty when valid."""
    errors: dict[str, str] = {}
    field_error = check_field(field_name, dimension=dimension, words=words)
    if field_error:
        errors["field"] = field_error
    try:
        op = Operator(operator)
    except ValueError:
        errors["operator"] = words.phrase(gettext_noop("Unknown operator '{operator}'. Use one of {known}.")).format(
            operator=operator, known=", ".join(o.value for o in Operator)
        )
        return errors
    value_error = check_value(op, value, words=words)
    if value_error:
        errors["value"] = value_error
    return errors


def check_rule(
    *,
    dimension: str,
    points: object,
    interaction_types: Sequence[str],
    condition_count: int,
    cap_count: object,
    cap_points: object,
    cap_window_days: object,
    valid_from: datetime | None,
    valid_until: datetime | None,
    words: Words = ENGLISH,
) -> dict[str, str]:
    """Errors by rule attribute for everything but the conditions themselves."""
    phrase = words.phrase
    errors: dict[str, str] = {}
    try:
        dim = Dimension(dimension)
    except ValueError:
        return {
            "dimension": phrase(gettext_noop("Unknown dimension '{dimension}'. Use fit or engagement.")).format(
                dimension=dimension
            )
        }
    if not isinstance(points, int) or isinstance(points, bool):
        errors["points"] = phrase(gettext_noop("Points must be a whole number (negative to subtract)."))
    elif points == 0:
        errors["points"] = phrase(
            gettext_noop("A rule worth 0 points does nothing; give it positive or negative points.")
        )
    malformed = [problem for t in interaction_types if (problem := event_types.type_name_problem(t, phrase=phrase))]
    if dim is Dimension.FIT:
        if interaction_types:
            errors["interaction_types"] = phrase(
                gettext_noop("Fit rules test who the lead is; leave interaction types empty.")
            )
        if condition_count == 0:
            errors["conditions"] = phrase(gettext_noop("A fit rule needs at least one condition on the lead."))
        if any(v is not None for v in (cap_count, cap_points, cap_window_days)):
            errors["cap"] = phrase(gettext_noop("Caps apply to engagement rules only; a fit rule counts once."))
    else:
        if not interaction_types:
            errors["interaction_types"] = phrase(gettext_noop("Choose at least one interaction type."))
        elif malformed:
            # "a; b; c", each in the reader's language (a phrase no catalogue holds, so kept as it is)
            errors["interaction_types"] = functools.reduce(
                lambda said, problem: phrase("{said}; {problem}").format(said=said, problem=problem), malformed
            )
        for name, cap_value in (("cap_count", cap_count), ("cap_points", cap_points)):
            if cap_value is not None and (
                not isinstance(cap_value, int) or isinstance(cap_value, bool) or cap_value < 1
            ):
                errors[name] = phrase(gettext_noop("A cap must be a whole number of at least 1."))
        if cap_window_days is not None:
            if not isinstance(cap_window_days, int) or isinstance(cap_window_days, bool) or cap_window_days < 1:
                errors["cap_window_days"] = phrase(
                    gettext_noop("The window must be a whole number of days, at least 1.")
                )
            elif cap_window_days > CAP_WINDOW_DAYS_MAX:
                errors["cap_window_days"] = phrase(
                    gettext_noop("The window is at most {days} days (ten years).")
                ).format(days=CAP_WINDOW_DAYS_MAX)
            elif cap_count is None and cap_points is None:
                errors["cap_window_days"] = phrase(gettext_noop("A window needs a cap on times or points to limit."))
    if valid_from and valid_until and valid_until <= valid_from:
        errors["valid_until"] = phrase(gettext_noop("The end of validity must come after its start."))
    return errors


# --- evaluating conditions ------------------------------------------------------


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _as_number(value: object, *, reader: numbers.Reader | None = None) -> float | None:
    """A number, or one written as text: by ``reader``, else as the site's language writes
    it ("2,5" is two and a half on a Spanish site, 2.5 on an English one); a text that is
    no number there, or could be two, is none."""
    if _is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return numbers.site_number(value) if reader is None else reader.number(value)
    return None


# A yes or no as text: what a form field, a CSV cell or a person typing a condition writes.
_TRUTH_WORDS = {"true": True, "false": False}


def _truth(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _TRUTH_WORDS.get(value.strip().casefold())
    if _is_number(value) and value in (0, 1):  # a yes or no written 1 or 0, as it always matched
        return bool(value)
    return None


def _same(actual: object, expected: object) -> bool:
    """Equality as a marketer means it: case-blind text, numbers by value, a yes or no
    the same whether it is stored as a boolean or written as true or false."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        truth = _truth(actual), _truth(expected)
        return None not in truth and truth[0] is truth[1]
    if _is_number(expected):
        return _as_number(actual) == float(expected)  # type: ignore[arg-type]
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().casefold() == expected.strip().casefold()
    if _is_number(actual) and isinstance(expected, str):
        return _as_number(expected, reader=_TYPED) == float(actual)  # type: ignore[arg-type]
    return actual == expected


def _items(actual: object) -> list[object]:
    return list(actual) if isinstance(actual, list | tuple) else [actual]


def condition_holds(condition: Condition, values: Mapping[str, object]) -> bool:
    actual = values.get(condition.field)
    op, expected = condition.operator, condition.value
    if op is Operator.IS_SET:
        return not _is_empty(actual)
    if op is Operator.IS_EMPTY:
        return _is_empty(actual)
    if _is_empty(actual):
        # Nothing known: only the negative tests hold ("is not Retail": it is not known to be).
        return op in EMPTY_HOLDS
    if op is Operator.EQUALS:
        return any(_same(item, expected) for item in _items(actual))
    if op is Operator.NOT_EQUALS:
        return not any(_same(item, expected) for item in _items(actual))
    if op is Operator.ONE_OF:
        assert isinstance(expected, list)
        return any(_same(item, e) for item in _items(actual) for e in expected)
    if op is Operator.NOT_ONE_OF:
        assert isinstance(expected, list)
        return not any(_same(item, e) for item in _items(actual) for e in expected)
    if op is Operator.CONTAINS:
        if isinstance(actual, list | tuple):
            return any(_same(item, expected) for item in actual)
        return str(expected).casefold() in str(actual).casefold()
    if op is Operator.MATCHES:
        pattern = str(expected).casefold()
        return any(fnmatch.fnmatchcase(str(item).casefold(), pattern) for item in _items(actual))
    number = _as_number(actual)
    if number is None:
        return False
    if op is Operator.BETWEEN:
        assert isinstance(expected, list)
        low, high = (float(x) for x in expected)  # type: ignore[arg-type]
        return low <= number <= high
    limit = float(expected)  # type: ignore[arg-type]
    if op is Operator.GT:
        return number > limit
    if op is Operator.GTE:
        return number >= limit
    if op is Operator.LT:
        return number < limit
    if op is Operator.LTE:
        return number <= limit
    raise AssertionError(f"unhandled operator {op!r}")  # pragma: no cover


def conditions_hold(rule: Rule, values: Mapping[str, object]) -> bool:
    if not rule.conditions:
        return True
    if len(rule.conditions) == 1:
        # Most rules test one thing, and scoring asks once per interaction and rule.
        return condition_holds(rule.conditions[0], values)
    results = (condition_holds(c, values) for c in rule.conditions)
    return all(results) if rule.match is Match.ALL else any(results)


def email_domain(email: object) -> str:
    """The lower-cased part of ``email`` after its last "@" ("" when it has none): what
    rules test as ``email_domain``, predictions read and accounts are known by."""
    text = str(email or "")
    return text.rpartition("@")[2].lower() if "@" in text else ""


def lead_values(fields: Mapping[str, object], attributes: Mapping[str, object]) -> dict[str, object]:
    """The flat mapping fit conditions read: lead fields plus ``attributes.<key>``."""
    values = dict(fields)
    values["email_domain"] = email_domain(fields.get("email"))
    for key, value in attributes.items():
        values[CUSTOM_PREFIX + key] = value
    return values


# --- fit --------------------------------------------------------------------------


def fit_targets(rules: Iterable[Rule], values: Mapping[str, object], *, at: datetime) -> dict[int, int]:
    """What each fit rule in force should contribute to this lead now."""
    return {
        rule.id: rule.points
        for rule in rules
        if rule.dimension is Dimension.FIT and rule.in_force(at) and conditions_hold(rule, values)
    }


def fit_deltas(targets: Mapping[int, int], current: Mapping[int, int]) -> dict[int, int]:
    """Ledger deltas per rule that bring ``current`` contributions to ``targets``.

    Rules that no longer apply (or are no longer in force) are taken back to 0.
    """
    deltas = {}
    for rule_id in sorted(set(targets) | set(current)):
        delta = targets.get(rule_id, 0) - current.get(rule_id, 0)
        if delta:
            deltas[rule_id] = delta
    return deltas


# --- engagement ---------------------------------------------------------------


def rule_matches_interaction(rule: Rule, interaction: InteractionFacts) -> bool:
    return (
        rule.dimension is Dimension.ENGAGEMENT
        and interaction.type in rule.interaction_types
        and rule.in_force(interaction.occurred_at)
        and conditions_hold(rule, interaction.properties)
    )


def capped_points(rule: Rule, occurred_at: datetime, past: Sequence[Award]) -> int:
    """Points ``rule`` may still give for an interaction at ``occurred_at``.

    ``past`` are this rule's earlier awards to the same lead. With a window of
    W days, awards less than W days before *or after* ``occurred_at`` count:
    then no period of W days ever holds more than the cap, even when
    interactions arrive out of order.
    """
    cap = rule.cap
    if cap is None:
        return rule.points
    window = cap.window
    relevant = past if window is None else [a for a in past if abs(a.occurred_at - occurred_at) < window]
    if cap.count is not None and sum(a.awards for a in relevant) >= cap.count:
        return 0
    if cap.points is None:
        return rule.points
    remaining = cap.points - sum(abs(a.points) for a in relevant)
    if remaining <= 0:
        return 0
    return int(math.copysign(min(abs(rule.points), remaining), rule.points))


def score_interactions(
    rules: Sequence[Rule],
    interactions: Iterable[InteractionFacts],
    history: Mapping[tuple[int, int], Sequence[Award]],
) -> list[Award]:
    """Awards for ``interactions``, in time order, honouring every cap.

    ``history`` holds earlier awards by (lead id, rule id); it is not changed.
    """
    # Each interaction is tried against the rules of its type only, in the rules' order.
    by_type: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.dimension is Dimension.ENGAGEMENT:
            for kind in rule.interaction_types:
                by_type.setdefault(kind, []).append(rule)
    awarded: dict[tuple[int, int], list[Award]] = {}
    awards: list[Award] = []
    for interaction in sorted(interactions, key=_in_order):
        for rule in by_type.get(interaction.type, ()):
            # An engagement rule of its type: the rest of rule_matches_interaction.
            if not (rule.in_force(interaction.occurred_at) and conditions_hold(rule, interaction.properties)):
                continue
            key = (interaction.lead_id, rule.id)
            past = awarded.get(key)
            if past is None:
                past = awarded[key] = list(history.get(key, ()))
            points = capped_points(rule, interaction.occurred_at, past)
            if points == 0:
                continue
            award = Award(
                lead_id=interaction.lead_id,
                rule_id=rule.id,
                interaction_id=interaction.id,
                occurred_at=interaction.occurred_at,
                points=points,
            )
            past.append(award)
            awards.append(award)
    return awards


# Caps and windows are judged in the order things happened: by time, and among
# interactions of the same moment by id (the order they were recorded in).
_in_order: Callable[[InteractionFacts], tuple[datetime, int]] = attrgetter("occurred_at", "id")


def _award_order(award: Award) -> tuple[datetime, int]:
    return (award.occurred_at, award.interaction_id)


class Change(NamedTuple):
    """A change to the points ``rule_id`` gives ``interaction_id``: its award (``revised``
    False), or a revision of an earlier award, because an interaction that happened
    before it was scored after it (``revised``)."""

    lead_id: int
    rule_id: int
    interaction_id: int
    occurred_at: datetime
    points: int
    revised: bool = False


def late_starts(
    rules: Sequence[Rule],
    interactions: Iterable[InteractionFacts],
    history: Mapping[tuple[int, int], Sequence[Award]],
) -> dict[tuple[int, int], tuple[datetime, int]]:
    """The (lead, capped rule) pairs that ``interactions`` reach *late*: one of them
    happened before an award already made, so that award and the interactions
    after it must be judged again. Value: the earliest such interaction (time, id)."""
    capped = [r for r in rules if r.dimension is Dimension.ENGAGEMENT and r.cap is not None]
    last = {key: max(_award_order(a) for a in past) for key, past in history.items() if past}
    starts: dict[tuple[int, int], tuple[datetime, int]] = {}
    for interaction in interactions:
        for rule in capped:
            key = (interaction.lead_id, rule.id)
            if key not in last or not rule_matches_interaction(rule, interaction):
                continue
            here = _in_order(interaction)
            if here < last[key] and (key not in starts or here < starts[key]):
                starts[key] = here
    return starts


def score_interactions_in_order(
    rules: Sequence[Rule],
    interactions: Iterable[InteractionFacts],
    history: Mapping[tuple[int, int], Sequence[Award]],
    later: Iterable[InteractionFacts] = (),
) -> list[Change]:
    """The awards for new ``interactions`` and the revisions of earlier awards they
    cause, so that every cap and window is judged in the order things happened,
    whatever order they arrived in.

    ``history``: the awards so far by (lead id, rule id), each the net points the
    ledger holds for one interaction (none where that is 0). ``later``: interactions
    scored before that happened at or after the late ones (:func:`late_starts`) —
    what is judged again. Awards before the earliest new interaction stand; from
    it on, the rule's awards are judged again in time order, and each that changes
    is revised by the difference. The result is what scoring every interaction in
    one batch, in time order, would have given.
    """
    engagement_rules = [r for r in rules if r.dimension is Dimension.ENGAGEMENT]
    # The rules of each type, in the rules' order: a lead's interactions are tried against
    # the rules of their types only (with several scorecards most rules are of other types).
    by_type: dict[str, list[Rule]] = {}
    for rule in engagement_rules:
        for kind in rule.interaction_types:
            by_type.setdefault(kind, []).append(rule)
    new_by_lead: dict[int, list[InteractionFacts]] = {}
    for interaction in interactions:
        new_by_lead.setdefault(interaction.lead_id, []).append(interaction)
    later_by_lead: dict[int, list[InteractionFacts]] = {}
    for interaction in later:
        later_by_lead.setdefault(interaction.lead_id, []).append(interaction)
    changes: list[Change] = []
    for lead_id, new in new_by_lead.items():
        if len(new) == 1 or len(kinds := {i.type for i in new}) == 1:
            tried = by_type.get(new[0].type, [])
        else:
            tried = [r for r in engagement_rules if not kinds.isdisjoint(r.interaction_types)]
        new_ids: set[int] | None = None
        for rule in tried:
            matching = [i for i in new if rule_matches_interaction(rule, i)]
            if not matching:
                continue
            if rule.cap is None:
                # Nothing to judge again: each interaction it matches gets its points, in order.
                if rule.points:
                    matching.sort(key=_in_order)
                    changes.extend(Change(lead_id, rule.id, i.id, i.occurred_at, rule.points) for i in matching)
                continue
            if new_ids is None:
                new_ids = {i.id for i in new}
            past = history.get((lead_id, rule.id), ())
            start = min(_in_order(i) for i in matching)
            again = {a.interaction_id: a for a in past if _award_order(a) >= start}
            candidates = matching
            if again:
                candidates = matching + [
                    i
                    for i in later_by_lead.get(lead_id, ())
                    if i.id not in new_ids and _in_order(i) >= start and rule_matches_interaction(rule, i)
                ]
            judged = {i.id for i in candidates}
            # Awards that stand: those before the start, and any this rule no longer
            # matches (they are not judged again, but still count against the cap).
            standing = [a for a in past if a.interaction_id not in again or a.interaction_id not in judged]
            for interaction in sorted(candidates, key=_in_order):
                points = capped_points(rule, interaction.occurred_at, standing)
                before = again[interaction.id].points if interaction.id in again else 0
                if points:
                    standing.append(Award(lead_id, rule.id, interaction.id, interaction.occurred_at, points))
                if points != before:
                    changes.append(
                        Change(
                            lead_id,
                            rule.id,
                            interaction.id,
                            interaction.occurred_at,
                            points - before,
                            revised=interaction.id not in new_ids,
                        )
                    )
    return changes


# --- cached scores -------------------------------------------------------------


class Scores(NamedTuple):
    """A lead's cached scores on one scorecard (a named tuple: see InteractionFacts)."""

    fit: int = 0
    engagement: int = 0

    @property
    def total(self) -> int:
        return self.fit + self.engagement


def scores_moved(current: Mapping[int, Scores], entries: Iterable[tuple[int, str, int]]) -> dict[int, Scores]:
    """New cached scores of the leads that ``entries`` (lead id, dimension, delta) touch."""
    moved: dict[int, Scores] = {}
    for lead_id, dimension, delta in entries:
        before = moved.get(lead_id) or current.get(lead_id) or Scores()
        if dimension == Dimension.FIT:
            moved[lead_id] = Scores(before.fit + delta, before.engagement)
        else:
            moved[lead_id] = Scores(before.fit, before.engagement + delta)
    return moved


# --- groups -------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A score group's thresholds: enter at ``min_score``; once in, leave only
    below ``leave_below`` (hysteresis, at most ``min_score``) if it is set."""

    id: int
    min_score: int
    leave_below: int | None = None


def group_for(total: int, bands: Sequence[Band | tuple[int, int]], current: int | None = None) -> int | None:
    """The id of the group a lead with ``total`` points belongs to.

    The highest group whose ``min_score`` the total reaches, or none below
    every threshold; but a lead already in ``current`` stays there while its
    total is at least that group's ``leave_below``, so a score hovering at a
    border does not bounce between groups. Moving up is never held back.
    """
    # One pass (scoring calls this for every lead and scorecard a batch moves): the first
    # of the highest groups reached, and the first band of the current group.
    raw = now = None
    for band in bands:
        b = band if isinstance(band, Band) else Band(*band)
        if total >= b.min_score and (raw is None or b.min_score > raw.min_score):
            raw = b
        if now is None and b.id == current:
            now = b
    if now is None or raw is now or (raw is not None and raw.min_score > now.min_score):
        return raw.id if raw else None
    keep_from = now.leave_below if now.leave_below is not None else now.min_score
    return now.id if total >= keep_from else (raw.id if raw else None)


@dataclass(frozen=True)
class Step:
    """One group crossed by a change of score: from one group to the next, and
    the part of the change it covers (so that each watched score between the two
    totals lies in exactly one step)."""

    from_group: int | None
    to_group: int | None
    previous_total: int
    total: int


def groups_crossed(
    from_group: int | None, to_group: int | None, previous_total: int, total: int, bands: Sequence[Band]
) -> list[Step]:
    """A change of group as the groups it crosses, in order.

    A lead whose score rises from Warm past MQL to SQL-ready in one change enters
    MQL, then SQL-ready, as it would have had the points come one by one: going
    up, it enters each group whose minimum lies between the two groups'; going
    down, it passes through each such group on its way to the group its new
    total belongs to. Each step covers its part of the change: up, a step ends
    at the minimum of the group it enters; down, at the total just below where
    the group it leaves is left; the last step ends at ``total``.
    """
    if from_group == to_group:
        return [Step(from_group, to_group, previous_total, total)]
    by_id = {b.id: b for b in bands}
    low = by_id[from_group].min_score if from_group in by_id else None
    high = by_id[to_group].min_score if to_group in by_id else None
    up = high is not None and (low is None or high > low)
    if up:
        between = sorted(
            (b for b in bands if b.id != to_group and (low is None or b.min_score > low) and b.min_score < high),  # type: ignore[operator]
            key=lambda b: (b.min_score, b.id),
        )
    else:
        between = sorted(
            (b for b in bands if b.id != from_group and b.min_score < low and (high is None or b.min_score > high)),  # type: ignore[operator]
            key=lambda b: (-b.min_score, -b.id),
        )
    path = [from_group, *(b.id for b in between), to_group]
    steps: list[Step] = []
    reached = previous_total
    for here, there in itertools.pairwise(path):
        if there == to_group:
            end = total
        elif up:
            end = min(max(reached, by_id[there].min_score), total)  # type: ignore[index]
        else:
            left = by_id.get(here) if here is not None else None
            edge = (left.leave_below if left.leave_below is not None else left.min_score) - 1 if left else reached
            end = max(min(reached, edge), total)
        steps.append(Step(here, there, reached, end))
        reached = end
    return steps


def group_moves(
    from_group: int | None, to_group: int | None, previous_total: int, total: int, bands: Sequence[Band]
) -> list[tuple[Step, bool]]:
    """:func:`groups_crossed`, each step with its direction (True: up). A step between
    two groups goes up when the group entered has the higher minimum (out of no group
    is up); a step that stays in one group (a watched score crossed) goes the way its
    total moved. Leads' and accounts' transitions are both recorded from this."""
    minimum = {band.id: band.min_score for band in bands}
    moves = []
    for step in groups_crossed(from_group, to_group, previous_total, total, bands):
        if step.from_group != step.to_group:
            up = step.to_group is not None and (
                step.from_group is None or minimum.get(step.to_group, 0) > minimum.get(step.from_group, 0)
            )
        else:
            up = step.total > step.previous_total
        moves.append((step, up))
    return moves


def crosses_watch(before: int, after: int, watched: Iterable[int]) -> bool:
    """Whether a total going from ``before`` to ``after`` crosses a watched score:
    rises to it (``before < v <= after``) or falls below it (``after < v <= before``)."""
    low, high = sorted((before, after))
    return before != after and any(low < v <= high for v in watched)


def describe_value(operator: Operator, value: Value, *, words: Words = ENGLISH) -> str:
    if operator in VALUELESS_OPERATORS:
        return ""
    if isinstance(value, list):
        if operator is Operator.BETWEEN:
            return words.phrase(gettext_noop("{low} and {high}")).format(low=value[0], high=value[1])
        return ", ".join(_value_word(v) for v in value)
    return _value_word(value)


def _value_word(value: Value) -> str:
    """A value as written in a model file and typed in a form (true, not Python's True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_condition(condition: Condition, *, dimension: Dimension, words: Words = ENGLISH) -> str:
    if dimension is Dimension.FIT:
        if condition.field.startswith(CUSTOM_PREFIX):
            subject = condition.field[len(CUSTOM_PREFIX) :].replace("_", " ")
        else:
            subject = words.subject(condition.field, LEAD_FIELDS.get(condition.field, condition.field))
    else:
        subject = condition.field
    text = f"{subject} {words.phrase(OPERATOR_PHRASES[condition.operator])}"
    value = describe_value(condition.operator, condition.value, words=words)
    text = f"{text} {value}" if value else text
    if condition.operator in EMPTY_HOLDS:
        # As condition_holds judges it: say so where the rule is read.
        text = words.phrase(gettext_noop("{condition} (or empty)")).format(condition=text)
    return text


def describe_rule(rule: Rule, *, type_labels: Mapping[str, str] | None = None, words: Words = ENGLISH) -> str:
    """The rule as a sentence: "+5 when industry is one of Toys, Retail"; an
    engagement rule's types in words (``type_labels`` for the company's own), in the
    language of ``words`` ("+5 cuando la industria es una de Toys, Retail")."""
    phrase = words.phrase
    points = f"{rule.points:+d}"
    both, either = phrase(gettext_noop("and")), phrase(gettext_noop("or"))
    joiner = f" {both} " if rule.match is Match.ALL else f" {either} "
    conditions = joiner.join(describe_condition(c, dimension=rule.dimension, words=words) for c in rule.conditions)
    if rule.dimension is Dimension.FIT:
        if not conditions:
            return phrase(gettext_noop("{points} for every lead")).format(points=points)
        return phrase(gettext_noop("{points} when {conditions}")).format(points=points, conditions=conditions)
    kinds = f" {either} ".join(phrase(event_types.label(t, type_labels or {})) for t in sorted(rule.interaction_types))
    sentence = phrase(gettext_noop("{points} for each {kinds}")).format(points=points, kinds=kinds)
    if conditions:
        where = phrase(gettext_noop("{sentence} where {conditions}"))
        sentence = where.format(sentence=sentence, conditions=conditions)
    cap = rule.cap
    if cap and (cap.count or cap.points):
        limits = []
        if cap.count:
            times = gettext_noop("{count} time") if cap.count == 1 else gettext_noop("{count} times")
            limits.append(phrase(times).format(count=cap.count))
        if cap.points:
            limits.append(phrase(gettext_noop("{points} points")).format(points=cap.points))
        limit = f" {both} ".join(limits)
        if cap.window_days:
            limit = phrase(gettext_noop("{limits} per {days} days")).format(limits=limit, days=cap.window_days)
        sentence = phrase(gettext_noop("{sentence} (at most {limits})")).format(sentence=sentence, limits=limit)
    return sentence


# --- values as a person types them ------------------------------------------------


# A condition's value typed in the admin is read as the model file writes it, a point
# before the decimals ("2.5", "1,000"), whatever the site's language.
_TYPED = numbers.reader(".")


def parse_value_text(operator: Operator, text: str, *, words: Words = ENGLISH) -> Value:
    """Read a condition value typed in a form: "Toys, Retail", "10-50", "42".

    Raises ValueError with a message for the person who typed it, in ``words``' language.
    """
    phrase = words.phrase
    text = text.strip()
    if operator in VALUELESS_OPERATORS:
        if text:
            raise ValueError(
                phrase(gettext_noop("'{operator}' takes no value; leave it empty.")).format(operator=operator)
            )
        return None
    if not text:
        raise ValueError(phrase(gettext_noop("'{operator}' needs a value.")).format(operator=operator))
    if operator in LIST_OPERATORS:
        return [_typed(part) for part in (p.strip() for p in text.split(",")) if part]
    if operator in NUMERIC_OPERATORS:
        number = _as_number(text, reader=_TYPED)
        if number is None:
            raise ValueError(phrase(gettext_noop("'{text}' is not a number.")).format(text=text))
        return int(number) if number.is_integer() else number
    if operator is Operator.BETWEEN:
        parts = [p for p in re.split(r"\s*(?:,|\.\.|\bto\b|\band\b|(?<=\d)\s*-\s*)\s*", text) if p]
        ends = [_as_number(p, reader=_TYPED) for p in parts]
        if len(ends) != 2 or any(n is None for n in ends):
            raise ValueError(
                phrase(gettext_noop("'{text}' is not a range; write it as 10-50 or 10, 50.")).format(text=text)
            )
        return [int(n) if n.is_integer() else n for n in ends if n is not None]
    if operator is Operator.MATCHES:
        return text
    return _typed(text)


def _typed(text: str) -> str | int | float | bool:
    truth = _TRUTH_WORDS.get(text.casefold())
    if truth is not None:
        return truth
    number = _as_number(text, reader=_TYPED) if re.fullmatch(r"-?\d+(\.\d+)?", text) else None
    if number is None:
        return text
    return int(number) if number.is_integer() else number


def format_value_text(operator: Operator, value: Value) -> str:
    """The inverse of :func:`parse_value_text`, for showing a stored value in a form."""
    if value is None:
        return ""
    if isinstance(value, list):
        return (" - " if operator is Operator.BETWEEN else ", ").join(_value_word(v) for v in value)
    return _value_word(value)
