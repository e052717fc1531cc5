"""Senders at once on PostgreSQL (SKIP LOCKED), and the task in a real Celery worker."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nurture import services
from nurture.models import Delivery, Enrollment, Sequence
from nurture.tasks import deliveries_send_due_task
from scoring.models import Lead
from tests.conftest import Workers, at_once, wait_for
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def enrolled(count: int, *, at: datetime) -> Sequence:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1)
    StepFactory.create(sequence=sequence, position=2, wait_days=2)
    leads = Lead.objects.bulk_create(Lead(email=f"lead{n}@example.com") for n in range(count))
    Enrollment.objects.bulk_create(
        Enrollment(lead=lead, sequence=sequence, enrolled_at=at, next_run_at=at) for lead in leads
    )
    return sequence


def test_two_senders_at_once_deliver_each_enrollment_once(postgres: None, transactional_db: None, smtp: Sink) -> None:
    enrolled(300, at=T0)

    def sender() -> int:
        total = 0
        while True:
            summary = services.deliveries_send_due(now=T0 + timedelta(minutes=1), batch_size=7)
            total += summary.claimed
            if summary.claimed == 0:
                return total

    a, b = at_once(sender, sender)
    claimed = {"a": a, "b": b}

    assert claimed["a"] + claimed["b"] == 300, claimed
    assert claimed["a"] > 0
    assert claimed["b"] > 0, "both senders worked at the same time"
    recipients = Counter(str(m["To"]) for m in smtp.messages)
    assert len(recipients) == 300
    assert set(recipients.values()) == {1}, "nobody got the step twice"
    assert len(set(smtp.message_ids())) == 300
    assert Delivery.objects.filter(status="sent").count() == 300
    assert Enrollment.objects.filter(position=1, status="active").count() == 300


@pytest.mark.services
def test_a_celery_worker_sends_due_steps_once_when_the_task_runs_twice(
    celery_workers: Workers, smtp_sink: tuple[Sink, int], settings: Any
) -> None:
    sink, port = smtp_sink
    now = datetime.now(UTC)
    enrolled(40, at=now - timedelta(minutes=1))
    celery_workers.start(
        env={
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(port),
            "DEFAULT_FROM_EMAIL": "Toy Store <hello@toys.example>",
            "LEADFLOW_NURTURE_BATCH_SIZE": "9",
        },
        concurrency=2,
    )

    deliveries_send_due_task.delay()
    deliveries_send_due_task.delay()

    wait_for(lambda: len(sink.messages) >= 40, message=f"40 messages\n{celery_workers.logs()}")
    time.sleep(1)  # anything sent twice would arrive now
    assert len(sink.messages) == 40
    assert len(set(sink.message_ids())) == 40
    wait_for(lambda: Delivery.objects.filter(status="sent").count() == 40, message="deliveries recorded")
