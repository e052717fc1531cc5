"""Scorecards: several scores per lead, each with its own rules, groups and decay, in
the model file, the versions and the engine; the default scorecard is today's score."""

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Q, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scoring import erasure, model_file, services
from scoring.decay import Kind, Policy
from scoring.models import (
    DecayPolicy,
    DecayRun,
    GroupTransition,
    Lead,
    LeadScore,
    Scorecard,
    ScorecardEntry,
    ScoreEntry,
    ScoreGroup,
    ScoringRule,
)
from scoring.services import versions
from tests.factories import InteractionFactory

ROOT = Path(__file__).resolve().parents[2]
TOY_STORE = ROOT / "examples" / "toy_store.yaml"

TWO_SCORECARDS = """
leadflow_model: 1
name: Toys and books
score_groups:
  - {key: warm, name: Warm, min_score: 20}
rules:
  - {key: any-form, name: Any form, dimension: engagement, points: 5, interaction_types: [form_submit]}
  - key: local
    name: Lives in San José
    dimension: fit
    points: 8
    conditions: [{field: city, operator: equals, value: San José}]
decay: {policy: linear, points_per_day: 1, after_days: 10}
scorecards:
  - key: toys
    name: Toys
    description: Parents and collectors.
    score_groups:
      - {key: toys-warm, name: Warm for toys, min_score: 20}
      - {key: toys-hot, name: Hot for toys, min_score: 40, leave_below: 35}
    rules:
      - key: toy-pages
        name: Toy pages
        dimension: engagement
        points: 4
        interaction_types: [page_view]
        conditions: [{field: url, operator: contains, value: /toys}]
        cap: {count: 3}
      - {key: parent, name: Parent, dimension: fit, points: 10,
         conditions: [{field: title, operator: equals, value: Parent}]}
    decay: {policy: half_life, half_life_days: 7.0, after_days: 3}
  - key: books
    name: Books
    score_groups:
      - {key: books-hot, name: Hot for books, min_score: 20}
    rules:
      - key: book-pages
        name: Book pages
        dimension: engagement
        points: 3
        interaction_types: [page_view]
        conditions: [{field: url, operator: contains, value: /books}]
"""


def two_scorecards() -> model_file.ModelSpec:
    return model_file.load_text(TWO_SCORECARDS)


@pytest.mark.django_db
def test_an_old_single_score_file_imports_unchanged_and_exports_without_scorecards() -> None:
    original = model_file.load_text(TOY_STORE.read_text())
    assert original.scorecards == ()
    services.scoring_model_import(spec=original)

    assert not Scorecard.all_versions.exists()
    assert not ScoreGroup.all_versions.filter(scorecard__isnull=False).exists()
    exported = services.scoring_model_export()
    assert "scorecards" not in model_file.dump_data(exported)
    assert exported.groups == original.groups
    assert sorted(exported.rules, key=lambda r: r.key) == sorted(original.rules, key=lambda r: r.key)
    assert exported.decay == original.decay


@pytest.mark.django_db
def test_a_two_scorecard_file_round_trips() -> None:
    original = two_scorecards()
    services.scoring_model_import(spec=original)

    toys, books = Scorecard.objects.order_by("-key")
    assert (toys.key, toys.name, toys.description, books.key) == ("toys", "Toys", "Parents and collectors.", "books")
    # The default scorecard's rows are what every existing reader sees, as before.
    assert list(ScoreGroup.objects.values_list("key", flat=True)) == ["warm"]
    assert set(ScoringRule.objects.values_list("key", flat=True)) == {"any-form", "local"}
    assert DecayPolicy.current() == Policy(Kind.LINEAR, points_per_day=1, after_days=10)
    assert set(ScoringRule.every_scorecard.filter(scorecard=toys).values_list("key", flat=True)) == {
        "toy-pages",
        "parent",
    }

    text = model_file.dump_text(services.scoring_model_export())
    exported = model_file.load_text(text)
    assert [s.key for s in exported.scorecards] == ["books", "toys"]
    for card in original.scorecards:
        again = next(s for s in exported.scorecards if s.key == card.key)
        assert (again.name, again.description, again.groups, again.decay) == (
            card.name,
            card.description,
            card.groups,
            card.decay,
        )
        assert sorted(again.rules, key=lambda r: r.key) == sorted(card.rules, key=lambda r: r.key)
    assert exported.groups == original.groups
    # Importing the export changes nothing and exports the same text again.
    services.scoring_model_import(spec=exported)
    assert model_file.dump_text(services.scoring_model_export()) == text


