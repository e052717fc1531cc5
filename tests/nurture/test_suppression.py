"""The suppression list keeps nurture's promise not to mail: through unsubscribing,
erasure and the same person coming back, whichever way a lead is enrolled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intake.api_keys import api_key_issue
from intake.models import ApiKey
from nurture import services
from nurture.models import Enrollment, Sequence
from routing import services as routing
from routing.models import ActionRun
from scoring import services as scoring
from scoring import suppression
from scoring.models import Lead, SuppressedAddress
from tests.factories import LeadFactory, ScoreGroupFactory, ScoringRuleFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory
from tests.routing.factories import rule

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def api() -> Client:
    key = api_key_issue(name="Website and CRM").key
    ApiKey.objects.update(scopes=["events:write", "leads:read", "leads:erase"])
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def one_step_sequence(**fields: Any) -> Sequence:
    sequence = SequenceFactory.create(**fields)
    StepFactory.create(sequence=sequence, position=1)
    return sequence


def send_event(api: Client, event_id: str, email: str) -> None:
    body = {"id": event_id, "type": "email_open", "lead": {"email": email}}
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1


def score_route_and_send(now: Any) -> None:
    """What the workers do after an event: score it, route the transition, send what is due."""
    scoring.interactions_score_pending()
    routing.transitions_route(now=now)
    services.deliveries_send_due(now=now + HOUR)


def test_an_erased_unsubscribed_lead_created_again_by_an_event_is_never_mailed(api: Client, smtp: Sink) -> None:
    ScoringRuleFactory.create(points=10, interaction_types=["email_open"])
    engaged = ScoreGroupFactory.create(key="engaged", min_score=10)
    welcome = one_step_sequence(key="welcome", reenroll="always")
    rule("enters_group", {"kind": "enroll", "sequence": welcome}, group=engaged)
    now = timezone.now()

    # Ana arrives, is enrolled by routing and mailed; she unsubscribes with the link in the email.
    send_event(api, "evt-1", "Ana@Example.com")
    score_route_and_send(now)
    [welcome_mail] = smtp.messages
    link = urlsplit(str(welcome_mail["List-Unsubscribe"]).strip().strip("<>")).path
    one_click = Client(enforce_csrf_checks=True).post(
        link, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    first = Lead.objects.get()
    assert first.unsubscribed_at is not None

    # She asks to be forgotten.
    erased = api.delete(f"/api/v1/leads/{first.pk}")
    assert erased.status_code == 200
    assert not Lead.objects.exists()

    # A new event with her address creates the lead again; routing tries to enroll it.
    send_event(api, "evt-2", "ana@example.com")
    score_route_and_send(now + timedelta(days=1))
    again = Lead.objects.get()
    assert again.pk != first.pk
    assert again.score_group == engaged
    assert not Enrollment.objects.filter(lead=again).exists()
    assert ActionRun.objects.filter(transition__lead=again).get().outcome == "not enrolled: suppressed"
    assert again.unsubscribed_at is not None, "shown as unsubscribed, as she was"
    services.deliveries_send_due(now=now + timedelta(days=30))
    assert smtp.messages == [welcome_mail], "nothing mailed after the erasure"
    assert erased.json()["erased"]["suppressed"] == 1, "the erasure said the address stays suppressed"


def test_erasing_a_lead_that_never_unsubscribed_does_not_suppress_its_address(api: Client, smtp: Sink) -> None:
    lead = LeadFactory.create(email="bea@example.com")
    assert api.delete(f"/api/v1/leads/{lead.pk}").json()["erased"].get("suppressed") is None
    assert not SuppressedAddress.objects.exists()

    back = LeadFactory.create(email="bea@example.com")
    assert services.enrollment_try_start(lead=back, sequence=one_step_sequence()).enrollment is not None
    services.deliveries_send_due(now=timezone.now() + HOUR)
    assert [m["To"] for m in smtp.messages] == ["bea@example.com"]
    assert Lead.objects.get().unsubscribed_at is None


def test_unsubscribing_puts_the_address_on_the_list_as_a_hash_only() -> None:
    lead = LeadFactory.create(email="Cy@Example.com")
    services.lead_unsubscribe(lead_id=lead.pk)
    services.lead_unsubscribe(lead_id=lead.pk)  # twice: one entry

    entry = SuppressedAddress.objects.get()
    assert entry.address_hash == suppression.address_hash(" cy@example.COM ")
    assert (entry.reason, entry.erased_at) == ("unsubscribed", None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM scoring_suppressedaddress")
        assert "cy@example.com" not in repr(cursor.fetchall()).lower()


def suppressed_leads(*emails: str, reason: SuppressedAddress.Reason = suppression.Reason.UNSUBSCRIBED) -> list[Lead]:
    """Leads whose addresses are on the list without the leads knowing (as after an erasure)."""
    suppression.addresses_suppress(addresses=emails, reason=reason)
    return [LeadFactory.create(email=email) for email in emails]


def test_enrollment_start_refuses_a_suppressed_address_one_by_one_and_in_bulk() -> None:
    sequence = one_step_sequence()
    [one] = suppressed_leads("dee@example.com")
    [bounced] = suppressed_leads("eve@example.com", reason=suppression.Reason.BOUNCED)
    free = LeadFactory.create(email="fay@example.com")

    assert services.enrollment_try_start(lead=one, sequence=sequence).refusal == "suppressed"
    results = services.enrollments_start_many(sequence=sequence, lead_ids=[bounced.pk, free.pk])
    assert results == {bounced.pk: "suppressed", free.pk: ""}
    summary = services.enrollments_start_by_email(sequence=sequence, emails=["DEE@example.com"])
    assert summary.enrolled == 0

    assert set(Enrollment.objects.values_list("lead_id", flat=True)) == {free.pk}
    # Opting out shows on the lead; an address that bounced is suppressed, not unsubscribed.
    shown = dict(Lead.objects.values_list("email", "unsubscribed_at"))
    assert shown["dee@example.com"] is not None
    assert shown["eve@example.com"] is None
    assert shown["fay@example.com"] is None


def test_the_send_claim_exits_enrollments_of_suppressed_addresses_in_one_query(smtp: Sink) -> None:
    group = ScoreGroupFactory.create(key="frequent", min_score=60)
    sequence = one_step_sequence(exit_on_group_reached=group)
    now = timezone.now()

    def batch(size: int, suppressed: int, bounced: int) -> list[Enrollment]:
        leads = [LeadFactory.create() for _ in range(size)]
        enrollments = [
            services.enrollment_try_start(lead=lead, sequence=sequence, now=now).enrollment for lead in leads
        ]
        # Listed after they were enrolled (by hand, or another system's list imported).
        suppression.addresses_suppress(
            addresses=[str(lead.email) for lead in leads[:suppressed]], reason=suppression.Reason.MANUAL
        )
        suppression.addresses_suppress(
            addresses=[str(lead.email) for lead in leads[suppressed : suppressed + bounced]],
            reason=suppression.Reason.BOUNCED,
        )
        Lead.objects.filter(pk=leads[-1].pk).update(lifecycle_stage="customer")  # and one exits on a goal
        return [e for e in enrollments if e is not None]

    small = batch(5, 2, 1)
    with CaptureQueriesContext(connection) as five:
        assert services.deliveries_send_due(now=now + HOUR, batch_size=5).exited == {
            "unsubscribed": 2,
            "bounced": 1,
            "converted": 1,
        }
    large = batch(50, 20, 10)
    with CaptureQueriesContext(connection) as fifty:
        services.deliveries_send_due(now=now + HOUR, batch_size=50)

    assert len(fifty.captured_queries) == len(five.captured_queries)
    mailed = {str(m["To"]) for m in smtp.messages}
    expected = {str(e.lead.email) for e in small[3:4] + large[30:49]}
    assert mailed == expected
    exits = dict(Enrollment.objects.filter(pk__in=[e.pk for e in large[:30]]).values_list("pk", "exit_reason"))
    assert sorted(exits.values()) == ["bounced"] * 10 + ["unsubscribed"] * 20


def test_a_lead_already_unsubscribed_is_refused_as_unsubscribed() -> None:
    lead = LeadFactory.create()
    services.lead_unsubscribe(lead_id=lead.pk)
    assert services.enrollment_try_start(lead=lead, sequence=one_step_sequence()).refusal == "unsubscribed"


def test_a_bounce_lists_the_address_once_and_it_outlives_the_lead(api: Client, smtp: Sink) -> None:
    sequence, other = one_step_sequence(), one_step_sequence()
    gone = LeadFactory.create(email="Gone@Example.com")
    here = LeadFactory.create(email="here@example.com")
    now = timezone.now()
    for lead in (gone, here):
        for each in (sequence, other):
            assert services.enrollment_try_start(lead=lead, sequence=each, now=now).enrollment is not None
    smtp.rcpt_replies["Gone@Example.com"] = "550 5.1.1 No such user"

    summary = services.deliveries_send_due(now=now + HOUR)
    services.deliveries_send_due(now=now + 2 * HOUR)  # the lead's other enrollment: exited, not mailed

    assert summary.bounced >= 1
    assert [str(m["To"]) for m in smtp.messages] == ["here@example.com"] * 2
    entry = SuppressedAddress.objects.get()  # one entry, however many enrollments the lead had
    assert (entry.address_hash, entry.reason) == (suppression.address_hash("gone@example.com"), "bounced")
    assert entry.suppressed_at == now + HOUR
    assert Lead.objects.get(pk=gone.pk).unsubscribed_at is None, "a bad address, not a person who opted out"

    # Erased, then created again by an event: the address is still never mailed.
    assert api.delete(f"/api/v1/leads/{gone.pk}").json()["erased"]["suppressed"] == 1
    back = LeadFactory.create(email="gone@example.com")
    assert services.enrollment_try_start(lead=back, sequence=one_step_sequence()).refusal == "suppressed"
    assert SuppressedAddress.objects.count() == 1
