"""Who gets a lead: round robin over reps with room, territories, capacity."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing import services
from routing.assignment import RepSlot, Territory, assign_many, by_territory, round_robin
from routing.models import QueueItem, Team, TerritoryRule
from scoring.models import Lead
from tests.factories import LeadFactory
from tests.routing.factories import RepFactory, TeamFactory

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)


def slot(rep_id: int, *, available: bool = True, capacity: int = 10, open_leads: int = 0) -> RepSlot:
    return RepSlot(rep_id, available, capacity, open_leads)


# --- round robin, pure ---------------------------------------------------------------


def test_round_robin_starts_after_the_last_rep_and_wraps() -> None:
    reps = [slot(3), slot(1), slot(2)]
    assert round_robin(reps, None) == 1
    assert round_robin(reps, 1) == 2
    assert round_robin(reps, 3) == 1  # wraps round
    assert round_robin(reps, 99) == 1  # the last rep left the team


def test_round_robin_skips_unavailable_and_full_reps() -> None:
    reps = [slot(1), slot(2, available=False), slot(3, capacity=2, open_leads=2), slot(4)]
    assert round_robin(reps, 1) == 4
    assert round_robin(reps, 4) == 1
    assert round_robin([slot(2, available=False), slot(3, capacity=1, open_leads=1)], None) is None


def test_round_robin_can_leave_out_the_current_owner() -> None:
    reps = [slot(1), slot(2)]
    assert round_robin(reps, 1, exclude=2) == 1
    assert round_robin([slot(1)], None, exclude=1) is None


reps_strategy = st.lists(
    st.builds(
        RepSlot,
        id=st.integers(1, 30),
        available=st.booleans(),
        capacity=st.integers(0, 5),
        open_leads=st.integers(0, 6),
    ),
    max_size=8,
    unique_by=lambda r: r.id,
)


@given(reps=reps_strategy, leads=st.integers(0, 40), after=st.none() | st.integers(0, 31))
def test_round_robin_never_picks_an_unavailable_or_full_rep(reps: list[RepSlot], leads: int, after: int | None) -> None:
    chosen, _ = assign_many(reps, [{}] * leads, method="round_robin", after=after)
    per_rep = Counter(c for c in chosen if c is not None)
    slots = {r.id: r for r in reps}
    for rep_id, count in per_rep.items():
        assert slots[rep_id].available
        assert slots[rep_id].open_leads + count <= slots[rep_id].capacity
    # A lead is left unassigned only when nobody had room any more.
    room = sum(max(0, r.capacity - r.open_leads) for r in reps if r.available)
    assert sum(per_rep.values()) == min(leads, room)


@given(
    size=st.integers(1, 8),
    leads=st.integers(0, 60),
    after=st.none() | st.integers(0, 9),
)
def test_round_robin_spreads_leads_evenly(size: int, leads: int, after: int | None) -> None:
    reps = [slot(rep_id, capacity=1000) for rep_id in range(1, size + 1)]
    chosen, last = assign_many(reps, [{}] * leads, method="round_robin", after=after)
    counts = Counter(chosen)
    assert None not in counts
    assert max(counts.values(), default=0) - min((counts[r.id] for r in reps), default=0) <= 1
    assert last == (chosen[-1] if chosen else after)


@given(split=st.integers(0, 20), rest=st.integers(0, 20), size=st.integers(1, 6))
def test_assigning_in_two_batches_continues_the_rotation(split: int, rest: int, size: int) -> None:
    reps = [slot(rep_id, capacity=1000) for rep_id in range(1, size + 1)]
    once, _ = assign_many(reps, [{}] * (split + rest), method="round_robin", after=None)
    first, after = assign_many(reps, [{}] * split, method="round_robin", after=None)
    loaded = [slot(r.id, capacity=1000, open_leads=first.count(r.id)) for r in reps]
    second, _ = assign_many(loaded, [{}] * rest, method="round_robin", after=after)
    assert first + second == once


# --- territory, pure -------------------------------------------------------------------

TERRITORIES = [
    Territory("country", ("Spain", "Portugal"), 1),
    Territory("industry", ("Retail",), 2),
    Territory("attributes.region", ("emea",), 3),
]


def test_the_first_matching_territory_wins_case_insensitively() -> None:
    reps = [slot(1), slot(2), slot(3)]
    assert by_territory(reps, TERRITORIES, {"country": "spain", "industry": "Retail"}) == 1
    assert by_territory(reps, TERRITORIES, {"country": "France", "industry": "retail"}) == 2
    assert by_territory(reps, TERRITORIES, {"country": "France", "attributes.region": "EMEA"}) == 3
    assert by_territory(reps, TERRITORIES, {"country": "France"}) is None


def test_a_territory_whose_rep_cannot_take_the_lead_leaves_it_in_the_team_queue() -> None:
    lead = {"country": "Spain", "industry": "Retail"}
    assert by_territory([slot(1, available=False), slot(2)], TERRITORIES, lead) is None
    assert by_territory([slot(1, capacity=3, open_leads=3), slot(2)], TERRITORIES, lead) is None
    # Capacity counts the leads given out in the same batch.
    chosen, _ = assign_many([slot(1, capacity=2)], [lead] * 3, method="territory", after=None, territories=TERRITORIES)
    assert chosen == [1, 1, None]


def test_the_queue_method_assigns_nobody() -> None:
    assert assign_many([slot(1)], [{}, {}], method="queue", after=None)[0] == [None, None]


# --- through the database -----------------------------------------------------------------


@pytest.mark.django_db
def test_leads_queue_rotates_over_reps_with_room_and_keeps_its_place() -> None:
    team = TeamFactory.create(name="Inside sales", assignment=Team.Assignment.ROUND_ROBIN)
    ana, _away, ben, cy = (
        RepFactory.create(team=team, user__username="ana"),
        RepFactory.create(team=team, user__username="away", available=False),
        RepFactory.create(team=team, user__username="ben", capacity=1),
        RepFactory.create(team=team, user__username="cy"),
    )
    # Ben already works one lead: he is full.
    QueueItem.objects.create(lead=LeadFactory.create(), team=team, owner=ben.user, entered_at=T0)
    leads = LeadFactory.create_batch(5)

    outcome = services.leads_queue(team=team, lead_ids=[lead.pk for lead in leads[:3]], now=T0)
    services.leads_queue(team=team, lead_ids=[lead.pk for lead in leads[3:]], now=T0)

    owners = dict(QueueItem.objects.filter(lead__in=leads).values_list("lead_id", "owner__username"))
    assert [owners[lead.pk] for lead in leads] == ["ana", "cy", "ana", "cy", "ana"]
    assert dict(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("pk", "owner_id")) == {
        lead.pk: (ana if owners[lead.pk] == "ana" else cy).user_id for lead in leads
    }
    assert outcome[leads[0].pk].english() == f"in Inside sales's queue, assigned to user {ana.user_id}"
    team.refresh_from_db()
    assert team.last_rep_id == ana.pk
    # A lead already waiting is not queued twice.
    again = services.leads_queue(team=team, lead_ids=[leads[0].pk], now=T0)
    assert list(again) == [leads[0].pk]
    assert again[leads[0].pk].english() == "already in Inside sales's queue"
    assert QueueItem.objects.filter(lead=leads[0]).count() == 1


@pytest.mark.django_db
def test_territory_sends_to_the_first_matching_rep_else_the_team_queue_unassigned() -> None:
    team = TeamFactory.create(name="Field", assignment=Team.Assignment.TERRITORY)
    iberia = RepFactory.create(team=team, user__username="iberia")
    retail = RepFactory.create(team=team, user__username="retail", available=False)
    TerritoryRule.objects.create(team=team, position=0, field="country", values=["Spain", "Portugal"], rep=iberia)
    TerritoryRule.objects.create(team=team, position=1, field="industry", values=["Retail"], rep=retail)
    madrid = LeadFactory.create(country="Spain", industry="Retail")
    paris_shop = LeadFactory.create(country="France", industry="retail")  # its rep is away
    berlin = LeadFactory.create(country="Germany", industry="Banking")  # no territory

    services.leads_queue(team=team, lead_ids=[madrid.pk, paris_shop.pk, berlin.pk], now=T0)

    items = {i.lead_id: i for i in QueueItem.objects.all()}
    assert items[madrid.pk].owner_id == iberia.user_id
    assert items[paris_shop.pk].owner_id is None
    assert items[berlin.pk].owner_id is None
    assert {i.team_id for i in items.values()} == {team.pk}
    assert {i.status for i in items.values()} == {"open"}
