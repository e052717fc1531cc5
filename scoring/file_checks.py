"""Checking what a file (a model file, a sequence file) says, one value at a time: pure,
no database. Shared by scoring's model file, routing's section of it and nurture's
sequence files, so every file reports its problems alike.

Each check takes the mapping that holds the value, its key, the place of the mapping
in the file (``rules[2]``, empty at the top) and the list of errors to add to; it
returns what to go on with, so that one pass finds every problem.

A problem is a :class:`Problem`: English text, which it equals, that keeps its phrase
(marked for the catalogue) and its values as a sentence (:mod:`scoring.said`), so the page
or the command showing it says it in the reader's language
(:func:`scoring.sentences.problems`). The file is read here, knowing no language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from scoring.event_types import gettext_noop
from scoring.said import Said

_KEY = re.compile(r"[-a-zA-Z0-9_]+")


def place(where: str, key: object) -> str:
    """Where a key is in the file: ``rules[2].points``, or ``points`` at the top."""
    return f"{where}.{key}" if where else str(key)


class Problem(str):
    """A problem with a file: its English text (what it equals, prints and joins as, so the
    checks' lists of errors stay text), carrying its :attr:`sentence`, the phrase it was
    made from with the values put in it (the place in the file, the value, the limit), which
    a page or a command says in the reader's language. A value that is a Problem is kept as
    its sentence, so it is said in the same language."""

    sentence: Said

    def __new__(cls, message: str, /, **values: object) -> Problem:
        sentence = Said(message, {k: v.sentence if isinstance(v, Problem) else v for k, v in values.items()})
        problem = super().__new__(cls, sentence.english())
        problem.sentence = sentence
        return problem

    def format(self, *args: object, **values: object) -> Problem:
        """The phrase :data:`LATER` gave, with its values (as the rules' checks write them)."""
        return Problem(self.sentence.msgid, **values)


class _Later:
    """Words that leave the translating for later: each phrase becomes a :class:`Problem`,
    for the checks of ``scoring.rules`` and ``scoring.decay`` that take ``words``."""

    def phrase(self, message: str) -> str:
        return Problem(message)

    def subject(self, field: str, label: str) -> str:
        return label


LATER = _Later()


def at(where: str, problem: str) -> Problem:
    """``problem`` (a reason the checks of ``scoring.rules`` gave) at its place in the file."""
    return Problem("{place}: {problem}", place=where, problem=problem)


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML forbids it; the
    plain loader keeps the last value, so a typo'd second ``points:`` won silently). A
    merge (``<<: *anchor``) may still be overridden by the mapping's own keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                line = first.get(key)
            except TypeError:  # an unhashable key: the loader refuses it as before
                continue
            if line is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    Problem(
                        gettext_noop("the key {key!r} is given twice, first on line {line}"), key=key, line=line + 1
                    ),
                    key_node.start_mark,
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def yaml_load(text: str) -> object:
    """The file's data, or ValueError saying where the YAML is broken (a key given twice
    in one mapping included)."""
    try:
        return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506  (a safe loader)
    except RecursionError:
        raise ValueError(
            Problem(gettext_noop("not valid YAML (it nests lists or mappings too deeply to be a model)"))
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise ValueError(Problem(gettext_noop("not valid YAML ({problem})"), problem=problem)) from None
        where = {"line": mark.line + 1, "column": mark.column + 1}
        reason = yaml_reason(exc) if isinstance(exc, yaml.MarkedYAMLError) else None
        if reason is not None:
            raise ValueError(
                Problem(gettext_noop("line {line}, column {column}: not valid YAML: {reason}"), **where, reason=reason)
            ) from None
        # A problem of ours (a key given twice), or one of PyYAML's these do not know, in its words.
        raise ValueError(
            Problem(gettext_noop("line {line}, column {column}: not valid YAML ({problem})"), **where, problem=problem)
        ) from None


def yaml_reason(exc: yaml.MarkedYAMLError) -> Problem | None:
    """What PyYAML's ``exc`` says, in words of ours (so in the reader's language), for the
    mistakes a person writing a file makes; None for the others, said in PyYAML's English.
    Its own words (``expected <block end>, but found '<block mapping start>'``) name its
    parser's states, which tell the reader nothing ours do not."""
    problem, context = str(exc.problem or ""), str(exc.context or "")
    if isinstance(exc.problem, Problem):
        return None
    start = exc.context_mark.line + 1 if exc.context_mark is not None else None
    mark = exc.problem_mark
    found = mark.buffer[mark.pointer] if mark is not None and mark.buffer and mark.pointer < len(mark.buffer) else ""
    if problem.startswith("expected <block end>") and start is not None:
        return Problem(
            gettext_noop("the indentation does not fit the list or mapping begun on line {start}"), start=start
        )
    if problem.startswith("expected ',' or ']'") and start is not None:
        return Problem(
            gettext_noop(
                "the list opened with '[' on line {start} is not closed with ']', or lacks a comma between two items"
            ),
            start=start,
        )
    if problem.startswith("expected ',' or '}'") and start is not None:
        return Problem(
            gettext_noop(
                "the mapping opened with '{{' on line {start} is not closed with '}}', "
                "or lacks a comma between two keys"
            ),
            start=start,
        )
    if problem == "mapping values are not allowed here":
        return Problem(
            gettext_noop(
                "a key cannot begin here: put a value holding ': ' in quotes, "
                "or check the indentation and the line above"
            )
        )
    if problem == "could not find expected ':'" and start is not None:
        return Problem(gettext_noop("the key on line {start} lacks its ':'"), start=start)
    if (
        context == "while scanning a quoted scalar"
        and problem == "found unexpected end of stream"
        and start is not None
    ):
        return Problem(gettext_noop("the quotes opened on line {start} are not closed"), start=start)
    if problem == "expected the node content, but found '<stream end>'":
        return Problem(gettext_noop("the file ends where a value should be: close every list and mapping it opens"))
    if problem.endswith("that cannot start any token") or problem.startswith("expected the node content"):
        if found == "\t":
            return Problem(gettext_noop("a tab: YAML indents with spaces only"))
        if found and found.isprintable() and not found.isspace():
            return Problem(gettext_noop("a value cannot begin with {found!r}: put it in quotes"), found=found)
    if problem.startswith("found unknown escape character"):
        return Problem(
            gettext_noop(
                "a backslash in double quotes begins an escape YAML does not know: put the value in single quotes"
            )
        )
    if problem.startswith("found undefined alias"):
        return Problem(gettext_noop("an alias (*name) with no anchor (&name) of that name before it"))
    if problem.startswith("could not determine a constructor for the tag"):
        return Problem(gettext_noop("a tag (!…), which the file may not hold: write plain values, lists and mappings"))
    if context == "expected a single document in the stream":
        return Problem(gettext_noop("a second document ('---') begins here: the file holds one"))
    return None


# The phrases other files' checks say too.
REQUIRED = gettext_noop("{place}: required")
NUL = gettext_noop("{place}: must not contain the NUL character")
TOO_LONG = gettext_noop("{place}: at most {limit} characters, not {length}")
AT_LEAST = gettext_noop("{place}: must be a whole number, {minimum} or more")
PAST_COLUMN = gettext_noop("{place}: must be a whole number from {low} to {high}")
NOT_ONE_OF = gettext_noop("{place}: {value!r} is not one of {choices}")
NOT_A_KEY = gettext_noop("{place}: '{value}' may hold only ASCII letters (a-z, A-Z), digits, - and _")
NOT_A_KEY_OF = gettext_noop(
    "{place}: '{value}' may hold only ASCII letters (a-z, A-Z), digits, - and _ (at most {limit})"
)
TAKEN = gettext_noop("{place}: '{value}' is also the key of {other}")


def unknown_keys(item: Mapping[str, Any], allowed: Iterable[str], where: str, errors: list[str]) -> None:
    names = sorted(allowed)
    for key in item:
        if key not in names:
            errors.append(
                Problem(
                    gettext_noop("{place}: unknown key (allowed: {allowed})"),
                    place=place(where, key),
                    allowed=", ".join(names),
                )
            )


def text(
    item: Mapping[str, Any],
    key: str,
    where: str,
    errors: list[str],
    *,
    required: bool = False,
    max_length: int | None = None,
) -> str:
    """Text (never NUL, which the database cannot store), of at most ``max_length``
    characters when given."""
    value = item.get(key)
    if value is None:
        if required:
            errors.append(Problem(REQUIRED, place=place(where, key)))
        return ""
    if not isinstance(value, str):
        errors.append(
            Problem(
                gettext_noop("{place}: must be text, not {kind}"), place=place(where, key), kind=type(value).__name__
            )
        )
        return ""
    if required and not value.strip():
        errors.append(Problem(gettext_noop("{place}: must not be empty"), place=place(where, key)))
    if "\x00" in value:
        errors.append(Problem(NUL, place=place(where, key)))
        return ""
    if max_length is not None and len(value) > max_length:
        errors.append(Problem(TOO_LONG, place=place(where, key), limit=max_length, length=len(value)))
        return value[:max_length]
    return value


# What the database's integer columns hold, and its small integer columns.
WHOLE_MIN, WHOLE_MAX = -2_147_483_648, 2_147_483_647
SMALL_MAX = 32_767


def whole_number(
    item: Mapping[str, Any],
    key: str,
    where: str,
    errors: list[str],
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> int | None:
    """A whole number (never a bool), within the database's integer columns and at most
    ``maximum`` when given; ``default`` when the key is missing. Without a ``default`` an
    explicit null is missing too; with one, null is a wrong value."""
    value = item.get(key)
    if key not in item or (value is None and default is None):
        if required:
            errors.append(Problem(REQUIRED, place=place(where, key)))
        return default
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        if minimum is not None:
            errors.append(Problem(AT_LEAST, place=place(where, key), minimum=minimum))
        else:
            errors.append(
                Problem(
                    gettext_noop("{place}: must be a whole number, not {value!r}"), place=place(where, key), value=value
                )
            )
        return default
    if not WHOLE_MIN <= value <= WHOLE_MAX:
        errors.append(Problem(PAST_COLUMN, place=place(where, key), low=WHOLE_MIN, high=WHOLE_MAX))
        return default
    if maximum is not None and value > maximum:
        errors.append(
            Problem(
                gettext_noop("{place}: at most {limit}, not {value}"),
                place=place(where, key),
                limit=maximum,
                value=value,
            )
        )
        return default
    return value


def holds_nul(value: object) -> bool:
    """Whether ``value`` (text, or a list or mapping holding some) contains the NUL
    character, which the database stores in no text, JSON included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    return False


def without_nul(value: object, name: str, errors: list[str]) -> bool:
    """Whether ``value`` (text, or a list or mapping holding some) is free of the NUL
    character; if not, the error says so at ``name`` (its place in the file)."""
    if holds_nul(value):
        errors.append(Problem(NUL, place=name))
        return False
    return True


def within_whole(value: object, name: str, errors: list[str]) -> bool:
    """Whether ``value``, when a whole number, fits the database's integer columns; if not,
    the error says so at ``name`` (its place in the file)."""
    if isinstance(value, int) and not isinstance(value, bool) and not WHOLE_MIN <= value <= WHOLE_MAX:
        errors.append(Problem(PAST_COLUMN, place=name, low=WHOLE_MIN, high=WHOLE_MAX))
        return False
    return True


def flag(item: Mapping[str, Any], key: str, where: str, errors: list[str], *, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        errors.append(Problem(gettext_noop("{place}: must be true or false"), place=place(where, key)))
        return default
    return value


def choice(item: Mapping[str, Any], key: str, where: str, errors: list[str], choices: Iterable[str]) -> str:
    """One of ``choices`` (or "" when missing)."""
    value = text(item, key, where, errors)
    allowed = list(choices)
    if value and value not in allowed:
        errors.append(Problem(NOT_ONE_OF, place=place(where, key), value=value, choices=", ".join(allowed)))
    return value


def items(data: object, where: str, errors: list[str]) -> list[Any]:
    """A list (none when missing)."""
    if data is None:
        return []
    if not isinstance(data, list):
        errors.append(Problem(gettext_noop("{place}: must be a list"), place=where))
        return []
    return data


def mapping(data: object, where: str, errors: list[str], *, holding: str = "") -> dict[str, Any] | None:
    """A mapping, or None with the error saying what it should hold."""
    if not isinstance(data, dict):
        if holding:
            errors.append(Problem(gettext_noop("{place}: must be a mapping {holding}"), place=where, holding=holding))
        else:
            errors.append(Problem(gettext_noop("{place}: must be a mapping"), place=where))
        return None
    return data


def is_key(value: str, *, max_length: int | None = None) -> bool:
    """Whether ``value`` is a key: letters, digits, - and _ (a slug)."""
    return _KEY.fullmatch(value) is not None and (max_length is None or len(value) <= max_length)


def key(
    item: Mapping[str, Any], where: str, seen: dict[str, str], errors: list[str], *, max_length: int | None = None
) -> str:
    """The item's ``key``: a slug, unique among the places in ``seen`` (key -> place)."""
    value = text(item, "key", where, errors, required=True)
    if value and not is_key(value, max_length=max_length):
        if max_length is None:
            errors.append(Problem(NOT_A_KEY, place=place(where, "key"), value=value))
        else:
            errors.append(Problem(NOT_A_KEY_OF, place=place(where, "key"), value=value, limit=max_length))
    if value in seen:
        errors.append(Problem(TAKEN, place=place(where, "key"), value=value, other=seen[value]))
    elif value:
        seen[value] = where
    return value
