"""Reads for the admin: per-step figures."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from nurture import goals
from nurture.models import Delivery, Enrollment, Sequence


@dataclass(frozen=True)
class StepFigures:
    position: int
    subject: str
    sent: int
    opened: int
    clicked: int
    unsubscribed: int  # enrollments that exited by unsubscribing after this step went out
    bounced: int
    failed: int  # permanently, other than bounces
    retrying: int  # failed temporarily, will be retried
    unknown: int  # the sender stopped mid-send: maybe sent, not re-sent

    def rate(self, count: int) -> str:
        return f"{100 * count / self.sent:.0f}%" if self.sent else "-"

    @property
    def open_rate(self) -> str:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> str:
        return self.rate(self.clicked)


def sequence_step_figures(*, sequence: Sequence) -> list[StepFigures]:
    """Sent, opened, clicked, unsubscribed and bounced, per step (three queries)."""
    status = Delivery.Status
    counts = {
        row["step_id"]: row
        for row in Delivery.objects.filter(step__sequence=sequence)
        .values("step_id")
        .annotate(
            sent=Count("id", filter=Q(status=status.SENT)),
            opened=Count("id", filter=Q(status=status.SENT, opens__gt=0)),
            clicked=Count("id", filter=Q(status=status.SENT, clicks__gt=0)),
            bounced=Count("id", filter=Q(status=status.BOUNCED)),
            failed=Count("id", filter=Q(status=status.FAILED_PERMANENT)),
            retrying=Count("id", filter=Q(status=status.FAILED_TEMPORARY)),
            unknown=Count("id", filter=Q(status=status.UNKNOWN)),
        )
        .order_by()
    }
    unsubscribed = dict(
        Enrollment.objects.filter(sequence=sequence, exit_reason=goals.ExitReason.UNSUBSCRIBED.value)
        .values("position")
        .annotate(n=Count("id"))
        .values_list("position", "n")
        .order_by()
    )
    names = ("sent", "opened", "clicked", "bounced", "failed", "retrying", "unknown")
    figures = []
    for step in sequence.steps.order_by("position"):
        row = counts.get(step.pk, {})
        figures.append(
            StepFigures(
                position=step.position,
                subject=step.subject_template,
                unsubscribed=unsubscribed.get(step.position, 0),
                **{name: row.get(name, 0) for name in names},
            )
        )
    return figures


def sequence_enrollment_counts(*, sequence: Sequence) -> dict[str, int]:
    return dict(
        Enrollment.objects.filter(sequence=sequence)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
        .order_by()
    )
