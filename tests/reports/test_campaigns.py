"""The campaigns report on the small history of tests/reports/closed_loop_data.py: first
and last touch, what the attributed leads became, revenue, cost per MQL and return on
cost, its filters, and keys no campaign defines. (CSV = page, who may read it and a
fixed number of queries are checked for every report in test_closed_loop.py.)"""

from __future__ import annotations

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from reports.filters import Choices, filters_parse
from reports.tables import BY_SLUG
from scoring.models import Campaign, Lead
from tests.reports.closed_loop_data import History, at, closed_loop_history, reader, rebuilt, touched

pytestmark = pytest.mark.django_db

DASH = "\u2014"


@pytest.fixture(params=["live", "kept"])
def history(request: pytest.FixtureRequest) -> History:
    """The history read live (no origin kept yet), and with every lead's origin kept by a
    rebuild (what happens after it, read live on top): the report is the same."""
    made = closed_loop_history()
    if request.param == "kept":
        rebuilt()
    return made


def shown(**params: str) -> list[list[str]]:
    report = BY_SLUG["campaigns"]
    filters, errors = filters_parse(params, applies=report.filters, choices=Choices.load())
    assert errors == {}
    return report.show(filters).table.rows


def test_first_touch_attribution(history: History) -> None:
    # First touches: L1 and L5 spring, L2 ads, L3 webinar (Oct 31: happened before its
    # spring touch although recorded after it), L4 fb-promo. Spring's two leads both
    # reached MQL, L1 also SQL and won 3000: cost per MQL 1000 / 2, return (3000 - 1000) / 1000.
    assert shown() == [
        ["webinar", "Autumn webinar", "events", "1", "1", "1", "1", "1", "500.00", DASH, DASH, DASH],
        ["ads", "Search ads", "paid search", "1", "1", "1", "0", "0", "0.00", "600.00", "600.00", "-100.0%"],
        ["spring", "Spring sale", "email", "2", "2", "2", "1", "1", "3000.00", "1000.00", "500.00", "200.0%"],
        ["fb-promo", "not defined", "", "1", "1", "1", "0", "0", "0.00", DASH, DASH, DASH],
    ]


def test_last_touch_attribution(history: History) -> None:
    # Last touches: L1 webinar (won 3000), L3 spring (a customer by its stage now: MQL and
    # SQL, won 500) with L5; the Leads columns do not change with the attribution.
    assert shown(attribution="last") == [
        ["webinar", "Autumn webinar", "events", "1", "1", "1", "1", "1", "3000.00", DASH, DASH, DASH],
        ["ads", "Search ads", "paid search", "1", "1", "1", "0", "0", "0.00", "600.00", "600.00", "-100.0%"],
        ["spring", "Spring sale", "email", "2", "2", "2", "1", "1", "500.00", "1000.00", "500.00", "-50.0%"],
        ["fb-promo", "not defined", "", "1", "1", "1", "0", "0", "0.00", DASH, DASH, DASH],
    ]


def test_a_campaign_without_mqls_or_with_a_zero_cost_shows_a_dash(history: History) -> None:
    Campaign.objects.create(key="quiet", name="Quiet one", cost=250)
    Campaign.objects.filter(key="ads").update(cost=0)
    rows = {row[0]: row for row in shown()}
    assert rows["quiet"][3:] == ["0", "0", "0", "0", "0", "0.00", "250.00", DASH, "-100.0%"]
    assert rows["ads"][9:] == ["0.00", "0.00", DASH]  # nothing spent: no return to speak of


def test_touches_of_the_same_moment_go_by_the_order_recorded(history: History) -> None:
    lead = Lead.objects.get(first_name="L2")
    touched(lead, "webinar", at(11, 2))  # the same moment as its ads touch, recorded after it
    rows = {row[0]: row[3:5] for row in shown()}
    assert rows["ads"] == ["1", "0"]
    assert rows["webinar"] == ["1", "2"]


def test_dates_select_by_the_touch(history: History) -> None:
    # From Nov 2: L1's first touch (Nov 1) and L3's (Oct 31) are left out; every last touch is in.
    rows = {row[0]: row[3:5] for row in shown(start="2026-11-02")}
    assert rows == {"webinar": ["0", "1"], "ads": ["1", "1"], "spring": ["1", "2"], "fb-promo": ["1", "1"]}
    rows = {row[0]: row[3:5] for row in shown(end="2026-11-01")}
    assert rows == {"webinar": ["1", "0"], "ads": ["0", "0"], "spring": ["1", "0"]}


def test_source_filter_and_undefined_keys_only_when_touched(history: History) -> None:
    # Forms: L1 (form:contact) and L3 (form:webinar); fb-promo touched none of them.
    rows = {row[0]: row[3:9] for row in shown(source="form")}
    assert rows == {
        "webinar": ["1", "1", "1", "1", "1", "500.00"],
        "ads": ["0", "0", "0", "0", "0", "0.00"],
        "spring": ["1", "1", "1", "1", "1", "3000.00"],
    }


def test_defining_a_carried_key_gives_its_row_a_name_and_a_cost(history: History) -> None:
    Campaign.objects.create(key="fb-promo", name="Facebook promo", channel="social", cost=100)
    row = next(r for r in shown() if r[0] == "fb-promo")
    assert row == [
        "fb-promo",
        "Facebook promo",
        "social",
        "1",
        "1",
        "1",
        "0",
        "0",
        "0.00",
        "100.00",
        "100.00",
        "-100.0%",
    ]


def test_a_bad_attribution_is_named(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:campaigns"), {"attribution": "middle"})
    assert page.status_code == 400
    assert "<strong>attribution</strong>: 'middle' is not one of first, last." in unescape(page.content.decode())
    exported = client.get(reverse("reports:campaigns-csv"), {"attribution": "middle"})
    assert exported.status_code == 400
    assert exported.content.decode().startswith("attribution: ")


def test_the_page_draws_revenue_against_cost(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:campaigns"), {"attribution": "last"})
    chart = page.context["shown"].chart
    assert chart["labels"] == ["Autumn webinar", "Search ads", "Spring sale"]
    assert chart["datasets"] == [
        {"label": "Revenue (last touch)", "data": [3000.0, 0.0, 500.0]},
        {"label": "Cost", "data": [None, 600.0, 1000.0]},
    ]
    assert '<option value="last" selected>Last touch</option>' in page.content.decode()


@pytest.mark.parametrize(("name", "value"), [("end", "9999-12-31"), ("start", "0001-01-01"), ("end", "0900-01-01")])
def test_a_day_out_of_range_is_named_on_every_report(history: History, client: Client, name: str, value: str) -> None:
    # The day after 9999-12-31 is no date, and midnight of 0001-01-01 is no time east of UTC.
    client.force_login(reader())
    for slug in ("campaigns", "conversion-by-group", "speed-to-lead"):
        page = client.get(reverse(f"reports:{slug}"), {name: value})
        assert page.status_code == 400, slug
        shown = unescape(page.content.decode())
        assert f"<strong>{name}</strong>: {value} is out of range: give a day from 1900-01-01 to 2999-12-31." in shown
    exported = client.get(reverse("reports:campaigns-csv"), {name: value})
    assert exported.status_code == 400
    assert exported.content.decode().startswith(f"{name}: {value} is out of range")
