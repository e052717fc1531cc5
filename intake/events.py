"""Checking incoming events: pure code, no database.

An event as senders write it::

    {"id": "evt-42",                       # the sender's idempotency key
     "type": "email_open",                 # a type name: built in or the company's own
     "occurred_at": "2026-11-24T10:00:00Z",  # optional, ISO 8601 with time zone; default now
     "lead": {"email": "ana@example.com"}, # or {"external_id": "crm-7"}, or both
     "visitor_id": "v-123",                # instead of (or with) lead: an anonymous visitor
     "properties": {"campaign": "spring"}}

:func:`events_check` turns raw JSON into :class:`Event` values and, for each
bad event, its place in the batch and the errors by field.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.validators import validate_email
from django.utils.translation import gettext

from intake.errors import INVALID, REQUIRED, UNKNOWN_FIELD
from scoring import event_types
from scoring.timestamps import timestamp_in_range

EVENT_FIELDS = frozenset({"id", "type", "occurred_at", "lead", "visitor_id", "properties"})
LEAD_REF_FIELDS = frozenset({"email", "external_id"})
MAX_ID_LENGTH = 200
MAX_EMAIL_LENGTH = 254
# A visitor id (the tracking cookie's value). Check with is_visitor_id: the whole value must
# match, and "$" would let a trailing newline through.
VISITOR_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# How deep properties (and a lead's attributes, Segment's traits) may nest: rules
# read flat values, and walking or storing a deeper value only costs.
MAX_PROPERTIES_DEPTH = 10
# What one message from a web page (a tracked form's post, an identify sent with a key used
# in web pages: anyone may send either) may write: so many fields besides the lead's email,
# each at most so many characters (a trait's value written as JSON).
MAX_FIELDS_FROM_A_PAGE = 50
MAX_VALUE_FROM_A_PAGE = 5000
# The custom attributes one request (an API lead, an identify's traits) may write with a key
# kept on a server: generous, but each is a column of the leads' export.
MAX_ATTRIBUTES = 500
# Why a custom attribute may not take a name of scoring.lead_fields.RESERVED_ATTRIBUTES.
RESERVED_ATTRIBUTE_MESSAGE = "reserved: the lead's own field, never a custom attribute; give it another name"
# Interaction properties Leadflow sets, which rules, nurture's figures, the reports, the
# lead's timeline and the sales queue read as Leadflow wrote them: a tracked form's key
# (``form``); a nurture email's campaign, sequence, step and delivery; where it came from
# (``source``). Only Leadflow and keys kept on a server set them: a tracked form's field
# may not, nor may a key used in web pages (but for a campaign the model defines).
RESERVED_PROPERTIES = frozenset({"form", "campaign", "sequence", "step", "delivery", "source"})


def is_visitor_id(value: object) -> bool:
    """Whether ``value`` is a visitor id: 1 to 64 letters, digits, '.', '_' or '-', and nothing else."""
    return isinstance(value, str) and VISITOR_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Event:
    index: int
    id: str
    type: str
    occurred_at: datetime
    email: str | None = None  # lower-cased
    external_id: str | None = None
    visitor_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    index: int
    id: object
    errors: dict[str, list[str]]
    # The same shape with a stable code for each message (intake.errors).
    codes: dict[str, list[str]] = field(default_factory=dict)


def timestamp_parse(value: object) -> datetime:
    """An ISO 8601 time with a time zone, or ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time (text)")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("give a time zone, e.g. 2026-11-24T10:00:00Z")
    return parsed


def timestamp_check(value: object, *, now: datetime) -> datetime:
    """An ISO 8601 time with a time zone, from 1970 to a day after ``now``; or ValueError saying why not."""
    return timestamp_in_range(timestamp_parse(value), now=now)


