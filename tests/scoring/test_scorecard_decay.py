"""The nightly decay of several scorecards: the set-based path (PostgreSQL) against the
portable one (Python) over one hand-built history, and the accounts decay queues."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone, translation

from scoring import model_file, services, setaside
from scoring.models import (
    Account,
    AccountEntry,
    GroupTransition,
    Lead,
    LeadScore,
    ScorecardEntry,
    SetAside,
    StaleAccount,
)
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


def two_leads_one_refusing_decay(at: datetime, **page_views: int) -> tuple[Lead, Lead]:
    """Two leads with the same history at ``at`` (three forms, and ``page_views`` visits per
    section), scored an hour later; decay fails for the first one (its row refuses the
    update until the trigger ``test_decay_refuses`` is dropped): (failing lead, other lead)."""
    bad, _ = services.lead_upsert(email="ana@acme.example")
    good, _ = services.lead_upsert(email="bo@globex.example")
    for lead in (bad, good):
        for n in range(3):
            InteractionFactory.create(lead=lead, type="form_submit", occurred_at=at + timedelta(minutes=n))
        for section, count in page_views.items():
            visits(lead, section, count, at)
    services.interactions_score_pending(now=at + timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute(FAIL_FOR_ONE.format(lead_id=int(bad.pk)))
    return bad, good


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
def test_the_default_scores_decay_brings_the_accounts_of_the_leads_it_moved_in_line(
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
    # Only the quiet lead's account, and by the decay itself: not at the next sweep, nor at 03:30.
    assert quiet.account_id is not None
    assert active.account_id is not None
    assert not StaleAccount.objects.exists()
    entries = AccountEntry.objects.filter(created_at=night(6))
    assert list(entries.values_list("account_id", "cause", "delta")) == [(quiet.account_id, "rollup", -2 * 5)]
    assert Account.objects.get(pk=quiet.account_id).lead_score == quiet.total_score


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_a_lead_decay_set_aside_keeps_its_scorecard_scores_until_it_is_retried(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    bad, good = two_leads_one_refusing_decay(T0, toys=3)

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
    # Retried, its scorecard scores are decayed at once to today's goal, as its default score is
    # (a month after the visits: the toys floor), and the next night moves them no further.
    assert toys()[bad.pk] == 2
    assert ScorecardEntry.objects.filter(lead=bad, cause="decay").count() == 1
    services.leads_decay(today=DAY0 + timedelta(days=7), now=night(7))
    assert toys() == {good.pk: 18 - 3 * 5, bad.pk: 2}
    assert ScorecardEntry.objects.filter(lead=bad, cause="decay").count() == 1
    assert_ledgers_equal_cached_scores()


# A lead whose scores on the scorecards refuse to go down (its default score decays).
FAIL_ON_SCORECARDS = """
CREATE FUNCTION test_scorecard_decay_refuses() RETURNS trigger AS $$
BEGIN
    IF NEW.lead_id = {lead_id} AND NEW.engagement_score < OLD.engagement_score THEN
        RAISE EXCEPTION 'lead % refuses to decay on scorecard %', NEW.lead_id, NEW.scorecard_id;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_scorecard_decay_refuses BEFORE UPDATE ON scoring_leadscore
    FOR EACH ROW EXECUTE FUNCTION test_scorecard_decay_refuses();
