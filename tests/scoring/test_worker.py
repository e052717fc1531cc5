"""Scoring by real Celery worker processes on PostgreSQL and Redis."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Abs

from scoring import model_file, selectors, services
from scoring import rules as pure
from scoring.models import GroupTransition, Interaction, Lead, LeadScore, ScorecardEntry, ScoreEntry, WaitingInteraction
from scoring.tasks import interactions_score_pending_task
from tests.conftest import Workers, wait_for
from tests.factories import LeadFactory, ScoringRuleFactory, fit_rule, interactions_create

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def unscored() -> int:
    return WaitingInteraction.objects.count()


def test_a_recorded_interaction_is_scored_by_a_worker(celery_workers: Workers) -> None:
    ScoringRuleFactory.create(name="Any form", points=2, interaction_types=["form_submit"])
    lead, _ = services.lead_upsert(email="ana@example.com")
    celery_workers.start()

    recorded = services.interaction_record(lead=lead, type="form_submit", occurred_at=T0, idempotency_key="form-1")

    wait_for(lambda: unscored() == 0, message=f"the worker to score it\n{celery_workers.logs()}")
    lead.refresh_from_db()
    assert lead.engagement_score == 2
    assert lead.last_activity_at == T0
    entry = ScoreEntry.objects.get(lead=lead)
    assert (entry.interaction_id, entry.cause, entry.delta) == (recorded.interaction.pk, "rule", 2)


def test_workers_scoring_the_same_leads_at_once_lose_nothing_and_count_nothing_twice(
    celery_workers: Workers,
) -> None:
    rules = [
        ScoringRuleFactory.create(key="opens", points=2, interaction_types=["email_open"]),
        ScoringRuleFactory.create(key="clicks", points=5, interaction_types=["email_click"]),
        ScoringRuleFactory.create(key="forms-3x", points=4, interaction_types=["form_submit"], cap_count=3),
        ScoringRuleFactory.create(key="pages-10pt", points=3, interaction_types=["page_view"], cap_points=10),
        ScoringRuleFactory.create(key="unsubscribe", points=-7, interaction_types=["survey_answer"]),
        ScoringRuleFactory.create(
            key="downloads-2-per-week", points=6, interaction_types=["download"], cap_count=2, cap_window_days=7
        ),
    ]
    fit_rule(8, "city", "equals", "San José", key="local")
    leads = [LeadFactory.create() for _ in range(12)]
    generator = random.Random(7)
    types = ["email_open", "email_click", "form_submit", "page_view", "survey_answer", "download"]
    interactions_create(
        Interaction(
            lead=generator.choice(leads),
            type=generator.choice(types),
            occurred_at=T0 + timedelta(hours=generator.randrange(24 * 60)),
            idempotency_key=f"evt-{n}",
        )
        for n in range(1500)
    )
    # Three worker processes of two children each, small batches: many
    # transactions on the same leads at the same time.
    celery_workers.start(3, concurrency=2, env={"LEADFLOW_SCORING_BATCH_SIZE": "7"})
    for _ in range(24):
        interactions_score_pending_task.delay()
    # Meanwhile people edit leads: fit rescoring takes the same row locks.
    for lead in leads[::2]:
        services.lead_upsert(email=str(lead.email), fields={"city": "San José"})

    wait_for(lambda: unscored() == 0, timeout=180, message=f"every interaction scored\n{celery_workers.logs()}")

    # The invariant: cached scores are the ledger's sums.
    sums = {
        row["lead_id"]: row
        for row in ScoreEntry.objects.values("lead_id")
        .annotate(
            fit=Sum("delta", filter=Q(dimension="fit")),
            engagement=Sum("delta", filter=Q(dimension="engagement")),
        )
        .order_by()
    }
    for lead in Lead.objects.all():
        row = sums.get(lead.pk, {})
        assert (lead.fit_score, lead.engagement_score) == (row.get("fit") or 0, row.get("engagement") or 0)
    # No interaction was scored twice by a rule.
    assert (
        not ScoreEntry.objects.filter(interaction__isnull=False, cause="rule")
        .values("interaction_id", "rule_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    # Revisions (late interactions re-judging capped awards) never leave an interaction
    # with more than its rule's points: a double count would.
    assert not (
        ScoreEntry.objects.filter(interaction__isnull=False, rule__isnull=False)
        .values("interaction_id", "rule_id", "rule__points")
        .annotate(net=Sum("delta"))
        .filter(Q(net__gt=Abs(F("rule__points"))) | Q(net__lt=-Abs(F("rule__points"))))
    )

    # Totals without a time window do not depend on the order of scoring:
    # they must equal one sequential pass over everything.
    facts = [
        pure.InteractionFacts(i.pk, i.lead_id or 0, i.type, i.occurred_at, i.properties)
        for i in Interaction.objects.all()
    ]
    order_free = [
        r for r in selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT) if r.cap is None or r.cap.window is None
    ]
    expected: Counter[tuple[int, int]] = Counter()
    for award in pure.score_interactions(order_free, facts, {}):
        expected[(award.lead_id, award.rule_id)] += award.points
    actual = Counter(
        {
            (row["lead_id"], row["rule_id"]): row["points"]
            for row in ScoreEntry.objects.filter(rule_id__in=[r.id for r in order_free])
            .values("lead_id", "rule_id")
            .annotate(points=Sum("delta"))
            .order_by()
        }
    )
    assert +actual == +expected
    assert sum(expected.values()) != 0

    # The windowed cap holds in every 7-day period: an interaction counts as awarded when
    # its rows (the award and any revision of it) leave points.
    downloads = rules[-1]
    times: dict[int, list[datetime]] = defaultdict(list)
    for row in (
        ScoreEntry.objects.filter(rule=downloads)
        .values("lead_id", "interaction_id", "interaction__occurred_at")
        .annotate(net=Sum("delta"))
        .order_by()
    ):
        assert row["interaction_id"] is not None
        if row["net"] > 0:
            times[row["lead_id"]].append(row["interaction__occurred_at"])
    assert times
    for awarded in times.values():
        awarded.sort()
        for index, start in enumerate(awarded):
            assert sum(1 for t in awarded[index:] if t - start < timedelta(days=7)) <= 2

    # Fit was rescored for the edited leads, once each.
    assert ScoreEntry.objects.filter(dimension="fit").count() == len(leads[::2])
    assert set(Lead.objects.filter(fit_score=8).values_list("email", flat=True)) == {lead.email for lead in leads[::2]}


def test_workers_keep_every_scorecards_ledger_equal_to_its_cached_scores(celery_workers: Workers) -> None:
    card_rules = """
