"""The what-if for every scorecard: a draft that changes one scorecard's rules shows that
scorecard's moves and score changes, and the scorecards it leaves alone show none, on
SQLite and on PostgreSQL (where the leads are split over processes)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scoring import model_file, services
from scoring import replay as pure_replay
from scoring.models import Lead, ModelVersion, ReplayRun
from scoring.services import versions
from tests.factories import InteractionFactory, LeadFactory

LIVE: dict[str, Any] = {
    "leadflow_model": 1,
    "score_groups": [{"key": "warm", "name": "Warm", "min_score": 20}],
    "rules": [
        {"key": "forms", "name": "Forms", "dimension": "engagement", "points": 5, "interaction_types": ["form_submit"]}
    ],
    "scorecards": [
        {
            "key": "toys",
            "name": "Toys",
            "score_groups": [{"key": "toys-hot", "name": "Hot for toys", "min_score": 20}],
            "rules": [
                {
                    "key": "toy-pages",
                    "name": "Toy pages",
                    "dimension": "engagement",
                    "points": 4,
                    "interaction_types": ["page_view"],
                    "conditions": [{"field": "url", "operator": "contains", "value": "/toys"}],
                }
            ],
        },
        {
            "key": "books",
            "name": "Books",
            "score_groups": [{"key": "books-hot", "name": "Hot for books", "min_score": 20}],
            "rules": [
                {
                    "key": "book-pages",
                    "name": "Book pages",
                    "dimension": "engagement",
                    "points": 3,
                    "interaction_types": ["page_view"],
                    "conditions": [{"field": "url", "operator": "contains", "value": "/books"}],
                }
            ],
        },
    ],
}


def toy_pages_worth(points: int) -> dict[str, Any]:
    data = copy.deepcopy(LIVE)
    data["scorecards"][0]["rules"][0]["points"] = points
    return data


def history() -> dict[str, Lead]:
    """a: 3 toy pages; b: 6 toy pages; c: 7 book pages; d: nothing (see the test's table)."""
    services.scoring_model_import(spec=model_file.load_data(LIVE))
    now = timezone.now()
    leads = {name: LeadFactory.create(email=f"{name}@example.com") for name in "abcd"}
    for name, pages in {"a": ["/toys"] * 3, "b": ["/toys"] * 6, "c": ["/books"] * 7}.items():
        for n, page in enumerate(pages):
            InteractionFactory.create(
                lead=leads[name],
                type="page_view",
                properties={"url": f"https://shop.example{page}/{n}"},
                occurred_at=now - timedelta(days=5 + n),
            )
    return leads


def draft() -> ModelVersion:
    return versions.draft_import(spec=model_file.load_data(toy_pages_worth(8)), user=None, name="toys count double")


def replayed(version: ModelVersion, *, chunk_size: int = 5000) -> dict[str, Any]:
    run = services.replay_start(version=version, days=90, background=False)
    done = services.replay_run(run_id=run.pk, chunk_size=chunk_size)
    assert done.status == ReplayRun.Status.DONE, done.error
    result: dict[str, Any] | None = done.result
    assert result is not None
    return result


def check_by_hand(result: dict[str, Any], leads: dict[str, Lead]) -> None:
    # lead  toys live (4 a page)   toys draft (8 a page)   books (3 a page, both)   default (forms, both)
    # a     3 pages: 12, no group  24, Hot for toys        0, no group              0, no group
    # b     6 pages: 24, Hot       48, Hot                 0, no group              0, no group
    # c     0, no group            0, no group             7 pages: 21, Hot         0, no group
    # d     0                      0                       0                        0
    assert result["leads"] == 4
    assert result["moves"] == []
    assert result["scores"] == {"live": 0, "draft": 0, "change": 0, "raised": 0, "lowered": 0}
    books, toys = result["scorecards"]  # in the draft's order (a draft's scorecards by key)
    assert (books["key"], books["name"], toys["key"], toys["name"]) == ("books", "Books", "toys", "Toys")

    assert toys["leads"] == 4
    assert [(m["from_name"], m["to_name"], m["leads"]) for m in toys["moves"]] == [("No group", "Hot for toys", 1)]
    assert toys["moved"] == 1
    assert [(g["name"], g["live"], g["draft"]) for g in toys["groups"]] == [("No group", 3, 2), ("Hot for toys", 1, 2)]
    assert toys["scores"] == {"live": 36, "draft": 72, "change": 36, "raised": 2, "lowered": 0}
    assert [(r["key"], r["live"], r["draft"], r["change"]) for r in toys["rules"]] == [("toy-pages", 36, 72, 36)]
    assert [(s["lead_id"], s["live_total"], s["draft_total"], s["from"], s["to"]) for s in toys["sample"]] == [
        (leads["a"].pk, 12, 24, "No group", "Hot for toys")
    ]

    assert books["moves"] == []
    assert books["moved"] == 0
    assert books["sample"] == []
    assert [(g["name"], g["live"], g["draft"]) for g in books["groups"]] == [
        ("No group", 3, 3),
        ("Hot for books", 1, 1),
    ]
    assert books["scores"] == {"live": 21, "draft": 21, "change": 0, "raised": 0, "lowered": 0}
    assert [(r["key"], r["live"], r["draft"]) for r in books["rules"]] == [("book-pages", 21, 21)]


@pytest.mark.django_db
def test_a_draft_changing_one_scorecard_moves_its_leads_and_no_other_scorecard_s() -> None:
    leads = history()
    check_by_hand(replayed(draft(), chunk_size=3), leads)


@pytest.mark.django_db(transaction=True)
def test_the_same_figures_on_postgresql_split_over_processes(postgres: None, monkeypatch: pytest.MonkeyPatch) -> None:
    leads = history()
    monkeypatch.setattr(services.replay, "REPLAY_PROCESS_MIN", 1)
    monkeypatch.setattr(django_settings, "LEADFLOW_REPLAY_PROCESSES", 3)
    check_by_hand(replayed(draft(), chunk_size=1), leads)


@pytest.mark.django_db
def test_a_scorecard_the_draft_drops_or_adds_is_compared_with_an_empty_one() -> None:
    history()
    dropped = copy.deepcopy(LIVE)
    dropped["scorecards"] = [
        dropped["scorecards"][1],
        {
            "key": "games",
            "name": "Games",
            "score_groups": [{"key": "games-any", "name": "Any games", "min_score": 0}],
        },
    ]
    version = versions.draft_import(spec=model_file.load_data(dropped), user=None, name="no toys, games")
    result = replayed(version)
    assert [card["key"] for card in result["scorecards"]] == ["books", "games", "toys"]
    books, games, toys = result["scorecards"]
    assert books["moved"] == 0
    # Every lead enters the new scorecard's group from 0 (none had one before).
    assert [(m["from_name"], m["to_name"], m["leads"]) for m in games["moves"]] == [("No group", "Any games", 4)]
    # The dropped scorecard's one hot lead (b, 24) has no group left, and a and b lose their points.
    assert [(m["from_name"], m["to_name"], m["leads"]) for m in toys["moves"]] == [("Hot for toys", "No group", 1)]
    assert toys["scores"] == {"live": 36, "draft": 0, "change": -36, "raised": 0, "lowered": 2}


def test_merging_comparisons_adds_up_each_scorecard() -> None:
    """A comparison's scorecards merge as its own figures do: by key, sums added."""
    one, two = pure_replay.Comparison(leads=1), pure_replay.Comparison(leads=2)
    one.scorecards["toys"] = pure_replay.Comparison(leads=1, raised=1)
    two.scorecards["toys"] = pure_replay.Comparison(leads=2, lowered=2)
    two.scorecards["books"] = pure_replay.Comparison(leads=2)
    one.merge(two)
    assert one.leads == 3
    assert (one.scorecards["toys"].leads, one.scorecards["toys"].raised, one.scorecards["toys"].lowered) == (3, 1, 2)
    assert one.scorecards["books"].leads == 2


@pytest.mark.django_db
def test_the_replay_page_shows_each_scorecard_s_moves(admin_client: Client) -> None:
    history()
    run = services.replay_start(version=draft(), days=90, background=False)
    services.replay_run(run_id=run.pk)
    page = admin_client.get(reverse("admin:scoring_replayrun_change", args=[run.pk])).content.decode()
    assert 'id="replay-scorecard-books"' in page
    assert 'id="replay-scorecard-toys"' in page
    books = page.split('id="replay-scorecard-books"')[1].split('id="replay-scorecard-toys"')[0]
    assert "No lead would change group." in books
    assert "a@example.com" not in books
    toys = page.split('id="replay-scorecard-toys"')[1]
    assert "Hot for toys" in toys
    assert "a@example.com" in toys
