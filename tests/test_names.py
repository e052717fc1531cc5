"""Names shown inside a sentence keep their direction to themselves."""

from __future__ import annotations

import pytest

from people.names import isolated

FSI, PDI, RLO, RLI = "\u2068", "\u2069", "\u202e", "\u2067"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Grace Hopper", "Grace Hopper"),  # nothing to set apart: as it is
        (f"{RLO}adnarF", f"{FSI}{RLO}adnarF{PDI}"),
        ("سارة", f"{FSI}سارة{PDI}"),
        # An isolate the name leaves open is closed before the name's end, and a closing one
        # it never opened is left out: neither may take the sentence's own.
        (f"{RLI}abc", f"{FSI}{RLI}abc{PDI}{PDI}"),
        (f"{PDI}{RLO}abc", f"{FSI}{RLO}abc{PDI}"),
    ],
)
def test_a_name_is_set_apart_from_the_sentence_when_it_could_turn_it(name: str, shown: str) -> None:
    assert isolated(name) == shown
