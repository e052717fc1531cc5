"""Which account a lead belongs to, an account's roll-up of its leads' scores, and what
its fit rules read (scoring's own conditions, scoring.rules, on the account). Pure:
no database here (scoring.services.accounts reads and writes)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum

from scoring import rules
from scoring.event_types import gettext_noop
from scoring.file_checks import WHOLE_MAX, WHOLE_MIN


def email_domain(email: str | None) -> str:
    """The lower-cased domain of ``email`` ("" when it has none), as rules read it, without
    the surrounding spaces or a final dot that would make one company two accounts."""
    return rules.email_domain((email or "").strip()).rstrip(".")


def business_domain(email: str | None, *, free_mail: Collection[str]) -> str | None:
    """The domain that names the lead's company, or None: no email, or a free-mail
    provider's domain (``free_mail``, lower-cased), which says nothing about where the
    person works."""
    domain = email_domain(email)
    return domain if domain and domain not in free_mail else None


class Rollup(StrEnum):
    """How an account's leads' scores make its lead score."""

    SUM = "sum"
    MAX = "max"
    TOP_AVERAGE = "top_average"


def rounded_average(total: int, count: int) -> int:
    """``total / count`` to the nearest whole point, halves away from zero (as people
    round), the same on every database: scores are whole points."""
    if count <= 0:
        return 0
    magnitude = (2 * abs(total) + count) // (2 * count)
    return magnitude if total >= 0 else -magnitude


def rollup(scores: Iterable[int], *, method: Rollup, top_n: int) -> int:
    """The account's lead score from its leads' total scores: their sum, their
    maximum, or the average of the best ``top_n``; 0 without leads."""
    ordered = sorted(scores, reverse=True)
    if not ordered:
        return 0
    if method is Rollup.SUM:
        return sum(ordered)
    if method is Rollup.MAX:
        return ordered[0]
    best = ordered[: max(1, top_n)]
    return rounded_average(sum(best), len(best))


def rollup_within(value: int, *, fit: int) -> int:
    """The roll-up ``value`` kept where the account's total (lead score + ``fit``) fits the
    database's integer columns: the sum of many leads' scores may pass them, and an account
    past the top of every group is as far as it can go."""
    return max(WHOLE_MIN, WHOLE_MIN - fit, min(value, WHOLE_MAX, WHOLE_MAX - fit))


# --- account fit rules: scoring's conditions on the account's fields -------------------

# What a company's traits (a Segment group call's; an identify's company object) set on
# its account, by Segment's names: the group spec's employees, the identify spec's
# company.employee_count, and revenue as the lead traits are spelt (annualRevenue or
# annual_revenue); "address.country" sets its country too. A value its field cannot hold
# is kept as the account's custom attribute of the trait's name (KEPT_AS).
TRAITS: dict[str, str] = {
    "name": "name",
    "industry": "industry",
    "employees": "company_size",
    "employee_count": "company_size",
    "annualRevenue": "annual_revenue",
    "annual_revenue": "annual_revenue",
    "country": "country",
}
KEPT_AS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "industry": ("industry",),
    "company_size": ("employees", "employee_count"),
    "annual_revenue": ("annualRevenue", "annual_revenue"),
    "country": ("country", "address.country"),
}

# The account fields a fit rule may test, with their words; custom attributes are
# "attributes.<name>", as on leads.
ACCOUNT_FIELDS: dict[str, str] = {
    "name": "name",
    "domain": "domain",
    "industry": "industry",
    "company_size": "company size",
    "annual_revenue": "annual revenue",
    "country": "country",
}


def check_account_field(field_name: str, *, words: rules.Words = rules.ENGLISH) -> str | None:
    """The reason an account fit rule cannot test ``field_name``, or None."""
    if field_name in ACCOUNT_FIELDS:
        return None
    if field_name.startswith(rules.CUSTOM_PREFIX):
        return rules.check_field(field_name, dimension=rules.Dimension.FIT, words=words)
    known = ", ".join(ACCOUNT_FIELDS)
    message = gettext_noop("Unknown account field '{field}'. Use one of {known}, or attributes.<name>.")
    return words.phrase(message).format(field=field_name, known=known)


def check_account_condition(
    field_name: str, operator: str, value: object, *, words: rules.Words = rules.ENGLISH
) -> dict[str, str]:
    """What is wrong with one condition of an account fit rule, by its part ("field",
    "operator", "value"), every part at once; empty when it can be tested."""
    errors: dict[str, str] = {}
    field_problem = check_account_field(field_name, words=words)
    if field_problem:
        errors["field"] = field_problem
    try:
        checked = rules.Operator(operator)
    except ValueError:
        message = gettext_noop("Unknown operator '{operator}'. Use one of {known}.")
        errors["operator"] = words.phrase(message).format(
            operator=operator, known=", ".join(o.value for o in rules.Operator)
        )
        return errors
    value_problem = rules.check_value(checked, value, words=words)
    if value_problem:
        errors["value"] = value_problem
    return errors


_PARTS = {"field": gettext_noop("field"), "operator": gettext_noop("operator"), "value": gettext_noop("value")}


def check_account_conditions(
    conditions: Iterable[tuple[str, str, object]], *, words: rules.Words = rules.ENGLISH
) -> list[str]:
    """Every problem of an account fit rule's conditions, each with its place ("condition
    2, field: …"); a rule needs at least one."""
    problems: list[str] = []
    count = 0
    for count, (field_name, operator, value) in enumerate(conditions, start=1):
        for part, problem in check_account_condition(field_name, operator, value, words=words).items():
            where = words.phrase(gettext_noop("condition {n}, {part}")).format(n=count, part=words.phrase(_PARTS[part]))
            problems.append(f"{where}: {problem}")
    if not count:
        problems.append(words.phrase(gettext_noop("An account fit rule needs at least one condition.")))
    return problems


def account_values(fields: Mapping[str, object], attributes: Mapping[str, object]) -> dict[str, object]:
    """The flat mapping account fit conditions read: its fields plus ``attributes.<key>``."""
    return {**fields, **{rules.CUSTOM_PREFIX + key: value for key, value in attributes.items()}}
