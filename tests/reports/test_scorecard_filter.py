"""The reports that read a lead's score or group at the hand-off, filtered by scorecard:
the closed-loop history (tests/reports/closed_loop_data.py) with two scorecards beside
the default one, whose ledgers differ from the default's so a report reading the wrong
one shows it.

    toys (groups keen 10+, eager 30+)     books (group avid 20+)
    lead  fit, engagement at hand-off      lead  fit, engagement at hand-off
    L1    0, 35          eager             L3    0, 40          avid
    L2    0, 12 (+30 on Nov 10)  keen      others nothing        none
    L3    nothing        none
    L4    5, 5           keen
    L5    0, 0 (+50 on Nov 25)   none
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from reports.filters import Choices, filters_parse
from reports.tables import BY_SLUG
from scoring.models import Lead, Scorecard, ScorecardEntry
from tests.factories import ScoreGroupFactory
from tests.reports.closed_loop_data import History, at, closed_loop_history, reader
from tests.reports.test_closed_loop import page_rows

pytestmark = pytest.mark.django_db

DASH = "\u2014"
TAKING = ("conversion-by-group", "fit-engagement", "feedback-loop")


def scored(lead: Lead, scorecard: Scorecard, dimension: str, delta: int, written: datetime) -> None:
    """A row of the scorecard's ledger written at ``written``."""
    entry = ScorecardEntry.objects.create(
        lead=lead, scorecard=scorecard, dimension=dimension, delta=delta, cause="manual", occurred_at=written
    )
    ScorecardEntry.objects.filter(pk=entry.pk).update(created_at=written)


@pytest.fixture
def history() -> History:
    found = closed_loop_history()
    l1, l2, _l3, l4, l5 = found.leads
    toys = Scorecard.objects.create(key="toys", name="Toys")
    books = Scorecard.objects.create(key="books", name="Books")
    ScoreGroupFactory.create(key="toys-keen", name="Keen", min_score=10, scorecard=toys)
    ScoreGroupFactory.create(key="toys-eager", name="Eager", min_score=30, scorecard=toys)
    ScoreGroupFactory.create(key="books-avid", name="Avid", min_score=20, scorecard=books)
    scored(l1, toys, "engagement", 35, at(11, 1, 10))
    scored(l2, toys, "engagement", 12, at(11, 1, 10))
    scored(l2, toys, "engagement", 30, at(11, 10))  # after its hand-off on Nov 3
    scored(l4, toys, "fit", 5, at(11, 1, 10))
    scored(l4, toys, "engagement", 5, at(11, 1, 11))
    scored(l5, toys, "engagement", 50, at(11, 25))  # after its hand-off on Nov 21
    scored(found.leads[2], books, "engagement", 40, at(11, 1, 10))
    return found


def shown(slug: str, **params: str) -> list[list[str]]:
    report = BY_SLUG[slug]
    filters, errors = filters_parse(params, applies=report.filters, choices=Choices.load())
    assert errors == {}
    return report.show(filters).table.rows


def test_conversion_by_group_on_a_scorecard_reads_its_ledger_and_groups(history: History) -> None:
    # L1 (35) eager and won; L2 (12, its +30 came later) and L4 (10) keen; L3 (nothing on
    # toys, won) and L5 (0 then) in no group.
    assert shown("conversion-by-group", scorecard="toys") == [
        ["Eager", "30 or more", "1", "1", "100.0%"],
        ["Keen", "10\u201329", "2", "0", "0.0%"],
        ["No group", "below 10", "2", "1", "50.0%"],
    ]
    assert shown("conversion-by-group", scorecard="books") == [
        ["Avid", "20 or more", "1", "1", "100.0%"],
        ["No group", "below 20", "4", "1", "25.0%"],
    ]
    # "default" is the lead's own score, as without the filter.
    assert shown("conversion-by-group", scorecard="default") == shown("conversion-by-group")
    assert shown("conversion-by-group")[0] == ["Hot", "40 or more", "2", "1", "50.0%"]