leadflow_model: 1
rules:
  - {key: opens, name: Opens, dimension: engagement, points: 2, interaction_types: [email_open]}
  - {key: local, name: Local, dimension: fit, points: 8, conditions: [{field: city, operator: equals, value: San José}]}
score_groups:
  - {key: warm, name: Warm, min_score: 20}
scorecards:
  - key: toys
    name: Toys
    score_groups:
      - {key: toys-warm, name: Warm, min_score: 15, leave_below: 10}
      - {key: toys-hot, name: Hot, min_score: 40}
    rules:
      - {key: toy-forms, name: Forms, dimension: engagement, points: 4, interaction_types: [form_submit],
         cap: {count: 3}}
      - {key: toy-pages, name: Pages, dimension: engagement, points: 3, interaction_types: [page_view]}
      - {key: toy-city, name: City, dimension: fit, points: 5,
         conditions: [{field: city, operator: equals, value: San José}]}
  - key: books
    name: Books
    score_groups:
      - {key: books-hot, name: Hot, min_score: 10}
    rules:
      - {key: book-clicks, name: Clicks, dimension: engagement, points: 5, interaction_types: [email_click]}
      - {key: book-downloads, name: Downloads, dimension: engagement, points: 6, interaction_types: [download],
         cap: {count: 2, window_days: 7}}
"""
    services.scoring_model_import(spec=model_file.load_text(card_rules))
    leads = [LeadFactory.create() for _ in range(10)]
    generator = random.Random(11)
    types = ["email_open", "email_click", "form_submit", "page_view", "download"]
    interactions_create(
        Interaction(
            lead=generator.choice(leads),
            type=generator.choice(types),
            occurred_at=T0 + timedelta(hours=generator.randrange(24 * 60)),
            idempotency_key=f"card-{n}",
        )
        for n in range(1200)
    )
    celery_workers.start(3, concurrency=2, env={"LEADFLOW_SCORING_BATCH_SIZE": "7"})
    for _ in range(24):
        interactions_score_pending_task.delay()
    for lead in leads[::2]:
        services.lead_upsert(email=str(lead.email), fields={"city": "San José"})

    wait_for(lambda: unscored() == 0, timeout=180, message=f"every interaction scored\n{celery_workers.logs()}")

    sums = {
        (row["lead_id"], row["scorecard_id"]): (row["fit"] or 0, row["engagement"] or 0)
        for row in ScorecardEntry.objects.values("lead_id", "scorecard_id")
        .annotate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        .order_by()
    }
    cached = {
        (lead_id, card): (fit, engagement)
        for lead_id, card, fit, engagement in LeadScore.objects.values_list(
            "lead_id", "scorecard_id", "fit_score", "engagement_score"
        )
    }
    assert cached == sums
    assert len(cached) > len(leads)  # both scorecards scored
    for lead in Lead.objects.all():
        row = ScoreEntry.objects.filter(lead=lead).aggregate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        assert (lead.fit_score, lead.engagement_score) == (row["fit"] or 0, row["engagement"] or 0)
    assert (
        not ScorecardEntry.objects.filter(interaction__isnull=False, cause="rule")
        .values("interaction_id", "rule_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    # Each scorecard's order-free totals equal one sequential pass over everything.
    facts = [
        pure.InteractionFacts(i.pk, i.lead_id or 0, i.type, i.occurred_at, i.properties)
        for i in Interaction.objects.all()
    ]
    rules, _ = selectors.scorecard_rules_pure(dimension=pure.Dimension.ENGAGEMENT)
    order_free = [r for r in rules if r.cap is None or r.cap.window is None]
    expected: Counter[tuple[int, int]] = Counter()
    for award in pure.score_interactions(order_free, facts, {}):
        expected[(award.lead_id, award.rule_id)] += award.points
    actual = Counter(
        {
            (row["lead_id"], row["rule_id"]): row["points"]
            for row in ScorecardEntry.objects.filter(rule_id__in=[r.id for r in order_free])
            .values("lead_id", "rule_id")
            .annotate(points=Sum("delta"))
            .order_by()
        }
    )
    assert +actual == +expected
    # Each lead's group on a scorecard is where its transitions there lead.
    for score in LeadScore.objects.all():
        last = (
            GroupTransition.objects.filter(lead_id=score.lead_id, scorecard_id=score.scorecard_id)
            .order_by("-id")
            .first()
        )
        assert (last.to_group_id if last else None) == score.score_group_id
