"""Nothing accepted is lost: a broker outage and a worker killed mid-batch."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Count, Q, Sum
from django_celery_beat.models import PeriodicTask

from project.celery import app
from scoring import rules as pure
from scoring import schedule, selectors, services
from scoring.models import Interaction, Lead, ScoreEntry, WaitingInteraction
from scoring.tasks import interactions_score_pending_task
from tests.conftest import Workers, wait_for
from tests.factories import LeadFactory, ScoringRuleFactory, interactions_create

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def unscored() -> int:
    return WaitingInteraction.objects.count()


def assert_ledger_exact() -> None:
    """Cached scores equal the ledger, no interaction counted twice by a rule, and
    the totals equal one sequential pass over every interaction."""
    sums = {
        row["lead_id"]: (row["fit"] or 0, row["engagement"] or 0)
        for row in ScoreEntry.objects.values("lead_id")
        .annotate(
            fit=Sum("delta", filter=Q(dimension="fit")), engagement=Sum("delta", filter=Q(dimension="engagement"))
        )
        .order_by()
    }
    for lead in Lead.objects.all():
        assert (lead.fit_score, lead.engagement_score) == sums.get(lead.pk, (0, 0))
    assert not (
        ScoreEntry.objects.filter(interaction__isnull=False, cause="rule")
        .values("interaction_id", "rule_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    facts = [
        pure.InteractionFacts(i.pk, i.lead_id or 0, i.type, i.occurred_at, i.properties)
        for i in Interaction.objects.all()
    ]
    expected: Counter[int] = Counter()
    for award in pure.score_interactions(selectors.rules_pure(dimension=pure.Dimension.ENGAGEMENT), facts, {}):
        expected[award.lead_id] += award.points
    assert {pk: e for pk, (_, e) in sums.items() if e} == {pk: p for pk, p in expected.items() if p}


def use_broker(url: str) -> None:
    """Point this process's Celery app at ``url``, dropping pooled connections.

    Celery prefers the CELERY_BROKER_URL environment variable to its settings.
    """
    app.close()
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010 (private: rebuilt on next use)
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.update(broker_url=url, broker_connection_timeout=1)


@pytest.fixture
def broker_down() -> Iterator[None]:
    """No broker listens on port 9: publishing fails after Celery's retries."""
    previous = os.environ.get("CELERY_BROKER_URL", app.conf.broker_url)
    use_broker("redis://127.0.0.1:9/0")
    yield
    use_broker(previous)


def test_with_the_broker_down_interactions_are_kept_and_the_sweep_scores_them(
    celery_workers: Workers, broker_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["form_submit"])
    lead = LeadFactory.create()
    for n in range(3):
        recorded = services.interaction_record(
            lead=lead, type="form_submit", occurred_at=T0 + timedelta(minutes=n), idempotency_key=f"down-{n}"
        )
        assert recorded.created
    assert unscored() == 3
    assert "periodic sweep will score" in caplog.text

    # The broker is back; beat's sweep (a migration created it) scores what was left.
    use_broker(celery_workers.broker)
    # Transactional tests empty the tables, the migration's rows too: install them as it does.
    schedule.install(django_apps, schedule.PERIODIC_TASKS)
    sweep = PeriodicTask.objects.get(task="scoring.score_pending")
    assert (sweep.task, sweep.interval.every, sweep.enabled) == ("scoring.score_pending", 60, True)
    celery_workers.start()
    app.send_task(sweep.task)
    wait_for(lambda: unscored() == 0, message=f"the sweep\n{celery_workers.logs()}")
    lead.refresh_from_db()
    assert lead.engagement_score == 6


def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(celery_workers: Workers) -> None:
    ScoringRuleFactory.create(points=2, interaction_types=["email_open"])
    ScoringRuleFactory.create(points=5, interaction_types=["form_submit"], cap_count=4)
    ScoringRuleFactory.create(points=-1, interaction_types=["page_view"])
    leads = [LeadFactory.create() for _ in range(40)]
    generator = random.Random(3)
    total = 30_000
    interactions_create(
        (
            Interaction(
                lead=generator.choice(leads),
                type=generator.choice(["email_open", "form_submit", "page_view"]),
                occurred_at=T0 + timedelta(minutes=generator.randrange(100_000)),
                idempotency_key=f"kill-{n}",
            )
            for n in range(total)
        ),
        batch_size=5000,
    )
    celery_workers.start(1, concurrency=2, env={"LEADFLOW_SCORING_BATCH_SIZE": "300"})
    for _ in range(4):
        interactions_score_pending_task.delay()
    wait_for(lambda: unscored() < total, message=f"scoring to start\n{celery_workers.logs()}")

    celery_workers.kill()
    left = unscored()
    assert 0 < left < total, "the kill should land mid-way"
    # Killed transactions rolled back: what is committed is consistent already.
    connection.close()
    assert ScoreEntry.objects.filter(interaction_id__in=WaitingInteraction.objects.values("pk")).count() == 0

    celery_workers.start(1, concurrency=2)
    interactions_score_pending_task.delay()
    wait_for(lambda: unscored() == 0, timeout=180, message=f"the restarted worker\n{celery_workers.logs()}")
    assert_ledger_exact()