@pytest.mark.django_db
def test_the_command_counts_the_scorecards_beside_the_default_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of three product lines checked or drafted says it holds them: "3 groups, 15
    rules" alone read as though the scorecards had been dropped."""
    path = tmp_path / "model.yaml"
    path.write_text(TWO_SCORECARDS)
    call_command("scoring_model_import", str(path), "--check")
    assert "valid (1 groups, 2 rules; 2 scorecards: 3 groups, 3 rules)" in capsys.readouterr().out
    call_command("scoring_model_import", str(path))
    assert "1 groups, 2 rules; 2 scorecards: 3 groups, 3 rules); the live model" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_scorecard_left_out_is_retired_and_comes_back_by_key() -> None:
    services.scoring_model_import(spec=two_scorecards())
    books = Scorecard.objects.get(key="books")
    data = model_file.dump_data(services.scoring_model_export())
    data["scorecards"] = [card for card in data["scorecards"] if card["key"] == "toys"]

    summary = services.scoring_model_import(spec=model_file.load_data(data))

    books.refresh_from_db()
    assert not books.active
    assert "book-pages" in summary.rules_deactivated
    assert not ScoringRule.every_scorecard.get(key="book-pages").active
    assert not ScoreGroup.every_scorecard.filter(key="books-hot").exists()
    assert [s.key for s in services.scoring_model_export().scorecards] == ["toys"]

    services.scoring_model_import(spec=two_scorecards())
    books.refresh_from_db()
    assert books.active
    assert ScoringRule.every_scorecard.get(key="book-pages").active


@pytest.mark.django_db
def test_a_rule_or_group_moved_to_another_scorecard_moves() -> None:
    services.scoring_model_import(spec=two_scorecards())
    data = model_file.dump_data(services.scoring_model_export())
    books = next(card for card in data["scorecards"] if card["key"] == "books")
    toys = next(card for card in data["scorecards"] if card["key"] == "toys")
    books["rules"].append(toys["rules"].pop())
    books["score_groups"].append(toys["score_groups"].pop())

    services.scoring_model_import(spec=model_file.load_data(data))

    moved = ScoringRule.every_scorecard.select_related("scorecard").get(key=books["rules"][-1]["key"])
    assert moved.scorecard is not None
    assert moved.scorecard.key == "books"
    group = ScoreGroup.every_scorecard.select_related("scorecard").get(key="toys-hot")
    assert group.scorecard is not None
    assert group.scorecard.key == "books"


def test_scorecard_problems_are_reported_with_their_place() -> None:
    text = TWO_SCORECARDS.replace("key: books\n", "key: default\n").replace(
        "{key: books-hot, name: Hot for books, min_score: 20}", "{key: warm, name: Hot for books, min_score: 20}"
    )
    text = text.replace("key: book-pages", "key: any-form")
    text += "  - {key: toys, name: Toys again, rules: [{key: x, name: X, dimension: fit, points: 1}], colour: red}\n"
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load_text(text)
    errors = caught.value.errors
    assert any(e.startswith("scorecards[1].key: 'default' is also the key of the default scorecard") for e in errors)
    assert "scorecards[1].score_groups[0].key: 'warm' is also the key of score_groups[0]" in errors
    assert "scorecards[1].rules[0].key: 'any-form' is also the key of rules[0]" in errors
    assert "scorecards[2].key: 'toys' is also the key of scorecards[0]" in errors
    assert any(e.startswith("scorecards[2].colour: unknown key") for e in errors)
    assert any(e.startswith("scorecards[2].rules[0]") for e in errors)  # a fit rule without conditions


def test_thresholds_repeat_across_scorecards_but_not_within_one() -> None:
    # toys-warm has the default's warm threshold (20): allowed.
    assert two_scorecards().scorecards[0].groups[0].min_score == 20
    text = TWO_SCORECARDS.replace(
        "{key: toys-hot, name: Hot for toys, min_score: 40", "{key: toys-hot, name: H, min_score: 20"
    ).replace("leave_below: 35}", "leave_below: 15}")
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load_text(text)
    assert caught.value.errors == ["scorecards[0].score_groups[1].min_score: 20 is already the threshold of toys-warm"]


