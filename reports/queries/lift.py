"""How many leads each rule scored and how many of them converted, among the leads
created in a range (of a source): what the rule lift report compares.

Counted from the ledger and the outcomes, the report grouped every rule's ledger rows
per lead on each request (ten seconds at a million leads). The origins' nightly rebuild
(:mod:`reports.origins`) keeps, beside each lead's origin, whether it won and which rules
scored it, and their sums per day of creation, source and rule
(:class:`~reports.models.RuleLiftCount`). A request adds up the sums of the range, takes
out the kept rows of the leads the rebuild did not settle (a ledger row, a win, an
interaction or a stage change past its mark, or created since) and counts those leads as
they are now: the same figures as :func:`lift_counts_live`, at any moment. A lead erased
since the rebuild is still in the sums with nothing to take it out by; until the next
rebuild the figures are then counted live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import connections
from django.db.models import Count, Q, Sum

from reports import origins, replica
from reports.filters import Filters
from reports.models import LeadOrigin, RuleLiftCount
from reports.queries.common import in_dates, with_source
from routing.models import Outcome
from scoring.models import Lead, ScoreEntry


@dataclass
class LiftCounts:
    """Leads of the range and how many converted; per rule id, the leads it scored and
    how many of them converted."""

    leads: int = 0
    converted: int = 0
    by_rule: dict[int, tuple[int, int]] = field(default_factory=dict)


def lift_counts_live(filters: Filters) -> LiftCounts:
    """The figures computed from the ledger and the outcomes, every lead read."""
    created = in_dates(Lead.objects.order_by(), field="created_at", filters=filters)
    cohort = with_source(created, lead_ref="pk", filters=filters, every_lead=True)
    won_leads = Outcome.objects.filter(kind=Outcome.Kind.WON).order_by().values("lead_id")
    # "In the won leads" (hashed once) rather than a look-up of each lead's outcomes.
    totals = cohort.aggregate(leads=Count("pk"), converted=Count("pk", filter=Q(pk__in=won_leads)))
    # Leads a rule scored: its ledger rows for the lead sum to something (an award a
    # rescore took back whole does not count), then per rule how many, and how many won.
    pairs = (
        ScoreEntry.objects.filter(rule__isnull=False, lead_id__in=cohort.values("pk"))
        .order_by()
        .values("rule_id", "lead_id")
        .annotate(net=Sum("delta"))
        .exclude(net=0)
        .values("rule_id", "lead_id")
    )
    pairs_sql, pairs_params = pairs.query.sql_with_params()
    won_sql, won_params = won_leads.query.sql_with_params()
    with connections[replica.alias()].cursor() as cursor:
        # "IN (won leads)" rather than a join: PostgreSQL hashes the won leads once,
        # whatever it guesses of how many leads the source filter keeps (a join planned
        # on a low guess compared every pair with every won lead).
        cursor.execute(
            f"SELECT p.rule_id, COUNT(*), SUM(CASE WHEN p.lead_id IN ({won_sql}) THEN 1 ELSE 0 END) "  # noqa: S608
            f"FROM ({pairs_sql}) p GROUP BY p.rule_id",
            [*won_params, *pairs_params],
        )
        by_rule = {rule_id: (int(n), int(c or 0)) for rule_id, n, c in cursor.fetchall()}
    return LiftCounts(totals["leads"], totals["converted"], by_rule)


def _in_range(day: date, source: str, filters: Filters) -> bool:
    if filters.start and day < filters.start:
        return False
    if filters.end and day > filters.end:
        return False
    return not filters.source or source == filters.source or source.startswith(f"{filters.source}:")


def lift_counts(filters: Filters) -> LiftCounts:
    """The figures from the kept sums and the leads read live (see the module): a fixed
    number of queries."""
    mark = origins.mark_read()
    if not origins.sums_usable(mark):
        return lift_counts_live(filters)
    sums = RuleLiftCount.objects.order_by()
    if filters.start:
        sums = sums.filter(day__gte=filters.start)
    if filters.end:
        sums = sums.filter(day__lte=filters.end)
    if filters.source:
        sums = sums.filter(Q(source=filters.source) | Q(source__startswith=f"{filters.source}:"))
    counted: dict[int | None, list[int]] = {
        rule: [int(leads), int(converted)]
        for rule, leads, converted in sums.values("rule_id")
        .annotate(n=Sum("leads"), c=Sum("converted"))
        .values_list("rule_id", "n", "c")
    }
    # The leads the rebuild did not settle: out as kept, back in as they are now.
    changes: dict[tuple[date, str, int | None], list[int]] = {}
    kept = LeadOrigin.objects.filter(origins.fresh_leads(mark, field="lead_id"))
    for row in kept.values_list(*origins.KEPT):
        origins.lift_counted(changes, row, sign=-1)
    for row in origins.kept_of(Lead.objects.filter(origins.fresh_leads(mark))).values():
        origins.lift_counted(changes, row)
    for (day, source, rule), (leads, converted) in changes.items():
        if _in_range(day, source, filters):
            tally = counted.setdefault(rule, [0, 0])
            tally[0] += leads
            tally[1] += converted
    leads, converted = counted.pop(None, [0, 0])
    return LiftCounts(leads, converted, {rule: (n, c) for rule, (n, c) in counted.items() if rule is not None and n})
