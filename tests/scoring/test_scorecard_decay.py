"""The nightly decay of several scorecards: the set-based path (PostgreSQL) against the
portable one (Python) over one hand-built history, and the accounts decay queues."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q, Sum

from scoring import model_file, services, setaside
from scoring.models import GroupTransition, Lead, LeadScore, ScorecardEntry, SetAside, StaleAccount
from scoring.services import decay as decay_service
from tests.factories import InteractionFactory
from tests.scoring.test_decay import FAIL_FOR_ONE

# Three scorecards, one of each decaying kind, with groups close enough that a night's
# decay crosses several of them, and hysteresis on the way down.
THREE_SCORECARDS = """
leadflow_model: 1
name: Three lines
score_groups:
  - {key: warm, name: Warm, min_score: 10}
  - {key: hot, name: Hot, min_score: 30, leave_below: 25}
rules:
  - {key: any-form, name: Any form, dimension: engagement, points: 5, interaction_types: [form_submit]}
decay: {policy: linear, points_per_day: 2, after_days: 1}
scorecards:
  - key: toys
    name: Toys
    score_groups:
      - {key: toys-cold, name: Cold for toys, min_score: 10}
      - {key: toys-warm, name: Warm for toys, min_score: 20, leave_below: 15}
      - {key: toys-hot, name: Hot for toys, min_score: 40, leave_below: 35}
    rules:
      - {key: toy-pages, name: Toy pages, dimension: engagement, points: 6, interaction_types: [page_view],
         conditions: [{field: url, operator: contains, value: /toys}]}
      - {key: parent, name: Parent, dimension: fit, points: 10,
         conditions: [{field: title, operator: equals, value: Parent}]}
    decay: {policy: linear, points_per_day: 3, after_days: 2, floor: 2}
  - key: books
    name: Books
    score_groups:
      - {key: books-cold, name: Cold for books, min_score: 10}
      - {key: books-warm, name: Warm for books, min_score: 25, leave_below: 20}
      - {key: books-hot, name: Hot for books, min_score: 40, leave_below: 35}
    rules:
      - {key: book-pages, name: Book pages, dimension: engagement, points: 7, interaction_types: [page_view],
         conditions: [{field: url, operator: contains, value: /books}]}
    decay: {policy: half_life, half_life_days: 2.0, after_days: 1}
  - key: games
    name: Games
    score_groups:
      - {key: games-some, name: Some games, min_score: 5}
      - {key: games-many, name: Many games, min_score: 15, leave_below: 12}
    rules:
      - {key: game-pages, name: Game pages, dimension: engagement, points: 4, interaction_types: [page_view],
         conditions: [{field: url, operator: contains, value: /games}]}
    decay: {policy: window, window_days: 3}
"""

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
DAY0 = T0.date()


def visits(lead: Lead, section: str, count: int, at: datetime) -> None:
    for n in range(count):
        InteractionFactory.create(
            lead=lead,
            type="page_view",
            occurred_at=at + timedelta(minutes=n),
            properties={"url": f"https://shop.example/{section}/{n}"},
        )


def night(day: int) -> datetime:
    return T0.replace(hour=3) + timedelta(days=day)


def history(leads: list[Lead]) -> None:
    """Visits on day 0, nights missed and kept, new visits on day 4, more nights."""
    for n, lead in enumerate(leads):
        visits(lead, "toys", 3 + 2 * n, T0)
        visits(lead, "books", 9 - n, T0 + timedelta(hours=1))
        visits(lead, "games", 2 + n, T0 + timedelta(hours=2))
    services.interactions_score_pending(now=T0 + timedelta(hours=3))
    for day in (1, 3, 4):
        services.leads_decay(today=DAY0 + timedelta(days=day), now=night(day))
    visits(leads[1], "books", 4, T0 + timedelta(days=4, hours=5))
    visits(leads[2], "games", 3, T0 + timedelta(days=4, hours=6))
    services.interactions_score_pending(now=T0 + timedelta(days=4, hours=7))
    for day in (5, 8, 9, 14):
        services.leads_decay(today=DAY0 + timedelta(days=day), now=night(day))


def outcome() -> dict[str, Any]:
    """What decay leaves behind, the ids of rows it created aside."""
    scores = sorted(
        LeadScore.objects.values_list(
            "lead_id",
            "scorecard__key",
            "fit_score",
            "engagement_score",
            "score_group__key",
            "engagement_base",
            "engagement_base_at",
        )
    )
    decay_rows = sorted(
        ScorecardEntry.objects.filter(cause="decay").values_list(
            "lead_id", "scorecard__key", "dimension", "delta", "occurred_at", "created_at", "note"
        )
    )
    moves: dict[tuple[int, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in GroupTransition.objects.filter(scorecard__isnull=False).order_by("id"):
        assert row.scorecard is not None
        moves[(row.lead_id, row.scorecard.key)].append(
            (
                row.from_group.key if row.from_group else None,
                row.to_group.key if row.to_group else None,
                row.direction,
                row.previous_total,
                row.total_score,
                row.cause,
                row.occurred_at,
            )
        )
    return {"scores": scores, "decay": decay_rows, "moves": dict(moves)}


class _Undo(Exception):
    """Raised to roll a path's history back."""


