"""The overview's funnel read from the sums the origins' rebuild keeps (reports.funnel):
the hand-counted figures, equal to the live computation right after a rebuild and after
stage changes, new leads and an erasure that came after it; a second rebuild writes
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reports import overview
from reports.funnel import Figures, funnel_figures, funnel_live
from reports.models import FunnelCount
from scoring.models import Lead
from tests.reports.closed_loop_data import rebuilt
from tests.reports.dataset import lead, overview_data, stages

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
# tests/reports/test_overview.py's funnel, counted by hand there.
HAND_COUNTED = [
    ["All leads", "5", "", "", ""],
    ["Marketing qualified (MQL)", "4", "80.0%", "6.0", "3"],
    ["Sales qualified (SQL)", "3", "75.0%", "4.0", "2"],
    ["Opportunity", "2", "66.7%", "5.0", "1"],
    ["Won (customer)", "1", "50.0%", "5.0", "1"],
]


@pytest.fixture
def data() -> dict[str, Any]:
    found = overview_data()
    rebuilt()
    return found


def same(kept: Figures, live: Figures) -> bool:
    """The same counts and medians. The kept median is exact to the microsecond; SQLite's
    day numbers (julianday) keep milliseconds, so there the live one is as close as that."""
    close = 1e-12 if connection.vendor == "postgresql" else 2e-3 / 86_400
    return (
        kept.reached == live.reached
        and kept.medians.keys() == live.medians.keys()
        and all(
            kept.medians[step][1] == live.medians[step][1]
            and kept.medians[step][0] == pytest.approx(live.medians[step][0], abs=close)
            for step in kept.medians
        )
    )


def kept_sums() -> list[tuple[Any, ...]]:
    return list(FunnelCount.objects.order_by("step", "hours").values_list("step", "hours", "leads"))


def test_the_kept_funnel_is_the_hand_counted_one(data: dict[str, Any]) -> None:
    assert overview.funnel().rows == HAND_COUNTED
    assert overview.funnel(live=True).rows == HAND_COUNTED
    # The furthest step of each: Cy none past all leads, Ada MQL, Dee SQL, Eve opportunity, Bob won.
    assert [row for row in kept_sums() if row[1] is None] == [(step, None, 1) for step in range(5)]
    assert same(funnel_figures(), funnel_live())


def test_the_page_reads_the_kept_sums_not_the_stage_history(data: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as captured:
        overview.funnel()
    statements = " ".join(query["sql"] for query in captured.captured_queries)
    assert "scoring_stagechange" not in statements.split("WHERE", 1)[0]  # no full read of the history
    assert "reports_funnelcount" in statements


def test_a_second_rebuild_writes_nothing_and_keeps_the_same_sums(data: dict[str, Any]) -> None:
    sums = kept_sums()
    assert rebuilt() == 0
    assert kept_sums() == sums


def test_changes_after_the_rebuild_count_at_once(data: dict[str, Any]) -> None:
    ada, _bob, cy, _dee, _eve = data["leads"]
    now = timezone.now()
    # Cy reaches MQL after 3 days and SQL an hour later; Ada goes on to SQL; a new lead
    # reaches MQL on its first day: four MQL durations (an even count: the mean of the middle two).
    stages(cy, ("lead", "mql", now - 7 * DAY), ("mql", "sql", now - 7 * DAY + timedelta(hours=1)))
    Lead.objects.filter(pk=cy.pk).update(lifecycle_stage="sql")
    stages(ada, ("mql", "sql", now - DAY))
    Lead.objects.filter(pk=ada.pk).update(lifecycle_stage="sql")
    new = lead("Nia New", "mql", 0, 0, None, now - timedelta(hours=5))
    stages(new, ("lead", "mql", now - timedelta(hours=2)))
    live = funnel_live()
    assert live.reached == [6, 6, 5, 2, 1]
    assert same(funnel_figures(), live)
    assert overview.funnel().rows == overview.funnel(live=True).rows
    rebuilt()
    assert same(funnel_figures(), live)
    assert overview.funnel().rows == overview.funnel(live=True).rows


def test_an_erased_lead_leaves_the_funnel_as_counted_live(data: dict[str, Any]) -> None:
    data["leads"][1].delete()  # Bob, the customer
    live = funnel_live()
    assert live.reached == [4, 3, 2, 1, 0]
    assert same(funnel_figures(), live)


def test_the_kept_funnel_takes_a_fixed_number_of_queries(data: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as few:
        funnel_figures()
    now = timezone.now()
    for i in range(20):
        more = lead(f"More Lead{i}", "sql", 0, 0, None, now - (i + 3) * DAY)
        stages(more, ("lead", "mql", now - (i + 2) * DAY), ("mql", "sql", now - DAY))
    with CaptureQueriesContext(connection) as fresh:
        funnel_figures()
    rebuilt()
    with CaptureQueriesContext(connection) as kept:
        funnel_figures()
    assert len(few.captured_queries) == len(fresh.captured_queries) == len(kept.captured_queries)
