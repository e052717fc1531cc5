"""A cap's window is at most ten years: the model file (and the admin, through the same
check) refuse a longer one at its place, and a longer one stored before the bound caps
for ever, as a window longer than the calendar does, instead of failing the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring import model_file
from scoring import rules as pure
from scoring.admin.rules import ScoringRuleForm
from scoring.models import ScoreEntry, ScoringRule
from tests.factories import LeadFactory, ScoringRuleFactory
from tests.scoring.test_semantics import interactions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)
RULE = (
    "leadflow_model: 1\nrules:\n  - {key: opens, name: Opens, dimension: engagement, points: 1,"
    " interaction_types: [email_open], cap: {count: 1, window_days: %d}}\n"
)


def test_a_model_file_refuses_a_window_past_ten_years_at_its_place() -> None:
    with pytest.raises(model_file.ModelFileError) as refused:
        model_file.load_text(RULE % 3651)
    assert refused.value.errors == ["rules[0].cap.window_days: The window is at most 3650 days (ten years)."]

    model_file.load_text(RULE % 3650)


@pytest.mark.parametrize("days", [2**31 - 1, 1_000_000_000])
def test_a_window_past_the_calendar_caps_for_ever(days: int) -> None:
    rule = pure.Rule(
        id=1,
        dimension=pure.Dimension.ENGAGEMENT,
        points=1,
        interaction_types=frozenset({"email_open"}),
        cap=pure.Cap(count=1, window_days=days),
    )
    past = [pure.Award(1, 1, 1, datetime(1, 1, 1, tzinfo=UTC), 1)]
    assert pure.capped_points(rule, datetime(9999, 12, 31, tzinfo=UTC), past) == 0


def test_a_window_stored_past_the_limit_caps_for_ever_and_stops_no_other_rule() -> None:
    endless = ScoringRuleFactory.create(points=1, interaction_types=["email_open"], cap_count=1, cap_window_days=7)
    ScoringRule._base_manager.filter(pk=endless.pk).update(cap_window_days=2**31 - 1)  # stored before the bound
    clicks = ScoringRuleFactory.create(points=5, interaction_types=["email_click"])
    lead = LeadFactory.create()

    interactions(lead, "email_open", T0, T0 + timedelta(days=4000))
    interactions(lead, "email_click", T0)

    assert ScoreEntry.objects.filter(rule=endless).count() == 1
    assert ScoreEntry.objects.filter(rule=clicks).count() == 1
    lead.refresh_from_db()
    assert lead.engagement_score == 6


def test_the_admin_refuses_a_window_past_ten_years_on_its_field() -> None:
    data = {
        "name": "Opens",
        "key": "opens",
        "dimension": "engagement",
        "points": "1",
        "interaction_types": ["email_open"],
        "match": "all",
        "cap_count": "1",
        "cap_window_days": "3651",
        "active": "on",
    }
    form = ScoringRuleForm(data=data)

    assert not form.is_valid()
    assert form.errors == {"cap_window_days": ["The window is at most 3650 days (ten years)."]}, form.errors
    assert ScoringRuleForm(data={**data, "cap_window_days": "3650"}).is_valid()
