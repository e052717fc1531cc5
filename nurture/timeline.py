"""Nurture's part of a lead's timeline (:mod:`scoring.timeline`): enrollments begun and
ended, and each email sent."""

from __future__ import annotations

from nurture.models import Delivery, Enrollment
from scoring import timeline
from scoring.timeline import Event, Source, Window


def _enrolled(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        Enrollment.objects.filter(lead_id=window.lead_id).select_related("sequence"),
        at="enrolled_at",
        source="enrollment",
        window=window,
    )
    return [
        Event(
            row.enrolled_at,
            "enrollment",
            row.pk,
            "Nurture",
            f"Enrolled in “{row.sequence.name}”",
            f"now {row.get_status_display().lower()}",
            timeline.admin_link(Enrollment, row.pk),
        )
        for row in rows
    ]


def _ended(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        Enrollment.objects.filter(lead_id=window.lead_id).select_related("sequence"),
        at="ended_at",
        source="enrollment_end",
        window=window,
    )
    events = []
    for row in rows:
        assert row.ended_at is not None  # page_rows reads only rows with the time
        how = "Completed" if row.status == Enrollment.Status.COMPLETED else "Left"
        detail = row.get_exit_reason_display() if row.exit_reason else ""
        events.append(Event(row.ended_at, "enrollment_end", row.pk, "Nurture", f"{how} “{row.sequence.name}”", detail))
    return events


def _deliveries(window: Window) -> list[Event]:
    rows = timeline.page_rows(
        Delivery.objects.filter(enrollment__lead_id=window.lead_id).select_related("step__sequence"),
        at="created_at",
        source="delivery",
        window=window,
    )
    events = []
    for row in rows:
        detail = f"{row.get_status_display()} · {row.opens} open(s), {row.clicks} click(s)"
        if row.error:
            detail += f" · {row.error[:200]}"
        events.append(
            Event(
                row.created_at,
                "delivery",
                row.pk,
                "Email",
                f"“{row.step.sequence.name}” step {row.step.position}: {row.step.subject_template[:120]}",
                detail,
                timeline.admin_link(Delivery, row.pk),
            )
        )
    return events


def register() -> None:
    timeline.register_source(Source("enrollment", _enrolled))
    timeline.register_source(Source("enrollment_end", _ended))
    timeline.register_source(Source("delivery", _deliveries))
