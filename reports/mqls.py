"""The leads that reached MQL in each month, for the overview's MQLs against the target.

A lead reached MQL when its stage became MQL, or went straight past it, from a stage
before it; it counts once in a month however often it did so. Counted live, that read
months of stage history on each request. The origins' rebuild keeps the count of every
month (:class:`~reports.models.MqlMonthCount`) by the history up to its mark; a request
reads those and, for the leads with a stage change since, takes out the months the kept
history gave them and adds the months their whole history gives: the same counts, in a
fixed number of queries.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Count, DateField, Min, QuerySet
from django.db.models.functions import TruncMonth

from reports.models import MqlMonthCount, RollupMark
from scoring.models import LifecycleStage, StageChange

# Reaching MQL: entering MQL or a stage past it (on the way to a sale) from one before it.
MQL_OR_LATER = (LifecycleStage.MQL, LifecycleStage.SQL, LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER)


def reached() -> QuerySet[StageChange]:
    """The stage changes that reach MQL."""
    return StageChange.objects.filter(to_stage__in=MQL_OR_LATER).exclude(from_stage__in=MQL_OR_LATER).order_by()


def _month() -> TruncMonth:
    """A stage change's month: its first day, in Leadflow's time zone."""
    return TruncMonth("at", output_field=DateField())


def months_live(start: datetime, end: datetime) -> dict[date, int]:
    """The leads that reached MQL in each month from ``start`` to before ``end``, counted
    from the whole stage history."""
    return dict(
        reached()
        .filter(at__gte=start, at__lt=end)
        .values(month=_month())
        .annotate(n=Count("lead_id", distinct=True))
        .values_list("month", "n")
    )


def months_counted(*, upto: int) -> dict[date, int]:
    """Every month's MQLs by the stage history up to the stage change ``upto``: what the
    rebuild keeps."""
    return dict(
        reached()
        .filter(pk__lte=upto)
        .values(month=_month())
        .annotate(n=Count("lead_id", distinct=True))
        .values_list("month", "n")
    )


def months_kept(mark: RollupMark, months: list[date], start: datetime, end: datetime) -> dict[date, int]:
    """The MQLs of ``months`` (from ``start`` to before ``end``) from the kept counts and
    the leads with a stage change since the rebuild (see the module): the same as
    :func:`months_live`."""
    counts = dict(MqlMonthCount.objects.filter(month__in=months).values_list("month", "leads"))
    fresh = StageChange.objects.filter(pk__gt=mark.stage_change_id).order_by().values("lead_id")
    # Per fresh lead and month it reached MQL in: its first such change, which says
    # whether the kept history (up to the mark) already counted it there.
    for month, first in (
        reached()
        .filter(lead_id__in=fresh, at__gte=start, at__lt=end)
        .values("lead_id", month=_month())
        .annotate(first=Min("pk"))
        .values_list("month", "first")
    ):
        if first > mark.stage_change_id:
            counts[month] = counts.get(month, 0) + 1
    return counts
