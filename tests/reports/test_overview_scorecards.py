"""The overview of a scorecard (``?scorecard=KEY``): its own groups now and over time, its
leads' fit and engagement on it, its latest moves, numbers computed by hand over two
scorecards with different groups; the stage and queue sections unchanged; each CSV the
table shown; a constant number of queries; an unknown scorecard named on the field."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reports import snapshots
from reports.models import DailyGroupCount
from reports.snapshots import TREND_DAYS
from scoring import model_file, services
from scoring.models import GroupTransition, Lead, Scorecard, ScoreGroup
from tests.factories import InteractionFactory
from tests.reports.test_overview import URL, reader, tables

pytestmark = pytest.mark.django_db

TWO_LINES = """
leadflow_model: 1
name: Two lines
score_groups:
  - {key: warm, name: Warm, min_score: 10}
rules:
  - {key: any-form, name: Any form, dimension: engagement, points: 5, interaction_types: [form_submit]}
scorecards:
  - key: toys
    name: Toys
    score_groups:
      - {key: toys-warm, name: Warm for toys, min_score: 10}
      - {key: toys-hot, name: Hot for toys, min_score: 30}
    rules:
      - {key: toy-pages, name: Toy pages, dimension: engagement, points: 6, interaction_types: [page_view],
         conditions: [{field: url, operator: contains, value: /toys}]}
      - {key: parent, name: Parent, dimension: fit, points: 10,
         conditions: [{field: title, operator: equals, value: Parent}]}
  - key: books
    name: Books
    score_groups:
      - {key: books-hot, name: Hot for books, min_score: 15}
    rules:
      - {key: book-pages, name: Book pages, dimension: engagement, points: 5, interaction_types: [page_view],
         conditions: [{field: url, operator: contains, value: /books}]}
