"""Sentences an app stores about what it did (routing's action outcomes and failed calls,
nurture's failed deliveries, a retry's result, why an import was refused) and shows
later, in the reader's language.

Each is kept twice in its row: as English text, in the column it always had (what a
database reader, a log or a search sees), and as its message id with the values put in
it (a JSON ``[msgid, {name: value}]`` beside it), which is what pages show, through
gettext, in the language of whoever reads them. A row without the second (written
before it existed, or typed by a person) is shown as stored. A value is shown as it
came (an SMTP server's answer, an HTTP status) unless it is itself a sentence of ours,
stored the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext


@dataclass(frozen=True)
class Said:
    """A sentence with its values: ``Said(gettext_noop("tagged {tag}"), {"tag": "vip"})``."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        """As written in English: what the text column keeps."""
        return _formatted(self.msgid, self.msgid, {k: _english(v) for k, v in self.params.items()})

    def translated(self) -> str:
        """In the active language (the request's on a page, the site's in a worker)."""
        return _translated(self)

    def stored(self) -> list[Any]:
        """What the JSON column keeps."""
        return [self.msgid, {k: v.stored() if isinstance(v, Said) else v for k, v in self.params.items()}]


def said(msgid: str, /, **params: Any) -> Said:
    return Said(msgid, params)


# An error from outside with no words of ours around it, shown as it came in every language.
AS_IT_CAME = "{error}"


def _english(value: Any) -> Any:
    return value.english() if isinstance(value, Said) else value


def _formatted(template: str, msgid: str, values: Mapping[str, Any]) -> str:
    for text in (template, msgid):
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            # A translation naming a value the sentence does not have: the English stands.
            continue
    return msgid


def _loaded(value: Any) -> Said | None:
    """The sentence a JSON column holds, or None for anything else."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], Mapping)
    ):
        return Said(value[0], {k: _loaded(v) or v for k, v in value[1].items()})
    return None


def shown(text: str, stored: Any) -> str:
    """A row's sentence in the active language: ``stored`` (its JSON column) translated,
    else ``text`` (its text column) as stored."""
    sentence = _loaded(stored)
    return text if sentence is None else _translated(sentence)


def _translated(sentence: Said) -> str:
    values = {k: _translated(v) if isinstance(v, Said) else v for k, v in sentence.params.items()}
    return _formatted(gettext(sentence.msgid), sentence.msgid, values)