@pytest.mark.django_db
def test_a_draft_holds_its_scorecards_and_publishing_makes_them_live() -> None:
    services.scoring_model_import(spec=model_file.load_text(TOY_STORE.read_text()))
    draft = versions.draft_import(spec=two_scorecards(), user=None)

    # The draft's rows are apart from the live model's.
    assert not Scorecard.objects.exists()
    assert [s["key"] for s in versions.version_spec(draft)["scorecards"]] == ["books", "toys"]

    versions.version_publish(draft=draft, user=None, rescore=False)

    assert sorted(Scorecard.objects.values_list("key", flat=True)) == ["books", "toys"]
    assert not Scorecard.all_versions.filter(version__isnull=False).exists()
    assert ScoreGroup.every_scorecard.get(key="toys-hot").leave_below == 35
    # A new draft from the live model carries them again.
    again = versions.draft_create(user=None)
    assert (
        versions.version_spec(again)["scorecards"]
        == model_file.dump_data(services.scoring_model_export())["scorecards"]
    )


# --- scoring on scorecards ------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def scorecard_sums() -> dict[tuple[int, str], tuple[int, int]]:
    """The scorecard ledger's sums by (lead, scorecard key): (fit, engagement)."""
    rows = (
        ScorecardEntry.objects.values("lead_id", "scorecard__key")
        .annotate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        .order_by()
    )
    return {(r["lead_id"], r["scorecard__key"]): (r["fit"] or 0, r["engagement"] or 0) for r in rows}


def cached_scorecard_scores() -> dict[tuple[int, str], tuple[int, int]]:
    rows = LeadScore.objects.values_list("lead_id", "scorecard__key", "fit_score", "engagement_score")
    return {(lead, key): (fit, engagement) for lead, key, fit, engagement in rows}


def assert_ledgers_equal_cached_scores() -> None:
    assert cached_scorecard_scores() == scorecard_sums()
    for lead in Lead.objects.all():
        sums = ScoreEntry.objects.filter(lead=lead).aggregate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        assert (lead.fit_score, lead.engagement_score) == (sums["fit"] or 0, sums["engagement"] or 0)


def page_views(lead: Lead, section: str, count: int, *, start: int = 0) -> None:
    for n in range(count):
        InteractionFactory.create(
            lead=lead,
            type="page_view",
            occurred_at=T0 + timedelta(hours=start + n),
            properties={"url": f"https://shop.example/{section}/{n}"},
        )


@pytest.mark.django_db
def test_a_lead_gets_a_score_per_scorecard_each_with_its_ledger_and_groups() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"city": "San José", "title": "Parent"})
    page_views(lead, "toys", 5)  # 4 points each, at most 3 times: 12
    page_views(lead, "books", 2, start=10)  # 3 points each: 6
    InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0)

    services.interactions_score_pending()

    lead.refresh_from_db()
    # The default scorecard is the lead's own score, as before: the form and the city.
    assert (lead.fit_score, lead.engagement_score) == (8, 5)
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (10, 12), (lead.pk, "books"): (0, 6)}
    assert_ledgers_equal_cached_scores()
    toys = LeadScore.objects.select_related("score_group").get(lead=lead, scorecard__key="toys")
    assert toys.total_score == 22
    assert toys.score_group is not None
    assert toys.score_group.key == "toys-warm"
    # Each group move is in the outbox with its scorecard (routing reads them there).
    moves = GroupTransition.objects.filter(lead=lead).order_by("id")
    assert {(m.scorecard.key if m.scorecard else "default", m.to_group.key) for m in moves if m.to_group} == {
        ("toys", "toys-warm"),
    }
    # Scoring again changes nothing.
    services.interactions_score_pending()
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (10, 12), (lead.pk, "books"): (0, 6)}


@pytest.mark.django_db
def test_fit_follows_the_lead_on_every_scorecard_and_a_retired_one_keeps_its_scores() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (10, 0)}

    services.lead_upsert(email="ana@example.com", fields={"title": "Teacher"})
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (0, 0)}
    services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})

    data = model_file.dump_data(services.scoring_model_export())
    data["scorecards"] = [card for card in data["scorecards"] if card["key"] == "books"]
    services.scoring_model_import(spec=model_file.load_data(data))
    services.lead_upsert(email="ana@example.com", fields={"title": "Teacher"})
    # Toys is retired: its score stays as it was, nothing takes it back.
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (10, 0)}
    assert_ledgers_equal_cached_scores()


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_batching_does_not_change_a_scorecard_score(batch_size: int) -> None:
    services.scoring_model_import(spec=two_scorecards())
    leads = [services.lead_upsert(email=f"l{n}@example.com")[0] for n in range(3)]
    for n, lead in enumerate(leads):
        page_views(lead, "toys", 4 + n, start=n)
        page_views(lead, "books", 1 + n, start=2 * n)

    services.interactions_score_pending(batch_size=batch_size)

    expected = {}
    for n, lead in enumerate(leads):
        expected[(lead.pk, "toys")] = (0, 4 * min(3, 4 + n))
        expected[(lead.pk, "books")] = (0, 3 * (1 + n))
    assert cached_scorecard_scores() == expected
    assert_ledgers_equal_cached_scores()


