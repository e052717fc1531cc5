"""Event types: what an interaction says happened. Pure, no database.

Eight types are built in; a company names its own (``trial_started``,
``demo-booked``) by sending them, or declares them with a label in the model
file or the admin. A type name is a slug: lowercase letters, digits, ``-`` and
``_``, starting with a letter or digit, at most :data:`MAX_LENGTH` characters.

Segment ``track`` messages carry an event *name* ("Trial Started"); it becomes
a type through the mapping kept in the admin and the model file, else
Segment's own names for the built-in types, else :func:`type_from_name`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping


def gettext_noop(message: str) -> str:
    """Marks a phrase for the translation catalogue (``manage.py makemessages`` finds it
    by this name); it is translated where it is shown, in the reader's language. The
    pure modules import no Django, so they mark with this one."""
    return message


# The interactions column holds no more.
MAX_LENGTH = 40
MAX_LABEL_LENGTH = 100
MAX_NAME_LENGTH = 200  # a Segment event name in the mapping

BUILT_IN: dict[str, str] = {
    "email_open": gettext_noop("email open"),
    "email_click": gettext_noop("email click"),
    "form_submit": gettext_noop("form submission"),
    "page_view": gettext_noop("page view"),
    "download": gettext_noop("download"),
    "webinar": gettext_noop("webinar attendance"),
    "survey_answer": gettext_noop("survey answer"),
    "social_mention": gettext_noop("social mention"),
}

# Segment's names (its spec's and common ones) for the built-in types, matched like
# the admin's mapping (case and surrounding spaces ignored); the mapping wins.
SEGMENT_NAMES: dict[str, str] = {
    "email opened": "email_open",
    "email link clicked": "email_click",
    "email clicked": "email_click",
    "form submitted": "form_submit",
    "webinar attended": "webinar",
    "webinar registered": "webinar",
    "survey answered": "survey_answer",
    "file downloaded": "download",
    "downloaded": "download",
    "page viewed": "page_view",
    "social mention": "social_mention",
}

TYPE_NAME = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_LENGTH - 1}}}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")

TYPE_NAME_RULE = f"lowercase letters, digits, - and _, starting with a letter or digit, at most {MAX_LENGTH} characters"


def is_type_name(value: object) -> bool:
    return isinstance(value, str) and TYPE_NAME.fullmatch(value) is not None


def type_name_problem(value: object, *, phrase: Callable[[str], str] = str) -> str | None:
    """Why ``value`` is not a type name, or None when it is one; ``phrase`` translates
    (a ``Words``' phrase: this module is below the one that defines them)."""
    if not isinstance(value, str):
        return phrase(gettext_noop("must be a type name (text), not {kind}")).format(kind=type(value).__name__)
    if is_type_name(value):
        return None
    if not value:
        return phrase(gettext_noop("must not be empty"))
    shown = value if len(value) <= 60 else value[:60] + "…"
    if len(value) > MAX_LENGTH and TYPE_NAME.fullmatch(value[:MAX_LENGTH]):
        return phrase(gettext_noop("{value!r} is {length} characters; a type name has at most {limit}")).format(
            value=shown, length=len(value), limit=MAX_LENGTH
        )
    message = gettext_noop(
        "{value!r} is not a type name: use lowercase letters, digits, - and _, starting with a letter or digit, "
        "at most {limit} characters"
    )  # TYPE_NAME_RULE, as a phrase of the catalogue
    return phrase(message).format(value=shown, limit=MAX_LENGTH)


def name_key(name: str) -> str:
    """How an event name is matched: case and surrounding spaces ignored."""
    return name.strip().lower()


def type_from_name(name: str) -> str | None:
    """The type an event name stands for when nothing maps it: "Trial Started" →
    ``trial_started``. Letters and digits are kept (lower-cased, accents dropped),
    every other run of characters becomes one ``_``; cut to :data:`MAX_LENGTH`.
    None when nothing is left (a name of only punctuation or non-Latin letters:
    map it in the admin)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _NOT_SLUG.sub("_", ascii_name).strip("_")[:MAX_LENGTH].rstrip("_")
    return slug or None


def track_type(name: str, mapping: Mapping[str, str]) -> str | None:
    """The type of a Segment ``track`` event called ``name``: the mapping (keyed by
    :func:`name_key`), else Segment's names for the built-in types, else the name
    made into a type name."""
    key = name_key(name)
    return mapping.get(key) or SEGMENT_NAMES.get(key) or type_from_name(name)


def label(key: str, labels: Mapping[str, str]) -> str:
    """A type in words: its label if it has one, else its name."""
    return labels.get(key) or BUILT_IN.get(key) or key


def unknown(types: Iterable[str], known: Iterable[str]) -> list[str]:
    """The types in ``types`` (in order, once each) that are neither built in nor in ``known``."""
    have = set(BUILT_IN) | set(known)
    missing: list[str] = []
    for name in types:
        if name not in have and name not in missing:
            missing.append(name)
    return missing