def email_normalize(value: object) -> str:
    """A checked email address, lower-cased (leads are unique case-insensitively)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(gettext("must be an email address"))
    email = value.strip()
    problem = text_problem(email)
    if problem:
        raise ValueError(problem)
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(gettext("at most {count} characters").format(count=MAX_EMAIL_LENGTH))
    if not _email_valid(email):
        raise ValueError(gettext("'{email}' is not a valid email address").format(email=email))
    return email.lower()


# Django's validate_email in its two parts, the domain's remembered apart: the leads of a
# company share it, and its expression was most of the check of an address seen for the
# first time (bench/intake_body.py: 3.3-3.6 us an address with Django's validator, 0.7-0.8
# so). The same expressions and order as EmailValidator.__call__ (the user part, then the
# domain unless allowed); tests/intake/test_events.py holds the two to the same answers.
_EMAIL_USER = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)
_EMAIL_MAX_LENGTH = 320  # EmailValidator's, RFC 3696 section 3


@functools.lru_cache(maxsize=10_000)
def _email_domain_valid(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or bool(validate_email.validate_domain_part(domain))


@functools.lru_cache(maxsize=50_000)
def _email_valid(email: str) -> bool:
    """Whether Django's ``validate_email`` accepts ``email``, remembered per address: a
    lead's events name it again and again."""
    if "@" not in email or len(email) > _EMAIL_MAX_LENGTH:
        return False
    user, domain = email.rsplit("@", 1)
    return _EMAIL_USER.match(user) is not None and _email_domain_valid(domain)


def has_nul(value: object) -> bool:
    """Whether text anywhere in ``value`` holds a NUL character (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False


NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
SURROGATE_MESSAGE = "must be valid Unicode: a lone surrogate (\\ud800 to \\udfff) cannot be stored"


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text``, or None when it can."""
    if "\x00" in text:
        return NUL_MESSAGE
    if text.isascii():  # no surrogate, without encoding it
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def _path_key(key: object) -> str:
    """A key as shown in an error's field path: control characters and surrogates escaped, long keys cut."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in str(key)[:60])
    return text + ("…" if len(str(key)) > 60 else "")


def json_value_problem(value: object, *, path: str, max_depth: int) -> tuple[str, str] | None:
    """The first place in a JSON value that cannot be stored or nests too deep: (field path, reason).

    Iterative, so a deep value cannot exhaust the stack. ``value`` itself is at depth 1.
    """
    if type(value) is dict and max_depth >= 1 and _flat_storable(value):
        return None
    # Each item's place as the steps to it (a key, or a list's index as a 1-tuple), written
    # out as a field path only for the item at fault.
    stack: list[tuple[object, tuple[object, ...], int]] = [(value, (), 1)]
    while stack:
        item, steps, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return _field_path(path, steps), problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return _field_path(path, steps), "must be a finite number"
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                return _field_path(path, steps), f"nested deeper than {max_depth} levels (objects and lists)"
            children: list[tuple[object, tuple[object, ...], int]] = []
            if isinstance(item, Mapping):
                for key, child in item.items():
                    problem = text_problem(str(key))
                    if problem:
                        return _field_path(path, (*steps, key)), f"key {problem}"
                    children.append((child, (*steps, key), depth + 1))
            else:
                children = [(child, (*steps, (n,)), depth + 1) for n, child in enumerate(item)]
            stack.extend(reversed(children))  # in document order
    return None


def _flat_storable(value: dict[Any, Any]) -> bool:
    """Whether ``value`` holds only text keys and, under them, text, whole numbers, booleans,
    None or finite numbers, all storable: most events' properties, answered without the walk
    (and the place of each item) that :func:`json_value_problem` makes otherwise."""
    for key, child in value.items():
        if type(key) is not str or text_problem(key):
            return False
        kind = type(child)
        if kind is str:
            if text_problem(child):
                return False
        elif kind is float:
            if not math.isfinite(child):
                return False
        elif not (kind is int or kind is bool or child is None):
            return False
    return True


def _field_path(path: str, steps: Sequence[object]) -> str:
    return path + "".join(f"[{step[0]}]" if isinstance(step, tuple) else f".{_path_key(step)}" for step in steps)


def _text_id(value: object, *, limit: int) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("must be text")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    problem = text_problem(text)
    if problem:
        raise ValueError(problem)
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


def lead_id_check(value: object) -> str:
    """A lead's external id (text or a whole number), checked; or ValueError saying why not."""
    return _text_id(value, limit=MAX_ID_LENGTH)