@pytest.mark.django_db
def test_a_decay_counts_a_lead_once_whichever_of_its_scores_went_down(capsys: pytest.CaptureFixture[str]) -> None:
    """The run's figures are leads (as its admin list and the command say), not scores: a lead
    whose default and toys scores both decay is one lead, its points lost on both."""
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0, properties={})  # 5 on the default
    page_views(lead, "toys", 3)  # 12 on toys
    other, _ = services.lead_upsert(email="luis@example.com")
    InteractionFactory.create(lead=other, type="form_submit", occurred_at=T0, properties={})
    services.interactions_score_pending()
    day = timezone.localtime(T0).date() + timedelta(days=20)

    call_command("scoring_decay", "--day", day.isoformat())

    lost_default = list(ScoreEntry.objects.filter(cause="decay").values_list("lead_id", "delta"))
    lost_toys = list(ScorecardEntry.objects.filter(cause="decay").values_list("lead_id", "delta"))
    assert {pk for pk, _ in lost_default} == {lead.pk, other.pk}
    assert [pk for pk, _ in lost_toys] == [lead.pk]
    points = sum(delta for _, delta in lost_default + lost_toys)
    run = DecayRun.objects.get(day=day)
    assert (run.leads, run.points) == (2, points)
    assert capsys.readouterr().out.startswith(
        f"Decay of {day}: 2 lead(s) lost {-points} point(s) over 3 score(s) on their scorecards"
    )
    assert_ledgers_equal_cached_scores()


@pytest.mark.django_db
def test_each_scorecard_decays_by_its_own_policy_once_a_day() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    page_views(lead, "toys", 3)  # 10 + 12 on toys (warm): half-life of 7 days after 3 quiet days
    page_views(lead, "books", 2)  # 6 on books: no decay
    services.interactions_score_pending()
    day = timezone.localtime(T0).date() + timedelta(days=10)

    summary = services.leads_decay(today=day)

    assert cached_scorecard_scores() == {(lead.pk, "toys"): (10, 6), (lead.pk, "books"): (0, 6)}
    assert (summary.leads, summary.points) == (1, -6)
    entry = ScorecardEntry.objects.get(cause="decay")
    assert (entry.scorecard.key, entry.delta) == ("toys", -6)
    assert_ledgers_equal_cached_scores()
    # The same day again moves nothing; the toys group is left on the way down.
    services.leads_decay(today=day)
    assert ScorecardEntry.objects.filter(cause="decay").count() == 1
    toys = LeadScore.objects.get(lead=lead, scorecard__key="toys")
    assert toys.score_group is None
    assert GroupTransition.objects.filter(scorecard__key="toys", cause="decay", direction="down").count() == 1


@pytest.mark.django_db
def test_a_rescore_after_a_scorecards_rules_change_writes_the_difference_once() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com")
    page_views(lead, "toys", 2)
    page_views(lead, "books", 2, start=5)
    services.interactions_score_pending()
    assert cached_scorecard_scores() == {(lead.pk, "toys"): (0, 8), (lead.pk, "books"): (0, 6)}
    data = model_file.dump_data(services.scoring_model_export())
    books = next(card for card in data["scorecards"] if card["key"] == "books")
    books["rules"][0]["points"] = 10
    services.scoring_model_import(spec=model_file.load_data(data))

    services.leads_rescore(lead_ids=[lead.pk])

    assert cached_scorecard_scores() == {(lead.pk, "toys"): (0, 8), (lead.pk, "books"): (0, 20)}
    assert ScorecardEntry.objects.filter(cause="rescore").count() == 2
    assert_ledgers_equal_cached_scores()
    rows = ScorecardEntry.objects.count()
    services.leads_rescore(lead_ids=[lead.pk])
    assert ScorecardEntry.objects.count() == rows


