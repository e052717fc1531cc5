"""One bad enrollment never stops the sender: an enrollment whose step cannot be
prepared, or whose outcome cannot be recorded, is set aside with its error; the
others are sent and recorded as if it were not there; nothing is sent twice; a
retry after fixing it goes on from where it was."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nurture import services
from nurture.models import Delivery, Enrollment, Sequence
from scoring import setaside
from scoring.models import Lead, SetAside
from tests.conftest import unreadable_time
from tests.factories import LeadFactory
from tests.nurture.conftest import Sink
from tests.nurture.factories import SequenceFactory, StepFactory

pytestmark = pytest.mark.django_db


def plant(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def two_steps() -> Sequence:
    sequence = SequenceFactory.create()
    StepFactory.create(sequence=sequence, position=1, wait_days=0)
    StepFactory.create(sequence=sequence, position=2, wait_days=2)
    return sequence


def enrolled(sequence: Sequence, name: str) -> tuple[Lead, Enrollment]:
    lead = LeadFactory.create(email=f"{name}@example.com", first_name=name.title())
    enrollment = services.enrollment_try_start(
        lead=lead, sequence=sequence, now=timezone.now() - timedelta(hours=1)
    ).enrollment
    assert enrollment is not None
    return lead, enrollment


@pytest.mark.django_db(transaction=True)
def test_sending_that_goes_through_runs_as_before_without_a_savepoint_or_a_look_at_set_aside_rows(
    smtp: Sink,
) -> None:
    sequence = two_steps()
    for name in ("ana", "ben"):
        enrolled(sequence, name)

    with CaptureQueriesContext(connection) as queries:
        assert services.deliveries_send_due().sent == 2

    statements = " ".join(query["sql"] for query in queries)
    assert "SAVEPOINT" not in statements
    assert "scoring_setaside" not in statements


def test_an_enrollment_whose_lead_cannot_be_read_is_set_aside_and_the_others_are_sent(smtp: Sink) -> None:
    sequence = two_steps()
    (_, first), (bad_lead, bad), (_, last) = (enrolled(sequence, name) for name in ("ana", "ben", "cid"))
    time, error = unreadable_time()
    plant("UPDATE scoring_lead SET engagement_base_at = %s WHERE id = %s", [time, bad_lead.pk])

    summary = services.deliveries_send_due()

    assert (summary.claimed, summary.sent) == (3, 2)
    assert sorted(m["To"] for m in smtp.messages) == ["ana@example.com", "cid@example.com"]
    for enrollment in (first, last):
        enrollment.refresh_from_db()
        assert enrollment.position == 1
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.lead_id) == ("enrollment", bad.pk, bad_lead.pk)
    assert error in row.error
    assert Enrollment.objects.values_list("status", "next_run_at").get(pk=bad.pk) == ("active", None)
    assert not Delivery.objects.filter(enrollment=bad).exists()
    # Again: nothing is due, nothing goes twice.
    assert services.deliveries_send_due().claimed == 0
    assert len(smtp.messages) == 2

    plant("UPDATE scoring_lead SET engagement_base_at = NULL WHERE id = %s", [bad_lead.pk])
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert (retried.ok, retried.result) == (True, "due again: the next send run takes it")
    assert services.deliveries_send_due().sent == 1
    assert [m["To"] for m in smtp.messages].count("ben@example.com") == 1
    assert services.deliveries_send_due().claimed == 0
    assert len(smtp.messages) == 3


def test_an_enrollment_whose_outcome_cannot_be_recorded_is_set_aside_and_its_message_not_sent_again(
    smtp: Sink,
) -> None:
    good, broken = two_steps(), two_steps()
    (_, first), (_, last) = enrolled(good, "ana"), enrolled(good, "cid")
    _, bad = enrolled(broken, "ben")
    # Send days that are no list (edited past the admin's checks): the next step's date cannot be computed.
    plant("UPDATE nurture_step SET send_weekdays = '5' WHERE sequence_id = %s AND position = 2", [broken.pk])

    summary = services.deliveries_send_due()

    assert summary.sent == 3
    assert sorted(m["To"] for m in smtp.messages) == ["ana@example.com", "ben@example.com", "cid@example.com"]
    for enrollment in (first, last):
        enrollment.refresh_from_db()
        assert (enrollment.position, enrollment.next_run_at is not None) == (1, True)
        assert Delivery.objects.get(enrollment=enrollment).status == Delivery.Status.SENT
    row = SetAside.objects.get()
    assert (row.kind, row.row_id, row.error_type) == ("enrollment", bad.pk, "TypeError")
    # What the message became is kept: it went out.
    assert Delivery.objects.get(enrollment=bad).status == Delivery.Status.SENT
    assert Enrollment.objects.values_list("position", "next_run_at").get(pk=bad.pk) == (0, None)
    assert services.deliveries_send_due().claimed == 0

    plant(
        "UPDATE nurture_step SET send_weekdays = '[0, 1, 2, 3, 4, 5, 6]' WHERE sequence_id = %s AND position = 2",
        [broken.pk],
    )
    (retried,) = setaside.rows_retry(ids=[row.pk])
    assert retried.ok
    now = timezone.now()
    services.deliveries_send_due(now=now)

    # The step already sent is not sent again: the enrollment moves on to the next one.
    assert [m["To"] for m in smtp.messages].count("ben@example.com") == 1
    bad.refresh_from_db()
    assert bad.position == 1
    assert bad.next_run_at is not None
    assert bad.next_run_at - now >= timedelta(days=2)


def test_what_a_retry_did_reads_in_spanish_in_the_admin(smtp: Sink, admin_user: User) -> None:
    sequence = two_steps()
    bad_lead, bad = enrolled(sequence, "ben")
    time, _ = unreadable_time()
    plant("UPDATE scoring_lead SET engagement_base_at = %s WHERE id = %s", [time, bad_lead.pk])
    services.deliveries_send_due()
    row = SetAside.objects.get(row_id=bad.pk)
    plant("UPDATE scoring_lead SET engagement_base_at = NULL WHERE id = %s", [bad_lead.pk])
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)

    listed = spanish.post(
        reverse("admin:scoring_setaside_changelist"), {"action": "retry", "_selected_action": [row.pk]}, follow=True
    )

    assert "pendiente de nuevo: el próximo envío la recoge" in html.unescape(listed.content.decode())
    page = html.unescape(spanish.get(reverse("admin:scoring_setaside_change", args=[row.pk])).content.decode())
    assert "se reintentó: pendiente de nuevo: el próximo envío la recoge" in page
    assert "due again" not in page
    row.refresh_from_db()
    assert row.retry_result == "due again: the next send run takes it"  # the English kept


def test_a_retry_result_stored_before_reads_as_stored(admin_user: User) -> None:
    now = timezone.now()
    row = SetAside.objects.create(
        kind="enrollment",
        row_id=1,
        error_type="ValueError",
        error="bad",
        first_failed_at=now,
        last_failed_at=now,
        resolved_at=now,
        retried_at=now,
        retry_result="due again, the old way",
    )
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)

    page = html.unescape(spanish.get(reverse("admin:scoring_setaside_change", args=[row.pk])).content.decode())

    assert "se reintentó: due again, the old way" in page


def test_the_kind_of_a_set_aside_row_reads_in_spanish(admin_user: User) -> None:
    now = timezone.now()
    SetAside.objects.create(
        kind="enrollment", row_id=1, error_type="ValueError", error="bad", first_failed_at=now, last_failed_at=now
    )
    spanish = Client(headers={"accept-language": "es"})
    spanish.force_login(admin_user)

    page = html.unescape(spanish.get(reverse("admin:scoring_setaside_changelist")).content.decode())

    assert "Inscripción (nurturing)" in page  # the row's kind, and the filter's choice
    assert "Enrollment (nurture)" not in page
