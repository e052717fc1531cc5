"""Who gets a lead: pure choice of a rep, no database.

Round robin walks the team's reps in a fixed order, starting after the rep
who got the previous lead, skipping reps marked unavailable and reps at their
capacity of open leads. Territory rules send a lead to the rep of the first
rule its attributes match, if that rep can take it. ``None`` means the lead
waits unassigned in the team queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scoring import rules as pure


@dataclass(frozen=True)
class RepSlot:
    id: int
    available: bool
    capacity: int
    open_leads: int

    @property
    def has_room(self) -> bool:
        return self.available and self.open_leads < self.capacity


@dataclass(frozen=True)
class Territory:
    field: str
    values: tuple[pure.Value, ...]
    rep_id: int


def round_robin(reps: Sequence[RepSlot], after: int | None, *, exclude: int | None = None) -> int | None:
    """The first rep after ``after`` (by id, wrapping round) with room, other than ``exclude``."""
    ordered = sorted(reps, key=lambda r: r.id)
    start = next((i for i, r in enumerate(ordered) if after is not None and r.id > after), 0)
    for rep in ordered[start:] + ordered[:start]:
        if rep.has_room and rep.id != exclude:
            return rep.id
    return None


def by_territory(reps: Sequence[RepSlot], territories: Sequence[Territory], lead: Mapping[str, object]) -> int | None:
    """The rep of the first territory the lead matches, if that rep has room."""
    slots = {r.id: r for r in reps}
    for territory in territories:
        condition = pure.Condition(territory.field, pure.Operator.ONE_OF, list(territory.values))
        if pure.condition_holds(condition, lead):
            rep = slots.get(territory.rep_id)
            return rep.id if rep is not None and rep.has_room else None
    return None


def assign_many(
    reps: Sequence[RepSlot],
    leads: Sequence[Mapping[str, object]],
    *,
    method: str,
    after: int | None,
    territories: Sequence[Territory] = (),
) -> tuple[list[int | None], int | None]:
    """Choose a rep for each lead in turn, counting each choice against the rep's
    capacity. Returns the choices and the new round-robin position."""
    slots = {r.id: r for r in reps}
    chosen: list[int | None] = []
    for lead in leads:
        current = list(slots.values())
        if method == "round_robin":
            rep_id = round_robin(current, after)
            if rep_id is not None:
                after = rep_id
        elif method == "territory":
            rep_id = by_territory(current, territories, lead)
        else:
            rep_id = None
        if rep_id is not None:
            slot = slots[rep_id]
            slots[rep_id] = RepSlot(slot.id, slot.available, slot.capacity, slot.open_leads + 1)
        chosen.append(rep_id)
    return chosen, after
