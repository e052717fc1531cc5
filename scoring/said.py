"""A sentence of ours kept with its phrase and values, so it is shown in the reader's
language later: pure, no Django (:mod:`scoring.sentences` says one in the active language).

Two kinds of code keep them. The file checks (:mod:`scoring.file_checks`) give each problem
as a :class:`~scoring.file_checks.Problem`, which is its English text and carries its
sentence. The apps store sentences about what they did (routing's action outcomes and
failed calls, nurture's failed deliveries, a retry's result, why an import or a replay
failed): each is kept twice in its row, as English text in the column it always had (what
a database reader, a log or a search sees), and as its message id with the values put in
it (a JSON ``[msgid, {name: value}]`` beside it), which is what pages show, through
gettext, in the language of whoever reads them. A row without the second (written before
it existed, or typed by a person) is shown as stored. A value is shown as it came (an SMTP
server's answer, an HTTP status) unless it is itself a sentence of ours, kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Said:
    """A sentence with its values: ``Said(gettext_noop("tagged {tag}"), {"tag": "vip"})``.

    Its phrase is a template even when no values are put in it (a brace of its own is
    written doubled, ``{{``), so a sentence reads the same said now as kept and said later.
    Not a ``str``: code that takes a person's text or a sentence of ours (a retry's result,
    a hand-back's reason) tells them apart by type."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        """As written in English: what the text column keeps."""
        return self.in_words(_as_written)

    def in_words(self, phrase: Callable[[str], str]) -> str:
        """In the language of ``phrase`` (which translates a message id): the phrase, then
        its values put in, a value that is a sentence said in the same language. A
        translation naming a value the sentence does not have gives the English."""
        values = {k: v.in_words(phrase) if isinstance(v, Said) else v for k, v in self.params.items()}
        for template in (phrase(self.msgid), self.msgid):
            try:
                return template.format(**values)
            except (KeyError, IndexError, ValueError):
                continue
        return self.msgid

    def stored(self) -> list[Any]:
        """What the JSON column keeps."""
        return [self.msgid, {k: v.stored() if isinstance(v, Said) else v for k, v in self.params.items()}]


def said(msgid: str, /, **params: Any) -> Said:
    return Said(msgid, params)


# An error from outside with no words of ours around it, shown as it came in every language.
AS_IT_CAME = "{error}"


def _as_written(msgid: str) -> str:
    return msgid


def loaded(value: Any) -> Said | None:
    """The sentence a JSON column holds, or None for anything else."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], Mapping)
    ):
        return Said(value[0], {k: loaded(v) or v for k, v in value[1].items()})
    return None
