"""Which routing rules a group transition fires: pure code, no database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Trigger(StrEnum):
    ENTERS_GROUP = "enters_group"
    LEAVES_GROUP = "leaves_group"


@dataclass(frozen=True)
class Transition:
    from_group: int | None
    to_group: int | None


@dataclass(frozen=True)
class RuleTrigger:
    trigger: Trigger
    group: int


def fires(rule: RuleTrigger, transition: Transition) -> bool:
    """Whether ``transition`` is what ``rule`` waits for (each crossing fires again)."""
    if rule.trigger is Trigger.ENTERS_GROUP:
        return transition.to_group == rule.group and transition.from_group != rule.group
    return transition.from_group == rule.group and transition.to_group != rule.group
