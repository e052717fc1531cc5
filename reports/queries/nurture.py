"""How the nurture sequences and their steps do: sent, opened, clicked, unsubscribed,
bounced, and leads that converted after getting them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, Q

from nurture.goals import ExitReason
from nurture.models import Delivery, Step
from reports import origins
from reports.filters import Filters
from reports.queries.common import in_dates, with_source
from routing.models import Outcome
from scoring.models import Lead


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


FIGURES = ("sent", "opened", "clicked", "unsubscribed", "bounced", "converted")


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
    in_range = deliveries
    deliveries = with_source(deliveries, lead_ref="enrollment__lead_id", filters=filters)
    sent = Q(status=Delivery.Status.SENT)
    # Counted by step and by the position the lead's enrollment ended at, rather than
    # against each step's own position in SQL: a join of every delivery to its step
    # (and an outcome look-up per delivery) cost more than the counts themselves.
    per_step: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    position_of = {step.pk: step.position for step in steps}
    for row in deliveries.values("step_id", "enrollment__position").annotate(
        sent=Count("pk", filter=sent),
        opened=Count("pk", filter=sent & Q(opens__gt=0)),
        clicked=Count("pk", filter=sent & Q(clicks__gt=0)),
        unsubscribed=Count("pk", filter=Q(enrollment__exit_reason=ExitReason.UNSUBSCRIBED)),
        bounced=Count("pk", filter=Q(status=Delivery.Status.BOUNCED)),
    ):
        counts = per_step[row["step_id"]]
        for name in ("sent", "opened", "clicked", "bounced"):
            counts[name] += row[name]
        if row["enrollment__position"] == position_of.get(row["step_id"]):
            counts["unsubscribed"] += row["unsubscribed"]
    # Converted: a won outcome at or after the sending, found by joining the few won
    # outcomes to the deliveries of their leads (a lead won twice counts once). The source
    # filter is applied to those leads alone: filtering every delivery of the range by
    # source again cost more than the rest of the report.
    converted = (
        in_range.filter(
            sent,
            enrollment__lead__outcomes__kind=Outcome.Kind.WON,
            enrollment__lead__outcomes__at__gte=F("sent_at"),
        )
        .values_list("step_id", "step__sequence_id", "enrollment__lead_id")
        .annotate(n=Count("pk", distinct=True))
    )
    rows_converted = list(converted)
    if filters.source:
        leads = {lead for _, _, lead, _ in rows_converted}
        of_source = set(
            Lead.objects.filter(pk__in=leads)
            .filter(origins.from_source(filters.source, lead_ref="pk"))
            .values_list("pk", flat=True)
        )
        rows_converted = [row for row in rows_converted if row[2] in of_source]
    leads_of: dict[int, set[int]] = defaultdict(set)
    for step_id, sequence_id, lead, n in rows_converted:
        per_step[step_id]["converted"] += n
        leads_of[sequence_id].add(lead)
    per_sequence = {sequence_id: len(leads) for sequence_id, leads in leads_of.items()}
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
                *(per_step[step.pk][name] for name in FIGURES),
            )
            for step in sequence_steps
        ]
        totals = {name: sum(getattr(row, name) for row in step_rows) for name in FIGURES}
        totals["converted"] = per_sequence.get(sequence.pk, 0)
        rows.append(StepRow(sequence.name, None, "", **totals))
        rows.extend(step_rows)
    return rows
