"""The sales feedback deadlines report on the closed-loop history
(tests/reports/closed_loop_data.py: North promises feedback within 2 days, South promises
nothing), with two more North hand-offs: one answered late, one still within the deadline.
Its CSV, filters, permissions and query counts are checked with every other report's in
tests/reports/test_closed_loop.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from reports import queries
from reports.filters import ALL_FILTERS, Choices, filters_parse
from reports.tables import BY_SLUG
from routing.models import QueueItem
from tests.factories import LeadFactory
from tests.reports.closed_loop_data import History, at, closed_loop_history, outcome, reader

pytestmark = pytest.mark.django_db

DASH = "\u2014"
NOW = at(12, 2, 10)  # Dec 2, 10:00


@pytest.fixture
def history() -> History:
    made = closed_loop_history()
    north, bob = made.teams["north"], made.reps["bob"]
    # Claimed within the hour, but accepted only on Nov 28: a day after its deadline (Nov 27 09:00).
    late = QueueItem.objects.create(
        lead=LeadFactory.create(), team=north, entered_at=at(11, 25), owner=bob, status="accepted"
    )
    outcome(late, "claimed", at(11, 25, 10), bob)
    outcome(late, "accepted", at(11, 28), bob)
    # Handed over yesterday at noon, nothing yet: within its deadline (Dec 3 12:00).
    QueueItem.objects.create(
        lead=LeadFactory.create(), team=north, entered_at=at(12, 1, 12), owner=bob, status="claimed"
    )
    return made


def rows(now=NOW, **params: str) -> list[list[object]]:
    parsed, errors = filters_parse(params, applies=ALL_FILTERS, choices=Choices.load())
    assert errors == {}
    return [
        [r.team, r.rep, r.days, r.handoffs, r.in_time, r.late, r.overdue, r.waiting, r.most_overdue]
        for r in queries.feedback_deadlines(parsed, now=now)
    ]


def test_hand_offs_by_team_and_rep_against_the_deadline(history: History) -> None:
    # North: I1 (alice, accepted 2 h after), I2 (bob, rejected 6.5 h after), I4 (alice,
    # disqualified 1 h after): in time. Bob's Nov 25 one: late. I5 (L1 again, Nov 20 09:00,
    # nobody's, nothing): deadline Nov 22 09:00, 10 days and an hour past it: 11 days begun.
    # Bob's Dec 1 one: within. South has no deadline: not shown (I3's escalation and claim
    # are no feedback either way).
    assert rows() == [
        ["North", "", 2, 6, 3, 1, 1, 1, 11],
        ["North", "alice", 2, 2, 2, 0, 0, 0, 0],
        ["North", "bob", 2, 3, 1, 1, 0, 1, 0],
        ["North", "Not assigned", 2, 1, 0, 0, 1, 0, 11],
    ]


def test_a_lead_claimed_then_released_has_had_no_feedback(history: History) -> None:
    north, alice = history.teams["north"], history.reps["alice"]
    handed_back = QueueItem.objects.create(lead=LeadFactory.create(), team=north, entered_at=at(11, 26))
    outcome(handed_back, "claimed", at(11, 26, 10), alice)
    outcome(handed_back, "released", at(11, 26, 11), alice, reason="Wrong lead")
    # Its deadline, Nov 28 09:00, is 4 days and an hour past: overdue, nobody's.
    assert rows()[-1] == ["North", "Not assigned", 2, 2, 0, 0, 2, 0, 11]


def test_overdue_begins_the_moment_after_the_deadline(history: History) -> None:
    deadline = at(12, 3, 12)  # bob's Dec 1 12:00 hand-off plus 2 days
    bob = [row for row in rows(now=deadline) if row[1] == "bob"]
    assert bob[0][6:8] == [0, 1]  # at the deadline: still within it
    bob = [row for row in rows(now=deadline + timedelta(seconds=1)) if row[1] == "bob"]
    assert bob[0][6:9] == [1, 0, 1]


def test_the_table_as_the_page_and_the_csv_show_it(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    report = BY_SLUG["feedback-deadlines"]
    parsed, _ = filters_parse({}, applies=report.filters, choices=Choices.load())
    shown = report.show(parsed)
    assert shown.table.headers[2:] == [
        "Deadline (days)",
        "Hand-offs",
        "Answered in time",
        "Answered late",
        "Overdue now",
        "Within the deadline",
        "Answered in time %",
        "Most days overdue",
    ]
    assert shown.table.rows == [
        ["North", "All reps", "2", "6", "3", "1", "1", "1", "60.0%", "11"],
        ["North", "alice", "2", "2", "2", "0", "0", "0", "100.0%", DASH],
        ["North", "bob", "2", "3", "1", "1", "0", "1", "50.0%", DASH],
        ["North", "Not assigned", "2", "1", "0", "0", "1", "0", "0.0%", "11"],
    ]
    assert shown.chart is not None
    assert shown.chart["labels"] == ["North"]
    assert [d["data"] for d in shown.chart["datasets"]] == [[3], [1], [1]]


def test_filters_and_a_team_without_a_deadline(history: History) -> None:
    assert rows(team="south") == []
    assert [row[:4] for row in rows(start="2026-11-20")] == [
        ["North", "", 2, 4],
        ["North", "alice", 2, 1],
        ["North", "bob", 2, 2],
        ["North", "Not assigned", 2, 1],
    ]
    assert [row[:4] for row in rows(source="api")] == [["North", "", 2, 1], ["North", "bob", 2, 1]]  # L2's I2
    history.teams["south"].feedback_days = 1
    history.teams["south"].save(update_fields=["feedback_days"])
    # I3: accepted 3.5 h after; I6: rejected after an hour (unclaimed, then carol's).
    assert rows(team="south") == [["South", "", 1, 2, 2, 0, 0, 0, 0], ["South", "carol", 1, 2, 2, 0, 0, 0, 0]]


def test_the_page_says_what_counts_as_feedback(history: History, client: Client) -> None:
    client.force_login(reader())
    page = client.get(reverse("reports:feedback-deadlines"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "other than claimed, released and escalated" in text
    assert "accepted, rejected, qualified, disqualified, opportunity created, won or lost" in text
    spanish = client.get(reverse("reports:feedback-deadlines"), headers={"accept-language": "es"}).content.decode()
    assert "que no sea tomado, devuelto a la cola ni escalado" in spanish
    assert client.get(reverse("reports:feedback-deadlines"), {"team": "east"}).status_code == 400
