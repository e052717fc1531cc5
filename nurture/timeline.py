"""Nurture's part of a lead's timeline (:mod:`scoring.timeline`): enrollments begun and
ended, and each email sent."""

from __future__ import annotations

from django.utils.translation import gettext, ngettext

from nurture.models import Delivery, Enrollment
from scoring import localized, timeline
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
            gettext("Nurture"),
            gettext("Enrolled in “{sequence}”").format(sequence=row.sequence.name),
            gettext("now {status}").format(status=row.get_status_display().lower()),
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
        if row.status == Enrollment.Status.COMPLETED:
            title = gettext("Completed “{sequence}”").format(sequence=row.sequence.name)
        else:
            title = gettext("Left “{sequence}”").format(sequence=row.sequence.name)
        detail = str(row.get_exit_reason_display()) if row.exit_reason else ""
        events.append(Event(row.ended_at, "enrollment_end", row.pk, gettext("Nurture"), title, detail))
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
        opens = ngettext("{count} open", "{count} opens", row.opens).format(count=localized.number(row.opens))
        clicks = ngettext("{count} click", "{count} clicks", row.clicks).format(count=localized.number(row.clicks))
        detail = gettext("{status} · {opens}, {clicks}").format(
            status=row.get_status_display(), opens=opens, clicks=clicks
        )
        if row.error:
            detail += f" · {row.error_shown()[:200]}"
        events.append(
            Event(
                row.created_at,
                "delivery",
                row.pk,
                gettext("Email"),
                gettext("“{sequence}” step {position}: {subject}").format(
                    sequence=row.step.sequence.name, position=row.step.position, subject=row.step.subject_template[:120]
                ),
                detail,
                timeline.admin_link(Delivery, row.pk),
            )
        )
    return events


def register() -> None:
    timeline.register_source(Source("enrollment", _enrolled))
    timeline.register_source(Source("enrollment_end", _ended))
    timeline.register_source(Source("delivery", _deliveries))
