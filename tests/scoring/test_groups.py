"""Score groups: hysteresis at the borders and the transitions outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import decay, services
from scoring import rules as pure
from scoring.models import GroupTransition, Lead, ScoreGroup
from scoring.rules import Band, Dimension
from tests.factories import LeadFactory, ScoreGroupFactory

NURTURE, FREQUENT, VIP = Band(1, 40), Band(2, 60, leave_below=55), Band(3, 80, leave_below=75)
BANDS = [NURTURE, FREQUENT, VIP]


def test_entering_ignores_hysteresis_and_leaving_honours_it() -> None:
    assert pure.group_for(60, BANDS, current=1) == 2  # up at the threshold
    assert pure.group_for(59, BANDS, current=1) == 1
    assert pure.group_for(57, BANDS, current=2) == 2  # hovering at the border: stays
    assert pure.group_for(55, BANDS, current=2) == 2
    assert pure.group_for(54, BANDS, current=2) == 1  # below leave_below: leaves
    assert pure.group_for(76, BANDS, current=3) == 3
    assert pure.group_for(70, BANDS, current=3) == 2  # leaves VIP into the group it reaches
    assert pure.group_for(30, BANDS, current=3) is None
    assert pure.group_for(85, BANDS, current=None) == 3
    assert pure.group_for(57, BANDS, current=None) == 1  # a new lead enters by the thresholds alone


def test_a_deleted_current_group_does_not_hold_the_lead() -> None:
    assert pure.group_for(57, BANDS, current=99) == 1


def group_by_definition(total: int, bands: list[Band], current: int | None) -> int | None:
    """group_for as its docstring says it, written for clarity rather than speed."""
    reached = [b for b in bands if total >= b.min_score]
    raw = max(reached, key=lambda b: b.min_score) if reached else None  # the first of equals
    now = next((b for b in bands if b.id == current), None)
    if now is None or raw is now or (raw is not None and raw.min_score > now.min_score):
        return raw.id if raw else None
    keep_from = now.leave_below if now.leave_below is not None else now.min_score
    return now.id if total >= keep_from else (raw.id if raw else None)


bands_drawn = st.lists(
    st.builds(
        Band,
        id=st.integers(1, 6),
        # Few values: ties between groups' thresholds come up often.
        min_score=st.integers(0, 8),
        leave_below=st.none() | st.integers(-2, 8),
    ),
    max_size=6,
)


@given(bands=bands_drawn, total=st.integers(-3, 10), current=st.none() | st.integers(1, 7))
def test_group_for_is_what_its_definition_says(bands: list[Band], total: int, current: int | None) -> None:
    """Ties in thresholds, repeated ids, a current group that is gone: the one-pass
    version picks what the definition picks."""
    assert pure.group_for(total, bands, current=current) == group_by_definition(total, bands, current)
    # (id, min_score) pairs: bands without hysteresis.
    pairs = [(b.id, b.min_score) for b in bands]
    plain = [Band(b.id, b.min_score) for b in bands]
    assert pure.group_for(total, pairs, current=current) == group_by_definition(total, plain, current)


@pytest.fixture
def groups() -> dict[str, ScoreGroup]:
    return {
        "nurture": ScoreGroupFactory.create(key="nurture", min_score=40),
        "frequent": ScoreGroupFactory.create(key="frequent", min_score=60, leave_below=55),
    }


def moves(lead: Lead) -> list[tuple[str | None, str | None, str, str]]:
    return [
        (t.from_group.key if t.from_group else None, t.to_group.key if t.to_group else None, t.direction, t.cause)
        for t in GroupTransition.objects.filter(lead=lead).select_related("from_group", "to_group").order_by("id")
    ]


def adjust(lead: Lead, delta: int) -> None:
    services.lead_adjust_score(lead_id=lead.pk, dimension=Dimension.ENGAGEMENT, delta=delta, note="test")


@pytest.mark.django_db
def test_crossings_both_ways_are_recorded_each_time(groups: dict[str, ScoreGroup]) -> None:
    lead = LeadFactory.create()
    adjust(lead, 45)  # enters nurture
    adjust(lead, 20)  # 65: frequent
    adjust(lead, -8)  # 57: stays (hysteresis)
    adjust(lead, -3)  # 54: back to nurture
    adjust(lead, 8)  # 62: frequent again: fires again
    adjust(lead, -40)  # 22: no group
    assert moves(lead) == [
        (None, "nurture", "up", "manual"),
        ("nurture", "frequent", "up", "manual"),
        ("frequent", "nurture", "down", "manual"),
        ("nurture", "frequent", "up", "manual"),
        # 62 -> 22 in one change: through nurture, each group crossed in order.
        ("frequent", "nurture", "down", "manual"),
        ("nurture", None, "down", "manual"),
    ]
    assert GroupTransition.objects.filter(processed_at__isnull=True).count() == 6
    lead.refresh_from_db()
    assert lead.score_group is None


@pytest.mark.django_db
def test_regroup_after_a_threshold_change_records_transitions(groups: dict[str, ScoreGroup]) -> None:
    lead = LeadFactory.create()
    adjust(lead, 50)
    groups["nurture"].min_score = 55
    groups["nurture"].save()
    assert services.leads_regroup() == 1
    assert moves(lead)[-1] == ("nurture", None, "down", "regroup")
    assert services.leads_regroup() == 0  # twice: nothing more


@pytest.mark.django_db
def test_decay_crossings_are_transitions_too(groups: dict[str, ScoreGroup]) -> None:
    services.decay_policy_set(policy=decay.Policy(decay.Kind.LINEAR, points_per_day=5))
    lead = LeadFactory.create()
    services.lead_adjust_score(
        lead_id=lead.pk,
        dimension=Dimension.ENGAGEMENT,
        delta=65,
        note="test",
        at=datetime(2026, 11, 1, 12, tzinfo=UTC),
    )
    services.leads_decay(today=date(2026, 11, 1) + timedelta(days=1))  # 60: stays frequent
    services.leads_decay(today=date(2026, 11, 1) + timedelta(days=2))  # 55: stays (leave below 55)
    services.leads_decay(today=date(2026, 11, 1) + timedelta(days=3))  # 50: leaves
    assert moves(lead) == [
        (None, "nurture", "up", "manual"),  # 0 -> 65: through nurture
        ("nurture", "frequent", "up", "manual"),
        ("frequent", "nurture", "down", "decay"),
    ]
