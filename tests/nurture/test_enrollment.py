"""Enrolling and exiting: the one service every caller uses, and the command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from nurture import services
from nurture.goals import ExitReason
from nurture.models import Enrollment, Sequence
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def sequence_with_steps(**kwargs: object) -> Sequence:
    sequence = SequenceFactory.create(**kwargs)
    StepFactory.create(sequence=sequence, position=1, wait_hours=2)
    StepFactory.create(sequence=sequence, position=2, wait_days=3)
    return sequence


def test_enrolling_schedules_the_first_step_after_its_wait() -> None:
    lead = LeadFactory.create()
    enrollment = services.enrollment_try_start(lead=lead, sequence=sequence_with_steps(), now=T0).enrollment

    assert enrollment is not None
    assert (enrollment.status, enrollment.position, enrollment.enrolled_at) == ("active", 0, T0)
    assert enrollment.next_run_at == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("policy", "after_exit", "while_open"),
    [
        ("never", False, False),
        ("after_ended", True, False),
        ("always", True, True),
    ],
)
def test_reenrollment_policy(policy: str, after_exit: bool, while_open: bool) -> None:
    lead = LeadFactory.create()
    sequence = sequence_with_steps(reenroll=policy)
    first = services.enrollment_try_start(lead=lead, sequence=sequence, now=T0).enrollment
    assert first is not None

    again = services.enrollment_try_start(lead=lead, sequence=sequence, now=T0 + timedelta(days=1))
    assert (again.enrollment is not None) == while_open
    if while_open:
        first.refresh_from_db()
        assert (first.status, first.exit_reason) == ("exited", "restarted")
    else:
        assert again.refusal.startswith("already enrolled")

    services.enrollment_exit(lead=lead, sequence=sequence, now=T0 + timedelta(days=2))
    after = services.enrollment_try_start(lead=lead, sequence=sequence, now=T0 + timedelta(days=3)).enrollment
    assert (after is not None) == after_exit
    assert Enrollment.objects.filter(lead=lead, sequence=sequence, status="active").count() == int(after_exit)


def test_unsubscribed_leads_are_refused() -> None:
    lead = LeadFactory.create(unsubscribed_at=T0)
    result = services.enrollment_try_start(lead=lead, sequence=sequence_with_steps(), now=T0)
    assert (result.enrollment, result.refusal) == (None, "unsubscribed")


def test_a_lead_that_already_meets_an_exit_goal_is_refused() -> None:
    group = ScoreGroupFactory.create(key="frequent", min_score=60)
    lead = LeadFactory.create(lifecycle_stage="opportunity")
    result = services.enrollment_try_start(lead=lead, sequence=sequence_with_steps(exit_on_group_reached=group), now=T0)
    assert result.refusal == "already meets an exit goal: routed to sales"


def test_inactive_and_empty_sequences_enroll_nobody() -> None:
    lead = LeadFactory.create()
    inactive = services.enrollment_try_start(lead=lead, sequence=sequence_with_steps(active=False), now=T0)
    empty = services.enrollment_try_start(lead=lead, sequence=SequenceFactory.create(), now=T0)
    assert (inactive.refusal, empty.refusal) == ("sequence inactive", "sequence has no steps")


def test_at_most_one_open_enrollment_per_lead_and_sequence_even_bypassing_the_service() -> None:
    lead, sequence = LeadFactory.create(), sequence_with_steps()
    Enrollment.objects.create(lead=lead, sequence=sequence, enrolled_at=T0, next_run_at=T0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(lead=lead, sequence=sequence, enrolled_at=T0, status="paused")
    Enrollment.objects.create(lead=lead, sequence=sequence, enrolled_at=T0, status="completed")  # ended: fine


def test_exits_say_why_and_leave_ended_enrollments_alone() -> None:
    lead, sequence = LeadFactory.create(), sequence_with_steps()
    enrollment = services.enrollment_try_start(lead=lead, sequence=sequence, now=T0).enrollment
    assert enrollment is not None

    assert services.enrollments_exit(enrollment_ids=[enrollment.pk], reason=ExitReason.MANUAL, now=T0) == 1
    assert services.enrollments_exit(enrollment_ids=[enrollment.pk], reason=ExitReason.CONVERTED, now=T0) == 0
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason, enrollment.ended_at, enrollment.next_run_at) == (
        "exited",
        "manual",
        T0,
        None,
    )


def test_the_enroll_command_enrolls_by_email_and_says_who_was_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    sequence = sequence_with_steps(key="nurture")
    LeadFactory.create(email="Ana@Example.com")
    LeadFactory.create(email="gone@example.com", unsubscribed_at=T0)

    call_command("nurture_enroll", "nurture", "ana@example.com", "gone@example.com", "nobody@example.com")

    out = capsys.readouterr().out
    assert "1 lead(s) enrolled in nurture." in out
    assert "Skipped (unsubscribed): gone@example.com" in out
    assert "Skipped (no lead with this email): nobody@example.com" in out
    assert Enrollment.objects.filter(sequence=sequence, lead__email="Ana@Example.com").count() == 1


def test_the_enroll_command_names_the_known_sequences() -> None:
    sequence_with_steps(key="nurture")
    with pytest.raises(CommandError, match=r"no sequence 'vip' \(known: nurture\)"):
        call_command("nurture_enroll", "vip", "ana@example.com")


def test_the_api_enrolls_and_exits_and_says_why_not() -> None:
    from django.test import Client

    from intake.api_keys import api_key_issue

    key = api_key_issue(name="CRM", scopes=["enrollments:write"]).key
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    sequence = sequence_with_steps(key="nurture")
    lead = LeadFactory.create(email="ana@example.com")
    body = {"sequence": "nurture", "email": "Ana@example.com"}
    created = api.post("/api/v1/enrollments", body, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["enrolled"] is True
    again = api.post("/api/v1/enrollments", body, content_type="application/json")
    assert (again.status_code, again.json()["enrolled"]) == (200, False)
    assert again.json()["reason"]
    missing = api.post(
        "/api/v1/enrollments", {"sequence": "nope", "email": "x@example.com"}, content_type="application/json"
    )
    assert set(missing.json()) == {"sequence", "error_codes"}
    assert set(missing.json()["error_codes"]) == {"sequence"}
    exited = api.delete("/api/v1/enrollments", body, content_type="application/json")
    assert exited.json() == {"exited": True}
    assert not Enrollment.objects.filter(lead=lead, sequence=sequence, status="active").exists()


@pytest.mark.parametrize("policy", ["never", "after_ended", "always"])
def test_bulk_enrolling_decides_as_one_by_one(policy: str, django_assert_max_num_queries) -> None:
    """Routing's bulk path must refuse and restart exactly where the single path does."""
    bulk_sequence, single_sequence = sequence_with_steps(reenroll=policy), sequence_with_steps(reenroll=policy)
    leads = [
        LeadFactory.create(),  # enrolls
        LeadFactory.create(unsubscribed_at=T0),  # refused: unsubscribed
        LeadFactory.create(email=None, external_id="crm-1"),  # refused: no email
        LeadFactory.create(),  # open already: refused or restarted by policy
        LeadFactory.create(),  # ended already
    ]
    for sequence in (bulk_sequence, single_sequence):
        services.enrollment_try_start(lead=leads[3], sequence=sequence, now=T0)
        services.enrollment_try_start(lead=leads[4], sequence=sequence, now=T0)
        services.enrollment_exit(lead=leads[4], sequence=sequence, now=T0)
    later = T0 + timedelta(days=1)

    with django_assert_max_num_queries(12):
        bulk = services.enrollments_start_many(sequence=bulk_sequence, lead_ids=[lead.pk for lead in leads], now=later)
    single = {
        lead.pk: services.enrollment_try_start(lead=lead, sequence=single_sequence, now=later).refusal for lead in leads
    }

    assert bulk == single
    assert bulk[leads[0].pk] == ""
    assert bulk[leads[1].pk] == "unsubscribed"

    def states(sequence: Sequence) -> list[tuple[int, str, str]]:
        return sorted(Enrollment.objects.filter(sequence=sequence).values_list("lead_id", "status", "exit_reason"))

    assert states(bulk_sequence) == states(single_sequence)
    opened = Enrollment.objects.filter(sequence=bulk_sequence, enrolled_at=later).get(lead=leads[0])
    assert opened.next_run_at == later + timedelta(hours=2)


