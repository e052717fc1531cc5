"""A step waits at most ten years: the admin and the sequence file refuse a longer wait on
its field, and a longer one already stored (from before the bound) puts the step off to
the far future instead of failing the enrollment or the sending of the steps before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from nurture import sequence_file, services, timing
from nurture.models import Sequence, Step
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.nurture.test_admin import sequence_form

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday
HUGE = 2**31 - 1
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "limit", "told"),
    [
        ("wait_days", 3650, "At most 3650 days (ten years)."),
        ("wait_hours", 3650 * 24, "At most 87600 hours (ten years)."),
    ],
)
def test_the_admin_refuses_a_wait_past_ten_years_on_its_field(
    admin_client: Client, field: str, limit: int, told: str
) -> None:
    response = admin_client.post("/admin/nurture/sequence/add/", sequence_form(**{field: str(limit + 1)}))

    assert response.status_code == 200
    [step_form] = response.context["inline_admin_formsets"][0].formset.forms
    assert step_form.errors == {field: [told]}, step_form.errors
    assert not Sequence.objects.exists()

    assert admin_client.post("/admin/nurture/sequence/add/", sequence_form(**{field: str(limit)})).status_code == 302


@pytest.mark.parametrize(
    ("wait", "told"),
    [
        ("{days: 3651}", "sequences[0].steps[0].wait.days: at most 3650, not 3651"),
        ("{hours: 87601}", "sequences[0].steps[0].wait.hours: at most 87600, not 87601"),
    ],
)
def test_a_sequence_file_refuses_a_wait_past_ten_years_at_its_place(wait: str, told: str) -> None:
    body = "leadflow_nurture: 1\nsequences:\n  - {key: w, name: W, steps: [{subject: Hi, text: Hello, wait: %s}]}\n"
    with pytest.raises(sequence_file.SequenceFileError) as refused:
        sequence_file.load_text(body % wait)
    assert refused.value.errors == [told]

    sequence_file.load_text(body % "{days: 3650, hours: 87600}")


def test_a_due_time_past_the_calendar_is_the_far_future() -> None:
    assert timing.step_due(previous=T0, wait=timedelta.max) == FAR_FUTURE
    assert timing.step_due(previous=T0, wait=timedelta(days=3_000_000)) == FAR_FUTURE
    assert timing.step_due(previous=T0, wait=timedelta(days=2, hours=1)) == T0 + timedelta(days=2, hours=1)


@pytest.mark.parametrize(("days", "hours"), [(HUGE, 0), (0, HUGE), (HUGE, HUGE), (3_000_000, 0)])
def test_a_wait_stored_past_the_limit_puts_the_step_off_and_stops_nothing_else(
    smtp: Sink, days: int, hours: int
) -> None:
    endless = SequenceFactory.create()
    StepFactory.create(sequence=endless, position=1)
    later = StepFactory.create(sequence=endless, position=2)
    Step.objects.filter(pk=later.pk).update(wait_days=days, wait_hours=hours)  # stored before the bound
    first_endless = SequenceFactory.create()
    first = StepFactory.create(sequence=first_endless, position=1)
    Step.objects.filter(pk=first.pk).update(wait_days=days, wait_hours=hours)
    ana, ben = LeadFactory.create(email="ana@example.com"), LeadFactory.create(email="ben@example.com")

    put_off = services.enrollment_try_start(lead=ben, sequence=first_endless, now=T0).enrollment
    started = services.enrollment_try_start(lead=ana, sequence=endless, now=T0).enrollment
    assert put_off is not None
    assert started is not None
    assert put_off.next_run_at is not None
    assert put_off.next_run_at >= FAR_FUTURE

    summary = services.deliveries_send_due(now=T0 + timedelta(minutes=1))

    assert (summary.claimed, summary.sent) == (1, 1)
    assert [message["To"] for message in smtp.messages] == ["ana@example.com"]
    started.refresh_from_db()
    assert (started.status, started.position) == ("active", 1)
    assert started.next_run_at is not None
    assert started.next_run_at >= FAR_FUTURE
