"""Sending due steps through a real SMTP server on loopback; the clock is passed in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intake.api_keys import api_key_issue
from intake.models import ApiScope
from nurture import services
from nurture.models import Delivery, Enrollment, Sequence, Step
from nurture.services import claiming
from nurture.tasks import deliveries_send_due_task
from scoring.models import Account, Lead, ScoreGroup
from tests.factories import LeadFactory, ScoreGroupFactory
from tests.nurture.conftest import Sink, free_port
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday
MINUTE = timedelta(minutes=1)


def make_sequence(steps: int = 2, *, wait_days: int = 2, **kwargs: Any) -> Sequence:
    sequence = SequenceFactory.create(**kwargs)
    for index in range(steps):
        StepFactory.create(sequence=sequence, position=index + 1, wait_days=0 if index == 0 else wait_days)
    return sequence


def enroll(lead: Lead, sequence: Sequence, now: datetime = T0) -> Enrollment:
    enrollment = services.enrollment_try_start(lead=lead, sequence=sequence, now=now).enrollment
    assert enrollment is not None
    return enrollment


def reload(enrollment: Enrollment) -> Enrollment:
    enrollment.refresh_from_db()
    return enrollment


def html_part(message: Any) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def text_part(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_due_step_goes_out_over_smtp_tracked_and_with_one_click_unsubscribe(smtp: Sink) -> None:
    lead = LeadFactory.create(email="ana@example.com", first_name="Ana")
    enrollment = enroll(lead, make_sequence())

    summary = services.deliveries_send_due(now=T0 + MINUTE)

    assert (summary.claimed, summary.sent) == (1, 1)
    [message] = smtp.messages
    delivery = Delivery.objects.get()
    assert message["To"] == "ana@example.com"
    assert message["From"] == "Toy Store <hello@toys.example>"
    assert message["Subject"] == "Hello Ana"
    assert message["Message-ID"] == delivery.message_id
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<https://leadflow.example/n/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = html_part(message)
    assert "https://leadflow.example/t/c/" in html, "links rewritten to signed click links"
    assert 'href="https://toys.example/blog' not in html
    assert 'href="mailto:shop@toys.example"' in html, "only web links are tracked"
    assert unsubscribe.strip("<>") in html, "the unsubscribe link is in the layout, untracked"
    assert '<img src="https://leadflow.example/t/o/' in html, "open pixel"
    text = text_part(message)
    assert "Hi Ana, read https://leadflow.example/t/c/" in text, "the text's links too"
    assert unsubscribe.strip("<>") in text
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("sent", 1, T0 + MINUTE)
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.position) == ("active", 1)
    assert enrollment.next_run_at == T0 + MINUTE + timedelta(days=2), "the next step waits after this one"


def test_html_is_autoescaped_and_text_is_not(smtp: Sink) -> None:
    lead = LeadFactory.create(first_name="<b>Ann & Co</b>")
    enroll(lead, make_sequence(1))

    services.deliveries_send_due(now=T0)

    [message] = smtp.messages
    assert "&lt;b&gt;Ann &amp; Co&lt;/b&gt;" in html_part(message)
    assert "<b>Ann & Co</b>" in text_part(message)


def test_steps_go_out_in_order_when_due_and_the_last_completes(smtp: Sink) -> None:
    lead = LeadFactory.create()
    enrollment = enroll(lead, make_sequence(2, wait_days=3))
    services.deliveries_send_due(now=T0)

    assert services.deliveries_send_due(now=T0 + timedelta(days=3) - MINUTE).claimed == 0
    assert len(smtp.messages) == 1

    services.deliveries_send_due(now=T0 + timedelta(days=3))
    assert len(smtp.messages) == 2
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.position, enrollment.next_run_at) == ("completed", 2, None)
    assert enrollment.ended_at == T0 + timedelta(days=3)
    assert services.deliveries_send_due(now=T0 + timedelta(days=30)).claimed == 0


def test_the_send_window_is_the_leads_local_time(smtp: Sink, settings: Any) -> None:
    sequence = SequenceFactory.create()
    StepFactory.create(
        sequence=sequence, position=1, send_hour_start=9, send_hour_end=18, send_weekdays=[0, 1, 2, 3, 4]
    )
    friday_evening = datetime(2026, 11, 6, 17, 30, tzinfo=UTC)  # 18:30 in Madrid, 12:30 in New York
    madrid = LeadFactory.create(time_zone="Europe/Madrid")
    new_york = LeadFactory.create(
        account=Account.objects.create(name="NY", domain="ny.example", time_zone="America/New_York")
    )
    settings.TIME_ZONE = "Asia/Tokyo"  # 02:30 Saturday in Tokyo
    tokyo = LeadFactory.create()

    enrollments = {lead.pk: enroll(lead, sequence, friday_evening) for lead in (madrid, new_york, tokyo)}

    assert enrollments[madrid.pk].next_run_at == datetime(2026, 11, 9, 8, tzinfo=UTC), "Monday 09:00 in Madrid"
    assert enrollments[new_york.pk].next_run_at == friday_evening, "the account's zone: inside the window"
    assert enrollments[tokyo.pk].next_run_at == datetime(2026, 11, 9, 0, tzinfo=UTC), "Monday 09:00 in Tokyo"
    services.deliveries_send_due(now=friday_evening)
    assert [m["To"] for m in smtp.messages] == [new_york.email]


def office_hours(sequence: Sequence, position: int = 1, **kwargs: Any) -> Step:
    """A step sent 09:00-17:00 local time, Monday to Friday."""
    return StepFactory.create(
        sequence=sequence,
        position=position,
        send_hour_start=9,
        send_hour_end=17,
        send_weekdays=[0, 1, 2, 3, 4],
        **kwargs,
    )


def test_the_window_is_checked_again_when_the_mail_is_sent_in_the_leads_zone_as_it_is_then(smtp: Sink) -> None:
    """Enrolled without a time zone, the step was scheduled for 09:00 UTC Monday; the CRM
    then set America/Costa_Rica (UTC-6), where 09:00 UTC is 03:00. The sender moves the
    step to 09:00 in Costa Rica (15:00 UTC) instead of sending it at 03:00 local."""
    sequence = SequenceFactory.create()
    office_hours(sequence)
    sunday = datetime(2026, 11, 1, 12, tzinfo=UTC)
    monday_9_utc = datetime(2026, 11, 2, 9, tzinfo=UTC)
    lead = LeadFactory.create(email="ana@shop.example", time_zone="")
    enrollment = enroll(lead, sequence, sunday)
    assert enrollment.next_run_at == monday_9_utc, "scheduled in UTC: no zone known yet"

    key = api_key_issue(name="CRM", scopes=[scope.value for scope in ApiScope]).key
    crm = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = crm.post(
        "/api/v1/leads",
        {"email": "ana@shop.example", "time_zone": "America/Costa_Rica"},
        content_type="application/json",
    )
    assert answer.status_code in (200, 201), answer.content

    summary = services.deliveries_send_due(now=monday_9_utc)

    assert smtp.messages == [], "03:00 in Costa Rica: not sent"
    assert (summary.claimed, summary.sent, summary.rescheduled) == (1, 0, 1)
    monday_9_costa_rica = datetime(2026, 11, 2, 15, tzinfo=UTC)
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.position, enrollment.next_run_at) == ("active", 0, monday_9_costa_rica)
    assert not Delivery.objects.exists(), "nothing recorded as sent or pending: the step is still to send"

    # Once: running again (now or until the window opens) changes nothing.
    assert services.deliveries_send_due(now=monday_9_utc).claimed == 0
    assert services.deliveries_send_due(now=monday_9_costa_rica - MINUTE).claimed == 0
    assert reload(enrollment).next_run_at == monday_9_costa_rica

    summary = services.deliveries_send_due(now=monday_9_costa_rica)
    assert (summary.sent, summary.rescheduled) == (1, 0)
    assert [m["To"] for m in smtp.messages] == ["ana@shop.example"]
    assert Delivery.objects.get().sent_at == monday_9_costa_rica


def test_a_retry_is_checked_against_the_window_in_the_leads_zone_as_it_is_then(smtp: Sink) -> None:
    sequence = SequenceFactory.create()
    office_hours(sequence)
    lead = LeadFactory.create(email="busy@shop.example", time_zone="")
    enrollment = enroll(lead, sequence, T0)
    smtp.rcpt_replies["busy@shop.example"] = "451 4.3.0 try again later"
    assert services.deliveries_send_due(now=T0).failed_temporary == 1
    retry = reload(enrollment).next_run_at
    assert retry is not None
    smtp.rcpt_replies.clear()
    # 10:05 UTC Monday is 19:05 in Tokyo: the retry waits for 09:00 Tuesday there.
    Lead.objects.filter(pk=lead.pk).update(time_zone="Asia/Tokyo")

    summary = services.deliveries_send_due(now=retry)

    assert (summary.sent, summary.rescheduled) == (0, 1)
    assert reload(enrollment).next_run_at == datetime(2026, 11, 3, 0, tzinfo=UTC)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed_temporary", 1), "the retry is still to come"
    summary = services.deliveries_send_due(now=datetime(2026, 11, 3, 0, tzinfo=UTC))
    assert summary.sent == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1


def test_the_window_is_checked_again_in_bulk(smtp: Sink) -> None:
    """Rescheduling a batch's leads whose zone moved them out of the window costs no query per lead."""
    sequence = SequenceFactory.create()
    office_hours(sequence)
    zones = ["", "America/Costa_Rica", "Europe/Madrid", "Asia/Tokyo", "America/New_York"]

    def batch(count: int, at: datetime) -> list[Enrollment]:
        enrollments = [enroll(LeadFactory.create(time_zone=""), sequence, at) for _ in range(count)]
        for index, enrollment in enumerate(enrollments):
            Lead.objects.filter(pk=enrollment.lead_id).update(time_zone=zones[index % len(zones)])
        return enrollments

    small = batch(5, T0)
    large = batch(50, T0 + timedelta(hours=1))
    with CaptureQueriesContext(connection) as five:
        first = services.deliveries_send_due(now=T0, batch_size=5)
    with CaptureQueriesContext(connection) as fifty:
        second = services.deliveries_send_due(now=T0 + timedelta(hours=1), batch_size=50)

    # 10:00 and 11:00 UTC Monday: open in UTC and Madrid; closed in Costa Rica, Tokyo and New York.
    assert (first.sent, first.rescheduled) == (2, 3)
    assert (second.sent, second.rescheduled) == (20, 30)
    assert len(fifty.captured_queries) == len(five.captured_queries), "\n".join(
        q["sql"][:150] for q in fifty.captured_queries
    )
    moved = {e.lead.time_zone: e.next_run_at for e in Enrollment.objects.filter(position=0).select_related("lead")}
    assert moved == {
        "America/Costa_Rica": datetime(2026, 11, 2, 15, tzinfo=UTC),
        "America/New_York": datetime(2026, 11, 2, 14, tzinfo=UTC),
        "Asia/Tokyo": datetime(2026, 11, 3, 0, tzinfo=UTC),
    }
    assert Enrollment.objects.filter(status="completed").count() == 2 + 20, "a one-step sequence: sent is done"
    assert {e.pk for e in small + large} == set(Enrollment.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"lifecycle_stage": "customer"}, "converted"),
        ({"lifecycle_stage": "sql"}, "routed_to_sales"),
        ({"owner": "user"}, "routed_to_sales"),
        ({"score_group": "frequent"}, "reached_group"),
        ({"score_group": "preferential"}, "reached_group"),
        ({"unsubscribed_at": T0}, "unsubscribed"),
    ],
)
def test_exit_goals_are_checked_before_each_step(
    smtp: Sink, django_user_model: Any, change: dict[str, Any], reason: str
) -> None:
    groups = {
        key: ScoreGroupFactory.create(key=key, min_score=score)
        for key, score in (("nurture", 40), ("frequent", 60), ("preferential", 80))
    }
    sequence = make_sequence(2, exit_on_group_reached=groups["frequent"])
    lead = LeadFactory.create()
    Lead.objects.filter(pk=lead.pk).update(score_group=groups["nurture"])
    enrollment = enroll(lead, sequence)
    services.deliveries_send_due(now=T0)
    assert len(smtp.messages) == 1

    value = change.popitem()
    if value[0] == "owner":
        Lead.objects.filter(pk=lead.pk).update(owner=django_user_model.objects.create(username="rep"))
    elif value[0] == "score_group":
        Lead.objects.filter(pk=lead.pk).update(score_group=groups[value[1]])
    else:
        Lead.objects.filter(pk=lead.pk).update(**{value[0]: value[1]})
    summary = services.deliveries_send_due(now=T0 + timedelta(days=2))

    assert len(smtp.messages) == 1, "nothing more sent"
    assert summary.exited == {reason: 1}
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.exit_reason, enrollment.next_run_at) == ("exited", reason, None)