"""

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def views(lead: Lead, section: str, count: int) -> None:
    for n in range(count):
        InteractionFactory.create(
            lead=lead,
            type="page_view",
            occurred_at=T0 + timedelta(minutes=n),
            properties={"url": f"https://shop.example/{section}/{n}"},
        )


@pytest.fixture
def leads() -> dict[str, Lead]:
    return scored_leads()


def scored_leads() -> dict[str, Lead]:
    """Four leads:

    - Ana, a parent who viewed 4 toy pages: toys 10 fit + 24 engagement = 34, Hot for toys;
    - Bo viewed 2 toy pages and 3 book pages: toys 12 (Warm for toys), books 15 (Hot for books);
    - Cy sent 2 forms: the default score's 10 (Warm), nothing on toys or books;
    - Di did nothing.
    """
    services.scoring_model_import(spec=model_file.load_text(TWO_LINES))
    ana, _ = services.lead_upsert(email="ana@example.com", fields={"first_name": "Ana", "title": "Parent"})
    bo, _ = services.lead_upsert(email="bo@example.com", fields={"first_name": "Bo"})
    cy, _ = services.lead_upsert(email="cy@example.com", fields={"first_name": "Cy"})
    di, _ = services.lead_upsert(email="di@example.com", fields={"first_name": "Di"})
    views(ana, "toys", 4)
    views(bo, "toys", 2)
    views(bo, "books", 3)
    for n in range(2):
        InteractionFactory.create(lead=cy, type="form_submit", occurred_at=T0 + timedelta(minutes=n))
    services.interactions_score_pending()
    return {"ana": ana, "bo": bo, "cy": cy, "di": di}


def test_the_score_sections_are_those_of_the_scorecard_chosen(leads: dict[str, Lead]) -> None:
    client = reader()
    default = tables(client.get(URL).content.decode())
    response = client.get(URL, {"scorecard": "toys"})
    assert response.status_code == 200
    page = response.content.decode()
    shown = tables(page)
    assert '<option value="toys" selected>Toys</option>' in page

    assert shown["groups"] == [
        ["Score group", "From score", "Leads", "Share of all leads"],
        ["Warm for toys", "10", "1", "25.0%"],
        ["Hot for toys", "30", "1", "25.0%"],
        ["No group", "", "2", "50.0%"],
    ]
    assert shown["trend"][0] == ["Day", "Warm for toys", "Hot for toys", "No group"]
    # Fit on toys: Ana 10, the others 0; one point a bin.
    fit = {row[0]: row[1] for row in shown["fit"][1:]}
    assert len(fit) == 11
    assert (fit["0"], fit["10"]) == ("3", "1")
    assert sum(int(n) for n in fit.values()) == 4
    # Engagement on toys: Ana 24, Bo 12, Cy and Di 0; two points a bin (0 to 25: 13 bins).
    engagement = {row[0]: row[1] for row in shown["engagement"][1:]}
    assert len(engagement) == 13
    assert (engagement["0 to 1"], engagement["12 to 13"], engagement["24 to 25"]) == ("2", "1", "1")
    assert sum(int(n) for n in engagement.values()) == 4
    moves = [(row[1], row[2], row[3], row[4], row[5]) for row in shown["transitions"][1:]]
    assert sorted(moves) == sorted(
        [
            ("Ana", "No group", "Warm for toys", "up", "10"),
            ("Ana", "Warm for toys", "Hot for toys", "up", "34"),
            ("Bo", "No group", "Warm for toys", "up", "12"),
        ]
    )
    # The stage and queue sections are the same for every scorecard.
    for key in ("funnel", "queues", "mqls"):
        assert shown[key] == default[key], key

    books = tables(client.get(URL, {"scorecard": "books"}).content.decode())
    assert books["groups"][1:] == [["Hot for books", "15", "1", "25.0%"], ["No group", "", "3", "75.0%"]]
    assert [(row[1], row[3]) for row in books["transitions"][1:]] == [("Bo", "Hot for books")]
    # The default scorecard's: its own groups and moves, none of the scorecards'.
    assert default["groups"][1:] == [["Warm", "10", "1", "25.0%"], ["No group", "", "3", "75.0%"]]
    assert [(row[1], row[2], row[3]) for row in default["transitions"][1:]] == [("Cy", "No group", "Warm")]
    assert tables(client.get(URL, {"scorecard": "default"}).content.decode()) == default


def test_each_csv_of_a_scorecard_is_the_table_the_page_shows(leads: dict[str, Lead]) -> None:
    client = reader()
    page = client.get(URL, {"scorecard": "toys"}).content.decode()
    shown = tables(page)
    for key in shown:
        assert f"?format=csv&amp;section={key}&amp;scorecard=toys" in page
        response = client.get(URL, {"format": "csv", "section": key, "scorecard": "toys"})
        assert response.status_code == 200
        assert f'filename="leadflow-overview-{key}-toys-' in response["Content-Disposition"]
        assert list(csv.reader(io.StringIO(response.content.decode()))) == shown[key], key


def test_an_unknown_scorecard_is_named_on_the_field() -> None:
    services.scoring_model_import(spec=model_file.load_text(TWO_LINES))
    client = reader()
    response = client.get(URL, {"scorecard": "games"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "<strong>scorecard</strong>: No scorecard &#x27;games&#x27; (known: default, books, toys)." in page
    assert 'aria-invalid="true"' in page
    assert tables(page) == {}
    download = client.get(URL, {"format": "csv", "section": "groups", "scorecard": "games"})
    assert download.status_code == 400
    assert download.content.decode() == "scorecard: No scorecard 'games' (known: default, books, toys).\n"


def test_a_scorecard_s_page_reads_the_same_number_of_queries_whatever_the_data(leads: dict[str, Lead]) -> None:
    client = reader()
    client.get(URL, {"scorecard": "toys"})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, {"scorecard": "toys"}).status_code == 200
        return len(captured.captured_queries)

    small = queries()
    for n in range(20):
        more, _ = services.lead_upsert(email=f"more{n}@example.com", fields={"title": "Parent" if n % 2 else ""})
        views(more, "toys", n % 5)
        views(more, "books", n % 4)
    services.interactions_score_pending()
    ScoreGroup.every_scorecard.create(
        key="toys-vip", name="VIP for toys", min_score=60, scorecard=Scorecard.objects.get(key="toys")
    )
    assert queries() == small
    assert small <= 25


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_the_nightly_count_keeps_each_scorecard_s_groups_and_a_second_run_changes_nothing() -> None:
    """Hand-built moves (times in UTC, Leadflow's zone in tests): three leads created on
    the 1st; on toys L1 warm on the 2nd and hot on the 3rd, L2 warm on the 3rd; on books L3
    hot on the 2nd and back to none on the 4th; on the default score L2 warm on the 4th."""
    services.scoring_model_import(spec=model_file.load_text(TWO_LINES))
    toys, books = Scorecard.objects.get(key="toys"), Scorecard.objects.get(key="books")
    group = {g.key: g for g in ScoreGroup.every_scorecard.all()}
    l1, l2, l3 = (services.lead_upsert(email=f"l{n}@example.com")[0] for n in (1, 2, 3))
    Lead.objects.update(created_at=at(1))

    def move(lead: Lead, card: Scorecard | None, before: str | None, after: str | None, when: datetime) -> None:
        GroupTransition.objects.create(
            lead=lead,
            scorecard=card,
            from_group=group[before] if before else None,
            to_group=group[after] if after else None,
            direction="up" if after else "down",
            previous_total=0,
            total_score=0,
            cause="rule",
            occurred_at=when,
        )

    move(l1, toys, None, "toys-warm", at(2))
    move(l1, toys, "toys-warm", "toys-hot", at(3))
    move(l2, toys, None, "toys-warm", at(3, 8))
    move(l3, books, None, "books-hot", at(2))
    move(l3, books, "books-hot", None, at(4))
    move(l2, None, None, "warm", at(4))

    first, last = date(2026, 11, 1), date(2026, 11, 4)
    written = snapshots.group_counts_snapshot(first=first, last=last)
    # Each day: default (Warm, none), toys (two groups, none), books (one group, none).
    assert written == 4 * (2 + 3 + 2)
    assert snapshots.group_counts_snapshot(first=first, last=last) == 0
    assert DailyGroupCount.objects.count() == written

    def kept(card: Scorecard | None) -> list[tuple[int, ...]]:
        rows = DailyGroupCount.objects.filter(scorecard=card)
        by_day: dict[date, dict[str | None, int]] = {}
        for row in rows.select_related("group"):
            by_day.setdefault(row.day, {})[row.group.key if row.group else None] = row.leads
        keys = [g.key for g in ScoreGroup.every_scorecard.filter(scorecard=card).order_by("min_score")]
        return [tuple(by_day[day].get(k, -1) for k in [*keys, None]) for day in sorted(by_day)]

    # Toys: (warm, hot, none) at the end of the 1st to the 4th.
    assert kept(toys) == [(0, 0, 3), (1, 0, 2), (1, 1, 1), (1, 1, 1)]
    # Books: (hot, none).
    assert kept(books) == [(0, 3), (1, 2), (1, 2), (0, 3)]
    # The default score's: (warm, none); the scorecards' moves are not its own.
    assert kept(None) == [(0, 3), (0, 3), (0, 3), (1, 2)]


def test_the_trend_of_a_scorecard_on_the_page_is_its_nightly_count(leads: dict[str, Lead]) -> None:
    now = timezone.now()
    # The leads came ten days ago and were scored two days ago.
    Lead.objects.update(created_at=now - timedelta(days=10))
    GroupTransition.objects.update(occurred_at=now - timedelta(days=2))
    today = timezone.localdate(now)
    snapshots.group_counts_nightly(today=today)
    client = reader()
    trend = tables(client.get(URL, {"scorecard": "toys"}).content.decode())["trend"]
    assert len(trend) == 1 + TREND_DAYS
    assert trend[0] == ["Day", "Warm for toys", "Hot for toys", "No group"]
    assert trend[-3:] == [
        [(today - timedelta(days=3)).isoformat(), "0", "0", "4"],
        [(today - timedelta(days=2)).isoformat(), "1", "1", "2"],
        [(today - timedelta(days=1)).isoformat(), "1", "1", "2"],
    ]
    books = tables(client.get(URL, {"scorecard": "books"}).content.decode())["trend"]
    assert books[0] == ["Day", "Hot for books", "No group"]
    assert books[-1] == [(today - timedelta(days=1)).isoformat(), "1", "3"]
    download = client.get(URL, {"format": "csv", "section": "trend", "scorecard": "toys"})
    assert list(csv.reader(io.StringIO(download.content.decode()))) == trend


def test_a_scorecard_added_later_is_counted_back_by_the_next_night(leads: dict[str, Any]) -> None:
    today = timezone.localdate()
    snapshots.group_counts_nightly(today=today)
    games = Scorecard.objects.create(key="games", name="Games")
    assert not DailyGroupCount.objects.filter(scorecard=games).exists()
    snapshots.group_counts_nightly(today=today)
    assert DailyGroupCount.objects.filter(scorecard=games, group__isnull=True).count() == TREND_DAYS


@pytest.mark.migrations
@pytest.mark.django_db(transaction=True)
def test_the_scorecards_counts_go_back_and_forward_with_their_migration() -> None:
    services.scoring_model_import(spec=model_file.load_text(TWO_LINES))
    snapshots.group_counts_snapshot(first=date(2026, 11, 1), last=date(2026, 11, 2))
    before, after = ("reports", "0009_score_and_mql_counts"), ("reports", "0010_scorecard_group_counts")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps.get_model("reports", "DailyGroupCount")
        # The default scorecard's rows stay (Warm and no group, two days); the scorecards' go.
        kept_back = old.objects.count()
        executor = MigrationExecutor(connection)
        executor.migrate([after])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert kept_back == 2 * 2
    assert DailyGroupCount.objects.filter(scorecard__isnull=True).count() == 2 * 2
