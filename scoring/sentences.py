"""Sentences in the reader's language: :mod:`scoring.rules` makes them from phrases it
marks, :mod:`scoring.said` keeps them with their values, :mod:`scoring.file_checks` gives a
file's problems as them; this gives them the words of the language active for the request
(or the site's, in a worker and on the command line)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy

from scoring import rules as pure
from scoring.file_checks import Problem
from scoring.said import AS_IT_CAME, Said, loaded, said

# A lead field as the subject of a condition. Spanish puts the article in ("la
# industria es una de…"), which a field's label alone does not carry.
SUBJECTS: dict[str, Promise] = {
    "email_domain": pgettext_lazy("rule subject", "email domain"),
    "first_name": pgettext_lazy("rule subject", "first name"),
    "last_name": pgettext_lazy("rule subject", "last name"),
    "title": pgettext_lazy("rule subject", "title"),
    "department": pgettext_lazy("rule subject", "department"),
    "company": pgettext_lazy("rule subject", "company"),
    "industry": pgettext_lazy("rule subject", "industry"),
    "company_size": pgettext_lazy("rule subject", "company size"),
    "annual_revenue": pgettext_lazy("rule subject", "annual revenue"),
    "country": pgettext_lazy("rule subject", "country"),
    "city": pgettext_lazy("rule subject", "city"),
    "lifecycle_stage": pgettext_lazy("rule subject", "lifecycle stage"),
}


class ActiveLanguage:
    """The words of the language active now (the request's, or the site's)."""

    def phrase(self, message: str) -> str:
        return gettext(message) if message else message

    def subject(self, field: str, label: str) -> str:
        return str(SUBJECTS[field]) if field in SUBJECTS else label


WORDS = ActiveLanguage()


def describe_rule(rule: pure.Rule, *, type_labels: Mapping[str, str] | None = None) -> str:
    return pure.describe_rule(rule, type_labels=type_labels, words=WORDS)


def describe_condition(condition: pure.Condition, *, dimension: pure.Dimension) -> str:
    return pure.describe_condition(condition, dimension=dimension, words=WORDS)


def translated(sentence: Said) -> str:
    """``sentence`` in the language active now: the request's, or the site's in a worker
    and on the command line."""
    return sentence.in_words(WORDS.phrase)


def shown(text: str, stored: Any) -> str:
    """A row's sentence in the active language: ``stored`` (its JSON column) translated,
    else ``text`` (its text column) as stored."""
    sentence = loaded(stored)
    return text if sentence is None else translated(sentence)


def problems(errors: Iterable[str]) -> list[str]:
    """A file's problems (:class:`scoring.file_checks.Problem`, each naming its place in the
    file) in the language active now; other text as it is."""
    return [translated(error.sentence) if isinstance(error, Problem) else error for error in errors]


def problems_said(errors: Iterable[str]) -> Said:
    """A file's problems as one sentence to keep beside their English,
    joined by "; " as that is: each :class:`~scoring.file_checks.Problem` as its sentence,
    so a page says it in its reader's language later; other text, or a problem with a
    value JSON cannot keep, as it came."""
    joined = [_kept(error.sentence, error) if isinstance(error, Problem) else _as_it_came(error) for error in errors]
    if not joined:
        return _as_it_came("")
    # A phrase no catalogue holds, so kept as it is in every language.
    return functools.reduce(lambda said_, problem: said("{said}; {problem}", said=said_, problem=problem), joined)


def _kept(sentence: Said, text: str) -> Said:
    """``sentence`` as a JSON column keeps it, or ``text`` as it came if a value of its
    own (not of a sentence in it) is one JSON cannot keep."""
    if all(isinstance(value, Said) or _storable(value) for value in sentence.params.values()):
        return Said(
            sentence.msgid,
            {k: _kept(v, v.english()) if isinstance(v, Said) else v for k, v in sentence.params.items()},
        )
    return _as_it_came(text)


def _as_it_came(text: str) -> Said:
    return said(AS_IT_CAME, error=str(text))


def _storable(value: object) -> bool:
    """Whether a JSON column keeps ``value`` as it is (a sentence of its own is made one)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)  # PostgreSQL's JSON has no NaN nor infinity
    if isinstance(value, list):
        return all(map(_storable, value))
    if isinstance(value, dict):
        return all(isinstance(key, str) and _storable(item) for key, item in value.items())
    return False