@pytest.mark.django_db
def test_changing_a_scorecards_groups_regroups_its_leads_with_transitions() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com")
    page_views(lead, "books", 3)  # 9 on books: below books-hot (20)
    services.interactions_score_pending()
    data = model_file.dump_data(services.scoring_model_export())
    books = next(card for card in data["scorecards"] if card["key"] == "books")
    books["score_groups"][0]["min_score"] = 5
    services.scoring_model_import(spec=model_file.load_data(data))

    assert services.leads_regroup() == 1

    score = LeadScore.objects.select_related("score_group").get(lead=lead, scorecard__key="books")
    assert score.score_group is not None
    assert score.score_group.key == "books-hot"
    move = GroupTransition.objects.get(scorecard__key="books")
    assert (move.cause, move.direction, move.total_score) == ("regroup", "up", 9)
    assert services.leads_regroup() == 0


# --- the admin ------------------------------------------------------------------------


@pytest.fixture
def admin(admin_user: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_a_leads_page_shows_its_score_on_every_scorecard(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    page_views(lead, "toys", 3)
    services.interactions_score_pending()

    page = html.unescape(admin.get(reverse("admin:scoring_lead_change", args=[lead.pk])).content.decode())

    cells = r"<tr>\s*<td>(.*?)</td>\s*<td>(-?\d+)</td>\s*<td>(-?\d+)</td>\s*<td>(-?\d+)</td>\s*<td>(.*?)</td>"
    assert re.findall(cells, page) == [
        ("Books (books)", "0", "0", "0", "no group"),
        ("Toys (toys)", "10", "12", "22", "Warm for toys"),
    ]


@pytest.mark.django_db
def test_a_scorecard_is_renamed_or_retired_in_the_admin_but_its_key_stays(admin: Client) -> None:
    services.scoring_model_import(spec=two_scorecards())
    toys = Scorecard.objects.get(key="toys")
    url = reverse("admin:scoring_scorecard_change", args=[toys.pk])
    page = re.sub(r"<[^>]+>", "", html.unescape(admin.get(url).content.decode()))
    assert "Hot for toys (40+)" in page
    assert "Toy pages: +4 (Engagement)" in page

    response = admin.post(url, {"key": "changed", "name": "Toys and games", "description": "", "active": ""})

    assert response.status_code == 302
    toys.refresh_from_db()
    assert (toys.key, toys.name, toys.active) == ("toys", "Toys and games", False)
    # A retired scorecard scores nothing more.
    lead, _ = services.lead_upsert(email="ana@example.com")
    page_views(lead, "toys", 1)
    services.interactions_score_pending()
    assert not LeadScore.objects.filter(scorecard=toys).exists()


@pytest.mark.django_db
def test_decay_regroups_among_the_live_default_groups_only(postgres: None) -> None:
    services.scoring_model_import(spec=two_scorecards())
    # A draft whose groups sit between the live ones: the set-based decay must not pick them.
    data = model_file.dump_data(services.scoring_model_export())
    data["score_groups"] = [{"key": "draft-mid", "name": "Draft", "min_score": 12}, *data["score_groups"]]
    versions.draft_import(spec=model_file.load_data(data), user=None)
    lead, _ = services.lead_upsert(email="ana@example.com")
    for n in range(5):
        InteractionFactory.create(lead=lead, type="form_submit", occurred_at=T0 + timedelta(minutes=n))
    services.interactions_score_pending()  # 25 engagement: warm (20+)
    day = timezone.localtime(T0).date() + timedelta(days=20)  # 10 days past the grace: 25 - 10

    services.leads_decay(today=day)

    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_group_id) == (15, None)
    assert_ledgers_equal_cached_scores()


@pytest.mark.django_db
def test_erasing_a_lead_removes_its_scorecard_scores_and_ledger() -> None:
    services.scoring_model_import(spec=two_scorecards())
    lead, _ = services.lead_upsert(email="ana@example.com", fields={"title": "Parent"})
    page_views(lead, "toys", 2)
    services.interactions_score_pending()
    assert ScorecardEntry.objects.filter(lead=lead).exists()

    report = erasure.lead_erase(lead_id=lead.pk)

    assert not LeadScore.objects.exists()
    assert not ScorecardEntry.objects.exists()
    assert report.removed["scorecard_entries"] == 3
