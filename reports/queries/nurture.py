"""How the nurture sequences and their steps do: sent, opened, clicked, unsubscribed,
bounced, and leads that converted after getting them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q

from nurture.goals import ExitReason
from nurture.models import Delivery, Step
from reports.filters import Filters
from reports.queries.common import in_dates, with_source
from routing.models import Outcome


@dataclass(frozen=True)
class StepRow:
    """A step's deliveries, or a sequence's (``step`` None: all its steps)."""

    sequence: str
    step: int | None
    subject: str
    sent: int  # handed to the mail server
    opened: int  # sent and opened at least once
    clicked: int  # sent and clicked at least once
    unsubscribed: int  # the lead unsubscribed after this step, its last one sent
    bounced: int  # refused by the mail server
    converted: int  # leads with a won outcome after the step was sent to them


def nurture_steps(filters: Filters) -> list[StepRow]:
    """Per sequence (by name): its totals, then each step in order, for the deliveries
    created in the range (of the sequence and source filtered on). Every step of the
    sequences shown has its row. A sequence's converted leads are counted once however
    many of its steps they got."""
    deliveries = in_dates(Delivery.objects.order_by(), field="created_at", filters=filters)
    steps = Step.objects.select_related("sequence").order_by("sequence__name", "sequence_id", "position")
    if filters.sequence_id is not None:
        deliveries = deliveries.filter(step__sequence_id=filters.sequence_id)
        steps = steps.filter(sequence_id=filters.sequence_id)
    deliveries = with_source(deliveries, lead_ref="enrollment__lead_id", filters=filters, as_set=True)
    converted_after = Exists(
        Outcome.objects.filter(
            lead_id=OuterRef("enrollment__lead_id"), kind=Outcome.Kind.WON, at__gte=OuterRef("sent_at")
        )
    )
    sent = Q(status=Delivery.Status.SENT)
    per_step = {
        row["step_id"]: row
        for row in deliveries.annotate(converted_after=converted_after)
        .values("step_id")
        .annotate(
            sent=Count("pk", filter=sent),
            opened=Count("pk", filter=sent & Q(opens__gt=0)),
            clicked=Count("pk", filter=sent & Q(clicks__gt=0)),
            unsubscribed=Count(
                "pk",
                filter=Q(enrollment__exit_reason=ExitReason.UNSUBSCRIBED, enrollment__position=F("step__position")),
            ),
            bounced=Count("pk", filter=Q(status=Delivery.Status.BOUNCED)),
            converted=Count("pk", filter=sent & Q(converted_after=True)),
        )
    }
    per_sequence = dict(
        deliveries.filter(sent)
        .annotate(converted_after=converted_after)
        .filter(converted_after=True)
        .values("step__sequence_id")
        .annotate(leads=Count("enrollment__lead_id", distinct=True))
        .values_list("step__sequence_id", "leads")
    )
    figures = ("sent", "opened", "clicked", "unsubscribed", "bounced", "converted")
    by_sequence: dict[int, list[Step]] = defaultdict(list)
    for step in steps:
        by_sequence[step.sequence_id].append(step)
    rows: list[StepRow] = []
    for sequence_steps in by_sequence.values():
        sequence = sequence_steps[0].sequence
        step_rows = [
            StepRow(
                sequence.name,
                step.position,
                step.subject_template,
                *(per_step.get(step.pk, {}).get(name, 0) for name in figures),
            )
            for step in sequence_steps
        ]
        totals = {name: sum(getattr(row, name) for row in step_rows) for name in figures}
        totals["converted"] = per_sequence.get(sequence.pk, 0)
        rows.append(StepRow(sequence.name, None, "", **totals))
        rows.extend(step_rows)
    return rows