def event_check(raw: object, *, index: int, now: datetime) -> Event | Rejection:
    """One event, checked; every problem is named by its field."""
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return Rejection(
            index, None, {"non_field_errors": ["an event must be a JSON object"]}, {"non_field_errors": [INVALID]}
        )
    errors: dict[str, list[str]] = {}
    codes: dict[str, list[str]] = {}

    def fail(name: str, message: str, code: str = INVALID) -> None:
        errors.setdefault(name, []).append(message)
        codes.setdefault(name, []).append(code)

    if not EVENT_FIELDS.issuperset(raw):
        for name in sorted(set(raw) - EVENT_FIELDS):
            fail(name, "unknown field", UNKNOWN_FIELD)

    event_id = ""
    if "id" not in raw or raw["id"] is None:
        fail("id", "required: the event's unique id, used to ignore repeats", REQUIRED)
    else:
        try:
            event_id = _text_id(raw["id"], limit=MAX_ID_LENGTH)
        except ValueError as exc:
            fail("id", str(exc))

    kind = raw.get("type")
    if kind is None:
        fail("type", "required", REQUIRED)
    else:
        type_problem = event_types.type_name_problem(kind)
        if type_problem:
            fail("type", type_problem)

    occurred_at = now
    if raw.get("occurred_at") is not None:
        try:
            occurred_at = timestamp_check(raw["occurred_at"], now=now)
        except ValueError as exc:
            fail("occurred_at", str(exc))

    email = external_id = visitor_id = None
    lead = raw.get("lead")
    if lead is not None:
        if type(lead) is not dict and not isinstance(lead, Mapping):
            fail("lead", 'must be an object: {"email": …} or {"external_id": …}')
        else:
            if not LEAD_REF_FIELDS.issuperset(lead):
                for name in sorted(set(lead) - LEAD_REF_FIELDS):
                    fail(f"lead.{name}", "unknown field; send lead attributes to /api/v1/leads", UNKNOWN_FIELD)
            if lead.get("email") is not None:
                try:
                    email = email_normalize(lead["email"])
                except ValueError as exc:
                    fail("lead.email", str(exc))
            if lead.get("external_id") is not None:
                try:
                    external_id = _text_id(lead["external_id"], limit=MAX_ID_LENGTH)
                except ValueError as exc:
                    fail("lead.external_id", str(exc))
            if lead.get("email") is None and lead.get("external_id") is None:
                fail("lead", "give email or external_id", REQUIRED)
    if raw.get("visitor_id") is not None:
        value = raw["visitor_id"]
        if is_visitor_id(value):
            visitor_id = value
        else:
            fail("visitor_id", "must be 1 to 64 letters, digits, '.', '_' or '-'")
    if lead is None and raw.get("visitor_id") is None:
        fail("lead", "required (or visitor_id for an anonymous visitor)", REQUIRED)

    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict and not isinstance(properties, Mapping):
        fail("properties", "must be an object")
    else:
        problem = json_value_problem(properties, path="properties", max_depth=MAX_PROPERTIES_DEPTH)
        if problem:
            fail(*problem)

    if errors:
        return Rejection(index, raw.get("id"), errors, codes)
    return Event(
        index=index,
        id=event_id,
        type=str(kind),
        occurred_at=occurred_at,
        email=email,
        external_id=external_id,
        visitor_id=visitor_id,
        properties=dict(properties),
    )


def events_check(raws: Sequence[object], *, now: datetime) -> tuple[list[Event], list[Rejection]]:
    events: list[Event] = []
    rejections: list[Rejection] = []
    for index, raw in enumerate(raws):
        checked = event_check(raw, index=index, now=now)
        (events if isinstance(checked, Event) else rejections).append(checked)  # type: ignore[arg-type]
    return events, rejections
