"""The agreement's marketing side: monthly MQL targets, set by Marketing in the admin,
against the leads that reached MQL each month (the overview's "mqls" section), on a
history computed by hand with month boundaries in the site's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings
from django.urls import reverse

from reports import overview as sections
from reports.models import MqlTarget
from scoring.models import Lead, StageChange
from tests.factories import LeadFactory
from tests.routing.factories import RepFactory, UserFactory, marketer

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York


def utc(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def history(*changes: tuple[str, str, datetime]) -> Lead:
    lead = LeadFactory.create()
    for before, after, at in changes:
        StageChange.objects.create(lead=lead, from_stage=before, to_stage=after, at=at, cause="api")
    return lead


@pytest.fixture
def reached() -> None:
    history(("lead", "mql", utc(12, 1, 4, 30)))  # A: Nov 30 23:30 in New York, Dec 1 in UTC
    history(("lead", "mql", utc(12, 1, 5, 30)))  # B: Dec 1 00:30 in New York
    history(("", "sql", utc(11, 10)), ("sql", "opportunity", utc(11, 20)))  # C: created past MQL; then no new MQL
    history(
        ("lead", "mql", utc(10, 20)), ("mql", "disqualified", utc(10, 25)), ("disqualified", "mql", utc(11, 3))
    )  # D: October, and November again
    history(("subscriber", "mql", utc(6, 1, 3)))  # E: May 31 23:00 in New York (EDT): before the six months
    history(("lead", "mql", utc(6, 1, 4)))  # F: June 1 00:00 in New York: the first moment counted
    history(("lead", "mql", utc(8, 1)), ("mql", "sql", utc(9, 2)))  # G: August; its SQL is no new MQL
    history(("lead", "customer", utc(9, 15)))  # H: straight to a sale: an MQL of September
    history(("lead", "mql", utc(11, 5)), ("mql", "lead", utc(11, 6)), ("lead", "mql", utc(11, 25)))  # K: once
    for month, target in ((date(2026, 5, 1), 9), (date(2026, 9, 1), 3), (date(2026, 10, 1), 1)):
        MqlTarget.objects.create(month=month, target=target)
    MqlTarget.objects.create(month=date(2026, 11, 1), target=5)
    MqlTarget.objects.create(month=date(2026, 12, 1), target=6)


@override_settings(TIME_ZONE="America/New_York")
def test_delivered_against_target_by_month_in_the_sites_time_zone(reached: None) -> None:
    section = sections.mqls_against_target(now=NOW)
    assert section.columns == ["Month", "Target", "MQLs delivered", "Delivered of target", "Difference"]
    assert section.rows == [
        ["2026-06", "", "1", "", ""],  # F (E is May's)
        ["2026-07", "", "0", "", ""],
        ["2026-08", "", "1", "", ""],  # G
        ["2026-09", "3", "1", "33.3%", "-2"],  # H
        ["2026-10", "1", "1", "100.0%", "0"],  # D
        ["2026-11", "5", "4", "80.0%", "-1"],  # A, C, D again, K once
        ["2026-12 (to date)", "6", "1", "16.7%", "-5"],  # B
    ]
    assert section.chart == {
        "labels": [row[0] for row in section.rows],
        "delivered": [1, 0, 1, 1, 1, 4, 1],
        "target": [None, None, None, 3, 1, 5, 6],
    }


@override_settings(TIME_ZONE="UTC")
def test_the_same_history_in_utc_moves_the_leads_at_the_borders(reached: None) -> None:
    delivered = [row[2] for row in sections.mqls_against_target(now=NOW).rows]
    # A moves to December; E (June 1 03:00) joins F in June.
    assert delivered == ["2", "0", "1", "1", "1", "3", "2"]


@override_settings(TIME_ZONE="America/New_York")
def test_the_months_roll_over_the_year(reached: None) -> None:
    rows = sections.mqls_against_target(now=datetime(2027, 1, 1, 5, 30, tzinfo=UTC)).rows  # Jan 1 00:30 there
    assert [row[0] for row in rows] == [
        "2026-07",
        "2026-08",
        "2026-09",
        "2026-10",
        "2026-11",
        "2026-12",
        "2027-01 (to date)",
    ]
    assert rows[-2] == ["2026-12", "6", "1", "16.7%", "-5"]
    assert rows[-1] == ["2027-01 (to date)", "", "0", "", ""]


ADD = "/admin/reports/mqltarget/add/"


def test_marketing_sets_a_target_by_month_in_the_admin() -> None:
    client = Client()
    client.force_login(marketer(username="mia"))
    response = client.post(ADD, {"month": "2026-12", "target": "40"})
    assert response.status_code == 302, response.content.decode()[:2000]
    target = MqlTarget.objects.get()
    assert (target.month, target.target) == (date(2026, 12, 1), 40)
    listed = client.get("/admin/reports/mqltarget/").content.decode()
    assert "2026-12" in listed

    again = client.post(ADD, {"month": "2026-12", "target": "45"})
    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    for month, words in (("December", "Write the month as YYYY-MM"), ("2026-13", "Write the month as YYYY-MM")):
        refused = client.post(ADD, {"month": month, "target": "1"})
        assert refused.status_code == 200
        assert words in refused.context["adminform"].form.errors["month"][0]
    negative = client.post(ADD, {"month": "2027-01", "target": "-3"})
    assert "target" in negative.context["adminform"].form.errors
    assert MqlTarget.objects.count() == 1

    change = client.get(f"/admin/reports/mqltarget/{target.pk}/change/").content.decode()
    assert 'value="2026-12"' in change


def test_sales_managers_read_the_targets_and_reps_do_not() -> None:
    manager = UserFactory.create(is_staff=True)
    manager.groups.add(Group.objects.get(name="Sales managers"))
    client = Client()
    client.force_login(manager)
    assert client.get("/admin/reports/mqltarget/").status_code == 200
    assert client.post(ADD, {"month": "2026-12", "target": "40"}).status_code == 403
    rep = Client()
    rep.force_login(RepFactory.create().user)
    assert rep.get("/admin/reports/mqltarget/").status_code in (302, 403)
    assert not MqlTarget.objects.exists()
    assert reverse("admin:reports_mqltarget_changelist") == "/admin/reports/mqltarget/"