def test_running_twice_sends_each_step_once(smtp: Sink) -> None:
    leads = LeadFactory.create_batch(3)
    sequence = make_sequence(2)
    for lead in leads:
        enroll(lead, sequence)

    first = services.deliveries_send_due(now=T0)
    second = services.deliveries_send_due(now=T0)
    third = services.deliveries_send_due(now=T0 + MINUTE)

    assert (first.sent, second.claimed, third.claimed) == (3, 0, 0)
    assert len(smtp.messages) == 3
    assert len(set(smtp.message_ids())) == 3


def test_a_sender_that_dies_between_claim_and_send_never_causes_a_second_send(
    smtp: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim (pending delivery + lease) is committed before sending. If the
    sender dies then, the delivery stays pending; once the lease is over it is
    marked unknown and the sequence moves on without sending it again."""
    lead = LeadFactory.create()
    enrollment = enroll(lead, make_sequence(2))
    # The claim is committed, then the process is killed (SIGKILL: no clean-up runs).
    claiming.deliveries_claim(now=T0, batch_size=10, summary=services.SendSummary())
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    lease = services.claim_lease()

    assert services.deliveries_send_due(now=T0 + lease - MINUTE).claimed == 0, "still the dead sender's"
    with caplog.at_level(logging.WARNING, logger="nurture.services"):
        summary = services.deliveries_send_due(now=T0 + lease + MINUTE)

    assert smtp.messages == [], "not re-sent blindly"
    assert summary.unknown == 1
    assert "marked unknown, not re-sent" in caplog.text
    delivery.refresh_from_db()
    assert delivery.status == "unknown"
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.position) == ("active", 1), "the sequence moves on"
    services.deliveries_send_due(now=T0 + lease + MINUTE + timedelta(days=2))
    assert len(smtp.messages) == 1, "the next step goes out"


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_temporary_smtp_failures_are_retried_with_exponential_backoff(smtp: Sink, where: str) -> None:
    lead = LeadFactory.create(email="busy@example.com")
    enrollment = enroll(lead, make_sequence(2))
    replies = smtp.rcpt_replies if where == "rcpt" else smtp.data_replies
    replies["busy@example.com"] = "451 4.3.0 Try again later"

    first = services.deliveries_send_due(now=T0)
    assert first.failed_temporary == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("failed_temporary", 1, None)
    assert "451" in delivery.error
    assert reload(enrollment).next_run_at == T0 + timedelta(minutes=5)

    assert services.deliveries_send_due(now=T0 + timedelta(minutes=4)).claimed == 0
    services.deliveries_send_due(now=T0 + timedelta(minutes=5))
    assert reload(enrollment).next_run_at == T0 + timedelta(minutes=15), "5 then 10 minutes"

    del replies["busy@example.com"]
    services.deliveries_send_due(now=T0 + timedelta(minutes=15))
    [message] = smtp.messages
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    assert message["Message-ID"] == delivery.message_id, "the same delivery, retried"
    assert reload(enrollment).position == 1


def test_a_refused_address_bounces_and_leaves_every_sequence(smtp: Sink) -> None:
    lead = LeadFactory.create(email="gone@example.com")
    first, other = make_sequence(2), make_sequence(2)
    enrollment = enroll(lead, first)
    enrollment_elsewhere = enroll(lead, other, T0 + timedelta(hours=1))
    smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"

    summary = services.deliveries_send_due(now=T0)

    assert summary.bounced == 1
    assert Delivery.objects.get().status == "bounced"
    assert (reload(enrollment).status, enrollment.exit_reason) == ("exited", "bounced")
    assert (reload(enrollment_elsewhere).status, enrollment_elsewhere.exit_reason) == ("exited", "bounced")
    # The address is on the suppression list now, which every enrollment asks first.
    result = services.enrollment_try_start(lead=lead, sequence=make_sequence(1), now=T0)
    assert (result.enrollment, result.refusal) == (None, "suppressed")
    assert smtp.messages == []


def test_a_refused_message_fails_permanently_for_its_sequence_only(smtp: Sink) -> None:
    lead = LeadFactory.create(email="strict@example.com")
    enrollment = enroll(lead, make_sequence(2))
    elsewhere = enroll(lead, make_sequence(2), T0 + timedelta(hours=1))
    smtp.data_replies["strict@example.com"] = "554 5.7.1 Message rejected"

    summary = services.deliveries_send_due(now=T0)

    assert summary.failed_permanent == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "failed_permanent"
    assert "554" in delivery.error
    assert (reload(enrollment).status, enrollment.exit_reason) == ("exited", "permanent_failure")
    assert reload(elsewhere).status == "active"


def test_other_messages_of_the_batch_go_out_when_one_is_refused(smtp: Sink) -> None:
    sequence = make_sequence(1)
    for address in ("a@example.com", "refused@example.com", "b@example.com"):
        enroll(LeadFactory.create(email=address), sequence)
    smtp.rcpt_replies["refused@example.com"] = "550 5.1.1 No such user"

    summary = services.deliveries_send_due(now=T0)

    assert (summary.sent, summary.bounced) == (2, 1)
    assert sorted(m["To"] for m in smtp.messages) == ["a@example.com", "b@example.com"]


def test_an_unreachable_server_is_a_temporary_failure(smtp: Sink, settings: Any) -> None:
    settings.EMAIL_PORT = free_port()  # nobody listens there: connection refused
    sequence = make_sequence(1)
    enrollments = [enroll(lead, sequence) for lead in LeadFactory.create_batch(2)]

    summary = services.deliveries_send_due(now=T0)

    assert summary.failed_temporary == 2
    assert {d.status for d in Delivery.objects.all()} == {"failed_temporary"}
    assert all("could not connect" in d.error for d in Delivery.objects.all())
    assert all(reload(e).next_run_at == T0 + timedelta(minutes=5) for e in enrollments)


def test_temporary_failures_give_up_after_the_last_attempt(smtp: Sink, settings: Any) -> None:
    settings.LEADFLOW_NURTURE_MAX_ATTEMPTS = 2
    lead = LeadFactory.create(email="busy@example.com")
    enrollment = enroll(lead, make_sequence(1))
    smtp.rcpt_replies["busy@example.com"] = "451 4.3.0 Try again later"

    services.deliveries_send_due(now=T0)
    services.deliveries_send_due(now=T0 + timedelta(minutes=5))

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed_permanent", 2)
    assert "gave up after 2 attempts" in delivery.error
    assert (reload(enrollment).status, enrollment.exit_reason) == ("exited", "permanent_failure")


def test_a_template_that_fails_at_send_time_is_retried_not_sent(smtp: Sink) -> None:
    # The admin and the importer refuse such templates; this one was written to the database directly.
    sequence = SequenceFactory.create()
    Step.objects.create(sequence=sequence, position=1, subject_template="Hi", text_template="{% if %}")
    enrollment = enroll(LeadFactory.create(), sequence)

    summary = services.deliveries_send_due(now=T0)

    assert (summary.failed_temporary, smtp.messages) == (1, [])
    assert "could not render the message" in Delivery.objects.get().error
    assert reload(enrollment).status == "active"


def test_erased_leads_are_never_sent(smtp: Sink) -> None:
    lead = LeadFactory.create()
    enroll(lead, make_sequence(1))
    lead.delete()

    assert services.deliveries_send_due(now=T0).claimed == 0
    assert smtp.messages == []


def test_an_inactive_sequence_holds_its_enrollments(smtp: Sink) -> None:
    sequence = make_sequence(1)
    enrollment = enroll(LeadFactory.create(), sequence)
    Sequence.objects.filter(pk=sequence.pk).update(active=False)

    assert services.deliveries_send_due(now=T0).claimed == 0
    Sequence.objects.filter(pk=sequence.pk).update(active=True)
    services.deliveries_send_due(now=T0 + MINUTE)
    assert len(smtp.messages) == 1
    assert reload(enrollment).status == "completed"


def test_queries_per_batch_do_not_grow_with_the_batch_size(smtp: Sink) -> None:
    ScoreGroupFactory.create(key="frequent", min_score=60)
    sequence = make_sequence(2, exit_on_group_reached=ScoreGroup.objects.get())
    account = Account.objects.create(name="Shop", domain="shop.example", time_zone="Europe/Madrid")
    small = [enroll(LeadFactory.create(account=account), sequence, T0) for _ in range(5)]
    large = [enroll(LeadFactory.create(account=account), sequence, T0 + timedelta(hours=1)) for _ in range(50)]
    # One of each batch exits on a goal, so both batches take every path.
    Lead.objects.filter(pk__in=[small[0].lead_id, large[0].lead_id]).update(lifecycle_stage="customer")

    with CaptureQueriesContext(connection) as five:
        assert services.deliveries_send_due(now=T0 + timedelta(minutes=30), batch_size=5).claimed == 5
    with CaptureQueriesContext(connection) as fifty:
        assert services.deliveries_send_due(now=T0 + timedelta(hours=2), batch_size=50).claimed == 50

    assert len(smtp.messages) == 4 + 49
    assert len(fifty.captured_queries) == len(five.captured_queries), "\n".join(
        q["sql"][:150] for q in fifty.captured_queries
    )
    assert len(five.captured_queries) <= 12


def test_the_periodic_task_sends_what_is_due(smtp: Sink) -> None:
    enroll(LeadFactory.create(email="task@example.com"), make_sequence(1), timezone.now() - MINUTE)

    assert deliveries_send_due_task() == 1
    assert [m["To"] for m in smtp.messages] == ["task@example.com"]
    assert deliveries_send_due_task() == 0


def test_a_message_that_cannot_be_built_fails_alone_for_good(smtp: Sink) -> None:
    sequence = make_sequence(1)
    broken = enroll(LeadFactory.create(email="a@b@c"), sequence)
    enroll(LeadFactory.create(email="fine@example.com"), sequence)

    summary = services.deliveries_send_due(now=T0)

    assert (summary.sent, summary.failed_permanent) == (1, 1)
    assert [m["To"] for m in smtp.messages] == ["fine@example.com"]
    assert "Invalid address" in Delivery.objects.get(enrollment=broken).error
    assert (reload(broken).status, broken.exit_reason) == ("exited", "permanent_failure")


def test_a_sender_stopped_mid_batch_records_what_it_knows(smtp: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent messages are recorded sent; the one in flight is left to the lease (unknown,
    never re-sent); those not handed to the server yet are retried."""
    sequence = make_sequence(1)
    for address in ("first@example.com", "second@example.com", "third@example.com"):
        enroll(LeadFactory.create(email=address), sequence)
    from django.core.mail.backends.smtp import EmailBackend

    real_send = EmailBackend.send_messages

    def send_then_stop(self: EmailBackend, messages: Any) -> int:
        if messages[0].to == ["second@example.com"]:
            raise KeyboardInterrupt("shutdown")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_then_stop)
    with pytest.raises(KeyboardInterrupt):
        services.deliveries_send_due(now=T0)
    monkeypatch.setattr(EmailBackend, "send_messages", real_send)

    statuses = dict(Delivery.objects.values_list("enrollment__lead__email", "status"))
    assert statuses == {
        "first@example.com": "sent",
        "second@example.com": "pending",
        "third@example.com": "failed_temporary",
    }
    later = T0 + services.claim_lease() + MINUTE
    summary = services.deliveries_send_due(now=later)
    assert (summary.unknown, summary.sent) == (1, 1)
    assert [m["To"] for m in smtp.messages] == ["first@example.com", "third@example.com"]
