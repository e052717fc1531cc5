"""How a person using Leadflow is named to others: their full name, else their user name
(a user name such as aball2 tells a colleague little). And how any name is set inside a
sentence: apart from it, so its direction stays its own."""

from __future__ import annotations

import unicodedata

from django.contrib.auth.models import AbstractUser

FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")
# Bidirectional classes that can turn the text after them: right-to-left letters, and the
# embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069).
_TURNING = frozenset({"R", "AL", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def person_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()


def isolated(name: str) -> str:
    """``name`` to put inside a sentence: when it holds right-to-left letters or direction
    controls, between U+2068 and U+2069 (Unicode's isolate, as HTML's ``<bdi>``), so a
    right-to-left override in a lead's name ("\\u202eadnarF") turns only the name, never the
    sentence around it. Whoever wrote the name (a form, an API) and whenever: old rows too.
    An isolate the name leaves open is closed before its end, and a closing one it never
    opened is left out, so neither can pair with the sentence's own."""
    if not any(unicodedata.bidirectional(char) in _TURNING for char in name):
        return name
    kept: list[str] = []
    open_isolates = 0
    for char in name:
        if char in _ISOLATE_OPENERS:
            open_isolates += 1
        elif char == POP_DIRECTIONAL_ISOLATE:
            if not open_isolates:
                continue
            open_isolates -= 1
        kept.append(char)
    return FIRST_STRONG_ISOLATE + "".join(kept) + POP_DIRECTIONAL_ISOLATE * (open_isolates + 1)