def test_enrolling_many_by_email_or_from_the_lead_list_takes_a_few_queries_whatever_their_number(
    django_assert_max_num_queries,
) -> None:
    """The admin's "Enroll leads" page, the lead list's action and the command take the bulk path."""
    sequence = sequence_with_steps()
    leads = [LeadFactory.create(email=f"lead{n}@example.com") for n in range(30)]
    gone = LeadFactory.create(email="gone@example.com", unsubscribed_at=T0)
    emails = [lead.email or "" for lead in leads[:20]] + ["GONE@example.com", "nobody@example.com"]

    with django_assert_max_num_queries(14):
        by_email = services.enrollments_start_by_email(sequence=sequence, emails=emails, now=T0)
    with django_assert_max_num_queries(14):
        listed = services.enrollments_start_for_leads(sequence=sequence, leads=[*leads[20:], gone], now=T0)

    assert (by_email.enrolled, by_email.refused, by_email.unknown) == (
        20,
        {"unsubscribed": ["GONE@example.com"]},
        ["nobody@example.com"],
    )
    assert (listed.enrolled, listed.refused) == (10, {"unsubscribed": ["gone@example.com"]})
    assert Enrollment.objects.filter(sequence=sequence, status="active").count() == 30


def test_a_lead_named_twice_by_email_is_enrolled_once() -> None:
    sequence = sequence_with_steps()
    LeadFactory.create(email="ana@example.com")

    summary = services.enrollments_start_by_email(sequence=sequence, emails=["ana@example.com", "ANA@example.com"])

    assert (summary.enrolled, summary.refused) == (1, {"already enrolled": ["ANA@example.com"]})
    assert Enrollment.objects.filter(sequence=sequence).count() == 1