def assert_ledgers_equal_cached_scores() -> None:
    sums = {
        (r["lead_id"], r["scorecard_id"]): (r["fit"] or 0, r["engagement"] or 0)
        for r in ScorecardEntry.objects.values("lead_id", "scorecard_id")
        .annotate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        .order_by()
    }
    cached = {
        (lead, card): (fit, engagement)
        for lead, card, fit, engagement in LeadScore.objects.values_list(
            "lead_id", "scorecard_id", "fit_score", "engagement_score"
        )
    }
    assert cached == sums


@pytest.mark.django_db
def test_the_sql_and_python_paths_decay_several_scorecards_alike(
    postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    leads = [
        services.lead_upsert(email=f"l{n}@example.com", fields={"title": "Parent" if n % 2 else "Teacher"})[0]
        for n in range(4)
    ]
    found = {}
    for path in ("python", "sql"):
        monkeypatch.setattr(decay_service, "_decay_set_based", lambda path=path: path == "sql")
        try:
            with transaction.atomic():
                history(leads)
                assert_ledgers_equal_cached_scores()
                found[path] = outcome()
                raise _Undo
        except _Undo:
            pass

    assert found["sql"] == found["python"]
    # The history is worth comparing: every scorecard decayed, and a night crossed two groups at once.
    result = found["sql"]
    assert {card for _, card, *_ in result["decay"]} == {"toys", "books", "games"}
    assert any(
        a[5] == b[5] == "decay" and a[1] == b[0] and a[6] == b[6]
        for moves in result["moves"].values()
        for a, b in itertools.pairwise(moves)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_the_default_scores_decay_queues_the_accounts_of_the_leads_it_moved(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    quiet, _ = services.lead_upsert(email="ana@acme.example")
    active, _ = services.lead_upsert(email="bo@globex.example")
    for lead, at in ((quiet, T0), (active, T0 + timedelta(days=5))):
        for n in range(3):
            InteractionFactory.create(lead=lead, type="form_submit", occurred_at=at + timedelta(minutes=n))
    services.interactions_score_pending(now=T0 + timedelta(days=5, hours=1))
    StaleAccount.objects.all().delete()

    services.leads_decay(today=DAY0 + timedelta(days=6), now=night(6))

    quiet.refresh_from_db()
    assert quiet.engagement_score == 15 - 2 * 5
    # Only the quiet lead's account: its roll-up follows at the next sweep, not at 03:30.
    assert set(StaleAccount.objects.values_list("account_id", flat=True)) == {quiet.account_id}
    assert quiet.account_id is not None


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_a_lead_decay_set_aside_keeps_its_scorecard_scores_until_it_is_retried(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    bad, _ = services.lead_upsert(email="ana@acme.example")
    good, _ = services.lead_upsert(email="bo@globex.example")
    for lead in (bad, good):
        for n in range(3):
            InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(minutes=n))
        visits(lead, "toys", 3, T0)
    services.interactions_score_pending(now=T0 + timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute(FAIL_FOR_ONE.format(lead_id=int(bad.pk)))

    def toys() -> dict[int, int]:
        return dict(LeadScore.objects.filter(scorecard__key="toys").values_list("lead_id", "engagement_score"))

    # Six quiet days: toys decays 3 a day after 2 days, 18 -> 6.
    services.leads_decay(today=DAY0 + timedelta(days=6), now=night(6))

    row = SetAside.objects.get()
    assert (row.kind, row.row_id) == ("decay", bad.pk)
    assert toys() == {good.pk: 18 - 3 * 4, bad.pk: 18}
    assert not ScorecardEntry.objects.filter(lead=bad, cause="decay").exists()

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_decay_refuses ON scoring_lead")
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok
    # Retried, it is decayed again by the next night: its toys score catches up to that night's goal.
    services.leads_decay(today=DAY0 + timedelta(days=7), now=night(7))
    assert toys() == {good.pk: 18 - 3 * 5, bad.pk: 18 - 3 * 5}
    assert_ledgers_equal_cached_scores()
