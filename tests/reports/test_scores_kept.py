"""The overview's groups now, fit and engagement histograms and MQLs per month read from the
counts the origins' rebuild keeps (reports.scores, reports.mqls): equal to the live
computation right after a rebuild and after scores, groups, stages and leads changed
through scoring's services since, when a group is deleted and when a lead is erased; in a
fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reports import origins, overview
from reports.models import MqlMonthCount, ScoreCount
from scoring import services
from scoring.erasure import lead_erase
from scoring.models import ScoreGroup
from scoring.rules import Dimension
from tests.reports.closed_loop_data import rebuilt
from tests.reports.dataset import lead, overview_data

pytestmark = pytest.mark.django_db

KEYS = ("groups", "fit", "engagement", "mqls")


@pytest.fixture
def data() -> dict[str, Any]:
    found = overview_data()
    rebuilt()
    return found


def shown(*, live: bool) -> dict[str, list[list[str]]]:
    """The sections' tables and charts, from the kept counts or live."""
    now = timezone.now()
    return {
        section.key: [*section.rows, [repr(section.chart)]]
        for section in overview.overview(now=now, live=live)
        if section.key in KEYS
    }


def test_right_after_a_rebuild_the_kept_counts_are_the_live_ones(data: dict[str, Any]) -> None:
    assert origins.sums_usable(origins.mark_read())
    assert ScoreCount.objects.count() == 5  # each lead its own group, fit and engagement
    # Ada, Bob and Dee reached MQL 20, 38 and 44 days ago: one, two or three months.
    assert sum(MqlMonthCount.objects.values_list("leads", flat=True)) == 3
    assert shown(live=False) == shown(live=True)


def test_the_page_reads_the_kept_counts_not_every_lead(data: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as captured:
        overview.score_counts()
        overview.mqls_against_target(now=timezone.now())
    statements = [query["sql"] for query in captured.captured_queries]
    assert any("reports_scorecount" in sql for sql in statements)
    assert any("reports_mqlmonthcount" in sql for sql in statements)
    # The leads and the stage history are read only for the leads changed since the rebuild.
    for sql in statements:
        if 'FROM "scoring_lead"' in sql or 'FROM "scoring_stagechange"' in sql:
            assert "WHERE" in sql


def test_changes_through_the_services_count_at_once(data: dict[str, Any]) -> None:
    ada, bob, cy, _dee, _eve = data["leads"]
    now = timezone.now()
    services.lead_adjust_score(lead_id=cy.pk, dimension=Dimension.ENGAGEMENT, delta=60, note="met at a fair")
    services.lead_adjust_score(lead_id=bob.pk, dimension=Dimension.FIT, delta=-7, note="left the company")
    services.leads_stage_set(lead_ids=[cy.pk, ada.pk], stage="sql", cause="routing", at=now)
    lead("Nia New", "mql", 3, 4, None, now - timedelta(hours=5))
    assert shown(live=False) == shown(live=True)
    # The thresholds move and every lead is put in its group again (transitions only).
    ScoreGroup.objects.filter(key="hot").update(min_score=60)
    services.leads_regroup()
    assert shown(live=False) == shown(live=True)
    rebuilt()
    assert origins.sums_usable(origins.mark_read())
    assert shown(live=False) == shown(live=True)
    assert rebuilt() == 0


def test_a_deleted_group_or_an_erased_lead_counts_live_until_the_next_rebuild(data: dict[str, Any]) -> None:
    _ada, bob, _cy, dee, _eve = data["leads"]
    ScoreGroup.objects.filter(key="hot").delete()  # its leads are left in no group, with no transition
    assert shown(live=False) == shown(live=True)
    rebuilt()
    assert shown(live=False) == shown(live=True)
    lead_erase(lead_id=bob.pk)
    assert not origins.sums_usable(origins.mark_read())
    assert shown(live=False) == shown(live=True)
    rebuilt()
    assert origins.sums_usable(origins.mark_read())
    dee.delete()  # however a lead is deleted
    assert not origins.sums_usable(origins.mark_read())
    assert shown(live=False) == shown(live=True)


def test_the_kept_counts_take_a_fixed_number_of_queries(data: dict[str, Any]) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            overview.score_counts()
            overview.mqls_against_target(now=timezone.now())
        return len(captured.captured_queries)

    few = queries()
    now = timezone.now()
    for i in range(20):
        more = lead(f"More Lead{i}", "lead", i, 2 * i, None, now - timedelta(days=i + 3))
        services.leads_stage_set(lead_ids=[more.pk], stage="mql", cause="routing", at=now - timedelta(days=i))
        services.lead_adjust_score(lead_id=more.pk, dimension=Dimension.ENGAGEMENT, delta=i + 1, note="webinar")
    fresh = queries()
    rebuilt()
    assert fresh == few == queries()
