"""Checking what a file (a model file, a sequence file) says, one value at a time: pure,
no database. Shared by scoring's model file, routing's section of it and nurture's
sequence files, so every file reports its problems alike.

Each check takes the mapping that holds the value, its key, the place of the mapping
in the file (``rules[2]``, empty at the top) and the list of errors to add to; it
returns what to go on with, so that one pass finds every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

_KEY = re.compile(r"[-a-zA-Z0-9_]+")


def place(where: str, key: object) -> str:
    """Where a key is in the file: ``rules[2].points``, or ``points`` at the top."""
    return f"{where}.{key}" if where else str(key)


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
                    None, None, f"the key {key!r} is given twice, first on line {line + 1}", key_node.start_mark
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def yaml_load(text: str) -> object:
    """The file's data, or ValueError saying where the YAML is broken (a key given twice
    in one mapping included)."""
    try:
        return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506  (a safe loader)
    except RecursionError:
        raise ValueError("not valid YAML (it nests lists or mappings too deeply to be a model)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{where}not valid YAML ({problem})") from None


def unknown_keys(item: Mapping[str, Any], allowed: Iterable[str], where: str, errors: list[str]) -> None:
    names = sorted(allowed)
    for key in item:
        if key not in names:
            errors.append(f"{place(where, key)}: unknown key (allowed: {', '.join(names)})")


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
            errors.append(f"{place(where, key)}: required")
        return ""
    if not isinstance(value, str):
        errors.append(f"{place(where, key)}: must be text, not {type(value).__name__}")
        return ""
    if required and not value.strip():
        errors.append(f"{place(where, key)}: must not be empty")
    if "\x00" in value:
        errors.append(f"{place(where, key)}: must not contain the NUL character")
        return ""
    if max_length is not None and len(value) > max_length:
        errors.append(f"{place(where, key)}: at most {max_length} characters, not {len(value)}")
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
            errors.append(f"{place(where, key)}: required")
        return default
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        wanted = f"{minimum} or more" if minimum is not None else f"not {value!r}"
        errors.append(f"{place(where, key)}: must be a whole number, {wanted}")
        return default
    if not WHOLE_MIN <= value <= WHOLE_MAX:
        errors.append(f"{place(where, key)}: must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}")
        return default
    if maximum is not None and value > maximum:
        errors.append(f"{place(where, key)}: at most {maximum}, not {value}")
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
        errors.append(f"{name}: must not contain the NUL character")
        return False
    return True


def within_whole(value: object, name: str, errors: list[str]) -> bool:
    """Whether ``value``, when a whole number, fits the database's integer columns; if not,
    the error says so at ``name`` (its place in the file)."""
    if isinstance(value, int) and not isinstance(value, bool) and not WHOLE_MIN <= value <= WHOLE_MAX:
        errors.append(f"{name}: must be a whole number from {WHOLE_MIN} to {WHOLE_MAX}")
        return False
    return True


def flag(item: Mapping[str, Any], key: str, where: str, errors: list[str], *, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        errors.append(f"{place(where, key)}: must be true or false")
        return default
    return value


def choice(item: Mapping[str, Any], key: str, where: str, errors: list[str], choices: Iterable[str]) -> str:
    """One of ``choices`` (or "" when missing)."""
    value = text(item, key, where, errors)
    allowed = list(choices)
    if value and value not in allowed:
        errors.append(f"{place(where, key)}: {value!r} is not one of {', '.join(allowed)}")
    return value


def items(data: object, where: str, errors: list[str]) -> list[Any]:
    """A list (none when missing)."""
    if data is None:
        return []
    if not isinstance(data, list):
        errors.append(f"{where}: must be a list")
        return []
    return data


def mapping(data: object, where: str, errors: list[str], *, holding: str = "") -> dict[str, Any] | None:
    """A mapping, or None with the error saying what it should hold."""
    if not isinstance(data, dict):
        errors.append(f"{where}: must be a mapping" + (f" {holding}" if holding else ""))
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
        longest = f" (at most {max_length})" if max_length is not None else ""
        errors.append(
            f"{place(where, 'key')}: '{value}' may hold only ASCII letters (a-z, A-Z), digits, - and _{longest}"
        )
    if value in seen:
        errors.append(f"{place(where, 'key')}: '{value}' is also the key of {seen[value]}")
    elif value:
        seen[value] = where
    return value