"""


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_a_lead_whose_scorecard_decay_fails_is_set_aside_and_the_others_decay(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The scorecards' decay sets a lead it cannot decay aside, as the default score's does:
    the leads before and after it in the same chunk decay, the night's run ends, and the
    lead stays out of every decay until it is retried."""
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    today = timezone.localdate()
    at = datetime.combine(today - timedelta(days=5), time(9), tzinfo=timezone.get_current_timezone())
    leads = [services.lead_upsert(email=f"{name}@acme.example")[0] for name in ("ana", "bo", "cy")]
    for lead in leads:
        for n in range(3):
            InteractionFactory.create(lead=lead, type="form_submit", occurred_at=at + timedelta(minutes=n))
        visits(lead, "toys", 3, at)
        visits(lead, "books", 4, at)
    services.interactions_score_pending(now=at + timedelta(hours=1))
    first, bad, last = leads
    with connection.cursor() as cursor:
        cursor.execute(FAIL_ON_SCORECARDS.format(lead_id=int(bad.pk)))

    summary = services.leads_decay(today=today)

    def scores(lead: Lead) -> dict[str | None, int]:
        lead.refresh_from_db()
        on_cards = LeadScore.objects.filter(lead=lead).values_list("scorecard__key", "engagement_score")
        return {None: lead.engagement_score, **dict(on_cards)}

    # Five quiet days: the default score 15 -> 7, toys 18 -> 9, books 28 halved twice.
    decayed = {None: 7, "toys": 9, "books": 7}
    assert scores(first) == scores(last) == decayed
    assert scores(bad) == {None: 7, "toys": 18, "books": 28}
    # The failing lead's default score went down; the others' three scores each.
    assert (summary.leads, summary.scores) == (3, 3 + 2 * 2)
    assert summary.points == 3 * -8 + 2 * (-9 - 21)
    row = SetAside.objects.get()
    # Set aside once: on the portable path (a scorecard at a time) the later scorecards leave it out.
    assert (row.kind, row.row_id, row.lead_id, row.failures) == ("decay", bad.pk, bad.pk, 1)
    assert f"lead {bad.pk} refuses to decay on scorecard" in row.error
    assert not ScorecardEntry.objects.filter(lead=bad, cause="decay").exists()
    assert_ledgers_equal_cached_scores()

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_scorecard_decay_refuses ON scoring_leadscore")
    (retried,) = setaside.rows_retry(ids=[row.pk])

    assert retried.ok
    assert retried.result == "nothing to decay today; on its other scorecards by 30 points"
    assert scores(bad) == decayed
    assert_ledgers_equal_cached_scores()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["sql", "python"])
def test_a_retried_lead_gets_every_scorecards_decay_of_the_day_at_once(
    postgres: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A lead decay set aside and then retried ends the day where the same lead decayed on
    time does, on every scorecard: not one night later on the scorecards other than the
    default one."""
    monkeypatch.setattr(decay_service, "_decay_set_based", lambda: path == "sql")
    services.scoring_model_import(spec=model_file.load_text(THREE_SCORECARDS))
    today = timezone.localdate()
    at = datetime.combine(today - timedelta(days=5), time(9), tzinfo=timezone.get_current_timezone())
    bad, good = two_leads_one_refusing_decay(at, toys=3, books=4)
    services.leads_decay(today=today)

    def scores(lead: Lead) -> dict[str | None, int]:
        lead.refresh_from_db()
        on_cards = LeadScore.objects.filter(lead=lead).values_list("scorecard__key", "engagement_score")
        return {None: lead.engagement_score, **dict(on_cards)}

    # Five quiet days: the default score 15 -> 15 - 2 * 4, toys 18 -> 18 - 3 * 3, books 28 halved twice.
    assert scores(good) == {None: 7, "toys": 9, "books": 7}
    assert scores(bad) == {None: 15, "toys": 18, "books": 28}
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_decay_refuses ON scoring_lead")

    (retried,) = setaside.rows_retry(ids=[SetAside.objects.get().pk])

    assert retried.ok
    assert scores(bad) == scores(good)
    assert retried.result == "decayed by 8 points; on its other scorecards by 30 points"
    with translation.override("es"):
        assert retried.shown() == "bajó 8 puntos por decaimiento; en sus otras tarjetas de puntuación, 30 puntos"
    assert_ledgers_equal_cached_scores()
    # The night's run again, as the retry's is the same day's: nothing moves twice.
    services.leads_decay(today=today)
    assert scores(bad) == scores(good) == {None: 7, "toys": 9, "books": 7}
    assert ScorecardEntry.objects.filter(lead=bad, cause="decay").count() == 2