def test_grid_on_a_scorecard_places_leads_by_its_fit_and_engagement(history: History) -> None:
    rows = shown("fit-engagement", scorecard="toys")
    cells = {row[0] + row[2]: (row[4], row[5], row[6]) for row in rows if row[4] != "0"}
    assert cells == {
        "D2": ("1", "1", "100.0%"),  # L1 (0, 35)
        "D3": ("1", "0", "0.0%"),  # L2 (0, 12)
        "C4": ("1", "0", "0.0%"),  # L4 (5, 5): fit C from 5, engagement 4 below 10
        "D4": ("2", "1", "50.0%"),  # L3 and L5 (0, 0)
    }
    keen = shown("fit-engagement", scorecard="toys", group="toys-keen")
    assert {row[0] + row[2]: row[4] for row in keen if row[4] != "0"} == {"D3": "1", "C4": "1"}


def test_feedback_loop_group_filter_on_a_scorecard(history: History) -> None:
    # Eager at the hand-off: I1 (won) and I5 (waiting), both L1's, in November.
    assert shown("feedback-loop", scorecard="toys", group="toys-eager") == [
        ["2026-11", "2", "1", "50.0%", "1", "50.0%", "1", "50.0%", "0"],
    ]
    # Keen: I2 (L2, rejected) in November, I4 (L4, disqualified) in December.
    assert shown("feedback-loop", scorecard="toys", group="toys-keen") == [
        ["2026-11", "1", "0", "0.0%", "0", "0.0%", "0", "0.0%", "1"],
        ["2026-12", "1", "0", "0.0%", "0", "0.0%", "0", "0.0%", "1"],
    ]
    # None: I3 (L3, won) and I6 (L5 at 0 then, rejected).
    assert shown("feedback-loop", scorecard="toys", group="none") == [
        ["2026-11", "2", "1", "50.0%", "1", "50.0%", "1", "50.0%", "1"],
    ]
    # The scorecard alone filters nothing.
    assert shown("feedback-loop", scorecard="toys") == shown("feedback-loop")


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"scorecard": "games"}, "scorecard", "No scorecard 'games' (known: default, books, toys)"),
        (
            {"scorecard": "toys", "group": "hot"},
            "group",
            "No score group 'hot' on scorecard 'toys' (known: toys-keen, toys-eager, none)",
        ),
        ({"group": "toys-keen"}, "group", "No score group 'toys-keen' (known: warm, hot, none)"),
    ],
)
def test_a_bad_scorecard_or_a_group_of_another_is_named(
    history: History, client: Client, params: dict[str, str], field: str, words: str
) -> None:
    client.force_login(reader())
    for slug in ("fit-engagement", "feedback-loop"):
        page = client.get(reverse(f"reports:{slug}"), params)
        assert page.status_code == 400
        text = unescape(page.content.decode())
        assert f"<strong>{field}</strong>: {words}." in text
        assert 'id="report-table"' not in text
        exported = client.get(reverse(f"reports:{slug}-csv"), params)
        assert exported.status_code == 400
        assert exported.content.decode() == f"{field}: {words}.\n"


@pytest.mark.parametrize("slug", TAKING)
def test_csv_on_a_scorecard_is_what_the_page_shows(history: History, client: Client, slug: str) -> None:
    client.force_login(reader())
    params = {"scorecard": "toys", "group": "toys-keen"} if slug != "conversion-by-group" else {"scorecard": "toys"}
    page = client.get(reverse(f"reports:{slug}"), params)
    assert page.status_code == 200
    html = page.content.decode()
    # The page offers the scorecards, the one chosen selected, and that scorecard's groups.
    assert '<option value="toys" selected>Toys</option>' in html
    if slug != "conversion-by-group":
        assert '<option value="toys-keen" selected>Keen</option>' in html
        assert 'value="hot"' not in html
    exported = client.get(reverse(f"reports:{slug}-csv"), params)
    _, *rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows == page_rows(html)
    assert rows == shown(slug, **params)


def test_reports_that_do_not_read_scores_take_no_scorecard(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:speed-to-lead"), {"scorecard": "games"})
    assert page.status_code == 200
    assert 'name="scorecard"' not in page.content.decode()
    assert {slug for slug, report in BY_SLUG.items() if "scorecard" in report.filters} == set(TAKING)


def test_without_scorecards_the_page_offers_none(client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:conversion-by-group"))
    assert page.status_code == 200
    assert 'name="scorecard"' not in page.content.decode()
